//! The four users of URLs agree, because they share pn-config's lib-http parser: for the same
//! userinfo, the ox driver (sent by the dispatcher) and a Lua script's `dovecot.http.client`
//! send the same `Authorization` — Basic only for `user:password@`, as lib-http — to a real
//! receiver, through `pn deliver`; and `pn config drivers` masks exactly the passwords.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::time::Duration;

use util::{Sandbox, http_receiver, stderr, stdout};

const ALICE: &str = "alice@example.com";

const SCRIPT: &str = r#"
function dovecot_lua_notify_begin_txn(user)
  return {url = user:plugin_getenv("pn_test_lua_url")}
end

function dovecot_lua_notify_event_message_new(ctx, event)
end

function dovecot_lua_notify_end_txn(ctx, success)
  dovecot.http.client({}):request({url = ctx.url, method = "PUT"}):submit()
end
"#;

/// The `Authorization` value (the Lua client's HTTP library writes header names in lower
/// case).
fn authorization(request: &util::Request) -> Option<String> {
    request.headers.iter().find_map(|h| {
        let (name, value) = h.split_once(": ")?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.to_owned())
    })
}

#[test]
fn ox_and_lua_send_basic_auth_only_for_user_and_password() {
    let basic = |token: &str| Some(format!("Basic {token}"));
    // The tokens are base64 of `login:pass`, `login:` and `log@in:p:ss` (`%%` is `%` in
    // dovecot.conf; the userinfo is then percent-decoded).
    let cases = [
        ("login:pass@", basic("bG9naW46cGFzcw==")),
        ("login:@", basic("bG9naW46")),
        ("log%%40in:p%%3Ass@", basic("bG9nQGluOnA6c3M=")),
        ("login@", None),
        (":pass@", None),
        ("", None),
    ];
    for (userinfo, want) in cases {
        let (port, requests) = http_receiver("200 OK");
        let sb = Sandbox::new();
        let script = sb.dir.path().join("push.lua");
        std::fs::write(&script, SCRIPT).unwrap();
        let mut conf = std::fs::read_to_string(&sb.conf).unwrap();
        conf.push_str(&format!(
            "plugin {{\n  push_notification_driver2 = ox:url=http://{userinfo}127.0.0.1:{port}/ox\n  \
             push_notification_driver3 = lua:file={}\n  \
             pn_test_lua_url = http://{userinfo}127.0.0.1:{port}/lua\n}}\n",
            script.display()
        ));
        std::fs::write(&sb.conf, conf).unwrap();
        let set = sb.pn(
            &[
                "mailbox",
                "metadata",
                "set",
                "-u",
                ALICE,
                "-s",
                "",
                "/private/vendor/vendor.dovecot/http-notify",
                "user=1@2",
            ],
            None,
        );
        assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
        let out = sb.pn(&["deliver", "-d", ALICE], Some(b"Subject: hi\n\nbody\n"));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(requests.recv_timeout(Duration::from_secs(20)).unwrap());
        }
        got.sort_by(|a, b| a.line.cmp(&b.line));
        assert_eq!(got[0].line, "PUT /lua HTTP/1.1", "{userinfo}");
        assert_eq!(got[1].line, "PUT /ox HTTP/1.1", "{userinfo}");
        assert_eq!(authorization(&got[0]), want, "lua, {userinfo}");
        assert_eq!(authorization(&got[1]), want, "ox, {userinfo}");

        let drivers = sb.pn(&["config", "drivers", "-p", "lda"], None);
        let shown = stdout(&drivers);
        for secret in ["pass", "p%%3Ass"] {
            assert!(!shown.contains(&format!(":{secret}@")), "{shown}");
        }
        assert_eq!(
            shown.contains(":***@"),
            userinfo.contains(':'),
            "{userinfo}: {shown}"
        );
    }
}
