//! `cargo xtask debian-config`: Debian's real Dovecot configuration tree must parse.
//!
//! Installs `dovecot-core` when `/etc/dovecot/dovecot.conf` is missing (services kept from
//! starting by a `policy-rc.d` that exits 101), builds `pn`, and runs `pn config check`,
//! `pn config drivers` and `pn config -p lmtp` on it. Any failure fails the task.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::run::{cargo, root, step};

const DOVECOT_CONF: &str = "/etc/dovecot/dovecot.conf";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

pub(crate) fn run() -> anyhow::Result<()> {
    if !Path::new(DOVECOT_CONF).exists() {
        install_dovecot_core()?;
    }
    let root = root();
    step(
        "build pn",
        cargo().args(["build", "--quiet", "--locked", "-p", "pn"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let pn = target.join("debug").join("pn");
    for args in [
        &["config", "check", "-c", DOVECOT_CONF][..],
        &["config", "drivers", "-p", "lmtp", "-c", DOVECOT_CONF][..],
        &["config", "-p", "lmtp", "-c", DOVECOT_CONF][..],
    ] {
        step(
            &format!("pn {}", args.join(" ")),
            Command::new(&pn).args(args).env_remove("PN_CONFIG"),
        )?;
    }
    Ok(())
}

fn install_dovecot_core() -> anyhow::Result<()> {
    let created_policy = !Path::new(POLICY_RC_D).exists();
    if created_policy {
        std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
            .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
        set_executable(Path::new(POLICY_RC_D))?;
    }
    let result = (|| {
        step(
            "apt-get update",
            Command::new("apt-get")
                .args(["update", "-q"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        step(
            "apt-get install dovecot-core",
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    "dovecot-core",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    })();
    if created_policy {
        std::fs::remove_file(POLICY_RC_D)
            .with_context(|| format!("cannot remove {POLICY_RC_D}"))?;
    }
    result?;
    if !Path::new(DOVECOT_CONF).exists() {
        bail!("dovecot-core is installed but {DOVECOT_CONF} is missing");
    }
    Ok(())
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}
