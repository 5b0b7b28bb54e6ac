//! Operations, through the binary: `pn lmtp`'s metrics (parsed by PyPI's prometheus-client,
//! `tests/data/ops/parse_metrics.py`), systemd readiness on `$NOTIFY_SOCKET`, SIGHUP reloads
//! and `pn push test`. Real HTTP receivers on 127.0.0.1, raw LMTP sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use util::raw_lmtp::{Client, MESSAGE};
use util::{Sandbox, USERS, http_receiver, stderr};

const NOBODY: u32 = 65534;
const PARSER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/ops/parse_metrics.py"
);

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn ox_line(port: u16) -> String {
    format!("ox:url=http://login:secret@127.0.0.1:{port}/notify timeout_msecs=2000 max_retries=0")
}

/// The ox driver towards `port`, enabled for both users; as root the users are nobody.
fn sandbox(port: u16, extra: &str) -> Sandbox {
    let sb = Sandbox::with(&format!(
        "pn_outbox_poll = 50ms\n{extra}\nplugin {{\n  \
         push_notification_driver2 = {}\n}}\n",
        ox_line(port)
    ));
    if is_root() {
        sb.write_users(NOBODY, NOBODY);
        let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
        perms.set_mode(0o755);
        std::fs::set_permissions(sb.dir.path(), perms).unwrap();
        let home = sb.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    for user in USERS {
        let out = sb.pn(
            &[
                "mailbox",
                "metadata",
                "set",
                "-u",
                user,
                "-s",
                "",
                "/private/vendor/vendor.dovecot/http-notify",
                "user=11@3",
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    sb
}

/// `NOTIFY_SOCKET` bound in the sandbox, writable by the server's uid.
fn notify_socket(sb: &Sandbox) -> (UnixDatagram, std::path::PathBuf) {
    let path = sb.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (socket, path)
}

fn notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("no sd_notify datagram");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

struct Server {
    child: Child,
    address: String,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(sb: &Sandbox, notify: Option<&std::path::Path>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
        cmd.arg("-c").arg(&sb.conf);
        if is_root() {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        cmd.args([
            "--log",
            "info",
            "lmtp",
            "--listen",
            "127.0.0.1:0",
            "--print-address",
        ])
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if let Some(path) = notify {
            cmd.env("NOTIFY_SOCKET", path);
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        assert!(!address.trim().is_empty(), "pn lmtp did not start");
        Server {
            child,
            address: address.trim().to_owned(),
            log,
        }
    }

    fn connect(&self) -> Client {
        let s = std::net::TcpStream::connect(&self.address).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        c.reply();
        c.cmd("LHLO test");
        c
    }

    /// Waits for a log line containing `needle`; returns it.
    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}");
    }

    fn hup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// `GET /metrics` over a plain socket.
fn scrape(address: &str) -> String {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    body.to_owned()
}

/// Samples by `name{k=v,…}`, or `None` when the parser is not installed.
fn parse(text: &str) -> Option<serde_json::Value> {
    let mut child = Command::new("python3")
        .arg(PARSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        eprintln!(
            "SKIPPED: PyPI prometheus-client is not installed \
             (python3 -m pip install prometheus-client)"
        );
        return None;
    }
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn sample(parsed: &serde_json::Value, key: &str) -> f64 {
    parsed["samples"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("no sample {key} in {parsed}"))
}

#[test]
fn metrics_count_what_happened() {
    let (port, requests) = http_receiver("200 OK");
    // A second ox endpoint refuses connections: its items wait for a retry an hour away.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_port = refused.local_addr().unwrap().port();
    drop(refused);
    let sb = sandbox(
        port,
        &format!(
            "pn_metrics_listen = 127.0.0.1:0\npn_retry_schedule = 1h\n\
             plugin {{\n  push_notification_driver3 = {}\n}}\n",
            ox_line(refused_port)
        ),
    );
    let server = Server::start(&sb, None);
    let line = server.wait_log("serving metrics on http://");
    let metrics = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics")
        .to_owned();
    let mut c = server.connect();
    let (rcpts, data) = c.transaction(&[USERS[0], USERS[1], "nobody@example.com"], MESSAGE);
    assert!(rcpts[2].starts_with("550"), "{rcpts:?}");
    assert!(data.iter().all(|d| d.starts_with("250")), "{data:?}");
    let (_, data) = c.transaction(&[USERS[0]], MESSAGE);
    assert!(data[0].starts_with("250"));
    for _ in 0..3 {
        requests.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    // The receiver has answered; the outcome is recorded right after: scrape until it shows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let parsed = loop {
        let text = scrape(&metrics);
        assert!(
            !text.contains("secret") && !text.contains("alice"),
            "{text}"
        );
        let Some(parsed) = parse(&text) else { return };
        if (sample(&parsed, "pn_pushes_total{driver=ox,outcome=success}") >= 3.0
            && sample(&parsed, "pn_pushes_total{driver=ox,outcome=connect_error}") >= 2.0
            // The outbox's acknowledgement is committed just after the outcome is counted.
            && sample(&parsed, "pn_outbox_queued{}") <= 3.0)
            || Instant::now() > deadline
        {
            break parsed;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let s = |k: &str| sample(&parsed, k);
    assert_eq!(s("pn_lmtp_deliveries_total{result=delivered}"), 3.0);
    assert_eq!(s("pn_lmtp_deliveries_total{result=tempfail}"), 0.0);
    assert_eq!(s("pn_lmtp_deliveries_total{result=permfail}"), 0.0);
    assert_eq!(s("pn_pushes_total{driver=ox,outcome=success}"), 3.0);
    assert_eq!(s("pn_pushes_total{driver=ox,outcome=http_error}"), 0.0);
    // One per user: alice's second notification waits behind her first (event order).
    assert_eq!(s("pn_pushes_total{driver=ox,outcome=connect_error}"), 2.0);
    // dlog enqueues nothing: pre-initialised, still 0.
    assert_eq!(s("pn_pushes_total{driver=dlog,outcome=success}"), 0.0);
    assert_eq!(s("pn_push_duration_seconds_count{driver=ox}"), 5.0);
    assert_eq!(s("pn_lmtp_sessions_total{}"), 1.0);
    assert_eq!(s("pn_lmtp_sessions_active{}"), 1.0);
    assert_eq!(s("pn_outbox_queued{}"), 3.0);
    assert_eq!(s("pn_outbox_dead_letters{}"), 0.0);
    assert!(s("pn_outbox_oldest_age_seconds{}") > 0.0);
    let endpoint = format!("endpoint=http://127.0.0.1:{refused_port}");
    assert_eq!(
        s(&format!(
            "pn_outbox_endpoint_state{{{endpoint},state=failing}}"
        )),
        1.0
    );
    assert_eq!(
        s(&format!("pn_outbox_endpoint_state{{{endpoint},state=ok}}")),
        0.0
    );
    assert_eq!(
        s(&format!(
            "pn_outbox_endpoint_state{{{endpoint},state=disabled}}"
        )),
        0.0
    );
    assert_eq!(
        s(&format!(
            "pn_build_info{{version={}}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );
    assert_eq!(parsed["types"]["pn_pushes"], "counter");
    assert_eq!(parsed["types"]["pn_push_duration_seconds"], "histogram");
    assert_eq!(parsed["types"]["pn_outbox_queued"], "gauge");
    c.cmd("QUIT");
}

#[test]
fn readiness_then_sighup_switches_drivers_without_dropping_sessions() {
    let (port_a, requests_a) = http_receiver("200 OK");
    let (port_b, requests_b) = http_receiver("200 OK");
    let sb = sandbox(port_a, "pn_retry_schedule = 100ms\n");
    let (notify, path) = notify_socket(&sb);
    let server = Server::start(&sb, Some(&path));
    assert_eq!(notification(&notify), "READY=1");

    let mut c = server.connect();
    let (_, data) = c.transaction(&[USERS[0]], MESSAGE);
    assert!(data[0].starts_with("250"), "{data:?}");
    let first = requests_a.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.line.starts_with("PUT /notify"), "{}", first.line);

    // A changed driver line: the same session's next delivery goes to B.
    let conf = std::fs::read_to_string(&sb.conf).unwrap();
    std::fs::write(&sb.conf, conf.replace(&ox_line(port_a), &ox_line(port_b))).unwrap();
    server.hup();
    server.wait_log("configuration reloaded");
    assert_eq!(notification(&notify), "READY=1");
    let (_, data) = c.transaction(&[USERS[0]], MESSAGE);
    assert!(data[0].starts_with("250"), "{data:?}");
    let second = requests_b.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(second.line.starts_with("PUT /notify"), "{}", second.line);

    // A broken file keeps the configuration in force.
    std::fs::write(&sb.conf, "plugin {\n  push_notification_driver = \n").unwrap();
    server.hup();
    let line = server.wait_log("keeping the old one");
    assert!(line.contains("pn.conf"), "{line}");
    assert_eq!(notification(&notify), "READY=1");
    let (_, data) = c.transaction(&[USERS[1]], MESSAGE);
    assert!(data[0].starts_with("250"), "{data:?}");
    requests_b.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        requests_a.try_recv().is_err(),
        "A got a request after the reload"
    );
    assert!(c.cmd("NOOP").starts_with("250"));
    c.cmd("QUIT");
}

/// `pn push test -u USER -f json`: the rows and the exit code.
fn push_test(sb: &Sandbox, extra: &[&str]) -> (Option<i32>, Vec<serde_json::Value>) {
    let mut args = vec!["push", "test", "-u", USERS[0], "-f", "json"];
    args.extend_from_slice(extra);
    let out = sb.pn(&args, None);
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code(), rows)
}

#[test]
fn push_test_reports_each_endpoint_and_fails_when_one_failed() {
    let (ok_port, ok_requests) = http_receiver("200 OK");
    let (bad_port, bad_requests) = http_receiver("500 Internal Server Error");
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_port = refused.local_addr().unwrap().port();
    drop(refused);

    // Only the receiver answering 200: success, dlog queued nothing.
    let sb = sandbox(ok_port, "");
    let (code, rows) = push_test(&sb, &[]);
    assert_eq!(code, Some(0), "{rows:?}");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["driver"], "ox");
    assert_eq!(rows[0]["endpoint"], format!("http://127.0.0.1:{ok_port}"));
    assert_eq!(rows[0]["result"], "ok");
    assert_eq!(rows[0]["status"], "200");
    assert!(
        rows[0]["latency_ms"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(rows[1]["driver"], "dlog");
    assert_eq!(rows[1]["result"], "no request");
    let request = ok_requests.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(request.line.starts_with("PUT /notify"), "{}", request.line);
    let body = String::from_utf8_lossy(&request.body).into_owned();
    assert!(body.contains("pn push test"), "{body}");
    // Nothing was stored.
    let new = sb.maildir(USERS[0]).join("new");
    assert!(
        std::fs::read_dir(&new).map_or(true, |mut d| d.next().is_none()),
        "a message was stored in {}",
        new.display()
    );

    // --driver keeps one driver.
    let (code, rows) = push_test(&sb, &["--driver", "dlog"]);
    assert_eq!(code, Some(0));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "no request");
    assert!(ok_requests.try_recv().is_err());
    let out = sb.pn(&["push", "test", "-u", USERS[0], "--driver", "nope"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let out = sb.pn(&["push", "test", "-u", "nobody@example.com"], None);
    assert_eq!(out.status.code(), Some(67), "{}", stderr(&out));
    // Without the plugin loaded, deliveries notify nobody: said, not "no request".
    let out = sb.pn(
        &["-o", "mail_plugins=", "push", "test", "-u", USERS[0]],
        None,
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not load"), "{}", stderr(&out));

    // 500 and a refused connection next to the 200: each reported, exit code 75.
    let sb = sandbox(
        ok_port,
        &format!(
            "plugin {{\n  push_notification_driver3 = {}\n  push_notification_driver4 = {}\n}}\n",
            ox_line(bad_port),
            ox_line(refused_port)
        ),
    );
    let (code, rows) = push_test(&sb, &[]);
    assert_eq!(code, Some(75), "{rows:?}");
    let row = |port: u16| {
        rows.iter()
            .find(|r| r["endpoint"] == format!("http://127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("no row for {port}: {rows:?}"))
            .clone()
    };
    assert_eq!(row(ok_port)["result"], "ok");
    let bad = row(bad_port);
    assert_eq!(bad["result"], "failed");
    assert_eq!(bad["status"], "500");
    assert!(bad["error"].as_str().unwrap().contains("500"), "{bad}");
    let refused = row(refused_port);
    assert_eq!(refused["result"], "failed");
    assert_eq!(refused["status"], "");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{refused}"
    );
    assert!(!format!("{rows:?}").contains("secret"));
    ok_requests.recv_timeout(Duration::from_secs(30)).unwrap();
    bad_requests.recv_timeout(Duration::from_secs(30)).unwrap();
}

#[test]
fn pn_dispatch_tells_systemd_it_is_ready_and_serves_the_outbox_metrics() {
    let (port, _requests) = http_receiver("200 OK");
    let sb = sandbox(port, "pn_metrics_listen = 127.0.0.1:0\n");
    let (notify, path) = notify_socket(&sb);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pn"));
    cmd.arg("-c").arg(&sb.conf);
    if is_root() {
        cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
    }
    let mut child = cmd
        .args(["--log", "info", "dispatch"])
        .env_remove("PN_CONFIG")
        .env_remove("PN_LOG")
        .env("NO_COLOR", "1")
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server {
        log: {
            let err = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            rx
        },
        child,
        address: String::new(),
    };
    let line = server.wait_log("serving metrics on http://");
    assert_eq!(notification(&notify), "READY=1");
    let address = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/metrics");
    let text = scrape(address);
    assert!(!text.contains("pn_lmtp_"), "{text}");
    let out = sb.pn(&["-o", "pn_metrics_listen=bogus", "config", "check"], None);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pn_metrics_listen"),
        "{}",
        stderr(&out)
    );
    let Some(parsed) = parse(&text) else { return };
    assert_eq!(sample(&parsed, "pn_outbox_queued{}"), 0.0);
    assert_eq!(
        sample(&parsed, "pn_pushes_total{driver=ox,outcome=success}"),
        0.0
    );
}
