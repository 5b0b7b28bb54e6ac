//! Secrets and certificates through the `pn` binary: `pn config` hides secrets as doveconf
//! does (`-P` shows them), and an ox endpoint with a self-signed `CA:TRUE` certificate is
//! trusted when that certificate is listed in `ssl_client_ca_file`, as Dovecot trusts it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use util::{Sandbox, run_pn, stderr, stdout};

const ALICE: &str = "alice@example.com";
const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/tls/https_receiver.py"
);

const PLUGIN: &str = "plugin {
  push_notification_driver = ox:url=http://login:pass@127.0.0.1:8080/notify cache_lifetime=1m
  push_notification_driver2 = ox:url=https://ox:s3cr3t@push.example.com/x
  mail_crypt_private_password = zzz
  my_secret = xyz
  auth_url = http://u:p@h/
  archive_key = k3y
}
";

/// The plugin block of `doveconf -n` (Dovecot 2.3.19, Debian) for [`PLUGIN`]: doveconf sorts
/// the keys, pn keeps the file's order, so lines are compared, not blocks.
const DOVECONF_HIDDEN: [&str; 6] = [
    "  archive_key = # hidden, use -P to show it",
    "  auth_url = http://#hidden_use-P_to_show#@h/",
    "  mail_crypt_private_password = # hidden, use -P to show it",
    "  my_secret = xyz",
    "  push_notification_driver = ox:url=http://#hidden_use-P_to_show#@127.0.0.1:8080/notify cache_lifetime=1m",
    "  push_notification_driver2 = ox:url=https://#hidden_use-P_to_show#@push.example.com/x",
];

fn config_output(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pn.conf");
    std::fs::write(
        &conf,
        format!("mail_plugins = $mail_plugins notify push_notification\n{PLUGIN}"),
    )
    .unwrap();
    let mut full = vec!["-c", conf.to_str().unwrap(), "config"];
    full.extend_from_slice(args);
    let out = run_pn(&full, None, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn pn_config_hides_secrets_like_doveconf() {
    for args in [&[][..], &["-p", "lmtp"][..]] {
        let out = config_output(args);
        for line in DOVECONF_HIDDEN {
            assert!(
                out.lines().any(|l| l == line),
                "{args:?}: {line:?} in\n{out}"
            );
        }
        for secret in ["pass@", "s3cr3t", "zzz", "u:p@", "k3y"] {
            assert!(!out.contains(secret), "{args:?}: {secret} shown in\n{out}");
        }
    }
}

#[test]
fn pn_config_dash_capital_p_shows_secrets() {
    for args in [&["-P"][..], &["-p", "lmtp", "-P"][..]] {
        let out = config_output(args);
        for line in PLUGIN.lines().filter(|l| l.contains(" = ")) {
            assert!(
                out.lines().any(|l| l == line),
                "{args:?}: {line:?} in\n{out}"
            );
        }
        assert!(!out.contains("hidden"), "{out}");
    }
}

/// The HTTPS receiver, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https_receiver(cert: &std::path::Path, key: &std::path::Path) -> Receiver {
    let mut child = Command::new("python3")
        .arg(RECEIVER)
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    out.read_line(&mut port).unwrap();
    let port = port.trim().parse().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    Receiver { child, port, lines }
}

/// `openssl req -x509`'s kind of certificate, made with rcgen: self-signed, `CA:TRUE`,
/// for 127.0.0.1. Written as `cert.pem` and `key.pem` into `dir`.
fn self_signed_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// Delivers one message to alice with ox pushing to `url` and `ssl_client_ca_file = ca`:
/// pn's log.
fn deliver_with_ox(url: &str, ca: &std::path::Path) -> String {
    let sb = Sandbox::with(&format!(
        "ssl_client_ca_file = {}\nplugin {{\n  push_notification_driver2 = ox:url={url}\n}}\n",
        ca.display()
    ));
    let out = sb.pn(
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
    let out = sb.pn(
        &["deliver", "-d", ALICE, "-f", "sender@example.org"],
        Some(b"Subject: pinned\r\n\r\nhello\r\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out)
}

/// Before: `SSL handshaking with 127.0.0.1:… failed: … CaUsedAsEndEntity`, no request.
#[test]
fn a_self_signed_ca_endpoint_certificate_listed_in_ssl_client_ca_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_ca(dir.path());
    let receiver = https_receiver(&cert, &key);
    let log = deliver_with_ox(
        &format!("https://127.0.0.1:{}/notify", receiver.port),
        &cert,
    );
    assert!(!log.contains("Error when sending"), "{log}");
    let got = receiver
        .lines
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the push arrived");
    assert_eq!(got, "PUT /notify HTTP/1.1");
}

/// Pinning is not trusting anything: a listed certificate for another name is refused.
#[test]
fn a_pinned_certificate_is_refused_for_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_ca(dir.path());
    let receiver = https_receiver(&cert, &key);
    let log = deliver_with_ox(
        &format!("https://localhost:{}/notify", receiver.port),
        &cert,
    );
    assert!(
        log.contains("Error when sending notification: SSL handshaking with"),
        "{log}"
    );
    assert!(log.contains("not valid for name"), "{log}");
    assert!(receiver.lines.try_recv().is_err());
}
