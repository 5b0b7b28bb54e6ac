//! `cargo xtask dist`: man pages and shell completions from the release binary's clap
//! definition, in `target/dist/`. `cargo xtask deb [--check]`: a Debian package of the binary,
//! its man pages, completions, systemd units and a commented `/etc/pn/pn.conf`; `--check`
//! installs it with `dpkg -i`, runs `pn --version` from it, renders the man pages, verifies the
//! units with `systemd-analyze verify` and removes it again with `dpkg -r`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::run::{cargo, root, step};

/// The units shipped in the package, from `crates/pn/dist/systemd/`.
const UNITS: &[&str] = &["pn-lmtp.service", "pn-dispatch.service"];

/// Builds the release binary and writes man pages and completions; returns the binary.
fn assets(out: &Path) -> anyhow::Result<PathBuf> {
    step(
        "release build",
        cargo().args(["build", "--release", "--locked", "-p", "pn"]),
    )?;
    let pn = target_dir().join("release/pn");
    let man = out.join("man");
    let _ = fs::remove_dir_all(&man);
    step("man pages", Command::new(&pn).arg("generate-man").arg(&man))?;
    let completions = out.join("completions");
    fs::create_dir_all(&completions)?;
    for (shell, file) in [("bash", "pn"), ("zsh", "_pn"), ("fish", "pn.fish")] {
        let output = Command::new(&pn)
            .args(["completions", shell])
            .output()
            .with_context(|| format!("cannot run {}", pn.display()))?;
        if !output.status.success() {
            bail!(
                "pn completions {shell} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        fs::write(completions.join(file), output.stdout)?;
    }
    Ok(pn)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// `cargo xtask dist`.
pub(crate) fn dist() -> anyhow::Result<()> {
    let out = target_dir().join("dist");
    assets(&out)?;
    say(&format!("man pages and completions in {}", out.display()));
    Ok(())
}

/// `cargo xtask deb [--check]`.
pub(crate) fn deb(args: &[String]) -> anyhow::Result<()> {
    let check = args.iter().any(|a| a == "--check");
    let out = target_dir().join("dist");
    let pn = assets(&out)?;
    let version = env!("CARGO_PKG_VERSION");
    let arch = capture(Command::new("dpkg").arg("--print-architecture"))?;
    let pkg = out.join(format!("pn_{version}_{arch}"));
    let _ = fs::remove_dir_all(&pkg);
    let dist = root().join("crates/pn/dist");

    install(&pn, &pkg.join("usr/bin/pn"), 0o755)?;
    let man1 = pkg.join("usr/share/man/man1");
    fs::create_dir_all(&man1)?;
    for entry in fs::read_dir(out.join("man"))? {
        let entry = entry?;
        let dest = man1.join(entry.file_name());
        fs::copy(entry.path(), &dest)?;
        step("gzip", Command::new("gzip").args(["-9n", "-f"]).arg(&dest))?;
    }
    let completions = out.join("completions");
    install(
        &completions.join("pn"),
        &pkg.join("usr/share/bash-completion/completions/pn"),
        0o644,
    )?;
    install(
        &completions.join("_pn"),
        &pkg.join("usr/share/zsh/vendor-completions/_pn"),
        0o644,
    )?;
    install(
        &completions.join("pn.fish"),
        &pkg.join("usr/share/fish/vendor_completions.d/pn.fish"),
        0o644,
    )?;
    for unit in UNITS {
        install(
            &dist.join("systemd").join(unit),
            &pkg.join("lib/systemd/system").join(unit),
            0o644,
        )?;
    }
    install(&dist.join("pn.conf"), &pkg.join("etc/pn/pn.conf"), 0o644)?;
    let doc = pkg.join("usr/share/doc/pn");
    install(&root().join("README.md"), &doc.join("README.md"), 0o644)?;
    for entry in fs::read_dir(root().join("docs"))? {
        let entry = entry?;
        install(&entry.path(), &doc.join(entry.file_name()), 0o644)?;
    }

    let debian = pkg.join("DEBIAN");
    fs::create_dir_all(&debian)?;
    let size_kib = du_kib(&pkg)?;
    fs::write(
        debian.join("control"),
        format!(
            "Package: pn\n\
             Version: {version}\n\
             Architecture: {arch}\n\
             Maintainer: pn developers <pn@localhost>\n\
             Installed-Size: {size_kib}\n\
             Depends: libc6, passwd\n\
             Section: mail\n\
             Priority: optional\n\
             Description: push notifications for mail stores, compatible with Dovecot\n \
             pn turns RFC 5423 message-store events into notifications the way Dovecot's\n \
             push-notification plugin does (dlog, ox and lua drivers, the same bytes on the\n \
             wire), with an LMTP server, a dovecot-lda compatible delivery command and\n \
             doveadm-style mail and METADATA commands.\n"
        ),
    )?;
    fs::write(debian.join("conffiles"), "/etc/pn/pn.conf\n")?;
    script(
        &debian.join("postinst"),
        "#!/bin/sh\n\
         set -e\n\
         if [ \"$1\" = configure ]; then\n\
         \tif ! getent passwd pn >/dev/null; then\n\
         \t\tuseradd --system --user-group --home-dir /var/lib/pn --no-create-home \\\n\
         \t\t\t--shell /usr/sbin/nologin --comment 'pn push notifications' pn\n\
         \tfi\n\
         \tinstall -d -o pn -g pn -m 0750 /var/lib/pn\n\
         \tif [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi\n\
         fi\n",
    )?;
    script(
        &debian.join("prerm"),
        "#!/bin/sh\n\
         set -e\n\
         if [ -d /run/systemd/system ] && [ \"$1\" = remove ]; then\n\
         \tsystemctl stop pn-lmtp.service >/dev/null 2>&1 || true\n\
         fi\n",
    )?;
    script(
        &debian.join("postrm"),
        "#!/bin/sh\n\
         set -e\n\
         # The pn user and /var/lib/pn (mail and queued notifications) are kept on purge, as\n\
         # Debian's policy asks for data a package cannot recreate.\n\
         if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null || true; fi\n",
    )?;
    let deb = out.join(format!("pn_{version}_{arch}.deb"));
    step(
        "dpkg-deb",
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&pkg)
            .arg(&deb),
    )?;
    say(&format!("package: {}", deb.display()));
    if check {
        check_package(&deb, &pkg)?;
    }
    Ok(())
}

/// Installs the package, exercises what it installed and removes it.
fn check_package(deb: &Path, pkg: &Path) -> anyhow::Result<()> {
    if capture(Command::new("id").arg("-u"))? != "0" {
        say("package check skipped: dpkg -i needs root");
        return Ok(());
    }
    step("dpkg -i", Command::new("dpkg").arg("-i").arg(deb))?;
    let result = (|| -> anyhow::Result<()> {
        let version = capture(Command::new("/usr/bin/pn").arg("--version"))?;
        if !version.starts_with("pn ") {
            bail!("pn --version printed {version:?}");
        }
        step(
            "config check of /etc/pn/pn.conf",
            Command::new("/usr/bin/pn").args(["-c", "/etc/pn/pn.conf", "config", "check"]),
        )?;
        capture(Command::new("getent").args(["passwd", "pn"]))
            .context("the package did not create the pn user")?;
        for entry in fs::read_dir(pkg.join("usr/share/man/man1"))? {
            let path = entry?.path();
            let text = capture(
                Command::new("man")
                    .arg("-l")
                    .arg(&path)
                    .env("MANWIDTH", "80")
                    .env("MANPAGER", "cat"),
            )?;
            if !text.contains("NAME") {
                bail!("{} does not render a NAME section", path.display());
            }
        }
        if Path::new("/usr/bin/systemd-analyze").exists() {
            let units: Vec<String> = UNITS
                .iter()
                .map(|u| format!("/lib/systemd/system/{u}"))
                .collect();
            step(
                "systemd-analyze verify",
                Command::new("systemd-analyze").arg("verify").args(&units),
            )?;
        } else {
            say("systemd-analyze not installed: unit check skipped");
        }
        Ok(())
    })();
    step("dpkg -r", Command::new("dpkg").args(["-r", "pn"]))?;
    result?;
    if Path::new("/usr/bin/pn").exists() {
        bail!("dpkg -r left /usr/bin/pn behind");
    }
    say("package installed, ran and removed cleanly");
    Ok(())
}

fn install(from: &Path, to: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn script(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn du_kib(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            du_kib(&entry.path())? * 1024
        } else {
            meta.len()
        };
    }
    Ok(total.div_ceil(1024))
}

fn capture(cmd: &mut Command) -> anyhow::Result<String> {
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn say(line: &str) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{line}");
    }
}
