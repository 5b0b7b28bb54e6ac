//! Dovecot's tab escaping (`lib/strescape.c`: `str_append_tabescaped`, `str_tabunescape`),
//! which its one-line text formats share: METADATA values read by the ox driver, the file
//! dictionary, the `subscriptions` file.
//!
//! `\x01` is the escape byte: `\x01 1` is `\x01`, `\x01 t` a TAB, `\x01 r` a CR, `\x01 n` a LF,
//! `\x01 0` a NUL. Any other byte after `\x01` stands for itself, and a `\x01` at the very end
//! is dropped.

/// Escapes `\x01`, TAB, CR and LF so that `src` fits on one line and in one TAB field.
pub fn tab_escape(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    for &b in src {
        match b {
            0x01 => out.extend_from_slice(b"\x011"),
            b'\t' => out.extend_from_slice(b"\x01t"),
            b'\r' => out.extend_from_slice(b"\x01r"),
            b'\n' => out.extend_from_slice(b"\x01n"),
            _ => out.push(b),
        }
    }
    out
}

/// Reverses [`tab_escape`], exactly as Dovecot's `str_tabunescape` does.
pub fn tab_unescape(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut it = src.iter();
    while let Some(&b) = it.next() {
        if b != 0x01 {
            out.push(b);
            continue;
        }
        match it.next() {
            None => break,
            Some(b'0') => out.push(0),
            Some(b'1') => out.push(0x01),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(&other) => out.push(other),
        }
    }
    out
}

/// Splits a TAB-separated line into unescaped fields (Dovecot's `t_strsplit_tabescaped`); an
/// empty line has no fields.
pub fn split_tab_escaped(src: &[u8]) -> Vec<Vec<u8>> {
    if src.is_empty() {
        return Vec::new();
    }
    src.split(|&b| b == b'\t').map(tab_unescape).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_bytes_like_dovecot() {
        assert_eq!(tab_escape(b"user=1@2\tx=y"), b"user=1@2\x01tx=y");
        assert_eq!(tab_escape(b"a\x01b\r\n"), b"a\x011b\x01r\x01n");
    }

    #[test]
    fn unescape_round_trips_and_follows_dovecot_on_odd_input() {
        let raw: Vec<u8> = (0u8..=255).collect();
        assert_eq!(tab_unescape(&tab_escape(&raw)), raw);
        assert_eq!(tab_unescape(b"a\x01xb"), b"axb");
        assert_eq!(tab_unescape(b"a\x010b"), b"a\x00b");
        assert_eq!(tab_unescape(b"end\x01"), b"end");
    }

    #[test]
    fn split_gives_unescaped_fields() {
        assert_eq!(
            split_tab_escaped(b"user=a\x01tb\tx=y"),
            [b"user=a\tb".to_vec(), b"x=y".to_vec()]
        );
        assert!(split_tab_escaped(b"").is_empty());
    }
}
