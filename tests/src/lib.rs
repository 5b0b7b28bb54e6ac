//! End-to-end tests live in `tests/tests/`: the crates embedded together in one program, the
//! way a Rust mail server uses them (the binary's own end-to-end tests are in `crates/pn/tests`).
