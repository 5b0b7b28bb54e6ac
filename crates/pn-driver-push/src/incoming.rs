//! Which events wake a device: a MessageNew (a delivery, not an APPEND) into INBOX whose
//! first From address is not the user's own (Delta Chat's copies to self and other devices'
//! sent mail would otherwise wake every device of the sender).

use pn_core::{EventConfig, Subscriptions, TxnInfo, TxnKind};
use pn_event::{EventData, EventName, MessageFields, MessageTxnData};

/// Whether a transaction can carry such a delivery: mail transactions on INBOX only.
pub(crate) fn wanted(txn: &TxnInfo<'_>) -> bool {
    txn.kind == TxnKind::Mail && txn.mailbox.eq_ignore_ascii_case("INBOX")
}

/// Subscribes to MessageNew with the From address.
pub(crate) fn subscribe(subs: &mut Subscriptions) {
    subs.subscribe(
        EventName::MessageNew,
        EventConfig::fields(MessageFields::FROM),
    );
}

/// Whether `msg` is a delivery into INBOX from someone other than `user`.
pub(crate) fn is_incoming(user: &str, msg: &MessageTxnData) -> bool {
    if !msg.mailbox.eq_ignore_ascii_case("INBOX") {
        return false;
    }
    msg.events.iter().any(|e| match e {
        EventData::MessageNew(d) => !d
            .from_address
            .as_deref()
            .is_some_and(|from| from.eq_ignore_ascii_case(user)),
        _ => false,
    })
}
