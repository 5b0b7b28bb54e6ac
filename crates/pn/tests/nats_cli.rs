//! `pn_outbox = nats` and `pn worker` with a real nats-server 2.9 (Debian 12's
//! `nats-server` package) on loopback ports it picks itself, real `pn worker` processes and
//! a real HTTP receiver. Skipped, with a message, when `nats-server` is not installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pn_core::{HttpRequest, OutboxItem, Payload};
use pn_outbox_nats::{JetStreamOutbox, NatsConfig};
use util::outage::{Mode, Receiver};

/// Pushes the 3-worker test shares (about 6 s on a 2-core machine, docs/scale-out.md).
const PUSHES: usize = 10_000;

fn nats_server() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: nats-server is not installed (Debian: apt-get install nats-server)");
    }
    found
}

struct Nats {
    child: Child,
    url: String,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A nats-server with JetStream (file storage in `dir`) on a free loopback port, read from
/// the ports file it writes.
fn start_nats(bin: &Path, dir: &Path) -> Nats {
    start_nats_on(bin, dir, "-1")
}

/// [`start_nats`] on a given port (`-1`: a free one).
fn start_nats_on(bin: &Path, dir: &Path, port: &str) -> Nats {
    start_node(bin, dir, port, &[])
}

/// One nats-server with `extra` arguments (cluster flags).
fn start_node(bin: &Path, dir: &Path, port: &str, extra: &[String]) -> Nats {
    let ports = dir.join("ports");
    std::fs::create_dir_all(&ports).unwrap();
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", port, "-m", "-1", "-js"])
        .args(extra)
        .arg("-sd")
        .arg(dir.join("js"))
        .arg("--ports_file_dir")
        .arg(&ports)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let file = ports.join(format!("nats-server_{}.ports", child.id()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(u) = v["nats"][0].as_str()
        {
            break u.to_owned();
        }
        assert!(Instant::now() < deadline, "nats-server wrote no ports file");
        std::thread::sleep(Duration::from_millis(20));
    };
    Nats { child, url }
}

fn settings(url: &str) -> String {
    format!(
        "pn_outbox = nats\npn_nats_url = {url}\npn_nats_replicas = 1\npn_nats_allow_r1 = yes\n\
         pn_nats_ack_wait = 2s\npn_retry_schedule = 100ms 200ms\n"
    )
}

fn config(url: &str) -> NatsConfig {
    let text = settings(url);
    NatsConfig::from_settings(|k| {
        text.lines()
            .find_map(|l| l.split_once(" = ").filter(|(key, _)| *key == k))
            .map(|(_, v)| v.to_owned())
    })
    .unwrap()
}

fn items(port: u16, n: usize) -> Vec<OutboxItem> {
    (0..n)
        .map(|i| {
            OutboxItem::new(
                "webhook",
                format!("user{}", i % 7),
                Payload::Http(HttpRequest {
                    method: "POST".to_owned(),
                    url: format!("http://127.0.0.1:{port}/push"),
                    headers: vec![],
                    body: format!("push-{i}").into_bytes(),
                    max_attempts: 1,
                    timeout_msecs: 2000,
                    signing: None,
                }),
            )
        })
        .collect()
}

fn worker(sb: &util::Sandbox) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pn"))
        .arg("-c")
        .arg(&sb.conf)
        .arg("--log")
        .arg("info")
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Collects bodies until every push arrived; returns how often each arrived.
fn collect(rx: &Receiver, n: usize, limit: Duration) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + limit;
    while seen.len() < n && Instant::now() < deadline {
        if let Ok(r) = rx.requests.recv_timeout(Duration::from_millis(200)) {
            *seen
                .entry(String::from_utf8_lossy(&r.body).into_owned())
                .or_default() += 1;
        }
    }
    // Stragglers (duplicates) that are already on their way.
    while let Ok(r) = rx.requests.recv_timeout(Duration::from_millis(300)) {
        *seen
            .entry(String::from_utf8_lossy(&r.body).into_owned())
            .or_default() += 1;
    }
    seen
}

fn stop(child: Child) -> String {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    );
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sent_by(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("pn worker stopped"))
        .find_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("sent=").and_then(|n| n.parse().ok()))
        })
        .unwrap_or_else(|| panic!("no summary in the worker's log:\n{log}"))
}

#[test]
fn three_workers_share_the_pushes() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    let rx = Receiver::start(Mode::Healthy);
    let sb = util::Sandbox::with(&settings(&nats.url));
    let outbox = Arc::new(JetStreamOutbox::open(config(&nats.url)).unwrap());
    let workers: Vec<Child> = (0..3).map(|_| worker(&sb)).collect();
    let producer = outbox.producer();
    for chunk in items(rx.port, PUSHES).chunks(100) {
        for item in chunk {
            pn_core::Outbox::enqueue(&producer, item.clone()).unwrap();
        }
        producer.commit_staged().unwrap();
    }
    let seen = collect(&rx, PUSHES, Duration::from_secs(120));
    let logs: Vec<String> = workers.into_iter().map(stop).collect();
    let missing = (0..PUSHES)
        .filter(|i| !seen.contains_key(&format!("push-{i}")))
        .count();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let per_worker: Vec<u64> = logs.iter().map(|l| sent_by(l)).collect();
    eprintln!(
        "{PUSHES} pushes: {missing} missing, {duplicates} duplicates, per worker {per_worker:?}"
    );
    assert_eq!(missing, 0);
    assert_eq!(per_worker.iter().sum::<u64>(), (PUSHES + duplicates) as u64);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "load not spread: {per_worker:?}"
    );
}

#[test]
fn a_killed_worker_loses_nothing() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    // Hanging receiver: the first worker's sends stay in flight when it is killed.
    let rx = Receiver::start(Mode::Hang);
    let sb = util::Sandbox::with(&settings(&nats.url));
    let outbox = Arc::new(JetStreamOutbox::open(config(&nats.url)).unwrap());
    let producer = outbox.producer();
    let n = 200;
    for item in items(rx.port, n) {
        pn_core::Outbox::enqueue(&producer, item).unwrap();
    }
    producer.commit_staged().unwrap();
    let mut first = worker(&sb);
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.refused.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the worker never sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    rx.set(Mode::Healthy);
    let second = worker(&sb);
    let seen = collect(&rx, n, Duration::from_secs(60));
    stop(second);
    let missing = (0..n)
        .filter(|i| !seen.contains_key(&format!("push-{i}")))
        .count();
    assert_eq!(missing, 0, "lost after kill -9");
}

#[test]
fn pn_deliver_publishes_before_it_exits_0() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    let rx = Receiver::start(Mode::Healthy);
    let sb = util::Sandbox::with(&format!(
        "{}plugin {{\n  push_notification_driver2 = ox:url=http://127.0.0.1:{}/notify\n}}\n",
        settings(&nats.url),
        rx.port
    ));
    let out = sb.pn(
        &[
            "mailbox",
            "metadata",
            "set",
            "-u",
            util::USERS[0],
            "-s",
            "",
            "/private/vendor/vendor.dovecot/http-notify",
            "user=11@3",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    let msg = util::outage::message(util::USERS[0], "via-nats");
    let out = sb.pn(&["deliver", "-d", util::USERS[0]], Some(msg.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    // Nothing sent yet: the push waits in JetStream for a worker.
    assert!(
        rx.requests
            .recv_timeout(Duration::from_millis(300))
            .is_err()
    );
    let w = worker(&sb);
    let r = rx
        .requests
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker sent it");
    assert_eq!(util::outage::subject(&r), "via-nats");
    stop(w);
}

#[test]
fn a_restarted_server_loses_nothing() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut nats = start_nats(&bin, dir.path());
    let port = nats.url.rsplit(':').next().unwrap().to_owned();
    let rx = Receiver::start(Mode::Healthy);
    let sb = util::Sandbox::with(&settings(&nats.url));
    let n = 2000;
    {
        let outbox = Arc::new(JetStreamOutbox::open(config(&nats.url)).unwrap());
        let producer = outbox.producer();
        for item in items(rx.port, n) {
            pn_core::Outbox::enqueue(&producer, item).unwrap();
        }
        producer.commit_staged().unwrap();
    }
    let w = worker(&sb);
    // Mid-stream: some arrived, not all.
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.len() < 50 {
        let r = rx.requests.recv_timeout(Duration::from_secs(30)).unwrap();
        *seen
            .entry(String::from_utf8_lossy(&r.body).into_owned())
            .or_default() += 1;
    }
    nats.child.kill().unwrap();
    nats.child.wait().unwrap();
    let _restarted = start_nats_on(&bin, dir.path(), &port);
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.len() < n && Instant::now() < deadline {
        if let Ok(r) = rx.requests.recv_timeout(Duration::from_millis(200)) {
            *seen
                .entry(String::from_utf8_lossy(&r.body).into_owned())
                .or_default() += 1;
        }
    }
    stop(w);
    let missing = (0..n)
        .filter(|i| !seen.contains_key(&format!("push-{i}")))
        .count();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    eprintln!("server restart: {missing} missing, {duplicates} duplicates");
    assert_eq!(missing, 0, "lost across a nats-server restart");
}

fn pn_out(sb: &util::Sandbox, args: &[&str]) -> String {
    let out = sb.pn(args, None);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    util::stdout(&out)
}

#[test]
fn dead_letters_are_listed_and_retried_through_pn_queue() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    // 404 is in pn_retry_permanent_statuses: a dead letter at once.
    let rx = Receiver::start(Mode::NotFound);
    let sb = util::Sandbox::with(&settings(&nats.url));
    let outbox = Arc::new(JetStreamOutbox::open(config(&nats.url)).unwrap());
    let producer = outbox.producer();
    let sent = items(rx.port, 3);
    for item in &sent {
        pn_core::Outbox::enqueue(&producer, item.clone()).unwrap();
    }
    producer.commit_staged().unwrap();
    let w = worker(&sb);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Flow output (`pn queue -f` trips over the top-level -f in clap: see the report).
        let stats = pn_out(&sb, &["queue", "stats"]);
        if stats.contains("queued=0 ") && stats.contains("dead=3") {
            break;
        }
        assert!(Instant::now() < deadline, "no dead letters: {stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dead = pn_out(&sb, &["queue", "dead"]);
    for item in &sent {
        assert!(dead.contains(&item.event_id.to_string()), "{dead}");
    }
    assert!(dead.contains("404"), "{dead}");
    rx.set(Mode::Healthy);
    let retried = pn_out(&sb, &["queue", "retry", "--all"]);
    assert_eq!(retried.trim(), "retried=3", "{retried}");
    let seen = collect(&rx, 3, Duration::from_secs(30));
    assert_eq!(seen.len(), 3, "{seen:?}");
    stop(w);
    let stats = pn_out(&sb, &["queue", "stats"]);
    assert!(stats.contains("dead=0"), "{stats}");
}

#[test]
fn a_stream_the_server_configured_differently_is_refused() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    let url = nats.url.clone();
    // Someone created PN_OUTBOX as a limits stream: get_or_create returns it as it is.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
            js.create_stream(async_nats::jetstream::stream::Config {
                name: "PN_OUTBOX".to_owned(),
                subjects: vec!["pn.outbox".to_owned()],
                ..Default::default()
            })
            .await
            .unwrap();
        });
    let sb = util::Sandbox::with(&settings(&nats.url));
    let out = sb.pn(&["worker"], None);
    assert_eq!(out.status.code(), Some(75), "{}", util::stderr(&out));
    let err = util::stderr(&out);
    assert!(
        err.contains("does not have the configuration pn needs")
            && err.contains("retention: asked WorkQueue, server has Limits"),
        "{err}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_r3_cluster_keeps_delivering_with_a_node_down() {
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Nats> = (0..3)
        .map(|i| {
            let others: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| format!("nats://127.0.0.1:{}", routes[j]))
                .collect();
            let extra = vec![
                "-n".to_owned(),
                format!("n{i}"),
                "--cluster_name".to_owned(),
                "pn".to_owned(),
                "--cluster".to_owned(),
                format!("nats://127.0.0.1:{}", routes[i]),
                "--routes".to_owned(),
                others.join(","),
            ];
            start_node(&bin, &dir.path().join(format!("n{i}")), "-1", &extra)
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    let text = format!(
        "pn_outbox = nats\npn_nats_url = {}\npn_nats_replicas = 3\npn_nats_ack_wait = 2s\n\
         pn_retry_schedule = 100ms 200ms\n",
        urls.join(" ")
    );
    let cfg = NatsConfig::from_settings(|k| {
        text.lines()
            .find_map(|l| l.split_once(" = ").filter(|(key, _)| *key == k))
            .map(|(_, v)| v.to_owned())
    })
    .unwrap();
    assert_eq!(cfg.replicas, 3);
    let rx = Receiver::start(Mode::Healthy);
    let sb = util::Sandbox::with(&text);
    let outbox = Arc::new(JetStreamOutbox::open(cfg).unwrap());
    let producer = outbox.producer();
    let n = 2000;
    let all = items(rx.port, n);
    let publish = |part: &[OutboxItem]| {
        for item in part {
            pn_core::Outbox::enqueue(&producer, item.clone()).unwrap();
        }
        // A publish in flight while its node dies fails; the items stay staged and the
        // event id de-duplicates the second publish.
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = producer.commit_staged() {
            assert!(Instant::now() < deadline, "publish never succeeded: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    publish(&all[..n / 2]);
    let workers: Vec<Child> = (0..2).map(|_| worker(&sb)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.len() < 100 {
        let r = rx.requests.recv_timeout(Duration::from_secs(30)).unwrap();
        *seen
            .entry(String::from_utf8_lossy(&r.body).into_owned())
            .or_default() += 1;
    }
    let mut dead = nodes.remove(2);
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    publish(&all[n / 2..]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < n && Instant::now() < deadline {
        if let Ok(r) = rx.requests.recv_timeout(Duration::from_millis(200)) {
            *seen
                .entry(String::from_utf8_lossy(&r.body).into_owned())
                .or_default() += 1;
        }
    }
    for w in workers {
        stop(w);
    }
    let missing = (0..n)
        .filter(|i| !seen.contains_key(&format!("push-{i}")))
        .count();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    eprintln!("R3 cluster, one node killed: {missing} missing, {duplicates} duplicates");
    assert_eq!(missing, 0, "lost with a node down");
}

#[test]
fn pn_lmtp_answers_250_after_the_publish_and_a_worker_sends() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let Some(bin) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nats = start_nats(&bin, dir.path());
    let rx = Receiver::start(Mode::Healthy);
    let sb = util::Sandbox::with(&format!(
        "{}plugin {{\n  push_notification_driver2 = ox:url=http://127.0.0.1:{}/notify\n}}\n",
        settings(&nats.url),
        rx.port
    ));
    // pn lmtp never writes mail as root: as root, the mail belongs to nobody.
    let root = rustix::process::geteuid().is_root();
    let mut ids: Vec<&str> = Vec::new();
    if root {
        sb.write_users(65534, 65534);
        let mut perms = std::fs::metadata(sb.dir.path()).unwrap().permissions();
        perms.set_mode(0o755);
        std::fs::set_permissions(sb.dir.path(), perms).unwrap();
        let home = sb.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
        ids = vec!["-o", "mail_uid=65534", "-o", "mail_gid=65534"];
    }
    let mut set = ids.clone();
    set.extend([
        "mailbox",
        "metadata",
        "set",
        "-u",
        util::USERS[0],
        "-s",
        "",
        "/private/vendor/vendor.dovecot/http-notify",
        "user=11@3",
    ]);
    pn_out(&sb, &set);
    let mut lmtp = Command::new(env!("CARGO_BIN_EXE_pn"))
        .arg("-c")
        .arg(&sb.conf)
        .args(&ids)
        .args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut address = String::new();
    std::io::BufReader::new(lmtp.stdout.take().unwrap())
        .read_line(&mut address)
        .unwrap();
    let mut conn = util::outage::Lmtp::connect(address.trim()).expect("pn lmtp answers");
    let msg = util::outage::message(util::USERS[0], "lmtp-nats");
    assert_eq!(conn.deliver(util::USERS[0], &msg), Some(250));
    // Acknowledged means stored in the stream, and pn lmtp sends nothing itself.
    let stats = pn_out(&sb, &["queue", "stats"]);
    assert!(stats.contains("queued=1 "), "{stats}");
    assert!(
        rx.requests
            .recv_timeout(Duration::from_millis(300))
            .is_err()
    );
    let w = worker(&sb);
    let r = rx
        .requests
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker sent it");
    assert_eq!(util::outage::subject(&r), "lmtp-nats");
    stop(w);
    let _ = lmtp.kill();
    let _ = lmtp.wait();
}
