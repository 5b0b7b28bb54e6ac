//! Replays a spooled Dovecot transaction through pn-core's host API, so pn's drivers see the
//! operations Dovecot performed and derive the same events pn's own store would.
//!
//! Derived events are not replayed as such: MessageRead and MessageTrash follow from the flag
//! change (old flags from FlagsClear's `flags_old`, cleared and set flags from both events),
//! exactly as pn-core derives them for its own store.

use std::collections::HashMap;
use std::sync::Arc;

use pn_config::{Location, UserSettings};
use pn_core::{
    AttributeType, Commit, HostError, MailboxHost, MailboxStatus, PluginEnv, PushUser, Save,
    UserInfo,
};
use pn_event::{EventName, MailFlags, MessageData, MessageFields, MessageSource, RawValue};
use pn_metadata::{MetadataStore, Target};

use super::spool::{Event, Message, SpoolTxn};

/// Answers the drivers for one spooled transaction: status from what the script read after
/// the commit (else from the Maildir now), METADATA from Dovecot's own dictionary.
pub(crate) struct BridgeHost {
    pub(crate) status: HashMap<String, MailboxStatus>,
    pub(crate) maildir: Option<pn_store::Maildir>,
    pub(crate) metadata: Result<MetadataStore, String>,
}

impl BridgeHost {
    fn metadata(&self) -> Result<&MetadataStore, HostError> {
        self.metadata
            .as_ref()
            .map_err(|e| HostError::new(e.clone()))
    }
}

fn target(mailbox: &str) -> Target<'_> {
    if mailbox.is_empty() {
        Target::Server
    } else {
        Target::Mailbox(mailbox)
    }
}

impl MailboxHost for BridgeHost {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        if let Some(s) = self.status.get(mailbox) {
            return Ok(*s);
        }
        // `pn_bridge_status = no`, or the script's lookup failed: the status as it is now.
        match &self.maildir {
            Some(m) => m.status(mailbox).map_err(|e| HostError::new(e.to_string())),
            None => Err(HostError::new(format!(
                "pn-bridge.lua read no status of {mailbox}"
            ))),
        }
    }

    fn attribute_get(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        pn_metadata::host_attribute_get(self.metadata()?, mailbox, key)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn attribute_get_typed(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.metadata()?
            .get(target(mailbox), attr_type, key)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn attribute_list(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        prefix: &str,
    ) -> Result<Vec<String>, HostError> {
        self.metadata()?
            .list(target(mailbox), attr_type, prefix)
            .map_err(|e| HostError::new(e.to_string()))
    }
}

/// The user's plugin settings as the bridge's drivers see them: `pn_bridge_driver`,
/// `pn_bridge_driver2`, … take the place of `push_notification_driver*`, which in the same
/// dovecot.conf load pn-bridge.lua itself.
pub(crate) struct BridgeEnv(pub(crate) UserSettings);

impl BridgeEnv {
    fn map(key: &str) -> Option<String> {
        if let Some(n) = key.strip_prefix("push_notification_driver") {
            return Some(format!("pn_bridge_driver{n}"));
        }
        if key.starts_with("push_notification_backend") {
            return None;
        }
        Some(key.to_owned())
    }
}

impl PluginEnv for BridgeEnv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.plugin.get(&Self::map(key)?).cloned()
    }

    fn location(&self, key: &str) -> Option<Location> {
        self.0.locations.get(&Self::map(key)?).cloned()
    }
}

/// MessageNew / MessageAppend fields: parsed from the message in the Maildir when it is still
/// there (raw Subject included, which Dovecot's Lua API does not give), else taken from what
/// the script spooled.
///
/// The Maildir is only read when a driver asked for message fields (pn-core calls `fill` once
/// per saved message, with the union of what the drivers subscribed to).
pub(crate) struct SpoolSource<'a> {
    pub(crate) raw: &'a dyn Fn() -> Option<Vec<u8>>,
    pub(crate) spooled: &'a Message,
}

impl MessageSource for SpoolSource<'_> {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        if let Some(raw) = (self.raw)() {
            pn_message::RawMessage::new(&raw).fill(wanted, data);
            return;
        }
        let m = self.spooled;
        let missing = data.missing(wanted);
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        if missing.contains(MessageFields::FROM) {
            data.from = (!m.from.is_empty()).then(|| RawValue(m.from.clone()));
            data.from_address = opt(&m.from_address);
            data.from_display_name = opt(&m.from_display_name);
        }
        if missing.contains(MessageFields::TO) {
            data.to = (!m.to.is_empty()).then(|| RawValue(m.to.clone()));
            data.to_address = opt(&m.to_address);
            data.to_display_name = opt(&m.to_display_name);
        }
        if missing.contains(MessageFields::SUBJECT) {
            data.subject = m.subject.as_deref().map(RawValue::from);
            data.subject_utf8 = m.subject.clone();
        }
        if missing.contains(MessageFields::DATE) && m.date >= 0 {
            data.date = Some(m.date);
            data.date_tz = m.tz;
        }
        if missing.contains(MessageFields::SNIPPET) {
            data.snippet = m.snippet.clone();
        }
        if missing.contains(MessageFields::MESSAGE_ID) {
            data.message_id = m.message_id.clone().map(RawValue);
        }
    }
}

/// Reads a message's raw bytes from the user's Maildir (`None` when it is gone).
pub(crate) type RawReader<'a> = dyn Fn(&str, u32, u32) -> Option<Vec<u8>> + 'a;

/// What happened to one message in the transaction.
struct Touched<'e> {
    uid: u32,
    save: Option<&'e Event>,
    clear: Option<&'e Event>,
    set: Option<&'e Event>,
    expunged: bool,
}

/// Replays `txn` for `push`.
pub(crate) fn replay(push: &PushUser, txn: &SpoolTxn, raw: &RawReader<'_>) {
    let mut i = 0;
    while i < txn.events.len() {
        let e = &txn.events[i];
        if e.name.is_mailbox_event() {
            mailbox_event(push, e);
            i += 1;
            continue;
        }
        // Dovecot opens one push transaction per mailbox: its message events are contiguous.
        let start = i;
        while i < txn.events.len()
            && !txn.events[i].name.is_mailbox_event()
            && txn.events[i].mailbox == e.mailbox
        {
            i += 1;
        }
        mail_txn(push, &txn.events[start..i], raw);
    }
}

fn mailbox_event(push: &PushUser, e: &Event) {
    match e.name {
        EventName::MailboxCreate => push.mailbox_created(&e.mailbox),
        EventName::MailboxDelete => push.mailbox_deleted(&e.mailbox),
        EventName::MailboxRename => {
            push.mailbox_renamed(e.mailbox_old.as_deref().unwrap_or(""), &e.mailbox);
        }
        EventName::MailboxSubscribe => push.mailbox_subscribed(&e.mailbox, true),
        EventName::MailboxUnsubscribe => push.mailbox_subscribed(&e.mailbox, false),
        _ => {}
    }
}

fn flags(names: &[String]) -> MailFlags {
    names
        .iter()
        .filter_map(|n| MailFlags::from_imap_name(n).ok())
        .fold(MailFlags::empty(), |a, f| a | f)
}

fn mail_txn(push: &PushUser, events: &[Event], raw: &RawReader<'_>) {
    let Some(first) = events.first() else { return };
    let mut touched: Vec<Touched<'_>> = Vec::new();
    for e in events {
        // A saved message and a later event on its UID are one message, as in Dovecot.
        let idx = match touched.iter().position(|t| t.uid == e.uid) {
            Some(i) => i,
            None => {
                touched.push(Touched {
                    uid: e.uid,
                    save: None,
                    clear: None,
                    set: None,
                    expunged: false,
                });
                touched.len() - 1
            }
        };
        let t = &mut touched[idx];
        match e.name {
            EventName::MessageNew | EventName::MessageAppend => t.save = Some(e),
            EventName::FlagsClear => t.clear = Some(e),
            EventName::FlagsSet => t.set = Some(e),
            EventName::MessageExpunge => t.expunged = true,
            _ => {}
        }
    }
    let mut txn = push.begin_mail_txn(&first.mailbox);
    let mut saved_uids = Vec::new();
    let no_message = Message::default();
    for t in &touched {
        if let Some(e) = t.save {
            let spooled = e.message.as_ref().unwrap_or(&no_message);
            let read = || raw(&e.mailbox, e.uid_validity, e.uid);
            let source = SpoolSource {
                raw: &read,
                spooled,
            };
            txn.save(&Save {
                delivery: e.name == EventName::MessageNew,
                flags: flags(&e.flags),
                keywords: &e.keywords,
                content: &source,
            });
            saved_uids.push(e.uid);
        }
        if t.clear.is_some() || t.set.is_some() {
            let empty: &[String] = &[];
            let old = t.clear.map_or(MailFlags::empty(), |c| flags(&c.flags_old));
            let cleared = t.clear.map_or(MailFlags::empty(), |c| flags(&c.flags));
            let set = t.set.map_or(MailFlags::empty(), |s| flags(&s.flags));
            txn.update_flags(t.uid, old, (old - cleared) | set);
            let kw_old = t.clear.map_or(empty, |c| c.keywords_old.as_slice());
            let kw_cleared = t.clear.map_or(empty, |c| c.keywords.as_slice());
            let kw_set = t.set.map_or(empty, |s| s.keywords.as_slice());
            let mut kw_new: Vec<String> = kw_old
                .iter()
                .filter(|k| !kw_cleared.contains(k))
                .cloned()
                .collect();
            kw_new.extend(kw_set.iter().filter(|k| !kw_old.contains(k)).cloned());
            txn.update_keywords(t.uid, kw_old, &kw_new);
        }
        if t.expunged {
            txn.expunge(t.uid);
        }
    }
    txn.commit(&Commit {
        uid_validity: first.uid_validity,
        saved_uids: &saved_uids,
    });
}

/// Reads messages from the user's Maildir, for [`RawReader`].
pub(crate) fn maildir_reader(
    store: Option<pn_store::Maildir>,
) -> impl Fn(&str, u32, u32) -> Option<Vec<u8>> {
    move |mailbox, uid_validity, uid| {
        let store = store.as_ref()?;
        // A recreated mailbox reuses the name with a new UIDVALIDITY: not the same message.
        if store.status(mailbox).ok()?.uid_validity != uid_validity {
            return None;
        }
        store.read_message(mailbox, uid).ok()
    }
}

/// The plugin settings handed to [`pn_core::PushNotifications::user`].
pub(crate) fn env(settings: UserSettings) -> Arc<dyn PluginEnv> {
    Arc::new(BridgeEnv(settings))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_bridge_drivers_replace_dovecots_driver_list() {
        let mut settings = UserSettings::default();
        for (k, v) in [
            (
                "push_notification_driver",
                "lua:file=/etc/dovecot/pn-bridge.lua",
            ),
            ("push_notification_backend", "dlog"),
            ("pn_bridge_driver", "ox:url=http://x/"),
            ("pn_bridge_driver2", "dlog"),
            ("other", "kept"),
        ] {
            settings.plugin.insert(k.to_owned(), v.to_owned());
        }
        let env = BridgeEnv(settings);
        assert_eq!(
            env.get("push_notification_driver").as_deref(),
            Some("ox:url=http://x/")
        );
        assert_eq!(
            env.get("push_notification_driver2").as_deref(),
            Some("dlog")
        );
        assert_eq!(env.get("push_notification_driver3"), None);
        assert_eq!(env.get("push_notification_backend"), None);
        assert_eq!(env.get("other").as_deref(), Some("kept"));
    }

    #[test]
    fn a_flag_change_is_replayed_from_flags_old_and_the_changes() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let old = flags(&names(&["\\Seen", "\\Recent"]));
        assert_eq!(old, MailFlags::SEEN | MailFlags::RECENT);
        let new = (old - flags(&names(&["\\Seen"]))) | flags(&names(&["\\Deleted"]));
        assert_eq!(new, MailFlags::DELETED | MailFlags::RECENT);
    }
}
