//! Shared by the Dovecot 2.4 tests (`dovecot24.rs`, `dovecot24_interop.rs`): a sandbox for
//! the captured 2.4 configurations, `pn lmtp` on a free port, the captured ox requests and
//! their comparison with what arrived.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::{Request, run_pn, stderr};

pub(crate) const ALICE: &str = "alice@example.com";
pub(crate) const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dovecot24");
pub(crate) const EML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ox");
pub(crate) const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lmtp/client.py");
pub(crate) const NOBODY: u32 = 65534;

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sandbox for one of the captured configurations: `$SANDBOX/users`, homes under
/// `$SANDBOX/home`, the configuration at `$SANDBOX/NAME.conf`.
pub(crate) struct Sandbox24 {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) conf: PathBuf,
    /// `/tmp/NAME` on the host pointing into a chroot's `/tmp/NAME`, so the configuration's
    /// paths are the same for pn and for a Dovecot in the chroot.
    link: Option<PathBuf>,
}

impl Drop for Sandbox24 {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}

impl Sandbox24 {
    pub(crate) fn new(name: &str, http_port: u16) -> Sandbox24 {
        Sandbox24::with_ports(name, http_port, 0, 0, None)
    }

    /// The configuration `name` with these ports; with `chroot`, the sandbox lives in the
    /// chroot's `/tmp` and the host sees it at the same path through a symbolic link.
    pub(crate) fn with_ports(
        name: &str,
        http_port: u16,
        imap_port: u16,
        lmtp_port: u16,
        chroot: Option<&Path>,
    ) -> Sandbox24 {
        let (dir, link) = match chroot {
            None => (tempfile::tempdir().unwrap(), None),
            Some(root) => {
                let dir = tempfile::Builder::new()
                    .prefix("pn-dovecot24-")
                    .tempdir_in(root.join("tmp"))
                    .unwrap();
                let link = Path::new("/tmp").join(dir.path().file_name().unwrap());
                std::os::unix::fs::symlink(dir.path(), &link).unwrap();
                (dir, Some(link))
            }
        };
        let base = link.clone().unwrap_or_else(|| dir.path().to_path_buf());
        let (uid, gid) = if is_root() {
            let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(dir.path(), perms).unwrap();
            (NOBODY, NOBODY)
        } else {
            let meta = std::fs::metadata(dir.path()).unwrap();
            (meta.uid(), meta.gid())
        };
        // Dovecot writes its log there (`log_path`).
        std::fs::create_dir_all(base.join("logs")).unwrap();
        let home = base.join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        let mut users = String::new();
        for user in [ALICE, "bob@example.com"] {
            users.push_str(&format!(
                "{user}:{{PLAIN}}pass:{uid}:{gid}::{}::\n",
                home.join(user).display()
            ));
        }
        std::fs::write(base.join("users"), users).unwrap();
        let text = std::fs::read_to_string(format!("{DATA}/{name}.conf"))
            .unwrap()
            .replace("$SANDBOX", &base.display().to_string())
            .replace("$HTTP_PORT", &http_port.to_string())
            .replace("$IMAP_PORT", &imap_port.to_string())
            .replace("$LMTP_PORT", &lmtp_port.to_string());
        let conf = base.join(format!("{name}.conf"));
        std::fs::write(&conf, text).unwrap();
        Sandbox24 { dir, conf, link }
    }

    /// The sandbox as the configuration names it.
    pub(crate) fn path(&self) -> &Path {
        self.link.as_deref().unwrap_or(self.dir.path())
    }

    pub(crate) fn pn(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut full = vec!["-c", self.conf.to_str().unwrap()];
        full.extend_from_slice(args);
        // The durable outbox under the sandbox (the captured configurations stay unchanged).
        run_pn(&full, stdin, &[("PN_DATA_DIR", self.path())])
    }

    /// What Dovecot's `doveadm mailbox metadata set … user=11@3` did before each run.
    pub(crate) fn enable(&self) {
        let out = self.pn(
            &[
                "mailbox",
                "metadata",
                "set",
                "-u",
                ALICE,
                "-s",
                "",
                "/private/vendor/vendor.dovecot/http-notify",
                "user=11@3",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }

    /// A fresh home for alice (the capture's "new Maildir" between LDA and LMTP).
    pub(crate) fn reset_home(&self) {
        let home = self.path().join("home").join(ALICE);
        if home.exists() {
            std::fs::remove_dir_all(&home).unwrap();
        }
    }

    pub(crate) fn deliver(&self, case: &str, mailbox: &str) -> Output {
        let eml = format!("{EML}/{case}.eml");
        let mut args = vec![
            "deliver",
            "-d",
            ALICE,
            "-f",
            "sender@example.org",
            "-p",
            &eml,
        ];
        if mailbox != "INBOX" {
            args.extend(["-m", mailbox]);
        }
        let out = self.pn(&args, None);
        assert_eq!(out.status.code(), Some(0), "{case}: {}", stderr(&out));
        out
    }
}

/// `pn lmtp` on 127.0.0.1:0 with a sandbox's configuration.
pub(crate) struct Lmtp {
    child: Child,
    pub(crate) address: String,
    _stderr: Receiver<String>,
}

impl Drop for Lmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lmtp {
    pub(crate) fn start(sb: &Sandbox24) -> Lmtp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.arg("-c").arg(&sb.conf);
        if is_root() {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        cmd.args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
            .env("PN_DATA_DIR", sb.path())
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(
            !address.is_empty(),
            "no address: {:?}",
            rx.try_iter().collect::<Vec<_>>()
        );
        Lmtp {
            child,
            address,
            _stderr: rx,
        }
    }

    /// Delivers one message the way the capture did (`alice+Work@…` for the Work case).
    pub(crate) fn deliver(&self, case: &str, mailbox: &str) {
        lmtp_deliver(&self.address, ALICE, case, mailbox);
    }
}

/// Delivers `case` to `user` over LMTP at `address` (`user+MAILBOX` for another mailbox than
/// INBOX, as the capture did) and checks the `250` reply.
pub(crate) fn lmtp_deliver(address: &str, user: &str, case: &str, mailbox: &str) {
    let rcpt = if mailbox == "INBOX" {
        user.to_owned()
    } else {
        let (local, domain) = user.split_once('@').unwrap();
        format!("{local}+{mailbox}@{domain}")
    };
    let out = Command::new("python3")
        .arg(CLIENT)
        .args(["multi", address, &format!("{EML}/{case}.eml"), &rcpt])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = reply["data"][0].as_str().unwrap_or_default().to_owned();
    assert!(data.starts_with("250 "), "{case}: {reply}");
}

/// One captured delivery: case, label (`lda,ufm` …), mailbox, requests.
pub(crate) struct Captured {
    pub(crate) case: String,
    pub(crate) label: String,
    pub(crate) mailbox: String,
    pub(crate) requests: Vec<serde_json::Value>,
}

pub(crate) fn captures() -> Vec<Captured> {
    std::fs::read_to_string(format!("{DATA}/ox.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Captured {
                case: v["case"].as_str().unwrap().to_owned(),
                label: v["label"].as_str().unwrap().to_owned(),
                mailbox: v["mailbox"].as_str().unwrap().to_owned(),
                requests: v["requests"].as_array().unwrap().clone(),
            }
        })
        .collect()
}

/// The body with `"imap-uidvalidity":N` replaced by a placeholder.
pub(crate) fn normalise_uidvalidity(body: &str) -> String {
    const KEY: &str = "\"imap-uidvalidity\":";
    match body.find(KEY) {
        Some(i) => {
            let rest = &body[i + KEY.len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            format!("{}{KEY}N{}", &body[..i], &rest[digits..])
        }
        None => body.to_owned(),
    }
}

/// Checks what arrived for one delivery against the capture; returns how many requests
/// were compared.
pub(crate) fn compare(cap: &Captured, requests: &Receiver<Request>) -> usize {
    let what = format!("{} {}", cap.case, cap.label);
    for want in &cap.requests {
        let got = requests
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{what}: no request arrived"));
        let line = format!(
            "{} {} HTTP/1.1",
            want["method"].as_str().unwrap(),
            want["path"].as_str().unwrap()
        );
        assert_eq!(got.line, line, "{what}");
        let want_headers: Vec<String> = want["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect();
        // Host carries the receiver's port and Date the time: compare their names only.
        let strip = |h: &str| match h.split_once(": ") {
            Some((name @ ("Host" | "Date"), _)) => name.to_owned(),
            _ => h.to_owned(),
        };
        assert_eq!(
            got.headers.iter().map(|h| strip(h)).collect::<Vec<_>>(),
            want_headers.iter().map(|h| strip(h)).collect::<Vec<_>>(),
            "{what}"
        );
        assert_eq!(
            normalise_uidvalidity(&String::from_utf8(got.body).unwrap()),
            normalise_uidvalidity(want["body"].as_str().unwrap()),
            "{what}"
        );
    }
    cap.requests.len()
}

/// Dovecot's Lua matched bytes >= 0x80 with `%c`, so push_dump24.lua wrote them as `\xHH`;
/// pn's Lua (C locale) keeps them as they are. Both are the same byte in the event table:
/// the escapes are turned back into bytes before comparing.
pub(crate) fn unescape_high_bytes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\x")
            && let Some(hex) = text.get(i + 2..i + 4)
            && let Ok(b) = u8::from_str_radix(hex, 16)
            && b >= 0x80
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The dump as a list of entries (a header line and its indented lines), with the values that
/// differ between runs replaced: session id and time, the user's uid/gid, UIDVALIDITY.
pub(crate) fn normalise_dump(dump: &str, sandbox: &Path) -> Vec<String> {
    let dump = dump.replace(&sandbox.display().to_string(), "$SANDBOX");
    let mut entries: Vec<String> = Vec::new();
    let mut in_user = false;
    for line in dump.lines() {
        if !line.starts_with(' ') {
            in_user = line.starts_with("begin_txn(user) [");
            entries.push(format!("{line}\n"));
            continue;
        }
        let (key, _) = line.split_once(" = ").unwrap_or((line, ""));
        let varies = matches!(
            key.trim(),
            "session_id (string)"
                | "session_create_time (number/float)"
                | "uid_validity (number/float)"
        ) || (in_user
            && matches!(key.trim(), "uid (number/float)" | "gid (number/float)"));
        let line = if varies {
            format!("{key} = *")
        } else {
            line.to_owned()
        };
        if let Some(last) = entries.last_mut() {
            last.push_str(&line);
            last.push('\n');
        }
    }
    entries
}

/// LMTP initialises the process's raw user before the recipient (Dovecot) or after it (pn):
/// the script_init entries are compared as a set, everything else in order.
pub(crate) fn sorted_inits(mut entries: Vec<String>) -> Vec<String> {
    let inits: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].starts_with("script_init"))
        .collect();
    let mut sorted: Vec<String> = inits.iter().map(|&i| entries[i].clone()).collect();
    sorted.sort();
    for (slot, entry) in inits.into_iter().zip(sorted) {
        entries[slot] = entry;
    }
    entries
}

/// Installs `push_dump24.lua` where `lua.conf` expects it, dumping to `lua-dump.txt` in the
/// sandbox; returns the dump's path and a function emptying it (owned by the mail user).
pub(crate) fn lua_script(sb: &Sandbox24) -> (PathBuf, impl Fn() + use<>) {
    let dump_file = sb.path().join("lua-dump.txt");
    let script = std::fs::read_to_string(format!("{DATA}/push_dump24.lua"))
        .unwrap()
        .replace("@DUMP_FILE@", &dump_file.display().to_string());
    std::fs::write(sb.path().join("push_dump24.lua"), script).unwrap();
    let owner = std::fs::metadata(sb.path().join("home")).unwrap();
    let file = dump_file.clone();
    let reset = move || {
        std::fs::write(&file, "").unwrap();
        std::os::unix::fs::chown(&file, Some(owner.uid()), Some(owner.gid())).unwrap();
    };
    (dump_file, reset)
}
