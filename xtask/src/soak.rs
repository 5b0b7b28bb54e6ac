//! `cargo xtask soak`: the long versions of tests too slow for every run — `pn lmtp` killed
//! with SIGKILL 100 times while a client delivers (`PN_OUTBOX_KILLS`, default 100), then every
//! acknowledged message's push must arrive.

use crate::run::{cargo, step};

pub(crate) fn run() -> anyhow::Result<()> {
    let kills = std::env::var("PN_OUTBOX_KILLS").unwrap_or_else(|_| "100".to_owned());
    step(
        "outbox kill -9 soak",
        cargo()
            .args([
                "test",
                "-p",
                "pn",
                "--test",
                "outbox_cli",
                "kill_9",
                "--",
                "--nocapture",
            ])
            .env("PN_OUTBOX_KILLS", kills),
    )
}
