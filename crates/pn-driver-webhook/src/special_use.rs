//! SPECIAL-USE mailboxes (RFC 6154) the host tells the driver about, for `suppress=junk`.
//!
//! Drivers never see configuration text, so the host hands the mailboxes over as one plugin
//! value, [`SETTING`]: one line per mailbox, `NAME<TAB>FLAGS`, both fields tab-escaped as in
//! Dovecot's line formats (`pn_config::tabescape`), `FLAGS` space-separated as in
//! `special_use = \Junk`. The `pn` binary builds it with [`encode`] from
//! `namespace … { mailbox NAME { special_use = … } }`; another host may set it itself.

use pn_config::tabescape::{split_tab_escaped, tab_escape};

/// The plugin value carrying the SPECIAL-USE mailboxes.
pub const SETTING: &str = "pn_special_use";

/// The SPECIAL-USE flags whose mailboxes `suppress=junk` skips.
pub const JUNK_FLAGS: [&str; 2] = ["\\Junk", "\\Trash"];

/// Builds a [`SETTING`] value from `(mailbox name, special_use value)` pairs.
pub fn encode<'a>(mailboxes: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = Vec::new();
    for (name, flags) in mailboxes {
        out.extend_from_slice(&tab_escape(name.as_bytes()));
        out.push(b'\t');
        out.extend_from_slice(&tab_escape(flags.as_bytes()));
        out.push(b'\n');
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mailboxes of a [`SETTING`] value flagged `\Junk` or `\Trash` (flags compared without
/// case, as IMAP does). Lines without a name or flags are ignored.
pub fn junk_or_trash(value: &str) -> Vec<String> {
    value
        .lines()
        .filter_map(|line| {
            let fields = split_tab_escaped(line.as_bytes());
            let [name, flags, ..] = fields.as_slice() else {
                return None;
            };
            let flags = String::from_utf8_lossy(flags);
            let junk = flags
                .split_ascii_whitespace()
                .any(|f| JUNK_FLAGS.iter().any(|j| j.eq_ignore_ascii_case(f)));
            (junk && !name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_only_junk_and_trash() {
        let value = encode([
            ("Drafts", "\\Drafts"),
            ("Spam Folder", "\\junk"),
            ("Papierkorb", "\\Flagged \\Trash"),
            ("Odd\tName", "\\Junk"),
            ("", "\\Junk"),
            ("Sent", ""),
        ]);
        assert_eq!(
            junk_or_trash(&value),
            ["Spam Folder", "Papierkorb", "Odd\tName"]
        );
        assert!(junk_or_trash("").is_empty());
        assert!(junk_or_trash("no tab here\n").is_empty());
    }
}
