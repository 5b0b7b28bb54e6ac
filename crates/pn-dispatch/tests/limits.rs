//! The connection limits against a real HTTP/1.1 receiver that is slow to answer: requests
//! beyond the limit wait for a connection instead of opening one each, and the wait does
//! not count against their attempt timeout.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pn_core::{HttpRequest, OutboxItem, Payload};
use pn_dispatch::{DispatchConfig, Dispatcher};
use support::receiver::{Behaviour, Receiver};

fn item(url: &str, timeout_msecs: u64) -> OutboxItem {
    OutboxItem::new(
        "ox",
        "alice@example.com",
        Payload::Http(HttpRequest {
            method: "PUT".into(),
            url: url.into(),
            headers: Vec::new(),
            body: b"{}".to_vec(),
            max_attempts: 1,
            timeout_msecs,
            signing: None,
        }),
    )
}

fn dispatcher(per_origin: usize, total: usize) -> Dispatcher {
    Dispatcher::new(&DispatchConfig {
        system_roots: false,
        max_connections_per_origin: per_origin,
        max_connections: total,
        ..DispatchConfig::default()
    })
    .expect("dispatcher")
}

/// Sends `count` requests at once; the outcomes' messages and attempts.
async fn send_all(
    d: Arc<Dispatcher>,
    url: &str,
    count: usize,
    timeout_msecs: u64,
) -> Vec<(String, u32)> {
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..count {
        let d = Arc::clone(&d);
        let it = item(url, timeout_msecs);
        sends.spawn(async move { d.send(&it).await });
    }
    let mut out = Vec::new();
    while let Some(done) = sends.join_next().await {
        let outcome = done.expect("send task");
        out.push((outcome.message, outcome.attempts));
    }
    out
}

fn connections(r: &Receiver) -> BTreeSet<usize> {
    r.requests().iter().map(|q| q.conn).collect()
}

/// Before the limit, hyper opened one connection per request in flight: 12 here.
#[tokio::test]
async fn requests_beyond_the_per_origin_limit_wait_for_a_connection() {
    let r = Receiver::start(Behaviour::ok().delayed(Duration::from_millis(100)));
    let outcomes = send_all(Arc::new(dispatcher(3, 64)), &r.ox_url(), 12, 10_000).await;
    assert!(
        outcomes.iter().all(|(m, a)| m == "200 OK" && *a == 1),
        "{outcomes:?}"
    );
    assert_eq!(r.requests().len(), 12);
    let conns = connections(&r);
    assert!(!conns.is_empty() && conns.len() <= 3, "{conns:?}");
}

/// An HTTP/1.1 endpoint that answers every request `200 OK` after a short pause and records
/// the most requests it ever held at once (each counted from its arrival until just before
/// its response is written, so no more than the client's busy connections). Returns its
/// port and that maximum.
fn counting_endpoint() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&max);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (in_flight, max) = (Arc::clone(&in_flight), Arc::clone(&max));
            std::thread::spawn(move || serve(stream, &in_flight, &max));
        }
    });
    (port, seen)
}

fn serve(stream: TcpStream, in_flight: &AtomicUsize, max: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut length = 0;
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        in_flight.fetch_sub(1, Ordering::SeqCst);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// `127.0.0.1` and `localhost` are two origins for the same endpoint: a total limit of 2
/// bounds the requests in flight to both together (before: all 8 at once).
#[tokio::test]
async fn the_total_limit_applies_across_origins() {
    let (port, max) = counting_endpoint();
    let d = Arc::new(dispatcher(8, 2));
    let ip = format!("http://127.0.0.1:{port}/notify");
    let name = format!("http://localhost:{port}/notify");
    let (a, b) = tokio::join!(
        send_all(Arc::clone(&d), &ip, 4, 10_000),
        send_all(Arc::clone(&d), &name, 4, 10_000)
    );
    for outcomes in [a, b] {
        assert!(outcomes.iter().all(|(m, _)| m == "200 OK"), "{outcomes:?}");
    }
    let max = max.load(Ordering::SeqCst);
    assert!((1..=2).contains(&max), "{max} requests in flight at once");
}

/// One connection, seven requests each answered after 250 ms, a 1.2 s attempt timeout: the
/// last request waits 1.5 s for the connection, yet none times out, because the attempt
/// timeout starts when the request gets its connection (as lib-http's does).
#[tokio::test]
async fn waiting_for_a_connection_does_not_count_against_the_attempt_timeout() {
    let r = Receiver::start(Behaviour::ok().delayed(Duration::from_millis(250)));
    let outcomes = send_all(Arc::new(dispatcher(1, 64)), &r.ox_url(), 7, 1_200).await;
    assert!(
        outcomes.iter().all(|(m, a)| m == "200 OK" && *a == 1),
        "{outcomes:?}"
    );
    assert_eq!(connections(&r).len(), 1);
}
