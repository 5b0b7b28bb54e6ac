//! The driver interface, mirroring Dovecot's driver vfuncs (spec §0, §2).
//!
//! A [`Driver`] is one configured driver instance for one user (Dovecot's `duser`), built by
//! the [`crate::DriverRegistry`]. For every transaction the engine asks it to
//! [`begin_txn`](Driver::begin_txn); a driver that declines is left out of that transaction.
//! An accepting driver returns a [`DriverTxn`] that receives the processed data and the end of
//! the transaction.

use pn_event::{EventName, MailboxTxnData, MessageFields, MessageTxnData};

use crate::{MailboxHost, Outbox, UserInfo};

/// Whether a transaction is a mailbox event or a mail transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// One mailbox event (create, delete, rename, subscribe, unsubscribe) on its own.
    Mailbox,
    /// A storage transaction on a mailbox, with message events.
    Mail,
}

/// What a driver learns about a transaction when it begins.
pub struct TxnInfo<'a> {
    /// The user.
    pub user: &'a UserInfo,
    /// The mailbox's full name (for a rename, the new name).
    pub mailbox: &'a str,
    /// Mailbox event or mail transaction.
    pub kind: TxnKind,
    /// The mail store, e.g. to read METADATA.
    pub host: &'a dyn MailboxHost,
}

/// Per-subscription settings (Dovecot's per-event config structs, merged into one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventConfig {
    /// `MessageNew` / `MessageAppend`: the field groups to fill. Empty means "no data".
    pub fields: MessageFields,
    /// `FlagsSet`: do not report `\Deleted`.
    pub hide_deleted: bool,
    /// `FlagsSet`: do not report `\Seen`.
    pub hide_seen: bool,
    /// `FlagsClear`: keep the old flags and keywords.
    pub store_old: bool,
}

impl EventConfig {
    /// The config of a `MessageNew` / `MessageAppend` subscription with these fields.
    pub fn fields(fields: MessageFields) -> EventConfig {
        EventConfig {
            fields,
            ..EventConfig::default()
        }
    }

    /// A `FlagsClear` subscription that keeps the old flags and keywords.
    pub fn store_old() -> EventConfig {
        EventConfig {
            store_old: true,
            ..EventConfig::default()
        }
    }
}

/// The events a driver subscribes to in `begin_txn`, with their configs, in order.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions {
    entries: Vec<(EventName, EventConfig)>,
}

impl Subscriptions {
    /// Subscribes to one event. Subscribing twice merges the configs.
    pub fn subscribe(&mut self, event: EventName, config: EventConfig) {
        self.entries.push((event, config));
    }

    /// Subscribes to all twelve events with default configs, in Dovecot's order (what dlog
    /// does).
    pub fn subscribe_all(&mut self) {
        for e in EventName::ALL {
            self.subscribe(e, EventConfig::default());
        }
    }

    /// The subscriptions in the order they were made.
    pub fn iter(&self) -> impl Iterator<Item = (EventName, EventConfig)> + '_ {
        self.entries.iter().copied()
    }

    /// Whether the driver subscribed to `event`.
    pub fn contains(&self, event: EventName) -> bool {
        self.entries.iter().any(|(e, _)| *e == event)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// What a driver may use while processing: the user, the mail store and the outbox.
pub struct ProcessCtx<'a> {
    /// The user.
    pub user: &'a UserInfo,
    /// The mail store (mailbox status for ox's `unseen`, METADATA).
    pub host: &'a dyn MailboxHost,
    /// Where network work goes.
    pub outbox: &'a dyn Outbox,
}

/// One configured driver instance for one user.
///
/// Implementations hold their parsed configuration; everything per transaction lives in the
/// [`DriverTxn`] they return. `&self` because one user may have two transactions open at once
/// (an IMAP MOVE has one on each mailbox).
pub trait Driver: Send + Sync {
    /// Starts a transaction. Subscribe to events in `subs` and return the per-transaction
    /// state, or `None` to stay out of this transaction entirely (no `process_*`, no
    /// `end_txn`). Asked again for every transaction.
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>>;

    /// The user is going away. Called in configuration order, each followed by
    /// [`cleanup`](Driver::cleanup).
    fn deinit(&self, _user: &UserInfo) {}

    /// Called right after [`deinit`](Driver::deinit).
    fn cleanup(&self) {}
}

/// A driver's part in one transaction.
pub trait DriverTxn: Send {
    /// A mailbox event happened. Called even when no subscribed event produced data; only
    /// data of events this driver subscribed to is shown.
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, _mbox: &MailboxTxnData) {}

    /// A message of the committed transaction, with the data of the events this driver
    /// subscribed to (possibly none). MessageNew/MessageAppend carry the union of the fields
    /// all drivers asked for, as in Dovecot.
    fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, _msg: &MessageTxnData) {}

    /// The transaction ended: `success` is false after a rollback (and then nothing was
    /// processed).
    fn end_txn(&mut self, _ctx: &ProcessCtx<'_>, _success: bool) {}
}
