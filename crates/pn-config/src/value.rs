//! Dovecot's value parsers, with the texts of its settings parser (checked against Dovecot
//! 2.3.19's `doveconf -n` on bad values): booleans, unsigned numbers, sizes, ports, octal
//! modes, uids and gids. Time intervals are in [`crate::time`], URLs in [`crate::url`].
//!
//! Every setting pn reads is parsed through these functions, and [`crate::types`] says which
//! one applies to which setting, so `pn config check` and the code that uses a value agree.

use thiserror::Error;

use crate::time::{TimeError, UintError, parse_uint};
use crate::url::UrlError;

/// A value Dovecot would refuse. `Display` gives Dovecot's text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// Not `yes`, `y`, `1` or `no` (case-insensitive).
    #[error("Invalid boolean value: {0} (use yes or no)")]
    Bool(String),
    /// Not an unsigned 32-bit number.
    #[error(transparent)]
    Uint(#[from] UintError),
    /// Not a number with an optional `B`/`k`/`M`/`G`/`T` unit.
    #[error("Invalid size: {0}")]
    Size(String),
    /// A size beyond 64 bits.
    #[error("Size is too large: {0}")]
    SizeTooLarge(String),
    /// Not a time interval.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// Not a port number (0–65535).
    #[error("Invalid port number {0}")]
    Port(String),
    /// Not an octal number (a file mode).
    #[error("Invalid number: {0}")]
    Octal(String),
    /// Neither a number nor a user of the passwd database.
    #[error("Unknown UNIX UID user: {0}")]
    UnknownUser(String),
    /// Neither a number nor a group of the group database.
    #[error("Unknown UNIX GID group: {0}")]
    UnknownGroup(String),
    /// Not one of the allowed words.
    #[error("Invalid value: {0}")]
    Enum(String),
    /// An HTTP URL lib-http refuses.
    #[error("Invalid URL {url}: {source}")]
    Url {
        /// The URL with its password masked.
        url: String,
        /// lib-http's reason.
        source: UrlError,
    },
}

/// Dovecot 2.3's booleans: `yes`, `y` (any case) and `1` are true, `no` (any case) is false.
/// `true`, `false`, `n`, `0` and `on` are refused, as Dovecot refuses them.
pub fn parse_bool(s: &str) -> Result<bool, ValueError> {
    if s.eq_ignore_ascii_case("yes") || s.eq_ignore_ascii_case("y") || s == "1" {
        Ok(true)
    } else if s.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err(ValueError::Bool(s.to_owned()))
    }
}

/// Dovecot's sizes in bytes: digits, optional spaces, then an optional unit `B`, `k`, `M`,
/// `G`, `T` (any case; the multiples are powers of 1024); after `k`…`T` an optional `i`
/// and an optional `B` (`10k`, `10 KiB`, `10kb`). Nothing else may follow.
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    let invalid = || ValueError::Size(s.to_owned());
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(invalid());
    }
    let number: u64 = s[..digits].parse().map_err(|_| invalid())?;
    let mut rest = s[digits..].trim_start_matches(' ').as_bytes();
    let shift = match rest.first().map(u8::to_ascii_uppercase) {
        None => 0,
        Some(b'B') => {
            rest = &rest[1..];
            0
        }
        Some(unit) => {
            let shift = match unit {
                b'K' => 10,
                b'M' => 20,
                b'G' => 30,
                b'T' => 40,
                _ => return Err(invalid()),
            };
            rest = &rest[1..];
            if rest.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'i')) {
                rest = &rest[1..];
            }
            if rest.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'b')) {
                rest = &rest[1..];
            }
            shift
        }
    };
    if !rest.is_empty() {
        return Err(invalid());
    }
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| ValueError::SizeTooLarge(s.to_owned()))
}

/// A port number, 0 to 65535 (`in_port_t`).
pub fn parse_port(s: &str) -> Result<u16, ValueError> {
    parse_uint(s)
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| ValueError::Port(s.to_owned()))
}

/// An octal number such as a file mode (`0600`, `666`).
pub fn parse_octal(s: &str) -> Result<u32, ValueError> {
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(ValueError::Octal(s.to_owned()));
    }
    u32::from_str_radix(s, 8).map_err(|_| ValueError::Octal(s.to_owned()))
}

/// Checks `s` against a list of words, exactly as written (Dovecot's enums are
/// case-sensitive).
pub fn parse_enum<'a>(s: &str, allowed: &[&'a str]) -> Result<&'a str, ValueError> {
    allowed
        .iter()
        .find(|w| **w == s)
        .copied()
        .ok_or_else(|| ValueError::Enum(s.to_owned()))
}

/// A uid: a number, else a user name looked up in `/etc/passwd` (Dovecot asks NSS, which
/// pn cannot without unsafe code; users from LDAP and the like need their number).
pub fn parse_uid(s: &str) -> Result<u32, ValueError> {
    parse_id(s, "/etc/passwd", || ValueError::UnknownUser(s.to_owned()))
}

/// A gid: a number, else a group name looked up in `/etc/group`.
pub fn parse_gid(s: &str) -> Result<u32, ValueError> {
    parse_id(s, "/etc/group", || ValueError::UnknownGroup(s.to_owned()))
}

fn parse_id(s: &str, db: &str, unknown: impl Fn() -> ValueError) -> Result<u32, ValueError> {
    if let Ok(id) = parse_uint(s) {
        return Ok(id);
    }
    let text = std::fs::read_to_string(db).unwrap_or_default();
    lookup_id(&text, s).ok_or_else(unknown)
}

/// The id (third field) of `name` in a passwd- or group-format text.
pub fn lookup_id(db: &str, name: &str) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    db.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1))
            .flatten()
            .and_then(|id| parse_uint(id).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_dovecot_2_3() {
        for yes in ["yes", "YES", "Yes", "y", "Y", "1"] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["no", "NO", "No"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        for bad in ["true", "false", "n", "N", "0", "on", "", "maybe"] {
            assert_eq!(
                parse_bool(bad).unwrap_err().to_string(),
                format!("Invalid boolean value: {bad} (use yes or no)")
            );
        }
    }

    #[test]
    fn sizes_as_dovecot() {
        let ok = |s: &str| parse_size(s).unwrap();
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("10"), 10);
        assert_eq!(ok("10B"), 10);
        assert_eq!(ok("10b"), 10);
        assert_eq!(ok("10k"), 10 << 10);
        assert_eq!(ok("10 k"), 10 << 10);
        assert_eq!(ok("10  k"), 10 << 10);
        assert_eq!(ok("10ki"), 10 << 10);
        assert_eq!(ok("10KIB"), 10 << 10);
        assert_eq!(ok("10kB"), 10 << 10);
        assert_eq!(ok("64M"), 64 << 20);
        assert_eq!(ok("1G"), 1 << 30);
        assert_eq!(ok("10t"), 10 << 40);
        assert_eq!(ok("17179869183G"), 17179869183 << 30);
        assert_eq!(ok("18446744073709551615"), u64::MAX);
        let msg = |s: &str| parse_size(s).unwrap_err().to_string();
        for bad in [
            "", "x", "10x", "10bb", "10kk", "1.5k", "10P", "-1", "10k b", "kib",
        ] {
            assert_eq!(msg(bad), format!("Invalid size: {bad}"));
        }
        assert_eq!(
            msg("18446744073709551616"),
            "Invalid size: 18446744073709551616"
        );
        assert_eq!(msg("9999999999T"), "Size is too large: 9999999999T");
        assert_eq!(msg("17179869184G"), "Size is too large: 17179869184G");
    }

    #[test]
    fn ports_modes_and_enums() {
        assert_eq!(parse_port("0"), Ok(0));
        assert_eq!(parse_port("65535"), Ok(65535));
        for bad in ["x", "70000", "-1", ""] {
            assert_eq!(
                parse_port(bad).unwrap_err().to_string(),
                format!("Invalid port number {bad}")
            );
        }
        assert_eq!(parse_octal("0666"), Ok(0o666));
        assert_eq!(parse_octal("666"), Ok(0o666));
        for bad in ["0x9", "0999", "", "-1"] {
            assert_eq!(
                parse_octal(bad).unwrap_err().to_string(),
                format!("Invalid number: {bad}")
            );
        }
        let allowed = ["final", "none", "original"];
        assert_eq!(parse_enum("none", &allowed), Ok("none"));
        assert_eq!(
            parse_enum("FINAL", &allowed).unwrap_err().to_string(),
            "Invalid value: FINAL"
        );
    }

    #[test]
    fn ids_are_numbers_or_names() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nvmail:x:5000:5000::/var/vmail:/bin/false\n";
        assert_eq!(lookup_id(passwd, "vmail"), Some(5000));
        assert_eq!(lookup_id(passwd, "root"), Some(0));
        assert_eq!(lookup_id(passwd, "vmai"), None);
        assert_eq!(lookup_id(passwd, ""), None);
        assert_eq!(parse_uid("1000"), Ok(1000));
        assert_eq!(parse_gid("0"), Ok(0));
        assert_eq!(
            parse_uid("{{ .VMAILUID }}").unwrap_err().to_string(),
            "Unknown UNIX UID user: {{ .VMAILUID }}"
        );
        assert_eq!(
            parse_gid("PH_GID").unwrap_err().to_string(),
            "Unknown UNIX GID group: PH_GID"
        );
    }
}
