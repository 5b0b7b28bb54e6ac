//! Property: printing a parsed configuration and parsing the output gives the same settings.

use std::path::Path;

use pn_config::{Config, ParseOptions};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,12}"
}

fn value() -> impl Strategy<Value = String> {
    // Anything printable, including quotes, '#', '$', '<', backslashes and edge spaces.
    proptest::string::string_regex("[ -~\t]{0,20}").expect("valid regex")
}

#[derive(Debug, Clone)]
enum Item {
    Set(String, String),
    Section(String, Option<String>, Vec<(String, String)>),
    Protocol(String, bool, Vec<(String, String)>),
}

fn item() -> impl Strategy<Value = Item> {
    let pairs = || proptest::collection::vec((key(), value()), 0..4);
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Item::Set(k, v)),
        (
            prop_oneof![
                Just("plugin".to_owned()),
                Just("namespace".to_owned()),
                Just("push_notification".to_owned())
            ],
            proptest::option::of("[a-zA-Z0-9 #\"]{0,8}"),
            pairs()
        )
            .prop_map(|(k, n, p)| Item::Section(k, n, p)),
        ("(lmtp|lda|imap)", any::<bool>(), pairs())
            .prop_map(|(p, neg, kv)| Item::Protocol(p, neg, kv)),
    ]
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(items: &[Item]) -> String {
    let mut text = String::new();
    for item in items {
        match item {
            Item::Set(k, v) => text.push_str(&format!("{k} = {}\n", quote(v))),
            Item::Section(kind, name, pairs) => {
                match name {
                    Some(n) => text.push_str(&format!("{kind} {} {{\n", quote(n))),
                    None => text.push_str(&format!("{kind} {{\n")),
                }
                for (k, v) in pairs {
                    text.push_str(&format!("  {k} = {}\n", quote(v)));
                }
                text.push_str("}\n");
            }
            Item::Protocol(p, neg, pairs) => {
                text.push_str(&format!(
                    "protocol {}{p} {{\n  plugin {{\n",
                    if *neg { "!" } else { "" }
                ));
                for (k, v) in pairs {
                    text.push_str(&format!("    {k} = {}\n", quote(v)));
                }
                text.push_str("  }\n}\n");
            }
        }
    }
    text
}

fn settings(c: &Config, protocol: &str) -> Vec<(String, String)> {
    c.effective(protocol)
        .iter()
        .map(|(p, s)| (p.to_string(), s.value.to_string()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn print_then_parse_gives_the_same_settings(items in proptest::collection::vec(item(), 0..12)) {
        let text = render(&items);
        let options = ParseOptions::default();
        let first = Config::parse_str(&text, Path::new("gen.conf"), &options)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let printed = first.to_string();
        let second = Config::parse_str(&printed, Path::new("printed.conf"), &options)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
        for protocol in ["lmtp", "lda", "imap", "pop3"] {
            prop_assert_eq!(settings(&first, protocol), settings(&second, protocol), "{}", printed);
            prop_assert_eq!(
                first.effective(protocol).drivers().map(|d| d.len()).ok(),
                second.effective(protocol).drivers().map(|d| d.len()).ok()
            );
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\t\n{}#\"'\\\\=<$!]{0,200}") {
        let _ = Config::parse_str(&text, Path::new("any.conf"), &ParseOptions { follow_includes: false, ..ParseOptions::default() });
    }
}
