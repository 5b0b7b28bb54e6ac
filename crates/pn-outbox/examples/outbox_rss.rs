//! Bench: 100,000 notifications queued during an outage. Stores them through concurrent
//! group commits (one item per commit, 16 threads, as 16 LMTP sessions would), then runs the
//! dispatcher over them for a while against an endpoint that refuses connections, and prints
//! the items stored per second and the process's peak RSS (`VmHWM`).
//!
//! `cargo run --release -p pn-outbox --example outbox_rss [ITEMS] [SECONDS]`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_core::{HttpRequest, Outbox, OutboxItem, Payload};
use pn_dispatch::{DispatchConfig, Dispatcher};
use pn_outbox::{DurableOutbox, Policy};

fn vm(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy {
        schedule: vec![Duration::from_millis(200)],
        ..Policy::default()
    };
    let outbox = Arc::new(DurableOutbox::new(dir.path().join("outbox.db"), policy));
    let body = vec![b'x'; 300];
    let started = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let outbox = Arc::clone(&outbox);
            let body = body.clone();
            std::thread::spawn(move || {
                for n in (t..items).step_by(16) {
                    let p = outbox.producer(None);
                    p.enqueue(OutboxItem::new(
                        "ox",
                        format!("user{}@example.com", n % 10_000),
                        Payload::Http(HttpRequest {
                            method: "PUT".into(),
                            url: "http://login:secret@127.0.0.1:1/notify".into(),
                            headers: vec![("Content-Type".into(), "application/json".into())],
                            body: body.clone(),
                            max_attempts: 1,
                            timeout_msecs: 1000,
                            signing: None,
                        }),
                    ))
                    .unwrap();
                    p.commit().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stored = started.elapsed();
    println!(
        "stored {items} items with 16 committers, one item per commit: {:.0} items/s",
        items as f64 / stored.as_secs_f64()
    );
    println!(
        "after storing: VmRSS {} VmHWM {}",
        vm("VmRSS:"),
        vm("VmHWM:")
    );
    let dispatcher = Arc::new(Dispatcher::new(&DispatchConfig::default()).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let run = dispatcher.run(Arc::clone(&outbox), async {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
        });
        run.await;
    });
    let stats = pn_outbox::Store::open(outbox.path())
        .unwrap()
        .stats()
        .unwrap();
    println!(
        "after {seconds}s of outage: queued {} dead {}; VmRSS {} VmHWM {}",
        stats.queued,
        stats.dead,
        vm("VmRSS:"),
        vm("VmHWM:")
    );
}
