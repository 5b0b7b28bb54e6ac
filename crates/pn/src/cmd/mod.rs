//! One module per subcommand.

pub(crate) mod config;
pub(crate) mod mailbox;
pub(crate) mod metadata;
