//! The tokio LMTP server: listeners, the session limit, timeouts, graceful shutdown, and the
//! per-connection state machine. What a recipient is and how a message is stored is the
//! [`Backend`]'s business; its calls run on tokio's blocking threads.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{Semaphore, watch};

use crate::command::{self, Command, MailParams};
use crate::data::{DotDecoder, LfConverter};
use crate::reply::Reply;
use crate::spool::{Message, Spool};
use crate::trace::{Trace, TraceRcpt, TraceSettings};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name in the greeting, LHLO and 421 replies (Dovecot's `hostname`).
    pub hostname: String,
    /// The greeting text after the host name (Dovecot's `login_greeting`).
    pub greeting: String,
    /// The largest message accepted, 0 for no limit (advertised as `SIZE`).
    pub max_message_size: u64,
    /// How long a client may stay silent between commands.
    pub idle_timeout: Duration,
    /// How long one DATA or BDAT transfer may take in total.
    pub command_timeout: Duration,
    /// Sessions served at once; further connections wait in the listen backlog.
    pub session_limit: usize,
    /// Recipients per transaction, 0 for no limit.
    pub max_recipients: usize,
    /// Where messages larger than [`crate::spool::MEMORY_LIMIT`] are spooled.
    pub spool_dir: PathBuf,
    /// The trace headers put in front of each message.
    pub trace: TraceSettings,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            hostname: "localhost".to_owned(),
            greeting: "pn ready.".to_owned(),
            max_message_size: 0,
            idle_timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(600),
            session_limit: 1000,
            max_recipients: 0,
            spool_dir: std::env::temp_dir(),
            trace: TraceSettings::default(),
        }
    }
}

/// The transaction a message belongs to.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The reverse path (empty: null sender).
    pub from: String,
    /// MAIL FROM's parameters.
    pub params: MailParams,
    /// The transaction's id, as in Dovecot's `250 2.0.0 <rcpt> <id> Saved`.
    pub id: String,
}

/// What the server needs from the mail store.
pub trait Backend: Send + Sync + 'static {
    /// An accepted recipient.
    type Recipient: Send + 'static;

    /// Checks a RCPT TO address: the recipient, or the reply refusing it.
    fn recipient(&self, address: &str) -> Result<Self::Recipient, Reply>;

    /// Stores the message for one recipient (durably, before returning) and gives the
    /// recipient's reply.
    fn deliver(&self, envelope: &Envelope, recipient: &Self::Recipient, message: &Message)
    -> Reply;

    /// A session was accepted (for metrics; does nothing by default).
    fn session_opened(&self) {}

    /// A session ended, whichever way (for metrics; does nothing by default).
    fn session_closed(&self) {}
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(tokio::net::TcpListener),
    /// A Unix socket.
    Unix(tokio::net::UnixListener),
}

impl Listener {
    /// A connection, its peer for logs, and the peer's address (`None` on a Unix socket).
    async fn accept(&self) -> io::Result<(Box<dyn Stream>, String, Option<IpAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), peer.to_string(), Some(peer.ip())))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Box::new(s), "unix".to_owned(), None))
            }
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The LMTP server.
pub struct Server<B: Backend> {
    config: Arc<ServerConfig>,
    backend: Arc<B>,
}

impl<B: Backend> Server<B> {
    /// A server delivering through `backend`.
    pub fn new(config: ServerConfig, backend: Arc<B>) -> Server<B> {
        Server {
            config: Arc::new(config),
            backend,
        }
    }

    /// Serves `listeners` until `shutdown` completes; then stops accepting, tells idle
    /// sessions `421 4.3.2 … Shutting down`, lets sessions receiving or delivering a
    /// message finish it, and returns when every session has ended.
    pub async fn serve(self, listeners: Vec<Listener>, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = self.config.session_limit.clamp(1, Semaphore::MAX_PERMITS);
        let sessions = Arc::new(Semaphore::new(limit));
        let mut accepters = tokio::task::JoinSet::new();
        for listener in listeners {
            let sessions = Arc::clone(&sessions);
            let mut stop = stop_rx.clone();
            let config = Arc::clone(&self.config);
            let backend = Arc::clone(&self.backend);
            accepters.spawn(async move {
                loop {
                    let permit = tokio::select! {
                        p = Arc::clone(&sessions).acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => return,
                        },
                        _ = stop.changed() => return,
                    };
                    let accepted = tokio::select! {
                        a = listener.accept() => a,
                        _ = stop.changed() => return,
                    };
                    let (stream, peer, peer_ip) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::error!("accept() failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let session = Session {
                        config: Arc::clone(&config),
                        backend: Arc::clone(&backend),
                        stop: stop.clone(),
                        peer,
                        peer_ip,
                        helo: None,
                    };
                    backend.session_opened();
                    tokio::spawn(async move {
                        let backend = Arc::clone(&session.backend);
                        session.run(stream).await;
                        backend.session_closed();
                        drop(permit);
                    });
                }
            });
        }
        shutdown.await;
        tracing::info!("Shutting down: no new sessions, finishing the running ones");
        let _ = stop_tx.send(true);
        while accepters.join_next().await.is_some() {}
        // Every session holds a permit: all permits back means all sessions ended.
        let _ = sessions.acquire_many(limit as u32).await;
    }
}

struct Session<B: Backend> {
    config: Arc<ServerConfig>,
    backend: Arc<B>,
    stop: watch::Receiver<bool>,
    peer: String,
    peer_ip: Option<IpAddr>,
    /// LHLO's domain.
    helo: Option<String>,
}

/// An accepted recipient: RCPT TO's address and ORCPT.
struct Rcpt {
    to: String,
    orcpt: Option<String>,
}

/// A transaction in progress.
struct Transaction<R> {
    envelope: Envelope,
    recipients: Vec<(Rcpt, R)>,
    bdat: Option<Bdat>,
}

struct Bdat {
    spool: Spool,
    lf: LfConverter,
    failed: Option<Reply>,
}

enum Line {
    Command(Vec<u8>),
    TooLong,
    Eof,
}

type Reader = BufReader<tokio::io::ReadHalf<Box<dyn Stream>>>;
type Writer = BufWriter<tokio::io::WriteHalf<Box<dyn Stream>>>;

/// A transaction id like Dovecot's: 22 characters of base64 from time, process and counter.
fn transaction_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = nanos ^ (u128::from(std::process::id()) << 96) ^ (u128::from(n) << 64);
    let mut id = String::with_capacity(22);
    for _ in 0..22 {
        id.push(char::from(ALPHABET[(x & 63) as usize]));
        x = x.rotate_right(6) ^ u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    id
}

impl<B: Backend> Session<B> {
    async fn run(mut self, stream: Box<dyn Stream>) {
        let (r, w) = tokio::io::split(stream);
        let mut reader: Reader = BufReader::with_capacity(64 * 1024, r);
        let mut writer: Writer = BufWriter::with_capacity(16 * 1024, w);
        tracing::debug!(peer = %self.peer, "Connect");
        if let Err(e) = self.serve(&mut reader, &mut writer).await {
            tracing::debug!(peer = %self.peer, "Disconnected: {e}");
        }
        let _ = writer.flush().await;
        let _ = writer.shutdown().await;
    }

    async fn serve(&mut self, reader: &mut Reader, writer: &mut Writer) -> io::Result<()> {
        let host = self.config.hostname.clone();
        if *self.stop.borrow() {
            return send(
                writer,
                &Reply::new(421, "4.3.2", format!("{host} Shutting down")),
            )
            .await;
        }
        let greeting = Reply::new(220, "", format!("{host} {}", self.config.greeting));
        send(writer, &greeting).await?;
        let mut txn: Option<Transaction<B::Recipient>> = None;
        loop {
            // Replies wait only while another complete command is buffered (pipelining);
            // a partial line may take the client any time to finish.
            if !reader.buffer().contains(&b'\n') {
                writer.flush().await?;
            }
            if *self.stop.borrow() {
                return send(
                    writer,
                    &Reply::new(421, "4.3.2", format!("{host} Shutting down")),
                )
                .await;
            }
            let line = tokio::select! {
                l = tokio::time::timeout(self.config.idle_timeout, read_line(reader)) => match l {
                    Ok(l) => l?,
                    Err(_) => {
                        tracing::info!(peer = %self.peer, "Disconnected for inactivity");
                        return send(writer, &Reply::new(421, "4.4.2", format!("{host} Disconnected for inactivity"))).await;
                    }
                },
                _ = self.stop.changed() => {
                    return send(writer, &Reply::new(421, "4.3.2", format!("{host} Shutting down"))).await;
                }
            };
            let line = match line {
                Line::Eof => return Ok(()),
                Line::TooLong => {
                    send(writer, &Reply::new(500, "5.5.2", "Line too long")).await?;
                    continue;
                }
                Line::Command(l) => l,
            };
            let command = match command::parse(&line) {
                Ok(c) => c,
                Err(reply) => {
                    // A BDAT we could not parse leaves its chunk unread: the stream is lost.
                    let fatal = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"BDAT");
                    send(writer, &reply).await?;
                    if fatal {
                        return Ok(());
                    }
                    continue;
                }
            };
            match command {
                Command::Lhlo(domain) => {
                    txn = None;
                    self.helo = Some(domain);
                    send(writer, &self.capabilities()).await?;
                }
                Command::Mail { from, params } => {
                    let reply = if txn.is_some() {
                        Reply::new(503, "5.5.0", "MAIL already given")
                    } else if self.config.max_message_size != 0
                        && params
                            .size
                            .is_some_and(|s| s > self.config.max_message_size)
                    {
                        Reply::new(552, "5.2.3", "Message size exceeds administrative limit")
                    } else {
                        txn = Some(Transaction {
                            envelope: Envelope {
                                from,
                                params,
                                id: transaction_id(),
                            },
                            recipients: Vec::new(),
                            bdat: None,
                        });
                        Reply::new(250, "2.1.0", "OK")
                    };
                    send(writer, &reply).await?;
                }
                Command::Rcpt { to, orcpt } => {
                    let reply = self.rcpt(txn.as_mut(), Rcpt { to, orcpt }).await;
                    send(writer, &reply).await?;
                }
                Command::Data => {
                    let Some(t) = txn
                        .as_mut()
                        .filter(|t| !t.recipients.is_empty() && t.bdat.is_none())
                    else {
                        let reply = match &txn {
                            None => Reply::new(503, "5.5.0", "MAIL needed first"),
                            Some(t) if t.bdat.is_some() => {
                                Reply::new(503, "5.5.0", "Bad sequence of commands")
                            }
                            Some(_) => Reply::new(554, "5.5.0", "No valid recipients"),
                        };
                        send(writer, &reply).await?;
                        continue;
                    };
                    let headers = self.trace_headers(t);
                    send(writer, &Reply::new(354, "", "OK")).await?;
                    writer.flush().await?;
                    let received = self.receive_data(reader, &headers).await?;
                    let Some(t) = txn.take() else { continue };
                    match received {
                        Ok(message) => {
                            for reply in self.deliver(t, message).await {
                                send(writer, &reply).await?;
                            }
                        }
                        Err(reply) => send(writer, &reply).await?,
                    }
                }
                Command::Bdat { size, last } => {
                    if let Some(reply) = self.chunk_too_big(size) {
                        // The chunk's octets follow and must not be read as commands, nor
                        // waited for: end the session at once.
                        return send(writer, &reply).await;
                    }
                    let replies = self.bdat(reader, &mut txn, size, last).await?;
                    for reply in replies {
                        send(writer, &reply).await?;
                    }
                }
                Command::Rset => {
                    txn = None;
                    send(writer, &Reply::new(250, "2.0.0", "OK")).await?;
                }
                Command::Noop => send(writer, &Reply::new(250, "2.0.0", "OK")).await?,
                Command::Vrfy => {
                    send(writer, &Reply::new(252, "2.3.3", "Try RCPT instead")).await?
                }
                Command::Quit => {
                    return send(writer, &Reply::new(221, "2.0.0", "Bye")).await;
                }
            }
        }
    }

    fn capabilities(&self) -> Reply {
        let size = match self.config.max_message_size {
            0 => "SIZE".to_owned(),
            n => format!("SIZE {n}"),
        };
        Reply {
            code: 250,
            enhanced: String::new(),
            lines: vec![
                self.config.hostname.clone(),
                "8BITMIME".into(),
                "CHUNKING".into(),
                "ENHANCEDSTATUSCODES".into(),
                "PIPELINING".into(),
                size,
                "SMTPUTF8".into(),
            ],
        }
    }

    /// The refusal of a BDAT chunk that can never fit: larger than the SIZE limit, or than
    /// any file can be when there is none.
    fn chunk_too_big(&self, size: u64) -> Option<Reply> {
        let limit = self.config.max_message_size;
        if limit != 0 && size > limit {
            return Some(Reply::new(
                552,
                "5.2.3",
                "Message size exceeds administrative limit",
            ));
        }
        (size > i64::MAX as u64).then(|| Reply::new(552, "5.3.4", "Message too big for system"))
    }

    /// The trace headers of a transaction whose recipients are all known.
    fn trace_headers(&self, t: &Transaction<B::Recipient>) -> Vec<u8> {
        let rcpts: Vec<TraceRcpt<'_>> = t
            .recipients
            .iter()
            .map(|(r, _)| TraceRcpt {
                to: &r.to,
                orcpt: r.orcpt.as_deref(),
            })
            .collect();
        Trace {
            settings: self.config.trace,
            hostname: &self.config.hostname,
            helo: self.helo.as_deref(),
            peer: self.peer_ip,
            id: &t.envelope.id,
            from: &t.envelope.from,
            rcpts: &rcpts,
            now: time::OffsetDateTime::now_utc(),
        }
        .headers()
        .into_bytes()
    }

    async fn rcpt(&self, txn: Option<&mut Transaction<B::Recipient>>, rcpt: Rcpt) -> Reply {
        let Some(t) = txn else {
            return Reply::new(503, "5.5.0", "MAIL needed first");
        };
        if t.bdat.is_some() {
            return Reply::new(503, "5.5.0", "Bad sequence of commands");
        }
        if self.config.max_recipients != 0 && t.recipients.len() >= self.config.max_recipients {
            return Reply::new(451, "4.5.3", "Too many recipients");
        }
        if !rcpt.to.is_ascii() && !t.envelope.params.smtputf8 {
            return Reply::new(
                553,
                "5.6.7",
                "Invalid TO: Non-ASCII address requires SMTPUTF8",
            );
        }
        let backend = Arc::clone(&self.backend);
        let address = rcpt.to.clone();
        match tokio::task::spawn_blocking(move || backend.recipient(&address)).await {
            Ok(Ok(r)) => {
                t.recipients.push((rcpt, r));
                Reply::new(250, "2.1.5", "OK")
            }
            Ok(Err(reply)) => reply,
            Err(e) => {
                tracing::error!("recipient lookup panicked: {e}");
                Reply::new(451, "4.3.0", "Temporary internal failure")
            }
        }
    }

    /// The next bytes of a message transfer that began at `started`: within the command
    /// timeout counted from there and the idle timeout, never empty (the peer closing is an
    /// error).
    async fn fill<'r>(
        &self,
        reader: &'r mut Reader,
        started: Instant,
        what: &str,
    ) -> io::Result<&'r [u8]> {
        let deadline = self
            .config
            .command_timeout
            .saturating_sub(started.elapsed())
            .min(self.config.idle_timeout);
        let buf = match tokio::time::timeout(deadline, reader.fill_buf()).await {
            Ok(b) => b?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what} timed out"),
                ));
            }
        };
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }

    /// Reads DATA's body. The outer error ends the session; the inner one is DATA's single
    /// failure reply.
    async fn receive_data(
        &self,
        reader: &mut Reader,
        headers: &[u8],
    ) -> io::Result<Result<Message, Reply>> {
        let started = Instant::now();
        let mut decoder = DotDecoder::new();
        let mut spool = Spool::new(&self.config.spool_dir, self.config.max_message_size);
        let mut out = Vec::with_capacity(64 * 1024);
        let mut write_error = spool.write(headers).err();
        loop {
            let buf = self.fill(reader, started, "DATA").await?;
            out.clear();
            let end = decoder.feed(buf, &mut out);
            let consumed = end.unwrap_or(buf.len());
            reader.consume(consumed);
            if write_error.is_none()
                && let Err(e) = spool.write(&out)
            {
                tracing::error!("Failed to spool the message: {e}");
                write_error = Some(e);
            }
            if end.is_some() {
                break;
            }
        }
        Ok(self.finish_spool(spool, write_error))
    }

    fn finish_spool(&self, spool: Spool, write_error: Option<io::Error>) -> Result<Message, Reply> {
        if spool.overflowed() {
            return Err(Reply::new(
                552,
                "5.2.3",
                "Message size exceeds administrative limit",
            ));
        }
        if write_error.is_some() {
            return Err(Reply::new(451, "4.3.0", "Temporary internal failure"));
        }
        spool.finish().map_err(|e| {
            tracing::error!("Failed to spool the message: {e}");
            Reply::new(451, "4.3.0", "Temporary internal failure")
        })
    }

    async fn bdat(
        &self,
        reader: &mut Reader,
        txn: &mut Option<Transaction<B::Recipient>>,
        size: u64,
        last: bool,
    ) -> io::Result<Vec<Reply>> {
        let refusal = match txn.as_ref() {
            None => Some(Reply::new(503, "5.5.0", "MAIL needed first")),
            Some(t) if t.recipients.is_empty() => {
                Some(Reply::new(554, "5.5.0", "No valid recipients"))
            }
            Some(t) => t.bdat.as_ref().and_then(|b| b.failed.clone()),
        };
        if refusal.is_none()
            && let Some(t) = txn.as_mut()
            && t.bdat.is_none()
        {
            let mut spool = Spool::new(&self.config.spool_dir, self.config.max_message_size);
            let failed = spool.write(&self.trace_headers(t)).err().map(|e| {
                tracing::error!("Failed to spool the message: {e}");
                Reply::new(451, "4.3.0", "Temporary internal failure")
            });
            t.bdat = Some(Bdat {
                spool,
                lf: LfConverter::new(),
                failed,
            });
        }
        let mut sink = match (&refusal, txn.as_mut()) {
            (None, Some(t)) => t.bdat.as_mut(),
            _ => None,
        };
        let started = Instant::now();
        let mut left = size;
        let mut out = Vec::with_capacity(64 * 1024);
        while left > 0 {
            let buf = self.fill(reader, started, "BDAT").await?;
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Some(b) = sink.as_mut().filter(|b| b.failed.is_none()) {
                out.clear();
                b.lf.feed(&buf[..n], &mut out);
                if let Err(e) = b.spool.write(&out) {
                    tracing::error!("Failed to spool the message: {e}");
                    b.failed = Some(Reply::new(451, "4.3.0", "Temporary internal failure"));
                }
            }
            reader.consume(n);
            left -= n as u64;
        }
        if let Some(reply) = refusal {
            return Ok(vec![reply]);
        }
        let Some(t) = txn.as_mut() else {
            return Ok(Vec::new());
        };
        let Some(b) = t.bdat.as_mut() else {
            return Ok(Vec::new());
        };
        if b.spool.overflowed() && b.failed.is_none() {
            b.failed = Some(Reply::new(
                552,
                "5.2.3",
                "Message size exceeds administrative limit",
            ));
        }
        if let Some(reply) = &b.failed {
            return Ok(vec![reply.clone()]);
        }
        if !last {
            return Ok(vec![Reply::new(
                250,
                "2.0.0",
                format!("Added {size} octets"),
            )]);
        }
        let Some(mut t) = txn.take() else {
            return Ok(Vec::new());
        };
        let Some(mut b) = t.bdat.take() else {
            return Ok(Vec::new());
        };
        let mut tail = Vec::new();
        b.lf.finish(&mut tail);
        let write_error = b.spool.write(&tail).err();
        match self.finish_spool(b.spool, write_error) {
            Ok(message) => Ok(self.deliver(t, message).await),
            Err(reply) => Ok(vec![reply]),
        }
    }

    /// One reply per recipient, in RCPT order.
    async fn deliver(&self, t: Transaction<B::Recipient>, message: Message) -> Vec<Reply> {
        let count = t.recipients.len();
        let backend = Arc::clone(&self.backend);
        let result = tokio::task::spawn_blocking(move || {
            t.recipients
                .iter()
                .map(|(_, r)| backend.deliver(&t.envelope, r, &message))
                .collect::<Vec<_>>()
        })
        .await;
        match result {
            Ok(replies) => replies,
            Err(e) => {
                tracing::error!("delivery panicked: {e}");
                vec![Reply::new(451, "4.3.0", "Temporary internal failure"); count]
            }
        }
    }
}

/// Reads one command line, bounded by [`command::MAX_LINE`]; CRLF or LF ends it.
async fn read_line(reader: &mut Reader) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            line.extend_from_slice(chunk);
            if line.len() > command::MAX_LINE + 1 {
                too_long = true;
                line = Vec::new();
            }
        }
        let consumed = done.unwrap_or(buf.len());
        reader.consume(consumed);
        if done.is_some() {
            if too_long {
                return Ok(Line::TooLong);
            }
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Command(line));
        }
    }
}

async fn send(writer: &mut Writer, reply: &Reply) -> io::Result<()> {
    writer.write_all(reply.to_wire().as_bytes()).await
}
