//! Replays the session Dovecot 2.3.19.1 ran with `push_dump.lua` (`data/lua/lua-events.txt`)
//! through the `pn` binary: the IMAP commands become `pn mailbox …`, `pn save`, `pn flags`
//! and `pn expunge`, the LDA deliveries `pn deliver`, the LMTP delivery a real `pn lmtp`. The
//! same script dumps every argument (field, Lua type, value) and the dump is compared with
//! Dovecot's, step by step; so are the driver's log lines.
//!
//! Where pn's commands cannot do what Dovecot's session did, the expected dump is adjusted,
//! each case named in `expected_for`: `pn save` has no flags (steps 10, 19, 20 save the
//! message without `\Seen $Important`), and there is no `pn copy`/`pn move` (19 is a save into
//! Work, 20 a save into Work plus an expunge from INBOX, two transactions one after the other
//! where IMAP MOVE opens both first). Each `pn` command is its own process, so every
//! transaction gets the script's full user dump where Dovecot's one IMAP process printed it
//! once; the expected short lines are expanded to that full dump.

use std::collections::BTreeMap;

use crate::support::{
    ALICE, LmtpServer, LogLine, LuaSandbox, data, lmtp_deliver, log_lines, lua_messages,
    write_script,
};

const CAPTURED_INBOX_UIDVALIDITY: &str = "1795889985.0";
const CAPTURED_WORK_UIDVALIDITY: &str = "1795889986.0";

/// One step of the capture.
#[derive(Debug, Default)]
struct Step {
    /// The `### [NN] C: …` line.
    command: String,
    /// Log lines after `lua: `.
    log: Vec<String>,
    /// What push_dump.lua wrote.
    dump: Vec<String>,
}

fn steps() -> BTreeMap<u32, Step> {
    let text = String::from_utf8(data("lua/lua-events.txt")).unwrap();
    let mut steps: BTreeMap<u32, Step> = BTreeMap::new();
    let mut current = 0;
    let mut in_dump = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### [") {
            if let Some((n, command)) = rest.split_once("] C: ") {
                current = n.parse().unwrap();
                steps.entry(current).or_default().command = command.to_owned();
            }
            continue;
        }
        if line.starts_with("#   --- lua.log") || line.starts_with("#   --- lua-dump.txt") {
            in_dump = line.contains("lua-dump.txt");
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let step = steps.get_mut(&current).unwrap();
        if in_dump {
            step.dump.push(line.to_owned());
        } else {
            step.log
                .push(line.split_once("lua: ").unwrap().1.to_owned());
        }
    }
    steps
}

const FULL_DUMP: &str = "begin_txn(user) [table] fields:";

/// The first full user dump of the IMAP session (step 03).
fn imap_user_dump(steps: &BTreeMap<u32, Step>) -> Vec<String> {
    let dump = &steps[&3].dump;
    let start = dump.iter().position(|l| l == FULL_DUMP).unwrap();
    dump[start..]
        .iter()
        .take_while(|l| *l == FULL_DUMP || l.starts_with("  "))
        .cloned()
        .collect()
}

/// Lines that differ between runs by nature.
fn varies(line: &str) -> String {
    for key in [
        "  session_id (string) = ",
        "  session_create_time (number/float) = ",
    ] {
        if line.starts_with(key) {
            return format!("{key}<varies>");
        }
    }
    line.to_owned()
}

/// Empties the `flags` and `keywords` tables of MessageAppend (a `pn save` without flags).
fn without_flags(dump: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_append = false;
    let mut skipping = false;
    for line in dump {
        if !line.starts_with(' ') {
            in_append = line.starts_with("dovecot_lua_notify_event_message_append");
        }
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        if in_append {
            for key in ["flags", "keywords"] {
                if line.starts_with(&format!("  {key} (table, ")) {
                    out.push(format!("  {key} (table, 0 entries) {{}}"));
                    skipping = true;
                }
            }
            if skipping {
                continue;
            }
        }
        out.push(line.clone());
    }
    out
}

/// What pn's run of step `n` must dump.
fn expected_for(n: u32, step: &Step, imap_user: &[String]) -> Vec<String> {
    let mut dump: Vec<String> = Vec::new();
    for line in &step.dump {
        if line.starts_with("begin_txn(user) user.username=") {
            assert!(line.contains("user.service=\"imap\""), "{line}");
            dump.extend(imap_user.iter().cloned());
        } else {
            dump.push(line.clone());
        }
    }
    if matches!(n, 10 | 19 | 20) {
        dump = without_flags(&dump);
    }
    if n == 20 {
        // IMAP MOVE begins both transactions before either ends; pn saves, then expunges.
        let second = dump.iter().skip(1).position(|l| l == FULL_DUMP).unwrap() + 1;
        let block: Vec<String> = dump.drain(second..second + imap_user.len()).collect();
        let first_end = dump.iter().position(|l| l.starts_with("end_txn(")).unwrap();
        dump.splice(first_end + 1..first_end + 1, block);
    }
    dump.iter().map(|l| varies(l)).collect()
}

/// pn's dump with this sandbox's values mapped to the capture's: the home, the mail user's
/// uid/gid, `doveadm` for `imap`, the mailboxes' UIDVALIDITY. Only exact values are mapped, so
/// anything else still differs.
fn ours_normalised(
    lua: &LuaSandbox,
    uid_validity: &mut BTreeMap<String, u32>,
    lines: &[String],
    imap: bool,
) -> Vec<String> {
    let home = format!("  home (string) = \"{}\"", lua.sb.home(ALICE).display());
    let uid = format!("  uid (number/float) = {}.0", lua.mail_uid());
    let gid = format!("  gid (number/float) = {}.0", lua.mail_gid());
    let mut in_user = false;
    let mut mailbox = String::new();
    let mut out = Vec::new();
    for line in lines {
        if !line.starts_with(' ') {
            in_user = line == FULL_DUMP;
        }
        let mut line = varies(line);
        if in_user {
            if line == home {
                line = "  home (string) = \"$SANDBOX/home/alice@example.com\"".to_owned();
            } else if line == uid {
                line = "  uid (number/float) = 999.0".to_owned();
            } else if line == gid {
                line = "  gid (number/float) = 995.0".to_owned();
            } else if imap && line == "  service (string) = \"doveadm\"" {
                line = "  service (string) = \"imap\"".to_owned();
            }
        }
        if let Some(name) = line.strip_prefix("  mailbox (string) = ") {
            mailbox = name.trim_matches('"').to_owned();
        }
        if let Some(value) = line.strip_prefix("  uid_validity (number/float) = ") {
            let captured = match mailbox.as_str() {
                "INBOX" => CAPTURED_INBOX_UIDVALIDITY,
                "Work" => CAPTURED_WORK_UIDVALIDITY,
                other => panic!("uid_validity of {other}"),
            };
            let ours = *uid_validity
                .entry(mailbox.clone())
                .or_insert_with(|| lua.uid_validity(&mailbox));
            if value == format!("{ours}.0") {
                line = format!("  uid_validity (number/float) = {captured}");
            }
        }
        out.push(line);
    }
    out
}

const INIT_LINES: [&str; 2] = ["Loading ", "Calling script_init"];

fn is_init(line: &str) -> bool {
    INIT_LINES.iter().any(|p| line.starts_with(p))
}

/// The transaction's log lines: the lua driver's debug lines without `Found …` (left out of
/// the capture) and without the init lines.
fn txn_log(lines: &[LogLine], script: &str) -> Vec<String> {
    lua_messages(lines, "DEBUG")
        .into_iter()
        .filter(|l| !l.starts_with("Found ") && !is_init(l))
        .map(|l| l.replace(script, "$SANDBOX/push_dump.lua"))
        .collect()
}

/// The init lines, each once: `pn deliver` sets up the raw mail user's drivers too (as
/// Dovecot 2.4 does; 2.3's LDA logged them once), so they appear twice.
fn init_log(lines: &[LogLine], script: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lua_messages(lines, "DEBUG") {
        let l = l.replace(script, "$SANDBOX/push_dump.lua");
        if is_init(&l) && !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

/// `pn deliver` for an LDA step: `… -d alice@example.com -f sender@example.org [-m Work] < ox/NN.eml`.
fn deliver(lua: &LuaSandbox, command: &str) -> Vec<LogLine> {
    let (args, file) = command.split_once(" < ").unwrap();
    let message = data(file);
    let mut argv = vec!["deliver", "-d", ALICE, "-f", "sender@example.org"];
    if args.ends_with("-m Work") {
        argv.extend(["-m", "Work"]);
    }
    let out = lua.pn(&argv, Some(&message));
    log_lines(&String::from_utf8_lossy(&out.stderr))
}

#[test]
fn every_captured_table_matches_dovecot_through_the_binary() {
    let lua = LuaSandbox::new();
    let dump_path = lua.lua_dir().join("lua-dump.txt");
    let source = String::from_utf8(data("lua/push_dump.lua"))
        .unwrap()
        .replace("@DUMP_FILE@", &dump_path.display().to_string());
    let script = write_script(&lua, "push_dump.lua", &source);
    let script = script.display().to_string();
    lua.plugin(&format!("  push_notification_driver = lua:file={script}\n"));

    let steps = steps();
    let imap_user = imap_user_dump(&steps);
    let mut server: Option<LmtpServer> = None;
    let mut dumped = 0;
    let mut uid_validity = BTreeMap::new();
    let (mut dumps_compared, mut logs_compared) = (0, 0);
    let pn = |args: &[&str], stdin: Option<&[u8]>| {
        let out = lua.pn(args, stdin);
        log_lines(&String::from_utf8_lossy(&out.stderr))
    };
    let flags = |op: &str, flags: &str| {
        pn(
            &[
                "flags", op, "-u", ALICE, flags, "mailbox", "INBOX", "uid", "1",
            ],
            None,
        )
    };
    for (&n, step) in &steps {
        let log: Vec<LogLine> = match n {
            // Connect, LOGIN (Dovecot loads the script there: pn loads it per command),
            // SELECT, NOOP, LOGOUT: nothing to do.
            1 | 2 | 11 | 37 | 38 => Vec::new(),
            3 => pn(&["mailbox", "create", "-u", ALICE, "Folder1"], None),
            4 => pn(
                &["mailbox", "rename", "-u", ALICE, "Folder1", "Folder2"],
                None,
            ),
            5 => pn(&["mailbox", "subscribe", "-u", ALICE, "Folder2"], None),
            6 => pn(&["mailbox", "unsubscribe", "-u", ALICE, "Folder2"], None),
            7 => pn(&["mailbox", "delete", "-u", ALICE, "Folder2"], None),
            8 => pn(&["mailbox", "create", "-u", ALICE, "Work"], None),
            9 => pn(&["save", "-u", ALICE], Some(&data("lua/append-1.eml"))),
            10 => pn(&["save", "-u", ALICE], Some(&data("lua/append-2.eml"))),
            12 => flags("add", "\\Seen"),
            13 => flags("add", "\\Flagged \\Answered"),
            14 => flags("add", "\\Deleted"),
            15 => flags("add", "todo"),
            16 => flags("remove", "\\Seen"),
            17 => flags("remove", "todo \\Flagged"),
            18 => pn(
                &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "1"],
                None,
            ),
            19 => pn(
                &["save", "-u", ALICE, "-m", "Work"],
                Some(&data("lua/append-2.eml")),
            ),
            20 => {
                let mut log = pn(
                    &["save", "-u", ALICE, "-m", "Work"],
                    Some(&data("lua/append-2.eml")),
                );
                log.extend(pn(
                    &["expunge", "-u", ALICE, "mailbox", "INBOX", "uid", "2"],
                    None,
                ));
                log
            }
            35 => {
                assert!(step.command.contains("lmtp_send.py"), "{}", step.command);
                let file = step.command.rsplit(' ').next().unwrap();
                let server = server.get_or_insert_with(|| LmtpServer::start(&lua));
                let reply = lmtp_deliver(&server.address, ALICE, &data(file));
                assert!(reply.starts_with("250 "), "{reply}");
                server.log_until(|l| l.message == "Called dovecot_lua_notify_end_txn")
            }
            21..=36 => {
                assert!(step.command.contains("dovecot-lda"), "{}", step.command);
                deliver(&lua, &step.command)
            }
            other => panic!("step [{other:02}] of the capture is not replayed"),
        };

        let text = std::fs::read_to_string(&dump_path).unwrap_or_default();
        let new: Vec<String> = text[dumped..].lines().map(str::to_owned).collect();
        dumped = text.len();
        let got = ours_normalised(&lua, &mut uid_validity, &new, (3..=20).contains(&n));
        let want = expected_for(n, step, &imap_user);
        assert_eq!(got, want, "step [{n:02}] {}: dump differs", step.command);
        dumps_compared += 1;

        let errors = lua_messages(&log, "ERROR");
        assert!(errors.is_empty(), "step [{n:02}]: errors {errors:?}");
        // Dovecot's excerpt is complete where it shows the transaction's end; step 20's
        // framing differs (see the module comment).
        if step
            .log
            .iter()
            .any(|l| l == "Called dovecot_lua_notify_end_txn")
            && n != 20
        {
            let want: Vec<String> = step.log.iter().filter(|l| !is_init(l)).cloned().collect();
            assert_eq!(txn_log(&log, &script), want, "step [{n:02}]: log differs");
            let want_init: Vec<String> = step.log.iter().filter(|l| is_init(l)).cloned().collect();
            if !want_init.is_empty() {
                assert_eq!(init_log(&log, &script), want_init, "step [{n:02}]");
            }
            logs_compared += 1;
        }
    }
    assert_eq!(dumps_compared, 38, "every captured step was replayed");
    assert!(
        logs_compared >= 30,
        "log lines compared for {logs_compared} steps"
    );
    if let Some(mut server) = server {
        assert!(server.running());
    }
}
