//! `cargo xtask bench nats` (an ignored test, so it shares nats_cli's harness): pushes per
//! second through JetStream with 1 and 4 `pn worker` processes to a local HTTP receiver,
//! next to the local durable outbox (`pn dispatch`) in the same run. Run with
//! `cargo test -p pn --test nats_bench -- --ignored --nocapture`; `PN_BENCH_PUSHES` (default
//! 5000) sets the number per run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_core::{HttpRequest, Outbox, OutboxItem, Payload};
use pn_outbox_nats::{JetStreamOutbox, NatsConfig};
use util::outage::{Mode, Receiver};

fn items(port: u16, n: usize, tag: &str) -> Vec<OutboxItem> {
    (0..n)
        .map(|i| {
            OutboxItem::new(
                "webhook",
                format!("user{}", i % 64),
                Payload::Http(HttpRequest {
                    method: "POST".to_owned(),
                    url: format!("http://127.0.0.1:{port}/push"),
                    headers: vec![],
                    body: format!("{tag}-{i}").into_bytes(),
                    max_attempts: 1,
                    timeout_msecs: 5000,
                    signing: None,
                }),
            )
        })
        .collect()
}

fn spawn(sb: &util::Sandbox, cmd: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .arg("-c")
        .arg(&sb.conf)
        .arg(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// Waits for `n` distinct pushes; returns the seconds from the first to the last.
fn drain(rx: &Receiver, n: usize, start: Instant) -> f64 {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < n {
        let r = rx
            .requests
            .recv_timeout(Duration::from_secs(60))
            .expect("pushes stopped arriving");
        seen.insert(r.body);
    }
    start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "a benchmark: cargo xtask bench nats"]
fn bench_nats_against_the_durable_outbox() {
    let n: usize = std::env::var("PN_BENCH_PUSHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let Some(bin) = which("nats-server") else {
        eprintln!("SKIPPED: nats-server is not installed (Debian: apt-get install nats-server)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nats = start(&bin, dir.path());
    let rx = Receiver::start(Mode::Healthy);
    let settings = format!(
        "pn_nats_url = {}\npn_nats_replicas = 1\npn_nats_allow_r1 = yes\n",
        nats.1
    );
    let get = |k: &str| {
        settings
            .lines()
            .find_map(|l| l.split_once(" = ").filter(|(key, _)| *key == k))
            .map(|(_, v)| v.to_owned())
    };
    let outbox = Arc::new(JetStreamOutbox::open(NatsConfig::from_settings(get).unwrap()).unwrap());
    let sb = util::Sandbox::with(&format!("pn_outbox = nats\n{settings}"));
    let mut report = Vec::new();
    for workers in [1, 4] {
        let tag = format!("w{workers}");
        let producer = outbox.producer();
        let t = Instant::now();
        for chunk in items(rx.port, n, &tag).chunks(100) {
            for item in chunk {
                producer.enqueue(item.clone()).unwrap();
            }
            producer.commit_staged().unwrap();
        }
        let publish = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        let procs: Vec<Child> = (0..workers).map(|_| spawn(&sb, "worker")).collect();
        let secs = drain(&rx, n, t);
        procs.into_iter().for_each(stop);
        report.push(format!(
            "jetstream R1, {workers} worker(s): publish {publish:.0}/s (batches of 100), \
             delivered {:.0}/s",
            n as f64 / secs
        ));
    }
    // The local durable outbox: stored by group commits of 100, sent by one `pn dispatch`.
    let local = util::Sandbox::with("pn_outbox = durable\n");
    let durable = Arc::new(pn_outbox::DurableOutbox::new(
        local.outbox_path(),
        pn_outbox::Policy::from_settings(|_| None).unwrap(),
    ));
    let producer = durable.producer(None);
    let t = Instant::now();
    for chunk in items(rx.port, n, "local").chunks(100) {
        for item in chunk {
            producer.enqueue(item.clone()).unwrap();
        }
        producer.commit_staged().unwrap();
    }
    let stored = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let d = spawn(&local, "dispatch");
    let secs = drain(&rx, n, t);
    stop(d);
    report.push(format!(
        "durable outbox (SQLite): store {stored:.0}/s (batches of 100), pn dispatch delivered {:.0}/s",
        n as f64 / secs
    ));
    eprintln!("\n{n} pushes per run (debug build):");
    for line in report {
        eprintln!("  {line}");
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &std::path::Path, dir: &std::path::Path) -> (Server, String) {
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd"])
        .arg(dir.join("js"))
        .arg("--ports_file_dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let file = dir.join(format!("nats-server_{}.ports", child.id()));
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(u) = v["nats"][0].as_str()
        {
            return (server, u.to_owned());
        }
        assert!(Instant::now() < deadline, "nats-server wrote no ports file");
        std::thread::sleep(Duration::from_millis(20));
    }
}
