//! Maildir file names as Dovecot 2.3 writes them.
//!
//! `<secs>.M<usecs>P<pid>.<host>,S=<size>,W=<vsize>[:2,<flags>]` (Dovecot's
//! `maildir_filename_generate` has no `Q<n>` part; uniqueness within a process comes from
//! never reusing a (secs, usecs) pair). The *base* is everything before `:`; it identifies
//! the message in `dovecot-uidlist` and is Dovecot's message GUID. Flags are the letters
//! `D F R S T` (draft, flagged, replied, seen, trashed) followed by keyword letters `a`..`z`,
//! all in ASCII order; unknown letters are kept where they were.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use pn_event::MailFlags;

/// Separator between the base and the info part.
pub(crate) const INFO_SEP: char = ':';

/// System flags and their Maildir letters, in ASCII order.
const FLAG_LETTERS: [(char, MailFlags); 5] = [
    ('D', MailFlags::DRAFT),
    ('F', MailFlags::FLAGGED),
    ('R', MailFlags::ANSWERED),
    ('S', MailFlags::SEEN),
    ('T', MailFlags::DELETED),
];

static LAST_TIME: Mutex<(u64, u32)> = Mutex::new((0, 0));

/// A new unique base name for this process: `<secs>.M<usecs>P<pid>.<host>`.
pub(crate) fn generate(hostname: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut secs = now.as_secs();
    let mut usecs = now.subsec_micros();
    {
        let mut last = LAST_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if (secs, usecs) <= *last {
            (secs, usecs) = *last;
            usecs += 1;
            if usecs == 1_000_000 {
                secs += 1;
                usecs = 0;
            }
        }
        *last = (secs, usecs);
    }
    format!("{secs}.M{usecs}P{}.{hostname}", std::process::id())
}

/// The host name as Dovecot puts it into file names: `/` and `:` escaped as `\057` and
/// `\072`, which Maildir file names must not contain.
pub(crate) fn escape_hostname(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c => out.push(c),
        }
    }
    out
}

/// The base of a file name (everything before `:`).
pub(crate) fn base(fname: &str) -> &str {
    fname.split_once(INFO_SEP).map_or(fname, |(b, _)| b)
}

/// The value of `,<key>=<n>` in a file name's base (`S` for the size, `W` for the virtual
/// size).
pub(crate) fn size_field(fname: &str, key: char) -> Option<u64> {
    let base = base(fname);
    let pat = format!(",{key}=");
    let start = base.find(&pat)? + pat.len();
    let digits: &str = &base[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 || (end < digits.len() && !digits[end..].starts_with(',')) {
        return None;
    }
    digits[..end].parse().ok()
}

/// The `:2,` flag letters of a file name (empty without an info part).
pub(crate) fn flag_letters(fname: &str) -> &str {
    match fname.rsplit_once(INFO_SEP) {
        Some((_, info)) => match info.strip_prefix("2,") {
            Some(flags) => flags.split(',').next().unwrap_or(""),
            None => "",
        },
        None => "",
    }
}

/// System flags and keyword indexes (0 = `a`) encoded in a file name.
pub(crate) fn parse_flags(fname: &str) -> (MailFlags, Vec<u8>) {
    let mut flags = MailFlags::empty();
    let mut keywords = Vec::new();
    for c in flag_letters(fname).chars() {
        if let Some((_, f)) = FLAG_LETTERS.iter().find(|(l, _)| *l == c) {
            flags |= *f;
        } else if c.is_ascii_lowercase() {
            let idx = c as u8 - b'a';
            if !keywords.contains(&idx) {
                keywords.push(idx);
            }
        }
    }
    keywords.sort_unstable();
    (flags, keywords)
}

/// The file name with its flags replaced: known letters are rewritten, unknown ones kept in
/// ASCII order, like Dovecot's `maildir_filename_flags_kw_set`. `\Recent` is ignored.
pub(crate) fn with_flags(fname: &str, flags: MailFlags, keywords: &[u8]) -> String {
    let (base, old_info) = match fname.rsplit_once(INFO_SEP) {
        Some((b, info)) => (b, Some(info)),
        None => (fname, None),
    };
    let (old_letters, extra_sets) = match old_info.and_then(|i| i.strip_prefix("2,")) {
        Some(rest) => match rest.split_once(',') {
            Some((letters, extra)) => (letters, Some(extra)),
            None => (rest, None),
        },
        None => ("", None),
    };
    let mut letters: Vec<char> = old_letters
        .chars()
        .filter(|c| !FLAG_LETTERS.iter().any(|(l, _)| l == c) && !c.is_ascii_lowercase())
        .collect();
    for (l, f) in FLAG_LETTERS {
        if flags.contains(f) {
            letters.push(l);
        }
    }
    for &k in keywords {
        if k < 26 {
            letters.push(char::from(b'a' + k));
        }
    }
    letters.sort_unstable();
    letters.dedup();
    let mut out = String::with_capacity(base.len() + 4 + letters.len());
    out.push_str(base);
    out.push_str(":2,");
    out.extend(letters);
    if let Some(extra) = extra_sets {
        out.push(',');
        out.push_str(extra);
    }
    out
}

/// The file name a new message gets: no info part when it has no flags and keywords (it then
/// goes to `new/`), else `:2,<flags>` (it goes to `cur/`), as Dovecot's save does.
pub(crate) fn for_save(base: &str, flags: MailFlags, keywords: &[u8]) -> (String, bool) {
    if (flags & MailFlags::REPORTABLE).is_empty() && keywords.is_empty() {
        (base.to_owned(), true)
    } else {
        (with_flags(base, flags, keywords), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // File names written by Dovecot 2.3.19's dovecot-lda and `doveadm flags add`.
    const LDA: &str = "1795893032.M858808P16383.vm,S=28,W=32";

    #[test]
    fn sizes_are_read_from_the_base() {
        assert_eq!(size_field(LDA, 'S'), Some(28));
        assert_eq!(size_field(LDA, 'W'), Some(32));
        assert_eq!(size_field("1.M2P3.host:2,S", 'S'), None);
        assert_eq!(size_field("1.M2P3.h,S=12:2,S", 'S'), Some(12));
        assert_eq!(size_field("1.M2P3.h,S=12x", 'S'), None);
    }

    #[test]
    fn flags_parse_and_set_in_dovecots_order() {
        let f = format!("{LDA}:2,DFRTc");
        let (flags, kw) = parse_flags(&f);
        assert_eq!(
            flags,
            MailFlags::DRAFT | MailFlags::FLAGGED | MailFlags::ANSWERED | MailFlags::DELETED
        );
        assert_eq!(kw, [2]);
        assert_eq!(
            with_flags(LDA, MailFlags::SEEN, &[1, 0]),
            format!("{LDA}:2,Sab")
        );
        assert_eq!(
            with_flags(&f, MailFlags::SEEN | MailFlags::RECENT, &[]),
            format!("{LDA}:2,S")
        );
        // Unknown letters (P = passed) survive, in ASCII order.
        assert_eq!(
            with_flags("x:2,PS", MailFlags::DRAFT | MailFlags::DELETED, &[]),
            "x:2,DPT"
        );
        assert_eq!(
            with_flags("x:2,S,extra", MailFlags::empty(), &[]),
            "x:2,,extra"
        );
        assert_eq!(base(&f), LDA);
    }

    #[test]
    fn new_messages_without_flags_have_no_info_part() {
        assert_eq!(
            for_save("b", MailFlags::RECENT, &[]),
            ("b".to_owned(), true)
        );
        assert_eq!(
            for_save("b", MailFlags::SEEN, &[]),
            ("b:2,S".to_owned(), false)
        );
        assert_eq!(
            for_save("b", MailFlags::empty(), &[3]),
            ("b:2,d".to_owned(), false)
        );
    }

    #[test]
    fn generated_names_are_unique_and_shaped_like_dovecots() {
        let a = generate("host");
        let b = generate("host");
        assert_ne!(a, b);
        let pid = std::process::id();
        assert!(a.ends_with(&format!("P{pid}.host")), "{a}");
        assert!(a.split_once(".M").is_some());
        assert_eq!(escape_hostname("a/b:c"), "a\\057b\\072c");
    }
}
