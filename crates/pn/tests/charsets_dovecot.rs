//! Differential test of message decoding against Debian's real Dovecot 2.3.19: multi-byte
//! charsets, RFC 2231 parameters and malformed MIME.
//!
//! Every message of `tests/data/charsets/` (written by `generate.py` there) is delivered with
//! Dovecot's `dovecot-lda` and with `pn deliver`, both running the same Lua push script
//! (Dovecot's own `push_notification_lua` plugin on one side, pn's `lua` driver on the other).
//! The script logs the event's decoded `subject`, `from_display_name` and `snippet`,
//! hex-encoded, with `dovecot.i_info` (Dovecot's log file, pn's stderr); the two must be
//! identical, except for
//! the few messages listed in [`DEVIATIONS`], where pn deliberately differs (see
//! `docs/compat.md`) and both sides' values are asserted.
//!
//! Dovecot is started by the test (`dovecot -F`, IMAP on a free loopback port, so that the LDA
//! can look users up), mail user `nobody`. Skipped with a notice when Dovecot is not installed
//! or the test is not root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::dovecot::{self, Dovecot};

const LDA: &str = "/usr/lib/dovecot/dovecot-lda";
const LUA_PLUGIN: &str = "/usr/lib/dovecot/modules/lib22_push_notification_lua_plugin.so";
const ALICE: &str = "alice@example.com";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/charsets");

/// One script for both: Dovecot's Lua (5.3, all libraries) and pn's (5.4, safe libraries)
/// share `dovecot.i_info`. (Not `dovecot.http.client`: Dovecot's takes two seconds a request.)
const SCRIPT: &str = r#"
local function hex(s)
  if s == nil then return "nil" end
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
function dovecot_lua_notify_begin_txn(user) return {} end
function dovecot_lua_notify_event_message_new(ctx, event)
  dovecot.i_info("pn-fields " .. hex(event.subject) .. "," .. hex(event.from_display_name) ..
    "," .. hex(event.snippet) .. ".")
end
function dovecot_lua_notify_end_txn(ctx, success) end
"#;

/// Messages where pn deliberately differs from Dovecot: (file, Dovecot's fields, pn's fields),
/// fields as `subject | from_display_name | snippet`. All are RFC 2231 extended values
/// (`charset*=''iso-8859-15`, `boundary*0*=…`), which Dovecot leaves unset: the charset then
/// falls back to UTF-8, a multipart without its boundary has no text part.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "rfc2231-boundary-continuation.eml",
        "rfc2231 boundary continuation |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 boundary continuation |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-boundary-extended-continuation.eml",
        "rfc2231 boundary extended-continuation |  | ",
        "rfc2231 boundary extended-continuation |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-boundary-extended.eml",
        "rfc2231 boundary extended |  | ",
        "rfc2231 boundary extended |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-charset-extended-continuation.eml",
        "rfc2231 extended-continuation |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 extended-continuation |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-charset-extended-lang.eml",
        "rfc2231 extended-lang |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 extended-lang |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-charset-extended-no-charset.eml",
        "rfc2231 extended-no-charset |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 extended-no-charset |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-charset-extended.eml",
        "rfc2231 extended |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 extended |  | Prix: 5 €, café œuvre",
    ),
    (
        "rfc2231-charset-mixed-continuation.eml",
        "rfc2231 mixed-continuation |  | Prix: 5 \u{FFFD}, caf\u{FFFD} \u{FFFD}uvre",
        "rfc2231 mixed-continuation |  | Prix: 5 €, café œuvre",
    ),
];

/// The decoded fields of one delivery.
#[derive(Debug, PartialEq, Eq)]
struct Fields(String);

fn unhex(s: &str) -> String {
    if s == "nil" {
        return "<nil>".to_owned();
    }
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn fields(body: &[u8]) -> Fields {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let text = text.split_once('.').map_or(text.as_str(), |(t, _)| t);
    let parts: Vec<String> = text.split(',').map(unhex).collect();
    assert_eq!(parts.len(), 3, "{text}");
    Fields(parts.join(" | "))
}

fn messages() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(DATA)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    out.sort();
    out
}

fn script(base: &Path) -> PathBuf {
    let path = base.join("push.lua");
    std::fs::write(&path, SCRIPT).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    path
}

/// The fields the script logged, one per delivery, in order.
fn logged(log: &str) -> Vec<Fields> {
    log.lines()
        .filter_map(|l| {
            l.split_once("pn-fields ")
                .map(|(_, f)| fields(f.trim_end().as_bytes()))
        })
        .collect()
}

fn from_dovecot(base: &Path, msgs: &[PathBuf]) -> Vec<Fields> {
    let users = dovecot::passwd_file(base, ALICE, "x");
    let script = script(base);
    let port = dovecot::free_port();
    let u = users.display();
    let dovecot = Dovecot::start(
        base,
        "imap",
        port,
        &format!(
            "mail_location = maildir:~/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    \
             port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             mail_plugins = $mail_plugins notify push_notification mail_lua push_notification_lua\n\
             plugin {{\n  push_notification_driver = lua:file={s}\n}}\n",
            s = script.display()
        ),
    );
    for m in msgs {
        let status = Command::new(LDA)
            .arg("-c")
            .arg(&dovecot.conf)
            .args(["-d", ALICE, "-f", "sender@example.org", "-p"])
            .arg(m)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot-lda {}: {status}\n{}",
            m.display(),
            dovecot.log()
        );
    }
    let out = logged(&dovecot.log());
    assert_eq!(
        out.len(),
        msgs.len(),
        "one event per message:\n{}",
        dovecot.log()
    );
    out
}

fn from_pn(base: &Path, msgs: &[PathBuf]) -> Vec<Fields> {
    let users = dovecot::passwd_file(base, ALICE, "x");
    let script = script(base);
    let conf = base.join("pn.conf");
    std::fs::write(
        &conf,
        format!(
            "mail_location = maildir:~/Maildir\n\
             mail_plugins = $mail_plugins notify push_notification mail_lua push_notification_lua\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             plugin {{\n  push_notification_driver = lua:file={s}\n}}\n",
            u = users.display(),
            s = script.display()
        ),
    )
    .unwrap();
    let mut out = Vec::new();
    for m in msgs {
        let run = Command::new(env!("CARGO_BIN_EXE_pn"))
            .arg("-c")
            .arg(&conf)
            .args(["deliver", "-d", ALICE, "-f", "sender@example.org", "-p"])
            .arg(m)
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(run.status.success(), "pn deliver {}: {log}", m.display());
        let mut got = logged(&log);
        assert_eq!(got.len(), 1, "{}: one event\n{log}", m.display());
        out.append(&mut got);
    }
    out
}

#[test]
fn pn_decodes_charsets_rfc2231_and_broken_mime_as_dovecot_does() {
    for needs in [LDA, LUA_PLUGIN] {
        if let Some(why) = dovecot::unavailable(needs) {
            eprintln!("NOTICE: {why}, skipping the charset comparison with Dovecot");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let msgs = messages();
    assert!(msgs.len() > 60, "generate.py wrote the messages");
    let dovecot_base = dir.path().join("dovecot");
    let pn_base = dir.path().join("pn");
    std::fs::create_dir_all(&dovecot_base).unwrap();
    std::fs::create_dir_all(&pn_base).unwrap();
    let theirs = from_dovecot(&dovecot_base, &msgs);
    let ours = from_pn(&pn_base, &msgs);

    let mut differ = Vec::new();
    for ((m, d), p) in msgs.iter().zip(&theirs).zip(&ours) {
        let name = m.file_name().unwrap().to_string_lossy().into_owned();
        match DEVIATIONS.iter().find(|(f, _, _)| *f == name) {
            Some((_, want_d, want_p)) => {
                assert_eq!(d.0, *want_d, "{name}: Dovecot's fields changed");
                assert_eq!(p.0, *want_p, "{name}: pn's fields");
            }
            None if d != p => {
                differ.push(format!("{name}\n  dovecot: {}\n  pn:      {}", d.0, p.0))
            }
            None => {}
        }
        // Both sides broken the same way would pass the comparison: well-formed multi-byte
        // messages must decode without replacement characters.
        if name.starts_with("cs-") && !name.contains("invalid") {
            assert!(!p.0.contains('\u{FFFD}'), "{name}: {}", p.0);
            assert!(!p.0.ends_with(" | "), "{name}: no snippet");
        }
    }
    assert!(
        differ.is_empty(),
        "pn differs from Dovecot:\n{}",
        differ.join("\n")
    );
}
