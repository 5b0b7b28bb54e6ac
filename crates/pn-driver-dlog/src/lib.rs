//! The `dlog` push-notification driver: writes Dovecot's debug lines for every hook and event.
//!
//! Every line is Dovecot 2.3's text (spec §4), including its quirks: `MailboxUnsubscribe`
//! says "Mailbox was subscribed to" (operators grep for it), and the `MessageNew` date shows a
//! UTC clock with the message's own offset. Lines go to `tracing` at debug level under this
//! crate's target, which pn's default log filter shows: configuring dlog means wanting to see
//! them, as Dovecot writes them unconditionally.
//!
//! ```text
//! push_notification_driver = dlog
//! ```

mod lines;

use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, ProcessCtx, Subscriptions, TxnInfo, UserInfo,
};
use pn_event::{MailboxTxnData, MessageTxnData};
use tracing::debug;

/// The name the driver is registered under.
pub const NAME: &str = "dlog";

/// The dlog driver for one user.
#[derive(Debug, Default)]
pub struct Dlog;

/// Creates the driver (Dovecot's `init`): logs the init line and, when the configuration has
/// `dlog:<args>`, the raw argument string. Never fails.
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    debug!("Called init push_notification plugin hook.");
    if let Some(args) = &ctx.spec.raw_args {
        debug!("Config string for dlog push_notification driver: {args}");
    }
    Ok(Box::new(Dlog))
}

impl Driver for Dlog {
    fn begin_txn(
        &self,
        _txn: &TxnInfo<'_>,
        subs: &mut Subscriptions,
    ) -> Option<Box<dyn DriverTxn>> {
        debug!("Called begin_txn push_notification plugin hook.");
        // dlog subscribes to everything with default configs, so it never asks for
        // MessageNew/MessageAppend fields itself (spec §1.4).
        subs.subscribe_all();
        Some(Box::new(DlogTxn))
    }

    fn deinit(&self, _user: &UserInfo) {
        debug!("Called deinit push_notification plugin hook.");
    }

    fn cleanup(&self) {
        debug!("Called cleanup push_notification plugin hook.");
    }
}

struct DlogTxn;

impl DriverTxn for DlogTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, mbox: &MailboxTxnData) {
        debug!("Called process_mbox push_notification plugin hook.");
        debug!("Mailbox data: Mailbox [{}]", mbox.mailbox);
        for event in &mbox.events {
            lines::event_lines(event, |line| debug!("{line}"));
        }
    }

    fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        debug!("Called process_msg push_notification plugin hook.");
        debug!(
            "Message data: Mailbox [{}], UID [{}], UIDVALIDITY [{}]",
            msg.mailbox, msg.uid, msg.uid_validity
        );
        for event in &msg.events {
            lines::event_lines(event, |line| debug!("{line}"));
        }
    }

    fn end_txn(&mut self, _ctx: &ProcessCtx<'_>, _success: bool) {
        debug!("Called end_txn push_notification plugin hook.");
    }
}
