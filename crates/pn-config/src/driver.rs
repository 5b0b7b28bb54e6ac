//! `push_notification_driver` values: `<name>[:<args>]` and the numbered key list.
//!
//! Spec §3.1 (which keys are read, and where the list stops) and §3.2 (how one value splits
//! into a driver name and its arguments).

use crate::Location;
use crate::version::DovecotVersion;

/// A driver's arguments: `key=value` pairs and bare flags, split on spaces as Dovecot does.
///
/// Keys are case-sensitive. A repeated key replaces the earlier value (last one wins) but keeps
/// the position where it first appeared, so listing is stable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriverArgs {
    entries: Vec<(String, String)>,
}

impl DriverArgs {
    /// Splits `args` on the space character only (not tabs), skipping empty tokens; a token
    /// with `=` is `key=value` (split at the first `=`), one without is a flag with value `""`.
    pub fn parse(args: &str) -> DriverArgs {
        let mut parsed = DriverArgs::default();
        for token in args.split(' ').filter(|t| !t.is_empty()) {
            let (key, value) = token.split_once('=').unwrap_or((token, ""));
            parsed.insert(key, value);
        }
        parsed
    }

    /// Sets `key` to `value` (a flag when `value` is empty), replacing an earlier value but
    /// keeping its position. Unlike [`DriverArgs::parse`], the value may hold spaces (2.4's
    /// named filters have one setting per line).
    pub fn insert(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.entries.push((key.to_owned(), value.to_owned())),
        }
    }

    /// The value of `key` (`""` for a bare flag).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present at all (Dovecot's "presence turns it on" flags).
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// All arguments in the order they first appeared.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One configured driver instance: the setting value split into name and arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverSpec {
    /// The setting it came from (`push_notification_driver2`, …).
    pub key: String,
    /// The driver name as spelled in the configuration (matched case-insensitively).
    pub name: String,
    /// Everything after the first `:`; `None` when the value has no `:` (so `dlog:` gives
    /// `Some("")`, which dlog's init line tells apart).
    pub raw_args: Option<String>,
    /// The parsed arguments.
    pub args: DriverArgs,
    /// Where the value was written, when it came from a file.
    pub location: Option<Location>,
    /// The Dovecot version the configuration is written for (`dovecot_config_version`), which
    /// decides the driver behaviours that differ between 2.3 and 2.4.
    pub dovecot: DovecotVersion,
}

/// Splits one setting value into a [`DriverSpec`] (spec §3.2).
pub fn parse_driver_value(key: &str, value: &str) -> DriverSpec {
    let (name, raw_args) = match value.split_once(':') {
        Some((name, args)) => (name, Some(args)),
        None => (value, None),
    };
    DriverSpec {
        key: key.to_owned(),
        name: name.to_owned(),
        raw_args: raw_args.map(str::to_owned),
        args: raw_args.map(DriverArgs::parse).unwrap_or_default(),
        location: None,
        dovecot: DovecotVersion::default(),
    }
}

/// Reads `root`, `root2`, `root3`, … through `lookup`, stopping at the first key that is
/// missing or empty (spec §3.1: numbering starts at 2, a gap ends the list).
///
/// `root` is `push_notification_driver`, or the legacy `push_notification_backend` that Dovecot
/// falls back to when no driver could be loaded.
pub fn driver_specs(
    root: &str,
    mut lookup: impl FnMut(&str) -> Option<(String, Option<Location>)>,
) -> Vec<DriverSpec> {
    let mut specs = Vec::new();
    let mut key = root.to_owned();
    for n in 2u32.. {
        match lookup(&key) {
            Some((value, location)) if !value.is_empty() => {
                let mut spec = parse_driver_value(&key, &value);
                spec.location = location;
                specs.push(spec);
            }
            _ => break,
        }
        key = format!("{root}{n}");
    }
    specs
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn name_is_text_before_first_colon() {
        let s = parse_driver_value("push_notification_driver", "ox:url=http://h:8080/x a=b");
        assert_eq!(s.name, "ox");
        assert_eq!(s.raw_args.as_deref(), Some("url=http://h:8080/x a=b"));
        assert_eq!(s.args.get("url"), Some("http://h:8080/x"));
        assert_eq!(s.args.get("a"), Some("b"));
    }

    #[test]
    fn no_colon_means_no_args_and_empty_args_are_kept() {
        assert_eq!(parse_driver_value("k", "dlog").raw_args, None);
        let empty = parse_driver_value("k", "dlog:");
        assert_eq!(empty.raw_args.as_deref(), Some(""));
        assert!(empty.args.is_empty());
    }

    #[test]
    fn args_split_on_spaces_only_with_last_duplicate_winning() {
        let a = DriverArgs::parse("  a=1   flag b=x=y a=2\tc=3 e= ");
        assert_eq!(a.get("a"), Some("2\tc=3"));
        assert_eq!(a.get("flag"), Some(""));
        assert_eq!(a.get("b"), Some("x=y"));
        // A tab is not a separator: it stays inside the value.
        assert_eq!(a.get("\tc"), None);
        assert_eq!(
            a.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "flag", "b", "e"]
        );
        assert_eq!(a.get("e"), Some(""));
        assert_eq!(a.get("A"), None, "keys are case-sensitive");
    }

    #[test]
    fn tab_stays_part_of_the_token() {
        let a = DriverArgs::parse("a=2\tc=3");
        assert_eq!(a.get("a"), Some("2\tc=3"));
    }

    #[test]
    fn numbered_keys_stop_at_first_gap_or_empty_value() {
        let settings: HashMap<&str, &str> = [
            ("push_notification_driver", "dlog"),
            ("push_notification_driver2", "ox:url=http://x/"),
            ("push_notification_driver4", "lua:file=/x.lua"),
        ]
        .into();
        let specs = driver_specs("push_notification_driver", |k| {
            settings.get(k).map(|v| (v.to_string(), None))
        });
        assert_eq!(
            specs.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            ["push_notification_driver", "push_notification_driver2"]
        );

        let empty_first: HashMap<&str, &str> = [
            ("push_notification_driver", ""),
            ("push_notification_driver2", "dlog"),
        ]
        .into();
        assert!(
            driver_specs("push_notification_driver", |k| empty_first
                .get(k)
                .map(|v| (v.to_string(), None)))
            .is_empty()
        );
    }
}
