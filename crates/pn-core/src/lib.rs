//! pn's core: the driver interface, Dovecot's push-notification transaction engine, the host
//! API a mail server calls, and the outbox drivers hand their network work to.
//!
//! # How an event flows
//!
//! A mail server (the *host*) owns a [`PushNotifications`] for the process and a [`PushUser`]
//! per logged-in user. It reports what it does: mailbox operations go straight to the
//! [`PushUser`], message operations go through a [`MailTxn`] that is committed or rolled back
//! with the storage transaction. The engine turns them into RFC 5423 event data exactly as
//! Dovecot 2.3 does (spec §1–§2) and calls each driver's `begin_txn` / `process_mbox` /
//! `process_msg` / `end_txn` in configuration order. Drivers never do network I/O themselves:
//! they put requests into an [`Outbox`], which delivers them independently of the mail path.
//!
//! # Example: a mail server wiring it up
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//!
//! use pn_core::{
//!     Commit, Driver, DriverRegistry, DriverTxn, MailboxHost, MailboxStatus, HostError,
//!     MemoryOutbox, ProcessCtx, PushNotifications, Save, Subscriptions, TxnInfo, UserInfo,
//!     EventConfig,
//! };
//! use pn_event::{EventName, MailFlags, MessageTxnData};
//!
//! // A driver that counts the messages it was told about.
//! struct Counter(Arc<std::sync::atomic::AtomicUsize>);
//! struct CounterTxn(Arc<std::sync::atomic::AtomicUsize>);
//! impl Driver for Counter {
//!     fn begin_txn(&self, _txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
//!         subs.subscribe(EventName::MessageNew, EventConfig::default());
//!         Some(Box::new(CounterTxn(self.0.clone())))
//!     }
//! }
//! impl DriverTxn for CounterTxn {
//!     fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, _msg: &MessageTxnData) {
//!         self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!     }
//! }
//!
//! // The mail store answers status questions (UIDVALIDITY, unseen, ...).
//! struct Store;
//! impl MailboxHost for Store {
//!     fn status(&self, _user: &UserInfo, _mailbox: &str) -> Result<MailboxStatus, HostError> {
//!         Ok(MailboxStatus { uid_validity: 1700000000, ..MailboxStatus::default() })
//!     }
//! }
//!
//! let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
//! let mut registry = DriverRegistry::new();
//! let counter = seen.clone();
//! registry.register("counter", move |_ctx| Ok(Box::new(Counter(counter.clone()))));
//!
//! let pn = PushNotifications::new(registry, Arc::new(Store), Arc::new(MemoryOutbox::new()));
//! let settings: BTreeMap<String, String> =
//!     [("push_notification_driver".to_owned(), "counter".to_owned())].into();
//! let user = pn.user(UserInfo::new("alice@example.com", "lmtp"), Arc::new(settings));
//!
//! // An LMTP delivery: save into INBOX as a delivery, then commit with the assigned UID.
//! let mut txn = user.begin_mail_txn("INBOX");
//! txn.save(&Save { delivery: true, flags: MailFlags::empty(), keywords: &[], content: &() });
//! txn.commit(&Commit { uid_validity: 1700000000, saved_uids: &[7] });
//! user.deinit();
//! assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
//! ```

mod driver;
mod engine;
mod host;
mod outbox;
mod registry;

pub use driver::{Driver, DriverTxn, EventConfig, ProcessCtx, Subscriptions, TxnInfo, TxnKind};
pub use engine::{Commit, MailTxn, PushNotifications, PushUser, Save};
pub use host::{AttributeType, HostError, MailboxHost, MailboxStatus, PluginEnv, UserInfo};
pub use outbox::{
    EventId, HttpRequest, MemoryOutbox, Outbox, OutboxError, OutboxId, OutboxItem, Payload, Signing,
};
pub use registry::{DriverInitCtx, DriverInitError, DriverRegistry};

/// `tracing` target of the engine's own log lines (Dovecot's `push-notification: ` prefix).
pub const LOG_TARGET: &str = "push_notification";
