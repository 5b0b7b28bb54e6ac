//! The RFC 5423 message-store events as Dovecot 2.3's push-notification plugin models them.
//!
//! This crate is pure data: event names, the system flags, the message-field flags that select
//! what a `MessageNew` / `MessageAppend` event carries, and the per-event data records. It does
//! no I/O and knows nothing about drivers, configuration or transactions.
//!
//! Names follow RFC 5423 and Dovecot exactly (`MessageNew`, `FlagsClear`, …) because operators
//! and Lua scripts already know them.

mod data;
mod flags;
mod name;
mod raw;

pub use data::{
    AutomatedHeaders, EventData, FlagsClearData, FlagsSetData, MailboxTxnData, MessageData,
    MessageSource, MessageTxnData,
};
pub use flags::{MailFlags, MessageFields, ParseFlagError};
pub use name::{EventName, UnknownEventName};
pub use raw::RawValue;
