//! Dovecot's documented Lua push scripts (`data/lua/dovecot2*.lua`), unmodified, under
//! `pn deliver` and `pn save`, posting to a real HTTP receiver on 127.0.0.1.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use crate::support::{ALICE, LogLine, LuaSandbox, data, log_lines, lua_messages, write_script};
use crate::util::{Request, http_receiver};

/// `from`, `to`, `subject`, `snippet` and `user` of `ox/01-plain-ascii.eml`, escaped by
/// `socket.url.escape` (everything but letters, digits and `_` as `%xx`).
const PLAIN_FORM: &str = "from=Bob%20Sender%20%3cbob%2esender%40example%2eorg%3e\
    &to=Alice%20%3calice%40example%2ecom%3e&subject=Plain%20ASCII%20hello\
    &snippet=Hello%20Alice%2c%20this%20is%20a%20plain%20ASCII%20message%20body%2e%20Bye\
    &user=alice%40example%2ecom";

/// The same for `lua/append-1.eml`.
const APPEND_FORM: &str = "from=Append%20Sender%20%3cappend%40example%2eorg%3e\
    &to=alice%40example%2ecom&subject=appended%20via%20IMAP\
    &snippet=This%20message%20was%20APPENDed%20over%20IMAP%2e&user=alice%40example%2ecom";

/// A sandbox running `script` with `push_lua_url` pointing at a fresh receiver.
fn setup(script: &str) -> (LuaSandbox, Receiver<Request>) {
    let (port, requests) = http_receiver("200 OK");
    let lua = LuaSandbox::new();
    let text = String::from_utf8(data(&format!("lua/{script}"))).unwrap();
    let path = write_script(&lua, script, &text);
    lua.plugin(&format!(
        "  push_notification_driver = lua:file={}\n  push_lua_url = http://127.0.0.1:{port}/push\n",
        path.display()
    ));
    (lua, requests)
}

/// Runs `pn` and returns the lua driver's INFO lines, after checking it logged no error.
fn run(lua: &LuaSandbox, args: &[&str], stdin: &[u8]) -> Vec<String> {
    let out = lua.pn(args, Some(stdin));
    let log = log_lines(&String::from_utf8_lossy(&out.stderr));
    let errors: Vec<&LogLine> = log.iter().filter(|l| l.level == "ERROR").collect();
    assert!(errors.is_empty(), "{args:?}: {errors:?}");
    lua_messages(&log, "INFO")
}

/// The requests that arrived, in order; none may be left over.
fn received(requests: &Receiver<Request>, n: usize) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = requests
            .recv_timeout(Duration::from_secs(30))
            .expect("a request");
        let content_type = r
            .headers
            .iter()
            .find_map(|h| {
                h.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        out.push((r.line, content_type, String::from_utf8(r.body).unwrap()));
    }
    if let Ok(extra) = requests.try_recv() {
        panic!("more requests than expected: {extra:?} after {out:?}");
    }
    out
}

const FORM: &str = "application/x-www-form-urlencoded";

fn post(content_type: &str, body: &str) -> (String, String, String) {
    (
        "POST /push HTTP/1.1".to_owned(),
        content_type.to_owned(),
        body.to_owned(),
    )
}

fn form(body: &str) -> (String, String, String) {
    post(FORM, body)
}

/// The simple scripts post one form per MessageNew / MessageAppend at the end of the
/// transaction, with `content_type`.
fn simple(script: &str, content_type: &str) {
    let (lua, requests) = setup(script);
    run(
        &lua,
        &["deliver", "-d", ALICE, "-f", "sender@example.org"],
        &data("ox/01-plain-ascii.eml"),
    );
    run(&lua, &["save", "-u", ALICE], &data("lua/append-1.eml"));
    assert_eq!(
        received(&requests, 2),
        [
            post(content_type, PLAIN_FORM),
            post(content_type, APPEND_FORM)
        ]
    );
}

#[test]
fn dovecot_23_simple_example_posts_with_socket_http() {
    // LuaSocket's string form is a form POST.
    simple("dovecot23-simple.lua", FORM);
}

#[test]
fn dovecot_24_simple_example_runs_although_script_init_returns_nothing() {
    // The script sets no Content-Type and Dovecot's HTTP client adds none.
    simple("dovecot24-simple.lua", "");
}

/// The event-code scripts post the message, then the mailbox's status read through
/// `mailbox:status()`, and log each result through `dovecot.event()`.
fn events(script: &str) {
    let (lua, requests) = setup(script);
    let info = run(
        &lua,
        &["deliver", "-d", ALICE, "-f", "sender@example.org"],
        &data("ox/01-plain-ascii.eml"),
    );
    assert_eq!(
        info,
        ["Mail notify status 200", "Mailbox notify status 200"]
    );
    run(&lua, &["save", "-u", ALICE], &data("lua/append-1.eml"));
    assert_eq!(
        received(&requests, 4),
        [
            form(
                "mailbox=INBOX&from=Bob%20Sender%20%3cbob%2esender%40example%2eorg%3e\
                 &subject=Plain%20ASCII%20hello"
            ),
            // Dovecot pushes the counters as Lua floats.
            form("mailbox=INBOX&recent=1.0&unseen=1.0&messages=1.0"),
            form(
                "mailbox=INBOX&from=Append%20Sender%20%3cappend%40example%2eorg%3e\
                 &subject=appended%20via%20IMAP"
            ),
            form("mailbox=INBOX&recent=2.0&unseen=2.0&messages=2.0"),
        ]
    );
}

#[test]
fn dovecot_23_event_example_posts_with_ltn12_and_reads_the_mailbox_status() {
    events("dovecot23-events.lua");
}

#[test]
fn dovecot_24_event_example_posts_with_the_http_client_and_reads_the_mailbox_status() {
    events("dovecot24-events.lua");
}
