//! Dovecot 2.4 configurations through the `pn` binary: the three configurations a real
//! Dovecot 2.4.1 ran with (`tests/data/dovecot24/`, unchanged but for the sandbox path and
//! ports) give `pn config check` nothing to complain about, and `pn deliver` / `pn lmtp` with
//! them send the same ox requests as Dovecot 2.4 did (all 76, byte for byte but for
//! `imap-uidvalidity`, `Host` and `Date`) and show a Lua script the same tables.
//!
//! As root the users are nobody (pn never writes mail as root); otherwise everything runs as
//! the invoking user.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::collections::BTreeMap;
use std::time::Duration;

use util::dovecot24::{
    ALICE, DATA, Lmtp, Sandbox24, captures, compare, lua_script, normalise_dump, sorted_inits,
    unescape_high_bytes,
};
use util::{http_receiver, stderr, stdout};

/// Runs every captured case of `label`'s config through `pn deliver` and `pn lmtp`.
fn ox_run(conf: &str, suffix: &str) -> usize {
    let (port, requests) = http_receiver("200 OK");
    let sb = Sandbox24::new(conf, port);
    let caps = captures();
    let mut compared = 0;
    sb.enable();
    for cap in caps.iter().filter(|c| c.label == format!("lda,{suffix}")) {
        sb.deliver(&cap.case, &cap.mailbox);
        compared += compare(cap, &requests);
    }
    sb.reset_home();
    sb.enable();
    let server = Lmtp::start(&sb);
    for cap in caps.iter().filter(|c| c.label == format!("lmtp,{suffix}")) {
        server.deliver(&cap.case, &cap.mailbox);
        compared += compare(cap, &requests);
    }
    drop(server);
    assert!(
        requests.recv_timeout(Duration::from_millis(200)).is_err(),
        "no request beyond the captured ones"
    );
    compared
}

#[test]
fn the_captured_configurations_pass_pn_config_check() {
    for name in ["ox-user_from_metadata", "ox-plain", "lua"] {
        let sb = Sandbox24::new(name, 9);
        // Like Dovecot, the check opens lua_file.
        let _script = lua_script(&sb);
        let out = sb.pn(&["config", "check"], None);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("warning"),
            "{name}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).contains("OK (1 file, 0 warnings)"), "{name}");
    }
}

#[test]
fn named_filters_list_their_mapped_arguments() {
    let sb = Sandbox24::new("ox-user_from_metadata", 8080);
    let out = sb.pn(&["config", "drivers", "-p", "lda"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let conf = sb.conf.display().to_string();
    assert!(
        text.contains(&format!(
            "push_notification ox ({conf}:58:1)\n  driver: ox\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("    url = http://login:***@127.0.0.1:8080/preliminary/http-notify/v1/notify\n    user_from_metadata (flag)\n"),
        "{text}"
    );
    let sb = Sandbox24::new("lua", 9);
    let out = sb.pn(&["config", "drivers", "-p", "lmtp"], None);
    let text = stdout(&out);
    assert!(
        text.contains("    lua_settings/extra_param = hello\n"),
        "{text}"
    );
    assert!(
        text.contains("    lua_settings/user_param = %{user}\n"),
        "{text}"
    );
}

#[test]
fn ox_with_user_from_metadata_pushes_what_dovecot_24_pushed() {
    assert_eq!(ox_run("ox-user_from_metadata", "ufm"), 38);
}

#[test]
fn ox_plain_pushes_what_dovecot_24_pushed() {
    assert_eq!(ox_run("ox-plain", "plain"), 38);
}

/// The `lua-dump.txt` part of each delivery in `lua-events.txt`, by (case, via).
fn lua_dumps() -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(format!("{DATA}/lua-events.txt")).unwrap();
    let mut out = BTreeMap::new();
    for block in text.split("\n### ").skip(1) {
        let (head, rest) = block.split_once('\n').unwrap();
        let (case, rest_head) = head.split_once(".eml via ").unwrap();
        let via = rest_head.split(':').next().unwrap().to_owned();
        let dump = rest
            .split_once("--- lua-dump.txt\n")
            .unwrap()
            .1
            .split("\n=====")
            .next()
            .unwrap();
        out.insert((case.to_owned(), via), format!("{}\n", dump.trim_end()));
    }
    out
}

#[test]
fn lua_scripts_see_the_tables_dovecot_24_gave_them() {
    let sb = Sandbox24::new("lua", 9);
    let (dump_file, reset) = lua_script(&sb);
    let expected = lua_dumps();
    let mailbox = |case: &str| {
        if case.starts_with("14-") {
            "Work"
        } else {
            "INBOX"
        }
    };
    let mut compared = 0;
    let cases: Vec<String> = expected
        .keys()
        .filter(|(_, via)| via == "lda")
        .map(|(c, _)| c.clone())
        .collect();
    for case in &cases {
        reset();
        sb.deliver(case, mailbox(case));
        let got = String::from_utf8_lossy(&std::fs::read(&dump_file).unwrap()).into_owned();
        let want = &unescape_high_bytes(&expected[&(case.clone(), "lda".to_owned())]);
        assert_eq!(
            normalise_dump(&got, sb.path()),
            normalise_dump(want, sb.path()),
            "{case} via lda"
        );
        compared += 1;
    }
    let server = Lmtp::start(&sb);
    for case in &cases {
        reset();
        server.deliver(case, mailbox(case));
        let got = String::from_utf8_lossy(&std::fs::read(&dump_file).unwrap()).into_owned();
        let want = &unescape_high_bytes(&expected[&(case.clone(), "lmtp".to_owned())]);
        assert_eq!(
            sorted_inits(normalise_dump(&got, sb.path())),
            sorted_inits(normalise_dump(want, sb.path())),
            "{case} via lmtp"
        );
        compared += 1;
    }
    assert_eq!(compared, 40);
}

/// `ox-plain.conf` with its `push_notification ox { … }` block (lines 58-60) replaced.
fn variant(block: &str) -> Sandbox24 {
    let sb = Sandbox24::new("ox-plain", 9);
    let text = std::fs::read_to_string(&sb.conf).unwrap();
    let start = text.find("push_notification ox {").unwrap();
    let end = start + text[start..].find("}\n").unwrap() + 2;
    std::fs::write(
        &sb.conf,
        format!("{}{block}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    sb
}

#[test]
fn several_drivers_of_one_kind_are_named_by_driver() {
    let sb = variant(
        "push_notification ox1 {\n  driver = ox\n  ox_url = http://h1/x\n}\n\
         push_notification ox2 {\n  push_notification_driver = ox\n  push_notification_ox_url = http://h2/x\n  ox_cache_ttl = 90s\n}\n",
    );
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let text = stdout(&sb.pn(&["config", "drivers", "-p", "lmtp"], None));
    let conf = sb.conf.display();
    assert!(
        text.contains(&format!(
            "push_notification ox1 ({conf}:59:3)\n  driver: ox\n  args: \"url=http://h1/x\"\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "push_notification ox2 ({conf}:63:3)\n  driver: ox\n  args: \"url=http://h2/x cache_lifetime=90s\"\n"
        )),
        "{text}"
    );
}

/// What Dovecot 2.4.1's doveconf says about each variant, and where pn points.
#[test]
fn settings_dovecot_24_rejects_are_located_errors() {
    for (block, line_col, message) in [
        (
            "push_notification lua {\n  push_notification_lua_file = /x.lua\n}\n",
            "59:3",
            "Unknown setting: push_notification_lua_file (push_notification_push_notification_lua_file or push_notification_lua_push_notification_lua_file not found either.)",
        ),
        (
            "push_notification ox1 {\n  driver = ox\n  url = http://h/x\n}\n",
            "60:3",
            "Unknown setting: url (push_notification_url or push_notification_ox1_url not found either. Did you mean push_notification_ox_url?)",
        ),
        (
            "push_notification ox {\n  url = http://h/x\n  cache_ttl = 0\n}\n",
            "60:3",
            "push_notification_ox_cache_ttl must not be 0",
        ),
        (
            "push_notification ox {\n  url = http://h/x\n  cache_ttl = 60\n}\n",
            "60:3",
            "cache_ttl: Time interval '60' is missing units (add e.g. 's' for seconds)",
        ),
        (
            "push_notification ox {\n  url = http://h/x\n  user_from_metadata = maybe\n}\n",
            "60:3",
            "Invalid boolean value: maybe (use yes or no)",
        ),
    ] {
        let sb = variant(block);
        let out = sb.pn(&["config", "check"], None);
        assert_eq!(out.status.code(), Some(64), "{block}: {}", stderr(&out));
        let want = format!("pn: {}:{line_col}: {message}", sb.conf.display());
        assert!(stderr(&out).contains(&want), "{block}: {}", stderr(&out));
        // A delivery would hit the same problem: it fails temporarily and stores nothing.
        let out = sb.pn(&["deliver", "-d", ALICE], Some(b"Subject: x\n\nhi\n"));
        assert_eq!(out.status.code(), Some(75), "{block}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{block}: {}", stderr(&out));
        assert!(
            !sb.path()
                .join("home")
                .join(ALICE)
                .join("Maildir/new")
                .exists()
                || std::fs::read_dir(sb.path().join("home").join(ALICE).join("Maildir/new"))
                    .unwrap()
                    .count()
                    == 0
        );
    }
}

#[test]
fn a_userdb_pn_cannot_use_is_a_located_check_error() {
    let sb = Sandbox24::new("ox-plain", 9);
    let text = std::fs::read_to_string(&sb.conf).unwrap();
    let users = format!("  passwd_file_path = {}/users\n", sb.path().display());
    // `userdb { }` without a name has no driver.
    std::fs::write(&sb.conf, text.replace("userdb passwd-file {", "userdb {")).unwrap();
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let want = format!("pn: {}:33:1: userdb: driver is missing", sb.conf.display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    let out = sb.pn(&["deliver", "-d", ALICE], Some(b"Subject: x\n\nhi\n"));
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(stderr(&out).contains(&want[4..]), "{}", stderr(&out));

    // A passwd-file that is not there: every user would be unknown.
    let missing = text.replace(&users, "  passwd_file_path = /nonexistent/users\n");
    assert_ne!(missing, text);
    std::fs::write(&sb.conf, missing).unwrap();
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want = format!(
        "pn: warning: {}:34:3: userdb passwd-file: /nonexistent/users: No such file or directory",
        sb.conf.display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

#[test]
fn a_missing_lua_file_fails_the_check_as_it_stops_dovecot_24() {
    let sb = variant("push_notification lua {\n  lua_file = /nonexistent/push.lua\n}\n");
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let want = format!(
        "pn: {}:59:3: lua_file: open(/nonexistent/push.lua) failed: No such file or directory",
        sb.conf.display()
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}
