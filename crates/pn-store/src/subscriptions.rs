//! The `subscriptions` file of Dovecot 2.3.
//!
//! ```text
//! V\t2\n
//! \n
//! Foo\tB&AOQ-r\n
//! INBOX\n
//! ```
//!
//! A `V\t2` header and an empty line, then one mailbox per line: the Maildir++ (modified
//! UTF-7) name split at the hierarchy separator, each level tab-escaped (`\x01` → `\x011`,
//! tab → `\x01t`, CR → `\x01r`, LF → `\x01n`) and the levels joined with tabs. Files without
//! the header (version 1) hold one name per line with `.` as separator. Lines are kept in
//! the order they were subscribed.

const HEADER: &str = "V\t2\n\n";

/// A parsed subscriptions file: each entry is the list of storage-name levels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subscriptions {
    pub(crate) entries: Vec<Vec<String>>,
}

impl Subscriptions {
    pub(crate) fn parse(text: &str) -> Subscriptions {
        let mut subs = Subscriptions::default();
        let (body, v2) = match text.strip_prefix(HEADER) {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        for line in body.lines() {
            if line.is_empty() {
                continue;
            }
            let entry: Vec<String> = if v2 {
                line.split('\t').map(tab_unescape).collect()
            } else {
                line.split('.').map(str::to_owned).collect()
            };
            if !subs.entries.contains(&entry) {
                subs.entries.push(entry);
            }
        }
        subs
    }

    /// Version 2 text, as Dovecot 2.3 writes it.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::from(HEADER);
        for e in &self.entries {
            let escaped: Vec<String> = e.iter().map(|p| tab_escape(p)).collect();
            out.push_str(&escaped.join("\t"));
            out.push('\n');
        }
        out
    }

    /// Adds or removes an entry; `true` when that changed the list.
    pub(crate) fn set(&mut self, parts: &[&str], subscribed: bool) -> bool {
        let pos = self
            .entries
            .iter()
            .position(|e| e.iter().map(String::as_str).eq(parts.iter().copied()));
        match (pos, subscribed) {
            (None, true) => {
                self.entries
                    .push(parts.iter().map(|p| (*p).to_owned()).collect());
                true
            }
            (Some(i), false) => {
                self.entries.remove(i);
                true
            }
            _ => false,
        }
    }
}

fn tab_escape(s: &str) -> String {
    String::from_utf8_lossy(&pn_config::tabescape::tab_escape(s.as_bytes())).into_owned()
}

fn tab_unescape(s: &str) -> String {
    String::from_utf8_lossy(&pn_config::tabescape::tab_unescape(s.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Dovecot 2.3.19: `doveadm mailbox subscribe 'Foo/Bär' Work INBOX`.
    const DOVECOT: &str = "V\t2\n\nFoo\tB&AOQ-r\nWork\nINBOX\n";

    #[test]
    fn dovecot_written_file_round_trips() {
        let subs = Subscriptions::parse(DOVECOT);
        assert_eq!(subs.entries[0], ["Foo", "B&AOQ-r"]);
        assert_eq!(subs.entries.len(), 3);
        assert_eq!(subs.to_text(), DOVECOT);
    }

    #[test]
    fn set_appends_and_removes_once() {
        let mut subs = Subscriptions::parse(DOVECOT);
        assert!(!subs.set(&["Work"], true));
        assert!(subs.set(&["New", "X"], true));
        assert!(subs.set(&["Work"], false));
        assert!(!subs.set(&["Work"], false));
        assert_eq!(subs.to_text(), "V\t2\n\nFoo\tB&AOQ-r\nINBOX\nNew\tX\n");
    }

    #[test]
    fn version_1_files_and_escapes_are_read() {
        let subs = Subscriptions::parse("Foo.Bar\nINBOX\n");
        assert_eq!(subs.entries[0], ["Foo", "Bar"]);
        assert_eq!(tab_unescape(&tab_escape("a\tb\x01c\n")), "a\tb\x01c\n");
        assert_eq!(tab_escape("a\tb"), "a\x01tb");
    }
}
