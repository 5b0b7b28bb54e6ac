//! Dovecot's file dictionary (`lib-dict/dict-file.c`), the store behind
//! `mail_attribute_dict = file:%h/dovecot-attributes`.
//!
//! The file is a sequence of line pairs: a key, then its value, each tab-escaped
//! ([`tab_escape`]) and ended by `\n`. Dovecot keeps the pairs in a hash table and writes them
//! in its hash order; [`DictContents`] keeps the file's order instead (see `hash.rs`). A file pn writes is
//! otherwise the file Dovecot would write. Writes go to a lock file next to the dictionary
//! (`<path>.lock`, Dovecot's default dotlock), which is then renamed over it.

mod escape;
pub(crate) mod file;
mod hash;

pub use escape::{split_tab_escaped, tab_escape, tab_unescape};
pub use file::{DictChange, FileDict, LockMethod};

use hash::OrderedMap;

/// The pairs of a dictionary file, in file order (new keys last).
#[derive(Debug, Clone, Default)]
pub struct DictContents {
    table: OrderedMap,
}

impl DictContents {
    /// Reads a dictionary file's bytes the way Dovecot does: lines end at `\n` (a `\r` before
    /// it is dropped), a line ends at its first NUL, an unterminated last line and a key
    /// without a value line are ignored, a repeated key keeps its last value.
    pub fn parse(bytes: &[u8]) -> DictContents {
        let mut table = OrderedMap::default();
        let mut lines = complete_lines(bytes);
        while let Some(key) = lines.next() {
            let Some(value) = lines.next() else { break };
            table.insert(c_string(tab_unescape(key)), c_string(tab_unescape(value)));
        }
        DictContents { table }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.table {
            out.extend_from_slice(&tab_escape(k));
            out.push(b'\n');
            out.extend_from_slice(&tab_escape(v));
            out.push(b'\n');
        }
        out
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.table.get(key).map(Vec::as_slice)
    }

    /// Sets `key` (keeping its place when it exists).
    pub fn set(&mut self, key: &[u8], value: &[u8]) {
        self.table.insert(key.to_vec(), value.to_vec());
    }

    /// Removes `key`; whether it was there.
    pub fn unset(&mut self, key: &[u8]) -> bool {
        self.table.shift_remove(key).is_some()
    }

    /// All pairs, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Keys starting with `prefix`, in file order (a recursive dict iteration).
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.table
            .keys()
            .map(Vec::as_slice)
            .filter(move |k| k.starts_with(prefix))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Dovecot's strings end at the first NUL, also one that unescaping (`\x01 0`) produced.
fn c_string(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(nul);
    }
    bytes
}

/// Lines that end with `\n`, without it, a trailing `\r` and anything from a NUL on.
fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last) => &bytes[..last],
        None => &bytes[..0],
    };
    let no_lines = bytes.iter().all(|&b| b != b'\n');
    complete
        .split(|&b| b == b'\n')
        .filter(move |_| !no_lines)
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match line.iter().position(|&b| b == 0) {
                Some(nul) => &line[..nul],
                None => line,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_then_write_is_identity_for_dovecot_output() {
        let text = b"priv/g/comment\ninbox private comment\nshared/g/x\n\nk\nuser=1@2\x01tx=y\n";
        assert_eq!(DictContents::parse(text).to_bytes().len(), text.len());
    }

    #[test]
    fn unterminated_last_line_and_lonely_key_are_ignored() {
        let d = DictContents::parse(b"a\n1\nb\n2");
        assert_eq!(d.len(), 1);
        assert_eq!(d.get(b"a"), Some(&b"1"[..]));
        let d = DictContents::parse(b"a\n1\nb\n");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn crlf_and_nul_are_cut_like_dovecot() {
        let d = DictContents::parse(b"a\r\nv\x00rest\r\n");
        assert_eq!(d.get(b"a"), Some(&b"v"[..]));
    }

    #[test]
    fn an_escaped_nul_ends_the_string_like_in_c() {
        // Found by the dict_file fuzz target.
        let d = DictContents::parse(b"\n\x01t1\x010x\n");
        assert_eq!(d.get(b""), Some(&b"\t1"[..]));
        assert_eq!(DictContents::parse(&d.to_bytes()).to_bytes(), d.to_bytes());
    }

    #[test]
    fn no_newline_at_all_is_empty() {
        assert!(DictContents::parse(b"abc").is_empty());
        assert!(DictContents::parse(b"").is_empty());
    }
}
