//! One module per subcommand.

pub(crate) mod bridge;
pub(crate) mod config;
pub(crate) mod deliver;
pub(crate) mod dispatch;
pub(crate) mod expunge;
pub(crate) mod flags;
pub(crate) mod generate;
pub(crate) mod lmtp;
pub(crate) mod mail;
pub(crate) mod mailbox;
pub(crate) mod metadata;
pub(crate) mod push_test;
pub(crate) mod queue;
pub(crate) mod save;
pub(crate) mod search;
pub(crate) mod webpush;
pub(crate) mod worker;
