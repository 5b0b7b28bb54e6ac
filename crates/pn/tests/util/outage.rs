//! For the durable outbox's tests: an HTTP receiver on 127.0.0.1 whose behaviour can be
//! switched while it runs — answering `200`, refusing connections (its port is closed),
//! answering `503`, or hanging without an answer — and a minimal LMTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::Request;

/// What the receiver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    /// `200 OK`; the request is recorded.
    Healthy = 0,
    /// The port is closed: connections are refused.
    Refuse = 1,
    /// `503 Service Unavailable`.
    Unavailable = 2,
    /// Reads the request and never answers (until the mode changes; then closes).
    Hang = 3,
    /// `404 Not Found` (a permanent failure).
    NotFound = 4,
}

/// A switchable receiver. Only requests answered `200` are sent on `requests`.
pub(crate) struct Receiver {
    pub(crate) port: u16,
    pub(crate) requests: mpsc::Receiver<Request>,
    mode: Arc<AtomicU8>,
    /// Requests that got something else than 200 (or nothing).
    pub(crate) refused: Arc<AtomicUsize>,
}

impl Receiver {
    pub(crate) fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(mode as u8));
        let refused = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let (m, r) = (Arc::clone(&mode), Arc::clone(&refused));
        std::thread::spawn(move || accept_loop(Some(listener), port, &m, &r, &tx));
        Receiver {
            port,
            requests: rx,
            mode,
            refused,
        }
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

fn current(mode: &AtomicU8) -> Mode {
    match mode.load(Ordering::SeqCst) {
        0 => Mode::Healthy,
        1 => Mode::Refuse,
        2 => Mode::Unavailable,
        3 => Mode::Hang,
        _ => Mode::NotFound,
    }
}

fn accept_loop(
    mut listener: Option<TcpListener>,
    port: u16,
    mode: &Arc<AtomicU8>,
    refused: &Arc<AtomicUsize>,
    tx: &mpsc::Sender<Request>,
) {
    loop {
        if current(mode) == Mode::Refuse {
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener.insert(l)
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((stream, _)) => {
                let (m, r, tx) = (Arc::clone(mode), Arc::clone(refused), tx.clone());
                std::thread::spawn(move || serve(stream, &m, &r, &tx));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn serve(stream: TcpStream, mode: &AtomicU8, refused: &AtomicUsize, tx: &mpsc::Sender<Request>) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end_matches(['\r', '\n']).to_owned();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("Content-Length: ") {
                length = v.parse().unwrap();
            }
            headers.push(h);
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        match current(mode) {
            Mode::Healthy => {
                if writer
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .is_err()
                {
                    return;
                }
                let line = line.trim_end().to_owned();
                let _ = tx.send(Request {
                    line,
                    headers,
                    body,
                });
            }
            Mode::Unavailable | Mode::NotFound => {
                refused.fetch_add(1, Ordering::SeqCst);
                let status = if current(mode) == Mode::NotFound {
                    "404 Not Found"
                } else {
                    "503 Service Unavailable"
                };
                let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                if writer.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            Mode::Refuse => {
                refused.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Mode::Hang => {
                refused.fetch_add(1, Ordering::SeqCst);
                while current(mode) == Mode::Hang {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return;
            }
        }
    }
}

/// One LMTP connection.
pub(crate) struct Lmtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Lmtp {
    /// Connects and says LHLO; `None` when the server is not there.
    pub(crate) fn connect(address: &str) -> Option<Lmtp> {
        let stream = TcpStream::connect(address).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .ok()?;
        let mut c = Lmtp {
            reader: BufReader::new(stream.try_clone().ok()?),
            writer: stream,
        };
        c.reply()?;
        c.writer.write_all(b"LHLO client.example\r\n").ok()?;
        c.reply()?;
        Some(c)
    }

    /// The last line's code of a (multi-line) reply.
    fn reply(&mut self) -> Option<u16> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.get(..3)?.parse().ok();
            }
        }
    }

    /// Delivers `message` (CRLF lines, no dot at a line start) to `rcpt`; the DATA reply's
    /// code, `None` when the connection broke.
    pub(crate) fn deliver(&mut self, rcpt: &str, message: &str) -> Option<u16> {
        let cmds = format!("MAIL FROM:<sender@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n");
        self.writer.write_all(cmds.as_bytes()).ok()?;
        let mail = self.reply()?;
        let rcpt_code = self.reply()?;
        let data = self.reply()?;
        if mail != 250 || rcpt_code != 250 || data != 354 {
            return Some(if rcpt_code != 250 { rcpt_code } else { data });
        }
        self.writer
            .write_all(format!("{message}.\r\n").as_bytes())
            .ok()?;
        self.reply()
    }
}

/// A message whose Subject is `tag`.
pub(crate) fn message(rcpt: &str, tag: &str) -> String {
    format!(
        "From: sender@example.org\r\nTo: {rcpt}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@test>\r\n\r\nbody of {tag}\r\n"
    )
}

/// The ox payload's `subject`.
pub(crate) fn subject(request: &Request) -> String {
    let v: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    v["subject"].as_str().unwrap_or_default().to_owned()
}
