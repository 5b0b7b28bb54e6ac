//! Debian's Dovecot 2.3 started by a test: `dovecot -F -c <generated conf>` with its base and
//! state directories under the test's directory, listening on a free loopback port, the mail
//! user `nobody` in a passwd-file that pn reads too. Needs root (Dovecot's master does).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const DOVECOT: &str = "/usr/sbin/dovecot";
pub(crate) const DOVEADM: &str = "/usr/bin/doveadm";

/// Why Dovecot cannot run here (`None` when it can): the binary `needs` is missing, or this
/// is not root. Tests print it as a notice and skip.
pub(crate) fn unavailable(needs: &str) -> Option<String> {
    if !Path::new(needs).exists() {
        return Some(format!("{needs} not found"));
    }
    if !rustix::process::geteuid().is_root() {
        return Some("not root (Dovecot needs root)".to_owned());
    }
    None
}

/// The uid and gid of `nobody`, the mail user of these tests.
pub(crate) fn nobody() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `base/home/<user>` owned by nobody (`base` and `base/home` world-readable, so the mail
/// user can reach it) and the passwd-file `base/users` naming it; returns the file's path.
pub(crate) fn passwd_file(base: &Path, user: &str, password: &str) -> PathBuf {
    let (uid, gid) = nobody();
    let home = base.join("home").join(user);
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
    for p in [base, &base.join("home")] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let users = base.join("users");
    std::fs::write(
        &users,
        format!(
            "{user}:{{PLAIN}}{password}:{uid}:{gid}::{}::\n",
            home.display()
        ),
    )
    .unwrap();
    users
}

/// A running Dovecot, stopped through `doveadm stop` when dropped.
pub(crate) struct Dovecot {
    pub(crate) conf: PathBuf,
    pub(crate) port: u16,
    pub(crate) log: PathBuf,
    child: Child,
}

impl Dovecot {
    /// Writes `base/dovecot.conf` — the instance's own settings (directories, log, loopback,
    /// `protocols`, no TLS) followed by `settings` — and starts Dovecot, returning once
    /// `port` accepts connections. `settings` configures the listener on `port`.
    pub(crate) fn start(base: &Path, protocols: &str, port: u16, settings: &str) -> Dovecot {
        for d in ["run", "state"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let b = base.display();
        let conf = base.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {b}/run\nstate_dir = {b}/state\ninstance_name = pn-test-{port}\n\
                 log_path = {b}/dovecot.log\nlisten = 127.0.0.1\nprotocols = {protocols}\n\
                 ssl = no\ndefault_login_user = dovenull\ndefault_internal_user = dovecot\n\
                 {settings}"
            ),
        )
        .unwrap();
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let dovecot = Dovecot {
            conf,
            port,
            log: base.join("dovecot.log"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Dovecot did not start:\n{}",
                dovecot.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        dovecot
    }

    /// Runs `doveadm -c <conf> <args>`.
    pub(crate) fn doveadm(&self, args: &[&str]) -> Output {
        Command::new(DOVEADM)
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap()
    }

    /// Dovecot's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // `doveadm stop` ends the master and its children; kill only our own child if not.
        let _ = self.doveadm(&["stop"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
