//! A push script cannot take `pn lmtp` down: `os.exit` is an error in the script, binary
//! chunks do not load, and `restricted=yes` takes files away. Each test runs a real server
//! and delivers over LMTP.

use crate::support::{ALICE, LmtpServer, LogLine, LuaSandbox, data, lmtp_deliver, write_script};

/// `pn lmtp` with `plugin_lines` (the script paths replaced into `{lua}`), after writing each
/// `(name, text)` script into the sandbox.
fn server(scripts: &[(&str, &str)], plugin_lines: &str) -> (LuaSandbox, LmtpServer) {
    let lua = LuaSandbox::new();
    for (name, text) in scripts {
        write_script(&lua, name, text);
    }
    lua.plugin(&plugin_lines.replace("{lua}", &lua.lua_dir().display().to_string()));
    let server = LmtpServer::start(&lua);
    (lua, server)
}

fn end_of_txn(l: &LogLine) -> bool {
    l.message == "Called dovecot_lua_notify_end_txn"
        || l.message == "Missing function dovecot_lua_notify_end_txn"
}

/// The log up to the end of the next transaction that carried a MessageNew: a fresh user's
/// first delivery runs a MailboxCreate (INBOX) transaction before it, as Dovecot's does.
fn message_txn(server: &mut LmtpServer) -> Vec<LogLine> {
    let mut log = Vec::new();
    for _ in 0..4 {
        let txn = server.log_until(end_of_txn);
        let done = txn.is_empty()
            || txn.iter().any(|l| {
                l.message
                    .starts_with("Calling dovecot_lua_notify_event_message_new")
                    || (l.level == "ERROR" && l.message.contains("event_message_new"))
            });
        log.extend(txn);
        if done {
            break;
        }
    }
    log
}

fn errors(log: &[LogLine]) -> Vec<String> {
    log.iter()
        .filter(|l| l.level == "ERROR")
        .map(|l| format!("{}: {}", l.target, l.message))
        .collect()
}

const EXIT_SCRIPT: &str = r#"
function dovecot_lua_notify_begin_txn(user) return {} end
function dovecot_lua_notify_event_message_new(ctx, event) os.exit(3) end
function dovecot_lua_notify_end_txn(ctx, success) end
"#;

#[test]
fn os_exit_in_a_script_is_an_error_and_the_server_keeps_delivering() {
    let (lua, mut server) = server(
        &[("exit.lua", EXIT_SCRIPT)],
        "  push_notification_driver = lua:file={lua}/exit.lua\n",
    );
    let message = data("ox/01-plain-ascii.eml");
    for n in 1..=2 {
        let reply = lmtp_deliver(&server.address, ALICE, &message);
        assert!(reply.starts_with("250 "), "delivery {n}: {reply}");
        let log = message_txn(&mut server);
        let errors = errors(&log);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "pn_driver_lua: lua_pcall(dovecot_lua_notify_event_message_new, 2, 0) failed: \
                 os.exit is disabled: a push script cannot end the mail process"
            ),
            "{errors:?}"
        );
        assert!(server.running(), "pn lmtp ended after delivery {n}");
        // Stored once per delivery: the MTA got its 250 and has nothing to retry.
        assert_eq!(lua.sb.files(ALICE, "").len(), n);
    }
}

/// The first script writes a compiled chunk where the second driver's script is read from,
/// and tries to load one itself.
const COMPILER: &str = r#"
function script_init()
  local out = assert(io.open("{lua}/compiled.lua", "wb"))
  out:write(string.dump(function() end))
  out:close()
  local f, err = load(string.dump(function() return 1 end), "dumped", "b")
  dovecot.i_info("load: " .. tostring(f) .. " " .. err)
end
function dovecot_lua_notify_begin_txn(user) return {} end
function dovecot_lua_notify_event_message_new(ctx, event) end
function dovecot_lua_notify_end_txn(ctx, success) end
"#;

#[test]
fn binary_chunks_are_refused_and_delivery_goes_on() {
    let lua = LuaSandbox::new();
    let dir = lua.lua_dir().display().to_string();
    write_script(&lua, "compiler.lua", &COMPILER.replace("{lua}", &dir));
    lua.plugin(&format!(
        "  push_notification_driver = lua:file={dir}/compiler.lua\n  \
         push_notification_driver2 = lua:file={dir}/compiled.lua\n"
    ));
    let mut server = LmtpServer::start(&lua);
    let reply = lmtp_deliver(&server.address, ALICE, &data("ox/01-plain-ascii.eml"));
    assert!(reply.starts_with("250 "), "{reply}");
    let log = message_txn(&mut server);
    let info: Vec<&str> = log
        .iter()
        .filter(|l| l.level == "INFO" && l.target == "pn_driver_lua")
        .map(|l| l.message.as_str())
        .collect();
    assert!(
        info.contains(&"load: nil attempt to load a binary chunk (mode is 't')"),
        "{info:?}"
    );
    let refused = format!(
        "push_notification: lua: lua_load({dir}/compiled.lua) failed: \
         attempt to load a binary chunk (mode is 't')"
    );
    assert!(errors(&log).contains(&refused), "{:?}", errors(&log));
    assert!(server.running());
    assert_eq!(lua.sb.files(ALICE, "").len(), 1);
}

const RESTRICTED_SCRIPT: &str = r#"
function dovecot_lua_notify_begin_txn(user) return {} end
function dovecot_lua_notify_event_message_new(ctx, event)
  dovecot.i_info("io: " .. type(io) .. ", execute: " .. type(os.execute))
  io.open("/tmp/pn-restricted-test", "w")
end
function dovecot_lua_notify_end_txn(ctx, success) end
"#;

#[test]
fn restricted_mode_takes_io_away_from_the_script() {
    let (lua, mut server) = server(
        &[("restricted.lua", RESTRICTED_SCRIPT)],
        "  push_notification_driver = lua:file={lua}/restricted.lua restricted=yes\n",
    );
    let reply = lmtp_deliver(&server.address, ALICE, &data("ox/01-plain-ascii.eml"));
    assert!(reply.starts_with("250 "), "{reply}");
    let log = message_txn(&mut server);
    assert!(
        log.iter().any(|l| l.message == "io: nil, execute: nil"),
        "{log:?}"
    );
    let errors = errors(&log);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("attempt to index a nil value (global 'io')"),
        "{errors:?}"
    );
    assert_eq!(lua.sb.files(ALICE, "").len(), 1);
}
