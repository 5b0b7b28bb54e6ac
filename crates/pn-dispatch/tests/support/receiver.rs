//! A real HTTP/1.1 receiver for tests: a raw TCP (optionally TLS) server on 127.0.0.1:0 that
//! records every request byte-exactly — request line, headers in wire order with their
//! spelling, body — and which connection it came on, then answers as told.
//!
//! It runs on its own thread and runtime, so sync and async tests can use it alike; dropping
//! it stops it.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

/// How the receiver answers every request.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Behaviour {
    /// Answer `status` at once.
    pub fn status(status: u16, reason: &'static str) -> Behaviour {
        Behaviour {
            status,
            reason,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// `200 OK` at once.
    pub fn ok() -> Behaviour {
        Behaviour::status(200, "OK")
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Behaviour {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers only after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Behaviour {
        self.delay = delay;
        self
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Connection number (0, 1, … in accept order).
    pub conn: usize,
    /// When the request was complete.
    pub at: Instant,
    /// `PUT /path HTTP/1.1`.
    pub request_line: String,
    /// Headers in wire order, names as spelled.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Name: value` lines in wire order.
    pub fn header_lines(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    }
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its start time.
    pub started: Instant,
    log: Arc<Mutex<Vec<Recorded>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a plain HTTP receiver.
    pub fn start(behaviour: Behaviour) -> Receiver {
        Receiver::start_with(behaviour, None)
    }

    /// Starts a receiver, speaking TLS with `tls` when given.
    pub fn start_with(behaviour: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let records = log.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let mut conn = 0usize;
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let id = conn;
                            conn += 1;
                            let records = records.clone();
                            let behaviour = behaviour.clone();
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                match tls {
                                    None => serve(stream, id, records, behaviour).await,
                                    Some(cfg) => {
                                        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                                        if let Ok(s) = acceptor.accept(stream).await {
                                            serve(s, id, records, behaviour).await;
                                        }
                                    }
                                }
                            });
                        }
                    }
                }
            });
        });
        Receiver {
            addr,
            started: Instant::now(),
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://login:pass@127.0.0.1:PORT/preliminary/http-notify/v1/notify`, the captures' URL.
    pub fn ox_url(&self) -> String {
        format!(
            "http://login:pass@{}/preliminary/http-notify/v1/notify",
            self.addr
        )
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    conn: usize,
    log: Arc<Mutex<Vec<Recorded>>>,
    behaviour: Behaviour,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim_start().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        buf.drain(..head_end + 4);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        log.lock().expect("log").push(Recorded {
            conn,
            at: Instant::now(),
            request_line,
            headers,
            body,
        });
        if !behaviour.delay.is_zero() {
            tokio::time::sleep(behaviour.delay).await;
        }
        let mut response = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: 0\r\n",
            behaviour.status, behaviour.reason
        );
        for (k, v) in &behaviour.headers {
            response.push_str(&format!("{k}: {v}\r\n"));
        }
        response.push_str("\r\n");
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        let _ = stream.flush().await;
    }
}
