//! The transaction engine (spec §2): users, mailbox events and mail transactions.

mod mail_txn;
mod triggers;

use std::borrow::Cow;
use std::sync::Arc;

use pn_config::driver_specs;
use pn_event::{EventData, EventName, MailboxTxnData};
use tracing::{debug, error};

use crate::driver::{EventConfig, Subscriptions};
use crate::{
    Driver, DriverInitCtx, DriverRegistry, DriverTxn, LOG_TARGET, MailboxHost, Outbox, PluginEnv,
    ProcessCtx, TxnInfo, TxnKind, UserInfo,
};

pub use mail_txn::{Commit, MailTxn, Save};

/// The process-wide part: the driver table, the mail store and the outbox.
pub struct PushNotifications {
    registry: DriverRegistry,
    host: Arc<dyn MailboxHost>,
    outbox: Arc<dyn Outbox>,
}

impl PushNotifications {
    /// Sets up push notifications for a process.
    pub fn new(
        registry: DriverRegistry,
        host: Arc<dyn MailboxHost>,
        outbox: Arc<dyn Outbox>,
    ) -> PushNotifications {
        PushNotifications {
            registry,
            host,
            outbox,
        }
    }

    /// A user was created (Dovecot's `mail_user_created` hook): reads the driver list from the
    /// user's plugin settings and initialises each driver, exactly as spec §3.1 says —
    /// `push_notification_driver`, `…driver2`, … up to the first gap; the first unknown driver
    /// or failing `init` stops the list (with an error log); when nothing loaded, the legacy
    /// `push_notification_backend*` keys are tried the same way.
    pub fn user(&self, info: UserInfo, env: Arc<dyn PluginEnv>) -> PushUser {
        let mut drivers = self.load_drivers(&info, &env, "push_notification_driver");
        if drivers.is_empty() {
            drivers = self.load_drivers(&info, &env, "push_notification_backend");
        }
        PushUser {
            info,
            env,
            drivers,
            host: Arc::clone(&self.host),
            outbox: Arc::clone(&self.outbox),
            deinitialized: false,
        }
    }

    fn load_drivers(
        &self,
        info: &UserInfo,
        env: &Arc<dyn PluginEnv>,
        root: &str,
    ) -> Vec<LoadedDriver> {
        let specs = env.driver_specs(root).unwrap_or_else(|| {
            driver_specs(root, |key| env.get(key).map(|v| (v, env.location(key))))
        });
        let mut loaded = Vec::new();
        for spec in &specs {
            let location = spec
                .location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let Some(init) = self.registry.find(&spec.name) else {
                error!(
                    target: LOG_TARGET,
                    user = %info.username,
                    location,
                    "Unknown push notification driver: {}",
                    spec.name
                );
                break;
            };
            let ctx = DriverInitCtx {
                spec,
                user: info,
                env,
                host: &self.host,
                outbox: &self.outbox,
            };
            match init(&ctx) {
                Ok(driver) => loaded.push(LoadedDriver {
                    name: spec.name.clone(),
                    driver,
                }),
                Err(e) => {
                    error!(target: LOG_TARGET, user = %info.username, location, "{}: {}", spec.name, e);
                    break;
                }
            }
        }
        loaded
    }
}

struct LoadedDriver {
    name: String,
    driver: Box<dyn Driver>,
}

/// One user's push notifications: the loaded driver instances, in configuration order.
///
/// Mailbox events are reported with the `mailbox_*` methods; message events through a
/// [`MailTxn`] from [`begin_mail_txn`](PushUser::begin_mail_txn). Dropping the user (or
/// calling [`deinit`](PushUser::deinit)) deinitialises the drivers.
pub struct PushUser {
    info: UserInfo,
    env: Arc<dyn PluginEnv>,
    drivers: Vec<LoadedDriver>,
    host: Arc<dyn MailboxHost>,
    outbox: Arc<dyn Outbox>,
    deinitialized: bool,
}

/// The drivers that accepted a transaction and the merged event subscriptions.
pub(crate) struct Begun {
    pub(crate) drivers: Vec<Accepted>,
    pub(crate) events: Vec<(EventName, EventConfig)>,
}

/// A driver in a transaction, with the events it subscribed to.
pub(crate) struct Accepted {
    pub(crate) txn: Box<dyn DriverTxn>,
    subscribed: Vec<EventName>,
}

impl Accepted {
    /// The event data this driver is shown: only events it subscribed to. Dovecot shows every
    /// driver everything, so a Lua script is called for events it has no function for and logs
    /// "is not a function" (docs/compat.md). Borrowed when nothing needs hiding.
    pub(crate) fn view<'a>(&self, events: &'a [EventData]) -> Cow<'a, [EventData]> {
        if events.iter().all(|e| self.subscribed.contains(&e.name())) {
            Cow::Borrowed(events)
        } else {
            Cow::Owned(
                events
                    .iter()
                    .filter(|e| self.subscribed.contains(&e.name()))
                    .cloned()
                    .collect(),
            )
        }
    }
}

impl PushUser {
    /// The user.
    pub fn info(&self) -> &UserInfo {
        &self.info
    }

    /// The user's plugin settings.
    pub fn env(&self) -> &Arc<dyn PluginEnv> {
        &self.env
    }

    /// Names of the loaded driver instances, as configured, in order.
    pub fn driver_names(&self) -> impl Iterator<Item = &str> {
        self.drivers.iter().map(|d| d.name.as_str())
    }

    pub(crate) fn process_ctx(&self) -> ProcessCtx<'_> {
        ProcessCtx {
            user: &self.info,
            host: &*self.host,
            outbox: &*self.outbox,
        }
    }

    pub(crate) fn host(&self) -> &dyn MailboxHost {
        &*self.host
    }

    /// `transaction_init` (spec §2.3): asks every driver, in order, to begin.
    ///
    /// Subscriptions are merged per event name, so each event's handler runs once with the
    /// union of what the drivers asked for. Dovecot runs it once per subscription instead,
    /// which duplicates keyword entries and can crash with dlog + lua (see docs/compat.md).
    pub(crate) fn begin(&self, mailbox: &str, kind: TxnKind) -> Begun {
        let mut begun = Begun {
            drivers: Vec::new(),
            events: Vec::new(),
        };
        if self.info.raw_autocreated {
            return begun;
        }
        let info = TxnInfo {
            user: &self.info,
            mailbox,
            kind,
            host: &*self.host,
        };
        let mut subs = Subscriptions::default();
        for d in &self.drivers {
            subs.clear();
            // A declining driver's subscriptions are dropped with it: Dovecot keeps them (a
            // failed Lua begin_txn), which only ever produces data nobody asked for.
            if let Some(txn) = d.driver.begin_txn(&info, &mut subs) {
                begun.drivers.push(Accepted {
                    txn,
                    subscribed: subs.iter().map(|(e, _)| e).collect(),
                });
                for (event, config) in subs.iter() {
                    merge_subscription(&mut begun.events, event, config);
                }
            }
        }
        begun
    }

    fn mailbox_event(&self, mailbox: &str, event: EventName, make: impl FnOnce() -> EventData) {
        let mut begun = self.begin(mailbox, TxnKind::Mailbox);
        let mut data = MailboxTxnData {
            mailbox: mailbox.to_owned(),
            events: Vec::new(),
        };
        if begun.events.iter().any(|(e, _)| *e == event) {
            data.events.push(make());
        }
        let ctx = self.process_ctx();
        for d in &mut begun.drivers {
            match d.view(&data.events) {
                Cow::Borrowed(_) => d.txn.process_mbox(&ctx, &data),
                Cow::Owned(events) => d.txn.process_mbox(
                    &ctx,
                    &MailboxTxnData {
                        mailbox: data.mailbox.clone(),
                        events,
                    },
                ),
            }
        }
        for d in &mut begun.drivers {
            d.txn.end_txn(&ctx, true);
        }
        debug!(target: LOG_TARGET, mailbox, "Push notification transaction completed");
    }

    /// A mailbox was created. Its UIDVALIDITY is read from the mail store.
    pub fn mailbox_created(&self, mailbox: &str) {
        self.mailbox_event(mailbox, EventName::MailboxCreate, || {
            let uid_validity = match self.host.status(&self.info, mailbox) {
                Ok(status) => status.uid_validity,
                Err(e) => {
                    // Dovecot's two literals are concatenated without a separator.
                    error!(
                        target: LOG_TARGET,
                        "MailboxCreateFailed to get created mailbox '{mailbox}' uidvalidity: {e}"
                    );
                    0
                }
            };
            EventData::MailboxCreate { uid_validity }
        });
    }

    /// A mailbox was deleted.
    pub fn mailbox_deleted(&self, mailbox: &str) {
        self.mailbox_event(mailbox, EventName::MailboxDelete, || {
            EventData::MailboxDelete
        });
    }

    /// A mailbox was renamed; the event's mailbox is the new name.
    pub fn mailbox_renamed(&self, old: &str, new: &str) {
        self.mailbox_event(new, EventName::MailboxRename, || EventData::MailboxRename {
            old_mailbox: old.to_owned(),
        });
    }

    /// A mailbox was subscribed to (`true`) or unsubscribed from (`false`).
    pub fn mailbox_subscribed(&self, mailbox: &str, subscribed: bool) {
        if subscribed {
            self.mailbox_event(mailbox, EventName::MailboxSubscribe, || {
                EventData::MailboxSubscribe
            });
        } else {
            self.mailbox_event(mailbox, EventName::MailboxUnsubscribe, || {
                EventData::MailboxUnsubscribe
            });
        }
    }

    /// Opens a mail transaction on a mailbox (Dovecot's `mailbox_transaction_begin`). Drivers
    /// are only started when the first message event arrives.
    pub fn begin_mail_txn(&self, mailbox: &str) -> MailTxn<'_> {
        MailTxn::new(self, mailbox)
    }

    /// Deinitialises the drivers in configuration order, each `deinit` followed by its
    /// `cleanup`. Also done on drop.
    pub fn deinit(mut self) {
        self.deinit_drivers();
    }

    fn deinit_drivers(&mut self) {
        if std::mem::replace(&mut self.deinitialized, true) {
            return;
        }
        for d in &self.drivers {
            d.driver.deinit(&self.info);
            d.driver.cleanup();
        }
    }
}

impl Drop for PushUser {
    fn drop(&mut self) {
        self.deinit_drivers();
    }
}

fn merge_subscription(
    events: &mut Vec<(EventName, EventConfig)>,
    event: EventName,
    config: EventConfig,
) {
    match events.iter_mut().find(|(e, _)| *e == event) {
        Some((_, merged)) => {
            merged.fields |= config.fields;
            // A flag is reported when any subscriber wants it, as Dovecot's OR-accumulation
            // over all registrations gives.
            merged.hide_deleted &= config.hide_deleted;
            merged.hide_seen &= config.hide_seen;
            merged.store_old |= config.store_old;
        }
        None => events.push((event, config)),
    }
}
