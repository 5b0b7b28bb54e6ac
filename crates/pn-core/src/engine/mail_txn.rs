//! Mail transactions (spec §2.2): message events are collected per transaction and handed to
//! the drivers only after the storage commit succeeded.

use std::borrow::Cow;
use std::collections::HashMap;

use pn_event::{EventData, MailFlags, MessageSource, MessageTxnData};
use tracing::debug;

use super::triggers;
use super::{Begun, PushUser};
use crate::{LOG_TARGET, TxnKind};

/// A message saved in the transaction: a delivery or an append/copy.
pub struct Save<'a> {
    /// `true` for LDA/LMTP delivery (Dovecot's `MAILBOX_FLAG_POST_SESSION`): `MessageNew`.
    /// `false` for everything else (IMAP APPEND, COPY, MOVE, doveadm save): `MessageAppend`.
    pub delivery: bool,
    /// The message's flags as saved. Dovecot never reports `\Recent` here (the mail has no
    /// UID yet when it is read), so a host leaves it out.
    pub flags: MailFlags,
    /// The message's keywords as saved.
    pub keywords: &'a [String],
    /// The message's headers and body, read only for the fields a driver asked for.
    pub content: &'a dyn MessageSource,
}

/// What the storage commit produced.
pub struct Commit<'a> {
    /// The mailbox's UIDVALIDITY; `0` makes the engine ask the mail store.
    pub uid_validity: u32,
    /// The UIDs assigned to the saves of this transaction, in save order.
    pub saved_uids: &'a [u32],
}

/// Up to this many messages a transaction finds records by scanning.
const SCAN_LIMIT: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MsgKey {
    Uid(u32),
    Saved(u32),
}

struct MsgRecord {
    key: MsgKey,
    events: Vec<EventData>,
}

/// A mail transaction on one mailbox. End it with [`commit`](MailTxn::commit) after the storage
/// commit succeeded, or [`rollback`](MailTxn::rollback); dropping it rolls back.
pub struct MailTxn<'u> {
    user: &'u PushUser,
    mailbox: String,
    begun: Option<Begun>,
    /// In the order first touched; `index` (built past [`SCAN_LIMIT`]) keeps a transaction
    /// over many messages (a `STORE 1:*`) linear.
    messages: Vec<MsgRecord>,
    index: HashMap<MsgKey, usize>,
    save_count: u32,
    finished: bool,
}

impl<'u> MailTxn<'u> {
    pub(super) fn new(user: &'u PushUser, mailbox: &str) -> MailTxn<'u> {
        MailTxn {
            user,
            mailbox: mailbox.to_owned(),
            begun: None,
            messages: Vec::new(),
            index: HashMap::new(),
            save_count: 0,
            finished: false,
        }
    }

    /// The mailbox's full name.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// Starts the drivers on the first message event and finds or creates the message's record
    /// (one per message, even when no event stores data for it).
    fn record(
        &mut self,
        key: MsgKey,
    ) -> (
        &[(pn_event::EventName, crate::EventConfig)],
        &mut Vec<EventData>,
    ) {
        if self.begun.is_none() {
            self.begun = Some(self.user.begin(&self.mailbox, TxnKind::Mail));
        }
        let idx = match self.find(key) {
            Some(i) => i,
            None => {
                self.messages.push(MsgRecord {
                    key,
                    events: Vec::new(),
                });
                let i = self.messages.len() - 1;
                if !self.index.is_empty() {
                    self.index.insert(key, i);
                }
                i
            }
        };
        let events = self
            .begun
            .as_ref()
            .map(|b| b.events.as_slice())
            .unwrap_or(&[]);
        (events, &mut self.messages[idx].events)
    }

    /// The record of `key`. Most transactions touch one message, where a scan is cheapest;
    /// the index is built once a transaction holds more than [`SCAN_LIMIT`] messages.
    fn find(&mut self, key: MsgKey) -> Option<usize> {
        if self.messages.len() <= SCAN_LIMIT {
            return self.messages.iter().position(|m| m.key == key);
        }
        if self.index.is_empty() {
            self.index = self
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| (m.key, i))
                .collect();
        }
        self.index.get(&key).copied()
    }

    /// A message was saved (delivered, appended or copied into this mailbox).
    pub fn save(&mut self, save: &Save<'_>) {
        let idx = self.save_count;
        self.save_count += 1;
        let (subs, data) = self.record(MsgKey::Saved(idx));
        triggers::on_save(subs, data, save);
    }

    /// A message was expunged.
    pub fn expunge(&mut self, uid: u32) {
        let (subs, data) = self.record(MsgKey::Uid(uid));
        triggers::on_expunge(subs, data);
    }

    /// A message's system flags changed from `old` to `new`. No-op when they are equal, as
    /// Dovecot's notify plugin only reports real changes.
    pub fn update_flags(&mut self, uid: u32, old: MailFlags, new: MailFlags) {
        if old == new {
            return;
        }
        let (subs, data) = self.record(MsgKey::Uid(uid));
        triggers::on_flags(subs, data, old, new);
    }

    /// A message's keywords changed from `old` to `new`. No-op when the lists are equal
    /// element by element.
    pub fn update_keywords(&mut self, uid: u32, old: &[String], new: &[String]) {
        if old == new {
            return;
        }
        let (subs, data) = self.record(MsgKey::Uid(uid));
        triggers::on_keywords(subs, data, old, new);
    }

    /// The storage commit succeeded: every message is processed by every accepting driver in
    /// configuration order, then each driver's transaction ends with success.
    ///
    /// Messages are processed in the order they were first touched (Dovecot uses hash order,
    /// which is unspecified).
    pub fn commit(mut self, commit: &Commit<'_>) {
        self.finished = true;
        let Some(mut begun) = self.begun.take() else {
            return;
        };
        let uid_validity = if commit.uid_validity != 0 {
            commit.uid_validity
        } else {
            self.user
                .host()
                .status(self.user.info(), &self.mailbox)
                .map(|s| s.uid_validity)
                .unwrap_or(0)
        };
        let ctx = self.user.process_ctx();
        for rec in std::mem::take(&mut self.messages) {
            let uid = match rec.key {
                MsgKey::Uid(uid) => uid,
                MsgKey::Saved(idx) => usize::try_from(idx)
                    .ok()
                    .and_then(|i| commit.saved_uids.get(i).copied())
                    .unwrap_or(0),
            };
            let msg = MessageTxnData {
                mailbox: self.mailbox.clone(),
                uid,
                uid_validity,
                events: rec.events,
            };
            for d in &mut begun.drivers {
                match d.view(&msg.events) {
                    Cow::Borrowed(_) => d.txn.process_msg(&ctx, &msg),
                    Cow::Owned(events) => d.txn.process_msg(
                        &ctx,
                        &MessageTxnData {
                            mailbox: msg.mailbox.clone(),
                            uid: msg.uid,
                            uid_validity: msg.uid_validity,
                            events,
                        },
                    ),
                }
            }
        }
        for d in &mut begun.drivers {
            d.txn.end_txn(&ctx, true);
        }
        debug!(target: LOG_TARGET, "Push notification transaction completed");
    }

    /// The storage transaction was rolled back or its commit failed: drivers that began get
    /// `end_txn(false)` and nothing is processed.
    pub fn rollback(mut self) {
        self.rollback_inner();
    }

    fn rollback_inner(&mut self) {
        self.finished = true;
        if let Some(mut begun) = self.begun.take() {
            let ctx = self.user.process_ctx();
            for d in &mut begun.drivers {
                d.txn.end_txn(&ctx, false);
            }
        }
    }
}

impl Drop for MailTxn<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.rollback_inner();
        }
    }
}
