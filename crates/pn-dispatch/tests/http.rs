//! The dispatcher against a real HTTP/1.1 receiver: Dovecot's wire format and lib-http's
//! attempt rules as captured from Dovecot 2.3.19 against failing endpoints
//! (`tests/data/retries.txt`).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_core::{HttpRequest, OutboxItem, Payload};
use pn_dispatch::{DispatchConfig, Dispatcher, Outcome};
use support::receiver::{Behaviour, Receiver};

const BODY: &[u8] = br#"{"user":"11@3","event":"messageNew","folder":"INBOX","imap-uidvalidity":1,"imap-uid":1,"unseen":1}"#;

fn item(url: &str, max_attempts: u32, timeout_msecs: u64) -> OutboxItem {
    OutboxItem::new(
        "ox",
        "alice@example.com",
        Payload::Http(HttpRequest {
            method: "PUT".into(),
            url: url.into(),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: BODY.to_vec(),
            max_attempts,
            timeout_msecs,
            signing: None,
        }),
    )
}

fn dispatcher() -> Dispatcher {
    Dispatcher::new(&DispatchConfig {
        system_roots: false,
        ..DispatchConfig::default()
    })
    .expect("dispatcher")
}

async fn send(
    receiver: &Receiver,
    behaviourless_url: Option<&str>,
    attempts: u32,
    timeout: u64,
) -> Outcome {
    let url = behaviourless_url.map_or_else(|| receiver.ox_url(), str::to_owned);
    dispatcher().send(&item(&url, attempts, timeout)).await
}

fn connections(r: &Receiver) -> BTreeSet<usize> {
    r.requests().iter().map(|q| q.conn).collect()
}

#[tokio::test]
async fn request_is_on_the_wire_as_dovecot_sends_it() {
    let r = Receiver::start(Behaviour::ok());
    let outcome = send(&r, None, 2, 2000).await;
    assert_eq!(outcome.message, "200 OK");
    assert!(outcome.success);
    let reqs = r.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(
        q.request_line,
        "PUT /preliminary/http-notify/v1/notify HTTP/1.1"
    );
    let names: Vec<_> = q.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Host",
            "Date",
            "Authorization",
            "Content-Length",
            "Connection",
            "Content-Type"
        ]
    );
    assert_eq!(q.header("Host"), Some(r.addr.to_string().as_str()));
    assert!(
        q.header("Date")
            .is_some_and(|d| d.ends_with(" GMT") && d.len() == 29)
    );
    assert_eq!(q.header("Authorization"), Some("Basic bG9naW46cGFzcw=="));
    assert_eq!(
        q.header("Content-Length"),
        Some(BODY.len().to_string().as_str())
    );
    assert_eq!(q.header("Connection"), Some("Keep-Alive"));
    assert_eq!(
        q.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(q.body, BODY);
}

#[tokio::test]
async fn no_authorization_without_user_and_password() {
    let r = Receiver::start(Behaviour::ok());
    for url in [
        format!("http://{}/p", r.addr),
        format!("http://login@{}/p", r.addr),
    ] {
        assert!(send(&r, Some(&url), 1, 2000).await.success);
    }
    for q in r.requests() {
        assert_eq!(q.header("Authorization"), None);
        assert_eq!(q.headers.len(), 5, "{:?}", q.header_lines());
    }
}

#[tokio::test]
async fn percent_encoded_credentials_are_decoded() {
    let r = Receiver::start(Behaviour::ok());
    let url = format!("http://log%69n:p%40ss@{}/p", r.addr);
    assert!(send(&r, Some(&url), 1, 2000).await.success);
    // base64("login:p@ss")
    assert_eq!(
        r.requests()[0].header("Authorization"),
        Some("Basic bG9naW46cEBzcw==")
    );
}

#[tokio::test]
async fn connections_are_reused_across_requests() {
    let r = Receiver::start(Behaviour::ok());
    let d = dispatcher();
    for _ in 0..3 {
        assert!(d.send(&item(&r.ox_url(), 2, 2000)).await.success);
    }
    assert_eq!(r.requests().len(), 3);
    assert_eq!(connections(&r).len(), 1);
}

#[tokio::test]
async fn status_500_404_and_plain_503_are_one_attempt() {
    for (status, reason) in [
        (500, "Internal Server Error"),
        (404, "Not Found"),
        (503, "Service Unavailable"),
    ] {
        let r = Receiver::start(Behaviour::status(status, reason));
        let outcome = send(&r, None, 3, 500).await;
        assert_eq!(outcome.message, format!("{status} {reason}"));
        assert_eq!((outcome.success, outcome.attempts), (false, 1));
        assert_eq!(r.requests().len(), 1);
    }
}

#[tokio::test]
async fn reason_phrase_is_taken_from_the_wire() {
    let r = Receiver::start(Behaviour::status(500, "Kaputt"));
    assert_eq!(send(&r, None, 1, 500).await.message, "500 Kaputt");
}

#[tokio::test]
async fn status_408_is_retried_at_once_on_new_connections() {
    let r = Receiver::start(Behaviour::status(408, "Request Timeout"));
    let started = Instant::now();
    let outcome = send(&r, None, 3, 500).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(outcome.attempts, 3);
    assert!(
        outcome
            .message
            .starts_with("408 Request Timeout (2 retries in 0."),
        "{}",
        outcome.message
    );
    assert!(outcome.message.ends_with(" secs)"));
    assert_eq!(r.requests().len(), 3);
    assert_eq!(connections(&r).len(), 3, "each retry on a new connection");
}

#[tokio::test]
async fn status_408_with_default_retries_gives_two_attempts() {
    let r = Receiver::start(Behaviour::status(408, "Request Timeout"));
    let outcome = send(&r, None, 2, 2000).await;
    assert!(
        outcome
            .message
            .starts_with("408 Request Timeout (1 retries in ")
    );
    assert_eq!(r.requests().len(), 2);
}

#[tokio::test]
async fn status_503_with_retry_after_within_the_timeout_is_retried_after_it() {
    let r =
        Receiver::start(Behaviour::status(503, "Service Unavailable").header("Retry-After", "1"));
    let outcome = send(&r, None, 2, 2000).await;
    let reqs = r.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(1));
    assert_eq!(connections(&r).len(), 1, "same connection");
    assert!(
        outcome
            .message
            .starts_with("503 Service Unavailable (1 retries in 1."),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn status_503_with_retry_after_beyond_the_timeout_is_not_retried() {
    // Dovecot compares whole seconds: timeout 500 ms allows no delay at all, 2000 ms allows 2 s.
    for (timeout, retry_after) in [(500, "1"), (2000, "5")] {
        let r = Receiver::start(
            Behaviour::status(503, "Service Unavailable").header("Retry-After", retry_after),
        );
        let outcome = send(&r, None, 3, timeout).await;
        assert_eq!(outcome.message, "503 Service Unavailable");
        assert_eq!(r.requests().len(), 1);
    }
}

#[tokio::test]
async fn slow_endpoint_gets_a_new_attempt_per_timeout() {
    let r = Receiver::start(Behaviour::ok().delayed(Duration::from_secs(3)));
    let started = Instant::now();
    let outcome = send(&r, None, 3, 200).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    assert!(!outcome.success);
    assert_eq!(outcome.attempts, 3);
    assert!(
        outcome
            .message
            .starts_with("Request timed out (Request queued 0.6"),
        "{}",
        outcome.message
    );
    assert!(
        outcome
            .message
            .contains(", 2 times retried, 3 send attempts in 0.6")
    );
    let reqs = r.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(connections(&r).len(), 3, "each attempt on a new connection");
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(190) && gap < Duration::from_millis(400),
        "{gap:?}"
    );
}

#[tokio::test]
async fn connection_refused_fails_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://login:pass@127.0.0.1:{port}/preliminary/http-notify/v1/notify");
    let outcome = dispatcher().send(&item(&url, 3, 500)).await;
    assert_eq!(
        outcome.message,
        format!("connect(127.0.0.1:{port}) failed: Connection refused")
    );
    assert_eq!(outcome.attempts, 1);
}

#[tokio::test]
async fn redirects_are_refused() {
    let r =
        Receiver::start(Behaviour::status(302, "Found").header("Location", "http://127.0.0.1:1/"));
    let outcome = send(&r, None, 3, 500).await;
    assert_eq!(outcome.message, "Redirect refused");
    assert_eq!(r.requests().len(), 1);

    // Without Location lib-http hands the 302 to the driver as it is.
    let r = Receiver::start(Behaviour::status(302, "Found"));
    assert_eq!(send(&r, None, 3, 500).await.message, "302 Found");
}

#[test]
fn drain_blocking_sends_everything_queued_and_empties_the_outbox() {
    let r = Receiver::start(Behaviour::ok());
    let outbox = pn_core::MemoryOutbox::new();
    use pn_core::Outbox as _;
    for _ in 0..3 {
        outbox.enqueue(item(&r.ox_url(), 2, 2000)).expect("enqueue");
    }
    let outcomes = dispatcher().drain_blocking(&outbox);
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.success));
    assert!(outbox.is_empty());
    assert_eq!(r.requests().len(), 3);
}

#[tokio::test]
async fn run_delivers_what_is_enqueued_while_it_runs() {
    use pn_core::Outbox as _;
    let r = Receiver::start(Behaviour::ok());
    let outbox = Arc::new(pn_core::MemoryOutbox::new());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Arc::new(dispatcher()).run(outbox.clone(), async {
        let _ = stopped.await;
    }));
    outbox.enqueue(item(&r.ox_url(), 1, 2000)).expect("enqueue");
    for _ in 0..100 {
        if !r.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(r.requests().len(), 1);
    outbox.enqueue(item(&r.ox_url(), 1, 2000)).expect("enqueue");
    let _ = stop.send(());
    task.await.expect("run");
    assert_eq!(
        r.requests().len(),
        2,
        "what was queued at shutdown is still sent"
    );
}
