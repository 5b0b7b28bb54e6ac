//! The lua driver through the `pn` binary: Dovecot's captured Lua tables replayed with
//! `pn deliver`, `pn lmtp`, `pn save`, `pn flags`, `pn expunge` and `pn mailbox …`
//! (`replay`), Dovecot's documented example scripts against a real HTTP receiver (`scripts`),
//! and what a script cannot do to the server (`guard`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

#[path = "lua_cli/guard.rs"]
mod guard;
#[path = "lua_cli/replay.rs"]
mod replay;
#[path = "lua_cli/scripts.rs"]
mod scripts;
#[path = "lua_cli/support.rs"]
mod support;
