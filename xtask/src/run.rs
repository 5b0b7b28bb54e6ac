//! Running commands with a visible header, failing on a non-zero exit.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo` as invoked by the user (respects `$CARGO`).
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`, printing it first; an error if it fails.
pub(crate) fn step(title: &str, cmd: &mut Command) -> anyhow::Result<()> {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("\n==> {title}: {cmd:?}");
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{title} failed ({status})");
    }
    Ok(())
}

/// Whether a program is on PATH (as a cargo subcommand when `cargo_sub` is set).
pub(crate) fn have_cargo_subcommand(name: &str) -> bool {
    cargo()
        .args([name, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
