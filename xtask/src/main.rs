//! pn's task runner: `cargo xtask <task>`.
//!
//! - `ci`: everything CI checks, in order, stopping at the first failure.
//! - `bench [ARGS…]`: the criterion benchmarks, then a summary with ratios against each
//!   group's baseline measured in the same run.
//! - `bench lmtp`: deliveries per second and latency of `pn lmtp` against Dovecot's LMTP.
//! - `bench bridge`: Dovecot's LMTP deliveries/s with pn-bridge.lua against no push plugin.
//! - `bench nats`: pushes/s through NATS JetStream with 1 and 4 `pn worker`s next to the
//!   local durable outbox (`crates/pn/tests/nats_bench.rs`; needs `nats-server`).
//! - `dist`: man pages and shell completions in `target/dist/`.
//! - `deb [--check]`: a Debian package (binary, man pages, completions, systemd units,
//!   `/etc/pn/pn.conf`); `--check` installs, runs and removes it.
//! - `debian-config`: Debian's packaged dovecot.conf tree must pass `pn config check`.
//! - `soak`: long-running robustness tests (`pn lmtp` killed 100 times, see `soak.rs`).

mod bench;
mod bench_bridge;
mod bench_lmtp;
mod ci;
mod debian_config;
mod dist;
mod run;
mod soak;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("bench") if args.get(1).is_some_and(|a| a == "lmtp") => bench_lmtp::run(),
        Some("bench") if args.get(1).is_some_and(|a| a == "bridge") => bench_bridge::run(),
        Some("bench") if args.get(1).is_some_and(|a| a == "nats") => run::step(
            "bench nats",
            run::cargo().args([
                "test",
                "-p",
                "pn",
                "--test",
                "nats_bench",
                "--",
                "--ignored",
                "--nocapture",
            ]),
        ),
        Some("bench") => bench::run(&args[1..]),
        Some("debian-config") => debian_config::run(),
        Some("dist") => dist::dist(),
        Some("deb") => dist::deb(&args[1..]),
        Some("soak") => soak::run(),
        _ => {
            usage();
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("xtask: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn usage() {
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "usage: cargo xtask <ci | bench [cargo bench args…] [-- criterion args…] | bench lmtp | bench bridge | bench nats | dist | deb [--check] | debian-config | soak>"
        );
    }
}
