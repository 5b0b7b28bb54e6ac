//! Per-user enablement: the server METADATA entry `/private/vendor/vendor.dovecot/http-notify`
//! (spec §5.2), its cache and its value format.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The entry as Dovecot stores it (`MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER` +
/// `vendor/vendor.dovecot/http-notify`). It is read with
/// `MailboxHost::attribute_get(user, "", METADATA_KEY)`: mailbox `""` means server metadata,
/// and `pn_metadata::host_attribute_get` accepts exactly this spelling (it strips the server
/// prefix and reads the server entry `vendor/vendor.dovecot/http-notify`).
pub const METADATA_KEY: &str = "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/http-notify";

/// Successful metadata reads, per user, for `cache_lifetime` (Dovecot's `dconfig` cache).
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    entries: Mutex<HashMap<String, (Instant, Vec<u8>)>>,
}

impl MetadataCache {
    /// The cached value if it is younger than `lifetime` (Dovecot: `cached + lifetime > now`,
    /// so a lifetime of 0 never reuses anything).
    pub(crate) fn get(&self, user: &str, lifetime: Duration) -> Option<Vec<u8>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, value) = entries.get(user)?;
        (at.elapsed() < lifetime).then(|| value.clone())
    }

    /// Remembers a successful read.
    pub(crate) fn put(&self, user: &str, value: Vec<u8>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(user.to_owned(), (Instant::now(), value));
    }
}

/// The `user=` value of a metadata entry: the value is split on TAB, each field tab-unescaped
/// (`t_strsplit_tabescaped`), fields without `=` ignored, and the last `user=` (case-sensitive
/// key) wins. `None` when there is none.
pub fn user_from_value(value: &[u8]) -> Option<Vec<u8>> {
    let mut user = None;
    for field in pn_config::tabescape::split_tab_escaped(value) {
        if let Some(eq) = field.iter().position(|&b| b == b'=')
            && &field[..eq] == b"user"
        {
            user = Some(field[eq + 1..].to_vec());
        }
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_user_wins_and_other_fields_are_ignored() {
        assert_eq!(
            user_from_value(b"x=1\tuser=22@5\tuser=33@7").as_deref(),
            Some(&b"33@7"[..])
        );
        assert_eq!(user_from_value(b"user=11@3").as_deref(), Some(&b"11@3"[..]));
        assert_eq!(user_from_value(b"foo=bar"), None);
        assert_eq!(user_from_value(b""), None);
        assert_eq!(user_from_value(b"user"), None);
        assert_eq!(
            user_from_value(b"USER=x"),
            None,
            "the key is case-sensitive"
        );
        assert_eq!(user_from_value(b"user=").as_deref(), Some(&b""[..]));
    }

    #[test]
    fn only_tab_separates() {
        assert_eq!(
            user_from_value(b"user=a b;c=d").as_deref(),
            Some(&b"a b;c=d"[..])
        );
    }

    #[test]
    fn fields_are_tab_unescaped() {
        assert_eq!(
            user_from_value(b"user=a\x01tb\x01nc\x01rd\x011e\x010f\x01x").as_deref(),
            Some(&b"a\tb\nc\rd\x01e\0fx"[..])
        );
    }

    #[test]
    fn cache_honours_the_lifetime() {
        let cache = MetadataCache::default();
        cache.put("u", b"user=1".to_vec());
        assert_eq!(
            cache.get("u", Duration::from_secs(60)).as_deref(),
            Some(&b"user=1"[..])
        );
        assert_eq!(cache.get("u", Duration::ZERO), None);
        assert_eq!(cache.get("other", Duration::from_secs(60)), None);
    }
}
