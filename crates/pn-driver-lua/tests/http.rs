//! Scripts in the style of Dovecot's documented examples posting to a real HTTP receiver:
//! one with `dovecot.http.client`, one with LuaSocket's `socket.http` and `socket.url`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use pn_core::{Commit, HostError, MailboxHost, MailboxStatus, PushUser, Save, UserInfo};
use pn_event::{MailFlags, MessageData, MessageFields, MessageSource, RawValue};
use tracing::Level;

use crate::util::{Capture, alice, engine, script, user};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP/1.1 receiver on 127.0.0.1 answering `201 Created` with body `ok`.
fn receiver(requests: usize) -> (String, Arc<Mutex<Vec<Received>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/push", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&seen);
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("read");
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').expect("header");
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().expect("length"))
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            store.lock().expect("lock").push(Received {
                request_line: request_line.trim_end().to_owned(),
                headers,
                body,
            });
            let mut stream = stream;
            stream
                .write_all(
                    b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Test: yes\r\nConnection: close\r\n\r\nok",
                )
                .expect("write");
        }
    });
    (url, seen, handle)
}

struct Store;

impl MailboxHost for Store {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        if mailbox != "INBOX" {
            return Err(HostError::new(format!("Mailbox doesn't exist: {mailbox}")));
        }
        Ok(MailboxStatus {
            messages: 5,
            unseen: 3,
            recent: 1,
            uid_next: 6,
            uid_validity: 7,
        })
    }
}

struct Mail;

impl MessageSource for Mail {
    fn fill(&self, wanted: MessageFields, data: &mut MessageData) {
        if wanted.contains(MessageFields::FROM) {
            data.from = Some(RawValue::from("Bob <bob@example.org>"));
            data.from_address = Some("bob@example.org".into());
            data.from_display_name = Some("Bob".into());
        }
        if wanted.contains(MessageFields::SUBJECT) {
            data.subject = Some(RawValue::from("Grüße & more"));
            data.subject_utf8 = Some("Grüße & more".into());
        }
    }
}

fn deliver(u: &PushUser) {
    let mut t = u.begin_mail_txn("INBOX");
    t.save(&Save {
        delivery: true,
        flags: MailFlags::empty(),
        keywords: &[],
        content: &Mail,
    });
    t.commit(&Commit {
        uid_validity: 7,
        saved_uids: &[5],
    });
}

const DOVECOT_HTTP_SCRIPT: &str = r#"
local client

function script_init()
  client = dovecot.http.client({debug = true, timeout = 10000, request_timeout_msecs = 5000})
  return 0
end

function dovecot_lua_notify_begin_txn(user)
  return {user = user, url = user:plugin_getenv("push_lua_url"), messages = {}}
end

function dovecot_lua_notify_event_message_new(ctx, event)
  local mbox = ctx.user:mailbox(event.mailbox)
  mbox:sync()
  local status = mbox:status(dovecot.storage.STATUS_RECENT, dovecot.storage.STATUS_UNSEEN,
                             dovecot.storage.STATUS_MESSAGES)
  mbox:free()
  table.insert(ctx.messages, {from = event.from_address, subject = event.subject,
                              unseen = status.unseen, messages = status.messages,
                              uidnext = status.uidnext})
end

function dovecot_lua_notify_end_txn(ctx, success)
  local e = dovecot.event()
  e:set_name("lua_notify_mail_finished")
  for _, msg in ipairs(ctx.messages) do
    local rq = client:request({url = ctx.url, method = "POST"})
    rq:add_header("Content-Type", "application/json")
    rq:set_payload(string.format('{"from":"%s","subject":"%s","unseen":%d,"messages":%d,"uidnext":%d}',
      msg.from, msg.subject, msg.unseen, msg.messages, msg.uidnext))
    local code = rq:submit()
    e:add_int("result_code", code:status())
    e:log_info("Mail notify status " .. code:status() .. " " .. code:reason() .. " "
               .. code:payload() .. " " .. code:header("x-test"))
  end
end
"#;

#[test]
fn dovecot_http_client_posts_to_a_real_receiver() {
    let capture = Capture::default();
    let _g = capture.install();
    let (url, seen, server) = receiver(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "push.lua", DOVECOT_HTTP_SCRIPT);
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("lmtp"),
        &format!("lua:file={}", path.display()),
        &[("push_lua_url", url.as_str())],
    );
    deliver(&u);
    server.join().expect("receiver");
    let lines = capture.take();
    assert!(Capture::lua_messages(&lines, Level::ERROR).is_empty());
    assert_eq!(
        Capture::lua_messages(&lines, Level::INFO),
        ["Mail notify status 201 Created ok yes"]
    );
    let got = seen.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].request_line, "POST /push HTTP/1.1");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(got[0].body.clone()).expect("utf-8"),
        r#"{"from":"bob@example.org","subject":"Grüße & more","unseen":3,"messages":5,"uidnext":0}"#
    );
}

const LUASOCKET_SCRIPT: &str = r#"
local http = require "socket.http"
local url = require "socket.url"

function dovecot_lua_notify_begin_txn(user)
  return {user = user.username, msgs = {}, url = user:plugin_getenv("push_lua_url")}
end

function dovecot_lua_notify_event_message_new(ctx, event)
  table.insert(ctx.msgs, event)
end

function dovecot_lua_notify_end_txn(ctx, success)
  local i, msg = next(ctx.msgs, nil)
  while i do
    local body = "user=" .. url.escape(ctx.user) .. "&from=" .. url.escape(msg.from)
                 .. "&subject=" .. url.escape(msg.subject)
    local r, c = http.request(ctx.url, body)
    if r == nil or c ~= 201 then
      dovecot.i_error("lua-push: failed " .. tostring(c))
    else
      dovecot.i_info("posted " .. c .. " " .. r)
    end
    i, msg = next(ctx.msgs, i)
  end
  local r, err = http.request("http://127.0.0.1:1/nothing-listens-here")
  dovecot.i_info(tostring(r) .. " " .. err)
end
"#;

#[test]
fn luasocket_http_and_url_post_to_a_real_receiver() {
    let capture = Capture::default();
    let _g = capture.install();
    let (url, seen, server) = receiver(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "push.lua", LUASOCKET_SCRIPT);
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("lmtp"),
        &format!("lua:file={}", path.display()),
        &[("push_lua_url", url.as_str())],
    );
    deliver(&u);
    server.join().expect("receiver");
    let lines = capture.take();
    assert!(Capture::lua_messages(&lines, Level::ERROR).is_empty());
    assert_eq!(
        Capture::lua_messages(&lines, Level::INFO),
        ["posted 201 ok", "nil connection refused"]
    );
    let got = seen.lock().expect("lock").clone();
    assert_eq!(got[0].request_line, "POST /push HTTP/1.1");
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(got[0].body.clone()).expect("utf-8"),
        "user=alice%40example%2ecom&from=Bob%20%3cbob%40example%2eorg%3e\
         &subject=Gr%c3%bc%c3%9fe%20%26%20more"
    );
}

#[test]
fn failed_requests_get_dovecots_internal_status() {
    let capture = Capture::default();
    let _g = capture.install();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(
        dir.path(),
        "push.lua",
        r#"
        function dovecot_lua_notify_begin_txn(user)
          local client = dovecot.http.client({})
          local rs = client:request({url = "http://127.0.0.1:1/x"}):submit()
          dovecot.i_info(rs:status() .. " " .. tostring(rs:reason() ~= ""))
          local ok, err = pcall(client.request, client, {url = "not a url"})
          dovecot.i_info(err)
          ok, err = pcall(dovecot.http.client, {max_attempts = "x"})
          dovecot.i_info(err)
          return {}
        end
        function dovecot_lua_notify_event_mailbox_create(ctx, e) end
        function dovecot_lua_notify_end_txn(ctx, ok) end
        "#,
    );
    let pn = engine(Arc::new(Store));
    let u = user(
        &pn,
        alice("imap"),
        &format!("lua:file={}", path.display()),
        &[],
    );
    u.mailbox_created("X");
    assert_eq!(
        Capture::lua_messages(&capture.take(), Level::INFO),
        [
            "9003 true",
            "Failed to parse url not a url: Relative HTTP URL not allowed",
            "Invalid HTTP client setting: max_attempts: non-negative number expected",
        ]
    );
}
