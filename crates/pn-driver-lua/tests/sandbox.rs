//! What a script may do: `os.exit` is an error, only text chunks load, and `restricted=yes`
//! takes away files, programs and the environment.

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

fn messages(lines: &[Line], target: &str, level: Level) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.target == target && l.level == level)
        .map(|l| l.message.clone())
        .collect()
}

/// Runs `body` (with `@DIR@` replaced by a temporary directory) as alice's script with
/// `args` and returns the user, the directory and the log of loading it.
fn run(body: &str, args: &str) -> (PushUser, tempfile::TempDir, Vec<Line>) {
    let capture = Capture::default();
    let _g = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let body = body.replace("@DIR@", &dir.path().display().to_string());
    let path = script(dir.path(), "s.lua", &body);
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("lmtp"),
        &format!("lua:file={}{args}", path.display()),
        &[],
    );
    (u, dir, capture.take())
}

/// The `probe:` lines a script logged with `dovecot.i_info`.
fn probes(lines: &[Line]) -> Vec<String> {
    messages(lines, pn_driver_lua::LOG_TARGET, Level::INFO)
        .into_iter()
        .filter_map(|m| m.strip_prefix("probe: ").map(str::to_owned))
        .collect()
}

#[test]
fn os_exit_raises_an_error_and_the_transaction_goes_on() {
    let capture = Capture::default();
    let _g = capture.install();
    let (u, _dir, lines) = run(
        r#"
        function script_init()
          local ok, err = pcall(os.exit, 0)
          dovecot.i_info("probe: " .. tostring(ok) .. " " .. err)
        end
        function dovecot_lua_notify_begin_txn(user) return {} end
        function dovecot_lua_notify_event_message_new(ctx, e) os.exit(3) end
        function dovecot_lua_notify_end_txn(ctx, ok) dovecot.i_info("probe: end " .. tostring(ok)) end
        "#,
        "",
    );
    assert_eq!(
        probes(&lines),
        ["false os.exit is disabled: a push script cannot end the mail process"]
    );
    deliver(&u);
    let lines = capture.take();
    let errors = messages(&lines, pn_driver_lua::LOG_TARGET, Level::ERROR);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("lua_pcall(dovecot_lua_notify_event_message_new, 2, 0) failed: ")
            && errors[0].contains("os.exit is disabled"),
        "{errors:?}"
    );
    assert_eq!(probes(&lines), ["end true"]);
}

#[test]
fn binary_chunks_do_not_load_and_text_chunks_do() {
    let (u, _dir, lines) = run(
        r#"
        local function p(...) dovecot.i_info("probe: " .. table.concat({...}, " ")) end
        local function f() return 42 end
        local bin = string.dump(f)
        local fn, err = load(bin, "b", "b")
        p("load b", tostring(fn), err)
        fn, err = load(bin)
        p("load", tostring(fn), err)
        local out = assert(io.open("@DIR@/bin.lua", "wb"))
        out:write(bin)
        out:close()
        fn, err = loadfile("@DIR@/bin.lua")
        p("loadfile", tostring(fn), (err:gsub("^.*: ", "")))
        local ok, derr = pcall(dofile, "@DIR@/bin.lua")
        p("dofile", tostring(ok), (derr:gsub("^.*: ", "")))
        package.path = "@DIR@/?.lua"
        ok, derr = pcall(require, "bin")
        p("require bin", tostring(ok), tostring(derr:find("attempt to load a binary chunk", 1, true) ~= nil))
        out = assert(io.open("@DIR@/textmod.lua", "w"))
        out:write("return { answer = 42 }")
        out:close()
        p("require text", tostring(require("textmod").answer))
        p("text", tostring(load("return 1 + 1")()), tostring(load("return x", "n", "t", { x = 5 })()))
        -- An explicit nil environment stays nil, as with Lua's own load.
        ok = pcall(load("return tostring(1)", "n", "t", nil))
        p("nil env", tostring(ok))
        function dovecot_lua_notify_begin_txn(user) return {} end
        function dovecot_lua_notify_event_message_new(ctx, e) end
        function dovecot_lua_notify_end_txn(ctx, ok) end
        "#,
        "",
    );
    let binary = "attempt to load a binary chunk (mode is 't')";
    assert_eq!(
        probes(&lines),
        [
            format!("load b nil {binary}"),
            format!("load nil {binary}"),
            format!("loadfile nil {binary}"),
            format!("dofile false {binary}"),
            "require bin false true".to_owned(),
            "require text 42".to_owned(),
            "text 2 5".to_owned(),
            "nil env false".to_owned(),
        ]
    );
    assert_eq!(u.driver_names().collect::<Vec<_>>(), ["lua"]);
}

#[test]
fn a_binary_script_file_is_refused() {
    // A first script writes a compiled function where the second script is read from.
    let (_u, dir, lines) = run(
        r#"
        local out = assert(io.open("@DIR@/compiled.lua", "wb"))
        out:write(string.dump(function() end))
        out:close()
        "#,
        "",
    );
    assert!(messages(&lines, pn_core::LOG_TARGET, Level::ERROR).is_empty());
    let compiled = dir.path().join("compiled.lua");
    let capture = Capture::default();
    let _g = capture.install();
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("lmtp"),
        &format!("lua:file={}", compiled.display()),
        &[],
    );
    assert_eq!(u.driver_names().count(), 0);
    assert_eq!(
        messages(&capture.take(), pn_core::LOG_TARGET, Level::ERROR),
        [format!(
            "lua: lua_load({}) failed: attempt to load a binary chunk (mode is 't')",
            compiled.display()
        )]
    );
}

const PROBE_LIBRARIES: &str = r#"
    local function p(...) dovecot.i_info("probe: " .. table.concat({...}, " ")) end
    p("io", type(io), type(package.loaded.io))
    p("os", type(os.execute), type(os.getenv), type(os.remove), type(os.rename),
      type(os.tmpname), type(os.setlocale), type(os.time), type(os.date), type(os.clock))
    p("load", type(loadfile), type(dofile), type(load))
    p("require", tostring(pcall(require, "io")), tostring(pcall(require, "nosuchmodule")),
      type(require("socket.http").request), type(require("string").format))
    p("exit", tostring(pcall(os.exit)))
"#;

#[test]
fn restricted_mode_keeps_the_script_inside_the_lua_state() {
    let (u, _dir, lines) = run(PROBE_LIBRARIES, " restricted=yes");
    assert_eq!(u.driver_names().collect::<Vec<_>>(), ["lua"]);
    assert_eq!(
        probes(&lines),
        [
            "io nil nil",
            "os nil nil nil nil nil nil function function function",
            "load nil nil function",
            "require false false function function",
            "exit false",
        ]
    );
    // A bare flag is enough.
    let (_u, _dir, lines) = run(PROBE_LIBRARIES, " restricted");
    assert_eq!(probes(&lines)[0], "io nil nil");
}

#[test]
fn trusted_mode_is_dovecots_but_for_os_exit() {
    let (_u, _dir, lines) = run(PROBE_LIBRARIES, "");
    assert_eq!(
        probes(&lines),
        [
            "io table table",
            "os function function function function function function function function function",
            "load function function function",
            "require true false function function",
            "exit false",
        ]
    );
    let (_u, _dir, lines) = run(PROBE_LIBRARIES, " restricted=no");
    assert_eq!(probes(&lines)[0], "io table table");
}

#[test]
fn an_invalid_restricted_value_is_an_init_error() {
    let (u, _dir, lines) = run("", " restricted=maybe");
    assert_eq!(u.driver_names().count(), 0);
    assert_eq!(
        messages(&lines, pn_core::LOG_TARGET, Level::ERROR),
        ["lua: Invalid restricted: maybe (yes or no)"]
    );
}

#[test]
fn restricted_in_a_dovecot_24_filter_is_not_passed_to_script_init() {
    let capture = Capture::default();
    let _g = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(
        dir.path(),
        "s.lua",
        r#"
        function script_init(settings)
          local keys = {}
          for k, v in pairs(settings) do keys[#keys + 1] = k .. "=" .. v end
          table.sort(keys)
          dovecot.i_info("probe: " .. table.concat(keys, " ") .. "; io " .. type(io))
        end
        "#,
    );
    // What pn-config makes of a 2.4 `push_notification lua { lua_file = …; restricted = yes;
    // lua_settings { user_param = x } }`.
    let mut spec = pn_config::parse_driver_value(
        "push_notification lua",
        &format!(
            "lua:file={} restricted=yes lua_settings/user_param=x",
            path.display()
        ),
    );
    spec.dovecot = pn_config::DovecotVersion::V2_4;
    let env: Arc<dyn pn_core::PluginEnv> =
        Arc::new(std::collections::BTreeMap::<String, String>::new());
    let host: Arc<dyn MailboxHost> = Arc::new(Store);
    let outbox: Arc<dyn pn_core::Outbox> = Arc::new(pn_core::MemoryOutbox::new());
    let user = alice("lmtp");
    let driver = pn_driver_lua::init(&pn_core::DriverInitCtx {
        spec: &spec,
        user: &user,
        env: &env,
        host: &host,
        outbox: &outbox,
    });
    assert!(driver.is_ok());
    assert_eq!(probes(&capture.take()), ["user_param=x; io nil"]);
}
