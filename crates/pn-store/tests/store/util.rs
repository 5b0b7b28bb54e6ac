//! Shared test helpers: a recording driver wired to a store through pn-core.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pn_core::{
    Driver, DriverRegistry, DriverTxn, EventConfig, MemoryOutbox, ProcessCtx, PushNotifications,
    PushUser, Subscriptions, TxnInfo, UserInfo,
};
use pn_event::{EventName, MailboxTxnData, MessageFields, MessageTxnData};
use pn_store::Maildir;

/// What the recording driver saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `process_mbox`.
    Mbox(MailboxTxnData),
    /// `process_msg`.
    Msg(MessageTxnData),
    /// `end_txn(success)`.
    End(bool),
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

struct Recorder(Log);
struct RecorderTxn(Log);

impl Driver for Recorder {
    fn begin_txn(
        &self,
        _txn: &TxnInfo<'_>,
        subs: &mut Subscriptions,
    ) -> Option<Box<dyn DriverTxn>> {
        for e in EventName::ALL {
            let config = match e {
                EventName::MessageNew | EventName::MessageAppend => {
                    EventConfig::fields(MessageFields::FLAGS | MessageFields::KEYWORDS)
                }
                EventName::FlagsClear => EventConfig::store_old(),
                _ => EventConfig::default(),
            };
            subs.subscribe(e, config);
        }
        Some(Box::new(RecorderTxn(self.0.clone())))
    }
}

impl DriverTxn for RecorderTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, mbox: &MailboxTxnData) {
        self.0.lock().unwrap().push(Seen::Mbox(mbox.clone()));
    }
    fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        self.0.lock().unwrap().push(Seen::Msg(msg.clone()));
    }
    fn end_txn(&mut self, _ctx: &ProcessCtx<'_>, success: bool) {
        self.0.lock().unwrap().push(Seen::End(success));
    }
}

/// A store in a temp dir and a push user with the recording driver.
pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub store: Maildir,
    pub user: PushUser,
    pub log: Log,
}

impl Harness {
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Maildir::open(dir.path().join("Maildir"));
        Harness::with_store(dir, store)
    }

    pub fn with_store(dir: tempfile::TempDir, store: Maildir) -> Harness {
        let log: Log = Arc::default();
        let mut registry = DriverRegistry::new();
        let l = log.clone();
        registry.register("rec", move |_ctx| {
            Ok(Box::new(Recorder(l.clone())) as Box<dyn Driver>)
        });
        let pn = PushNotifications::new(
            registry,
            Arc::new(store.clone()),
            Arc::new(MemoryOutbox::new()),
        );
        let settings: BTreeMap<String, String> =
            [("push_notification_driver".to_owned(), "rec".to_owned())].into();
        let user = pn.user(
            UserInfo::new("alice@example.com", "lda"),
            Arc::new(settings),
        );
        Harness {
            _dir: dir,
            store,
            user,
            log,
        }
    }

    /// Takes what was recorded so far.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Takes the messages processed so far.
    pub fn msgs(&self) -> Vec<MessageTxnData> {
        self.take()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Msg(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// A small test message.
pub fn message(n: usize) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: test {n}\r\n\r\nbody {n}\r\n").into_bytes()
}
