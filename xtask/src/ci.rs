//! `cargo xtask ci`: formatting, lints, tests, docs and benchmark builds.

use crate::run::{cargo, have_cargo_subcommand, step};

pub(crate) fn run() -> anyhow::Result<()> {
    step("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    if have_cargo_subcommand("nextest") {
        step(
            "tests (nextest)",
            cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ]),
        )?;
        // nextest does not run doctests.
        step(
            "doctests",
            cargo().args(["test", "--workspace", "--doc", "--locked"]),
        )?;
    } else {
        step(
            "tests",
            cargo().args(["test", "--workspace", "--locked", "--no-fail-fast"]),
        )?;
    }
    crate::debian_config::run()?;
    step(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    step(
        "benchmarks build",
        cargo().args(["bench", "--workspace", "--no-run", "--locked"]),
    )?;
    // The Debian package: built from the release binary, then installed, run and removed
    // again where dpkg is available (as root; otherwise only built).
    if std::path::Path::new("/usr/bin/dpkg-deb").exists() {
        crate::dist::deb(&["--check".to_owned()])?;
    }
    Ok(())
}
