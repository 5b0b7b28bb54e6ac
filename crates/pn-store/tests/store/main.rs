//! pn-store's integration tests: events, concurrency and crash safety (one binary).

#![allow(clippy::unwrap_used, clippy::panic, missing_docs, unreachable_pub)]

mod concurrency;
mod events;
mod layout;
mod status;
mod util;
