//! Load, init and call errors: Dovecot's messages, and mail is never held up.

use std::sync::Arc;

use pn_core::{Commit, HostError, MailboxHost, MailboxStatus, PushUser, Save, UserInfo};
use pn_event::MailFlags;
use tracing::Level;

use crate::util::{Capture, Line, alice, engine, script, user};

struct Store;

impl MailboxHost for Store {
    fn status(&self, _user: &UserInfo, _mailbox: &str) -> Result<MailboxStatus, HostError> {
        Ok(MailboxStatus {
            uid_validity: 7,
            ..MailboxStatus::default()
        })
    }
}

fn engine_errors(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.target == pn_core::LOG_TARGET && l.level == Level::ERROR)
        .map(|l| l.message.clone())
        .collect()
}

fn deliver(u: &PushUser) {
    let mut t = u.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &(),
    });
    t.commit(&Commit {
        uid_validity: 7,
        saved_uids: &[1],
    });
}

/// Loads `body` as the user's script and returns the user and the log so far.
fn load(
    body: &str,
    args: &str,
) -> (
    tempfile::TempDir,
    PushUser,
    Capture,
    tracing::subscriber::DefaultGuard,
) {
    let capture = Capture::default();
    let guard = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "s.lua", body);
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("lmtp"),
        &format!("lua:file={}{args}", path.display()),
        &[],
    );
    (dir, u, capture, guard)
}

#[test]
fn missing_file_disables_the_driver_with_dovecots_message() {
    let capture = Capture::default();
    let _g = capture.install();
    let pn = engine(Arc::new(Store));
    let u = user(&pn, alice("lmtp"), "lua:file=/nonexistent/push.lua", &[]);
    assert_eq!(u.driver_names().count(), 0);
    assert_eq!(
        engine_errors(&capture.take()),
        ["lua: access(/nonexistent/push.lua) failed: No such file or directory"]
    );
    deliver(&u);
}

#[test]
fn no_file_at_all_is_an_init_error() {
    let capture = Capture::default();
    let _g = capture.install();
    let pn = engine(Arc::new(Store));
    let u = user(&pn, alice("lmtp"), "lua", &[]);
    assert_eq!(u.driver_names().count(), 0);
    assert_eq!(
        engine_errors(&capture.take()),
        ["lua: No file in config and no push_notification_lua_script_file set"]
    );
}

#[test]
fn plugin_setting_wins_over_the_file_argument() {
    let capture = Capture::default();
    let _g = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = script(
        dir.path(),
        "good.lua",
        "function script_init() return 0 end",
    );
    let pn = engine(Arc::new(Store));
    let setting = good.display().to_string();
    let u = user(
        &pn,
        alice("lmtp"),
        "lua:file=/nonexistent.lua",
        &[("push_notification_lua_script_file", setting.as_str())],
    );
    assert_eq!(u.driver_names().collect::<Vec<_>>(), ["lua"]);
    assert!(engine_errors(&capture.take()).is_empty());
}

#[test]
fn syntax_error_is_a_lua_load_error() {
    let (dir, u, capture, _g) = load("function broken(\n", "");
    assert_eq!(u.driver_names().count(), 0);
    let errors = engine_errors(&capture.take());
    let file = dir.path().join("s.lua").display().to_string();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("lua: lua_load({file}) failed: {file}:2:")),
        "{errors:?}"
    );
    deliver(&u);
}

#[test]
fn script_init_may_return_nothing_or_zero() {
    // Dovecot 2.4's documented scripts return nothing; 2.3's return 0.
    for body in [
        "function script_init() end",
        "function script_init() return nil end",
        "function script_init() return 0 end",
    ] {
        let (_dir, u, capture, _g) = load(body, "");
        assert_eq!(u.driver_names().collect::<Vec<_>>(), ["lua"], "{body}");
        assert!(engine_errors(&capture.take()).is_empty(), "{body}");
    }
}

#[test]
fn script_init_fails_on_other_numbers_and_values() {
    for (body, want) in [
        (
            "function script_init() return 1 end",
            "lua: Script init failed",
        ),
        (
            "function script_init() return 'ok' end",
            "lua: script_init() returned non-number",
        ),
        (
            "function script_init() return 0.0 end",
            "lua: script_init() returned non-number",
        ),
        (
            "function script_init() return -1 end",
            "lua: Script init failed",
        ),
    ] {
        let (_dir, u, capture, _g) = load(body, "");
        assert_eq!(u.driver_names().count(), 0, "{body}");
        assert_eq!(engine_errors(&capture.take()), [want], "{body}");
    }
    let (_dir, u, capture, _g) = load("function script_init() error('nope') end", "");
    assert_eq!(u.driver_names().count(), 0);
    let errors = engine_errors(&capture.take());
    assert!(
        errors[0].starts_with("lua: lua_pcall(script_init, 0, 1) failed: ")
            && errors[0].contains("nope")
            && errors[0].contains("stack traceback"),
        "{errors:?}"
    );
}

#[test]
fn begin_txn_error_skips_the_transaction_and_delivery_goes_on() {
    let (_dir, u, capture, _g) = load(
        r#"
        calls = {}
        function dovecot_lua_notify_begin_txn(user) error("begin failed") end
        function dovecot_lua_notify_event_message_new(ctx, e) dovecot.i_error("must not run") end
        function dovecot_lua_notify_end_txn(ctx, ok) dovecot.i_error("must not run") end
        "#,
        "",
    );
    deliver(&u);
    let errors = Capture::lua_messages(&capture.take(), Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("lua_pcall(dovecot_lua_notify_begin_txn, 1, 1) failed: ")
            && errors[0].contains("begin failed"),
        "{errors:?}"
    );
}

#[test]
fn event_function_error_is_logged_and_end_txn_still_runs() {
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user) return {} end
        function dovecot_lua_notify_event_mailbox_create(ctx, e) error("boom") end
        function dovecot_lua_notify_end_txn(ctx, ok) dovecot.i_info("end " .. tostring(ok)) end
        "#,
        "",
    );
    u.mailbox_created("Folder");
    let lines = capture.take();
    let errors = Capture::lua_messages(&lines, Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("lua_pcall(dovecot_lua_notify_event_mailbox_create, 2, 0) failed: ")
            && errors[0].contains("s.lua:3: boom")
            && errors[0].contains("stack traceback"),
        "{errors:?}"
    );
    assert_eq!(Capture::lua_messages(&lines, Level::INFO), ["end true"]);
}

#[test]
fn missing_begin_or_end_function_is_an_error_per_transaction() {
    let (_dir, u, capture, _g) = load(
        "function dovecot_lua_notify_event_mailbox_create(ctx, e) end",
        "",
    );
    u.mailbox_created("A");
    u.mailbox_created("B");
    assert_eq!(
        Capture::lua_messages(&capture.take(), Level::ERROR),
        [
            "Missing function dovecot_lua_notify_begin_txn",
            "Missing function dovecot_lua_notify_begin_txn"
        ]
    );
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user) return nil end
        function dovecot_lua_notify_event_mailbox_create(ctx, e) dovecot.i_info("ctx " .. type(ctx)) end
        "#,
        "",
    );
    u.mailbox_created("A");
    let lines = capture.take();
    assert_eq!(Capture::lua_messages(&lines, Level::INFO), ["ctx nil"]);
    assert_eq!(
        Capture::lua_messages(&lines, Level::ERROR),
        ["Missing function dovecot_lua_notify_end_txn"]
    );
}

#[test]
fn without_event_functions_begin_and_end_are_never_called() {
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user) dovecot.i_error("called") end
        function dovecot_lua_notify_end_txn(ctx, ok) dovecot.i_error("called") end
        "#,
        "",
    );
    deliver(&u);
    u.mailbox_created("X");
    let lines = capture.take();
    assert!(Capture::lua_messages(&lines, Level::ERROR).is_empty());
    let debug = Capture::lua_messages(&lines, Level::DEBUG);
    assert_eq!(
        debug[2..],
        [
            "No event handlers found in script",
            "No event handlers found in script"
        ]
    );
}

#[test]
fn runaway_script_is_stopped_by_the_call_time_limit() {
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user) return {} end
        function dovecot_lua_notify_event_message_new(ctx, e) while true do end end
        function dovecot_lua_notify_end_txn(ctx, ok) dovecot.i_info("ended") end
        "#,
        " call_timeout_msecs=200",
    );
    let started = std::time::Instant::now();
    deliver(&u);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let lines = capture.take();
    let errors = Capture::lua_messages(&lines, Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("script call timed out"), "{errors:?}");
    assert_eq!(Capture::lua_messages(&lines, Level::INFO), ["ended"]);
}

#[test]
fn memory_limit_stops_a_greedy_script() {
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user) return {} end
        function dovecot_lua_notify_event_message_new(ctx, e)
          local t = {}
          for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end
        end
        function dovecot_lua_notify_end_txn(ctx, ok) end
        "#,
        " memory_limit=8M",
    );
    deliver(&u);
    let errors = Capture::lua_messages(&capture.take(), Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("not enough memory"), "{errors:?}");
}

#[test]
fn api_errors_are_plain_lua_strings_like_dovecots() {
    let (_dir, u, capture, _g) = load(
        r#"
        function dovecot_lua_notify_begin_txn(user)
          local ok, err = pcall(user.metadata_get, user, "/nope/x")
          dovecot.i_info(type(err) .. ": " .. err)
          ok, err = pcall(user.plugin_getenv, nil, "x")
          dovecot.i_info(err)
          ok, err = pcall(function() return user:mailbox("INBOX"):status() end)
          dovecot.i_info(err)
          return {}
        end
        function dovecot_lua_notify_event_mailbox_create(ctx, e) end
        function dovecot_lua_notify_end_txn(ctx, ok) end
        "#,
        "",
    );
    u.mailbox_created("X");
    assert_eq!(
        Capture::lua_messages(&capture.take(), Level::INFO),
        [
            "string: Invalid key prefix, must be /private/ or /shared/",
            "Bad argument #1, expected struct mail_user got nil",
            "expecting at least 1 parameter",
        ]
    );
}

#[test]
fn logging_functions_and_script_deinit() {
    let (_dir, u, capture, _g) = load(
        r#"
        function script_init() dovecot.i_debug("init") return 0 end
        function script_deinit() dovecot.i_warning("bye") end
        function dovecot_lua_notify_begin_txn(user)
          local e = dovecot.event()
          e:set_name("push"):add_str("user", user.username):add_int("n", 3)
          e:log_info("hello " .. user:var_expand("%n@%d"))
          dovecot.event(e):append_log_prefix("child: "):log_warning("w")
          dovecot.i_error(tostring(user:plugin_getenv("push_lua_url")))
          return {}
        end
        function dovecot_lua_notify_event_mailbox_create(ctx, e) end
        function dovecot_lua_notify_end_txn(ctx, ok) end
        "#,
        "",
    );
    u.mailbox_created("X");
    u.deinit();
    let lines = capture.take();
    assert_eq!(
        Capture::lua_messages(&lines, Level::INFO),
        ["hello alice@example.com"]
    );
    assert_eq!(
        Capture::lua_messages(&lines, Level::WARN),
        ["child: w", "bye"]
    );
    assert_eq!(Capture::lua_messages(&lines, Level::ERROR), ["nil"]);
}
