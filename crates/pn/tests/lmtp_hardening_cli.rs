//! `pn lmtp` under hostile conditions, through the binary and raw sockets: an ox endpoint that
//! accepts connections and never answers (with the open files limit at 1024), and clients
//! that split commands across writes or announce absurd BDAT chunks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::{Sandbox, stderr};

const ALICE: &str = "alice@example.com";
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A sandbox whose users the server may write for: nobody as root, else the invoking user.
fn sandbox(extra: &str) -> Sandbox {
    let sb = Sandbox::with(extra);
    if is_root() {
        sb.write_users(NOBODY, NOBODY);
        let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(sb.dir.path(), perms).unwrap();
        let home = sb.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    sb
}

/// A running `pn lmtp`, killed on drop; its log lines are collected by a thread.
struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `pn lmtp` started through `wrapper` (e.g. `prlimit --nofile=1024`), if any.
    fn start(sb: &Sandbox, wrapper: &[&str], options: &[&str]) -> Server {
        let pn = env!("CARGO_BIN_EXE_pn");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(pn);
                c
            }
            None => Command::new(pn),
        };
        cmd.arg("-c").arg(&sb.conf);
        if is_root() {
            cmd.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
        }
        for o in options {
            cmd.args(["-o", o]);
        }
        cmd.args(["--log", "info", "lmtp", "--listen", "127.0.0.1:0"])
            .arg("--print-address")
            .env_remove("PN_CONFIG")
            .env_remove("PN_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "no address: {:?}", log.lock().unwrap());
        Server {
            child,
            address,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn connect(&self) -> Client {
        let stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert!(c.reply().starts_with("220 "));
        c
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// A raw LMTP client.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// One reply, its lines joined by `\n`; empty when the server closed the connection.
    fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    fn lhlo(&mut self) {
        self.send(b"LHLO client.example\r\n");
        assert!(self.reply().starts_with("250-"));
    }
}

/// Enables ox pushes for alice, the way an OX App Suite sets it up.
fn enable_ox(sb: &Sandbox) {
    let out = sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            ALICE,
            "-s",
            "",
            "/private/vendor/vendor.dovecot/http-notify",
            "user=11@3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// An HTTP endpoint that accepts every connection, keeps it open and never answers. Returns
/// its port and the number of connections it accepted.
fn hanging_endpoint() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (port, accepted)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

const SESSIONS: usize = 4;
const PER_SESSION: usize = 400;
const PER_ORIGIN: usize = 8;

/// The scenario, sized for CI: 1,600 deliveries over 4 sessions while every push
/// hangs, the open files limit at 1024. Before the connection limit, pn lmtp opened one
/// connection per queued push and refused recipients with `451 4.3.0` once about 1,000
/// pushes were hanging (`Too many open files`); 1,600 is well past that point.
#[test]
fn a_hanging_endpoint_takes_a_bounded_number_of_descriptors_and_mail_is_delivered() {
    let (port, accepted) = hanging_endpoint();
    let sb = sandbox(&format!(
        "plugin {{\n  push_notification_driver2 = ox:url=http://127.0.0.1:{port}/notify \
         timeout_msecs=300000\n}}\n"
    ));
    enable_ox(&sb);
    let server = Server::start(
        &sb,
        &["prlimit", "--nofile=1024"],
        &[&format!(
            "pn_http_client_max_parallel_connections={PER_ORIGIN}"
        )],
    );
    let max_fds = Arc::new(AtomicUsize::new(0));
    let results: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..SESSIONS)
            .map(|n| {
                let server = &server;
                let max_fds = Arc::clone(&max_fds);
                s.spawn(move || {
                    let mut c = server.connect();
                    c.lhlo();
                    let mut failed = Vec::new();
                    for i in 0..PER_SESSION {
                        c.send(
                            format!(
                                "MAIL FROM:<sender@example.org>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n"
                            )
                            .as_bytes(),
                        );
                        let replies = [c.reply(), c.reply(), c.reply()];
                        if !replies[2].starts_with("354") {
                            failed.push(replies.join(" / "));
                            c.send(b"RSET\r\n");
                            assert!(c.reply().starts_with("250 "));
                            continue;
                        }
                        c.send(format!("Subject: {n}/{i}\r\n\r\nbody {n}/{i}\r\n.\r\n").as_bytes());
                        let data = c.reply();
                        if !data.starts_with("250 ") {
                            failed.push(data);
                        }
                        if i % 50 == 0 {
                            max_fds.fetch_max(open_fds(server.pid()), Ordering::SeqCst);
                        }
                    }
                    c.send(b"QUIT\r\n");
                    failed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let failed: Vec<&String> = results.iter().flatten().collect();
    assert!(
        failed.is_empty(),
        "{} of {} deliveries failed, e.g. {:?}",
        failed.len(),
        SESSIONS * PER_SESSION,
        failed.first()
    );
    assert_eq!(
        sb.files(ALICE, "").len(),
        SESSIONS * PER_SESSION,
        "every message stored"
    );
    let fds = open_fds(server.pid()).max(max_fds.load(Ordering::SeqCst));
    assert!(fds <= 100, "pn lmtp had {fds} descriptors open");
    let connections = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=PER_ORIGIN).contains(&connections),
        "{connections} connections to the endpoint"
    );
    let log = server.log();
    assert!(
        !log.iter()
            .any(|l| l.contains("Too many open files") || l.contains("accept() failed")),
        "{log:?}"
    );
}

/// A reply is sent as soon as its command is complete, even while the next line is half
/// there. Before, `NOOP\r\nNO` got no reply until the second line was finished.
#[test]
fn a_complete_command_is_answered_while_the_next_line_is_still_partial() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[], &[]);
    let mut c = server.connect();
    c.writer
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    c.lhlo();
    c.send(b"NOOP\r\nNO");
    assert_eq!(c.reply(), "250 2.0.0 OK");
    c.send(b"OP\r\nRSET\r\nVR");
    assert_eq!(c.reply(), "250 2.0.0 OK");
    assert_eq!(c.reply(), "250 2.0.0 OK");
    c.send(b"FY x\r\nQUIT\r\n");
    assert_eq!(c.reply(), "252 2.3.3 Try RCPT instead");
    assert_eq!(c.reply(), "221 2.0.0 Bye");
}

/// Opens a transaction for alice and announces a chunk of `size` octets: the reply, and
/// what the server says next (empty: it closed the connection).
fn announce_chunk(server: &Server, size: &str) -> (String, String) {
    let mut c = server.connect();
    c.writer
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    c.lhlo();
    c.send(format!("MAIL FROM:<sender@example.org>\r\nRCPT TO:<{ALICE}>\r\n").as_bytes());
    assert_eq!(c.reply(), "250 2.1.0 OK");
    assert_eq!(c.reply(), "250 2.1.5 OK");
    c.send(format!("BDAT {size} LAST\r\n").as_bytes());
    let reply = c.reply();
    (reply, c.reply())
}

/// A chunk that can never fit is refused at once, not read until the command timeout.
#[test]
fn a_bdat_chunk_larger_than_the_size_limit_is_refused_at_once() {
    let sb = sandbox("lmtp_max_mail_size = 1M\n");
    let server = Server::start(&sb, &[], &[]);
    for size in ["9223372036854775808", "1048577"] {
        let (reply, after) = announce_chunk(&server, size);
        assert_eq!(
            reply, "552 5.2.3 Message size exceeds administrative limit",
            "BDAT {size}"
        );
        assert_eq!(
            after, "",
            "the session ends: the chunk's octets are never read"
        );
    }
    // Up to the limit a chunk is read as before.
    let mut c = server.connect();
    c.lhlo();
    c.send(format!("MAIL FROM:<sender@example.org>\r\nRCPT TO:<{ALICE}>\r\n").as_bytes());
    assert_eq!(c.reply(), "250 2.1.0 OK");
    assert_eq!(c.reply(), "250 2.1.5 OK");
    c.send(b"BDAT 14 LAST\r\nSubject: x\r\n\r\n");
    assert!(c.reply().starts_with("250 2.0.0 <alice@example.com> "));
    assert_eq!(sb.files(ALICE, "").len(), 1);
}

/// Without a SIZE limit a chunk larger than any file (2^63 octets) is refused too.
#[test]
fn without_a_size_limit_an_impossible_chunk_is_refused_at_once() {
    let sb = sandbox("");
    let server = Server::start(&sb, &[], &[]);
    let (reply, after) = announce_chunk(&server, "9223372036854775808");
    assert_eq!(reply, "552 5.3.4 Message too big for system");
    assert_eq!(after, "");
}
