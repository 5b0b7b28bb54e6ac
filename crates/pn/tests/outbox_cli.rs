//! The durable outbox through the `pn` binary, with real parts: a real `pn lmtp` process
//! (killed with SIGKILL), real `pn deliver` and `pn dispatch` processes, and a real HTTP
//! receiver on 127.0.0.1 that refuses connections, answers 503 or hangs on demand.
//! Pushes are ox requests; each message's Subject names it, so a push is identified by the
//! message it is about (the ox body carries no event id; duplicates are counted).
//!
//! As root the server runs as nobody (pn lmtp never writes mail as root).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use util::outage::{Lmtp, Mode, Receiver, message, subject};
use util::{Request, Sandbox, USERS, stderr};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Short schedules so that nothing waits longer than it must.
const FAST: &str = "pn_retry_schedule = 100ms 200ms\npn_outbox_poll = 50ms\n";

/// A sandbox with the ox driver pointing at `port` for both users, enabled for both.
fn sandbox(port: u16, extra: &str) -> Sandbox {
    let sb = Sandbox::with(&format!(
        "{FAST}{extra}\nplugin {{\n  push_notification_driver2 = \
         ox:url=http://login:pass@127.0.0.1:{port}/notify timeout_msecs=300 max_retries=0\n}}\n"
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
    fn start(sb: &Sandbox) -> Server {
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
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let err = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut address = String::new();
        out.read_line(&mut address).unwrap();
        let address = address.trim().to_owned();
        assert!(
            !address.is_empty(),
            "{:?}",
            log.try_iter().collect::<Vec<_>>()
        );
        Server {
            child,
            address,
            log,
        }
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Collects pushes until every tag in `want` arrived (or `limit` passed); returns how often
/// each tag arrived, in arrival order.
fn collect(
    requests: &mpsc::Receiver<Request>,
    want: &HashSet<String>,
    limit: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    while !want.is_subset(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match requests.recv_timeout(left) {
            Ok(r) => {
                let s = subject(&r);
                seen.insert(s.clone());
                got.push(s);
            }
            Err(_) => break,
        }
    }
    // Whatever else arrives right away (duplicates in flight).
    while let Ok(r) = requests.recv_timeout(Duration::from_millis(200)) {
        got.push(subject(&r));
    }
    got
}

fn missing(want: &HashSet<String>, got: &[String]) -> Vec<String> {
    let got: HashSet<&String> = got.iter().collect();
    let mut m: Vec<String> = want.iter().filter(|w| !got.contains(w)).cloned().collect();
    m.sort();
    m
}

fn duplicates(got: &[String]) -> usize {
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for g in got {
        *counts.entry(g).or_default() += 1;
    }
    counts.values().map(|c| c - 1).sum()
}

/// Delivers `n` messages per user from one connection per user at once; returns the tags that
/// got a 250 (per user, in order) and the deliveries per second.
fn deliver_round(address: &str, round: &str, n: usize) -> (Vec<Vec<String>>, f64) {
    let started = Instant::now();
    let threads: Vec<_> = USERS
        .iter()
        .map(|user| {
            let (address, round, user) = (address.to_owned(), round.to_owned(), *user);
            std::thread::spawn(move || {
                let mut ok = Vec::new();
                let Some(mut c) = Lmtp::connect(&address) else {
                    return ok;
                };
                for i in 0..n {
                    let tag = format!("{round}-{}-{i:05}", &user[..1]);
                    match c.deliver(user, &message(user, &tag)) {
                        Some(250) => ok.push(tag),
                        Some(_) => {}
                        None => break,
                    }
                }
                ok
            })
        })
        .collect();
    let acked: Vec<Vec<String>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let total: usize = acked.iter().map(Vec::len).sum();
    (acked, total as f64 / started.elapsed().as_secs_f64())
}

/// Per user, whether the first arrival of each tag came in the order the tags were
/// acknowledged; prints the users whose order was broken and returns how many. Not asserted:
/// a request that hangs past its lease can be sent again beside the next run of its queue
/// (a known gap, docs/outbox.md "Order"), which no test may hide as a pass.
fn report_user_order(acked: &[Vec<String>], got: &[String]) -> usize {
    let mut broken = 0;
    for tags in acked {
        let wanted: HashSet<&String> = tags.iter().collect();
        let mut first = Vec::new();
        let mut seen = HashSet::new();
        for g in got {
            if wanted.contains(g) && seen.insert(g) {
                first.push(g.clone());
            }
        }
        if &first != tags {
            broken += 1;
            let at = first.iter().zip(tags).position(|(a, b)| a != b);
            eprintln!(
                "per-user order broken at position {at:?} of {} tags",
                tags.len()
            );
        }
    }
    broken
}

#[test]
fn an_outage_of_every_kind_loses_nothing() {
    let receiver = Receiver::start(Mode::Healthy);
    let sb = sandbox(receiver.port, "");
    let server = Server::start(&sb);

    let (healthy, healthy_rate) = deliver_round(&server.address, "ok", 100);
    let mut acked = healthy.clone();
    let mut outage_time = 0.0;
    let mut outage_count = 0;
    for (mode, round) in [
        (Mode::Refuse, "refuse"),
        (Mode::Unavailable, "503"),
        (Mode::Hang, "hang"),
    ] {
        receiver.set(mode);
        let started = Instant::now();
        let (got, _) = deliver_round(&server.address, round, 167);
        outage_time += started.elapsed().as_secs_f64();
        for (all, more) in acked.iter_mut().zip(got) {
            outage_count += more.len();
            all.extend(more);
        }
    }
    let outage_rate = outage_count as f64 / outage_time;
    assert_eq!(outage_count, 2 * 3 * 167, "every delivery got a 250");
    receiver.set(Mode::Healthy);

    let want: HashSet<String> = acked.iter().flatten().cloned().collect();
    let got = collect(&receiver.requests, &want, Duration::from_secs(120));
    let lost = missing(&want, &got);
    eprintln!(
        "outage: {} pushes, {} lost, {} duplicates, {} failed requests; deliveries/s healthy \
         {healthy_rate:.0}, during the outage {outage_rate:.0} ({:.0} %)",
        want.len(),
        lost.len(),
        duplicates(&got),
        receiver.refused.load(std::sync::atomic::Ordering::SeqCst),
        100.0 * outage_rate / healthy_rate
    );
    assert!(lost.is_empty(), "lost pushes: {lost:?}");
    let broken = report_user_order(&acked, &got);
    eprintln!("users whose order was broken: {broken} of {}", acked.len());
    assert!(receiver.refused.load(std::sync::atomic::Ordering::SeqCst) > 0);
    drop(server);
}

/// `PN_OUTBOX_KILLS` (default 10) times: start `pn lmtp`, deliver, SIGKILL it at a random
/// moment. Then once more without a kill: every message that got a 250 has its push.
#[test]
fn kill_9_of_pn_lmtp_loses_no_acknowledged_push() {
    let kills: usize = std::env::var("PN_OUTBOX_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let receiver = Receiver::start(Mode::Healthy);
    let sb = sandbox(receiver.port, "");
    let mut acked: Vec<Vec<String>> = vec![Vec::new(); USERS.len()];
    let random = std::collections::hash_map::RandomState::new();
    for k in 0..kills {
        let mut server = Server::start(&sb);
        let address = server.address.clone();
        let round = format!("k{k:03}");
        let client = std::thread::spawn(move || deliver_round(&address, &round, 400));
        let wait = std::hash::BuildHasher::hash_one(&random, k) % 800;
        std::thread::sleep(Duration::from_millis(100 + wait));
        server.kill9();
        let (got, _) = client.join().unwrap();
        for (all, more) in acked.iter_mut().zip(got) {
            all.extend(more);
        }
    }
    let _server = Server::start(&sb);
    let want: HashSet<String> = acked.iter().flatten().cloned().collect();
    assert!(!want.is_empty(), "some deliveries were acknowledged");
    let got = collect(&receiver.requests, &want, Duration::from_secs(120));
    let lost = missing(&want, &got);
    eprintln!(
        "{kills} kills: {} acknowledged, {} lost, {} duplicates",
        want.len(),
        lost.len(),
        duplicates(&got)
    );
    assert!(lost.is_empty(), "lost pushes: {lost:?}");
}

#[test]
fn eight_concurrent_pn_deliver_with_pn_dispatch_every_push_arrives() {
    let receiver = Receiver::start(Mode::Unavailable);
    let sb = sandbox(receiver.port, "");
    let mut dispatch = Command::new(env!("CARGO_BIN_EXE_pn"));
    dispatch.arg("-c").arg(&sb.conf);
    if is_root() {
        dispatch.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
    }
    let mut dispatch = dispatch
        .args(["--log", "warn", "dispatch"])
        .env_remove("PN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let data = sb.dir.path().join("msgs");
    std::fs::create_dir_all(&data).unwrap();
    let total = 1000;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let conf = sb.conf.clone();
            let data = data.clone();
            std::thread::spawn(move || {
                let mut tags = Vec::new();
                for i in (t..total).step_by(8) {
                    let user = USERS[i % 2];
                    let tag = format!("d-{i:05}");
                    let path = data.join(&tag);
                    std::fs::write(&path, message(user, &tag)).unwrap();
                    let out = util::run_pn(
                        &[
                            "-c",
                            conf.to_str().unwrap(),
                            "-o",
                            "pn_deliver_push_wait=100ms",
                            "deliver",
                            "-d",
                            user,
                            "-p",
                            path.to_str().unwrap(),
                        ],
                        None,
                        &[],
                    );
                    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
                    tags.push(tag);
                }
                tags
            })
        })
        .collect();
    // The endpoint fails for the first part of the run, so that both the deliveries
    // themselves and the dispatcher send.
    std::thread::sleep(Duration::from_secs(2));
    receiver.set(Mode::Healthy);
    let want: HashSet<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(want.len(), total);
    let got = collect(&receiver.requests, &want, Duration::from_secs(120));
    let _ = dispatch.kill();
    let _ = dispatch.wait();
    let lost = missing(&want, &got);
    eprintln!(
        "8 x pn deliver: {} pushes, {} lost, {} duplicates",
        want.len(),
        lost.len(),
        duplicates(&got)
    );
    assert!(lost.is_empty(), "lost pushes: {lost:?}");
}

/// Unmounts the tmpfs when the test ends, whatever happens.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_outbox_file_system_answers_4xx_and_recovers_when_space_returns() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs for the outbox needs root");
        return;
    }
    let receiver = Receiver::start(Mode::Healthy);
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("outbox");
    std::fs::create_dir_all(&full).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    if !status.success() {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _mount = Mount(full.clone());
    let sb = sandbox(
        receiver.port,
        &format!("pn_outbox_path = {}/outbox.db\n", full.display()),
    );
    let mut server = Server::start(&sb);
    let mut c = Lmtp::connect(&server.address).unwrap();
    assert_eq!(c.deliver(USERS[0], &message(USERS[0], "before")), Some(250));
    let want: HashSet<String> = ["before".to_owned()].into();
    assert!(
        missing(
            &want,
            &collect(&receiver.requests, &want, Duration::from_secs(30))
        )
        .is_empty()
    );

    // Fill the file system to the last byte.
    let filler = full.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let code = c.deliver(USERS[0], &message(USERS[0], "while-full"));
    assert_eq!(code, Some(451), "no 250 without a durable push");
    let log: Vec<String> = server.log.try_iter().collect();
    assert!(
        log.iter()
            .any(|l| l.contains("outbox") && l.contains("ERROR")),
        "{log:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(c.deliver(USERS[0], &message(USERS[0], "after")), Some(250));
    let want: HashSet<String> = ["after".to_owned()].into();
    let got = collect(&receiver.requests, &want, Duration::from_secs(30));
    assert!(missing(&want, &got).is_empty(), "{got:?}");
    assert!(
        !got.contains(&"while-full".to_owned()),
        "nothing half-written was sent"
    );
    server.kill9();
    // The database is whole: the queue reads it, and nothing is left over.
    let out = queue(&sb, &["stats", "-f", "tab"]);
    assert_eq!(
        out.lines().nth(1).map(|l| l.split('\t').next()),
        Some(Some("0")),
        "{out}"
    );
}

fn queue(sb: &Sandbox, args: &[&str]) -> String {
    let mut full = Vec::new();
    if is_root() {
        full.extend(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
    }
    full.push("queue");
    full.extend_from_slice(args);
    let out = sb.pn(&full, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    util::stdout(&out)
}

#[test]
fn pn_queue_shows_dead_letters_without_secrets_and_retries_them() {
    let receiver = Receiver::start(Mode::NotFound);
    let sb = sandbox(receiver.port, "");
    let data = sb.dir.path().join("m.eml");
    std::fs::write(&data, message(USERS[0], "gone")).unwrap();
    let out = sb.pn(
        &["deliver", "-d", USERS[0], "-p", data.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("404 Not Found"), "{}", stderr(&out));

    let dead = queue(&sb, &["dead", "-f", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&dead).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(rows[0]["user"], USERS[0]);
    assert_eq!(rows[0]["failures"], "1");
    assert!(
        rows[0]["last_error"].as_str().unwrap().contains("404"),
        "{dead}"
    );
    let event_id = rows[0]["event_id"].as_str().unwrap().to_owned();
    let shown = queue(&sb, &["show", &event_id]);
    assert!(shown.contains("login:***@127.0.0.1"), "{shown}");
    assert!(!shown.contains("pass"), "no secret in: {shown}");
    assert!(queue(&sb, &["list"]).is_empty(), "nothing waits");
    let endpoints = queue(&sb, &["endpoints", "-f", "tab"]);
    assert!(
        endpoints.contains(&format!("http://127.0.0.1:{}\t0\t1\t", receiver.port)),
        "{endpoints}"
    );

    // The endpoint is fixed: retry sends the dead letter again, through pn dispatch.
    receiver.set(Mode::Healthy);
    assert_eq!(queue(&sb, &["retry", &event_id]), "retried=1\n");
    let mut dispatch = Command::new(env!("CARGO_BIN_EXE_pn"));
    dispatch.arg("-c").arg(&sb.conf);
    if is_root() {
        dispatch.args(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
    }
    let mut dispatch = dispatch
        .arg("dispatch")
        .env_remove("PN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let want: HashSet<String> = ["gone".to_owned()].into();
    let got = collect(&receiver.requests, &want, Duration::from_secs(30));
    let _ = dispatch.kill();
    let _ = dispatch.wait();
    assert!(missing(&want, &got).is_empty());
    assert_eq!(
        queue(&sb, &["stats"]),
        "queued=0 due=0 dead=0 oldest_secs= disabled_endpoints=0\n"
    );
    assert_eq!(queue(&sb, &["purge"]), "purged=0\n");
}

#[test]
fn config_check_rejects_bad_outbox_settings() {
    let sb = Sandbox::with("pn_retry_schedule = 5s soon\n");
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("pn_retry_schedule"),
        "{}",
        stderr(&out)
    );
    let sb = Sandbox::with("pn_outbox = sometimes\n");
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("pn_outbox"), "{}", stderr(&out));
    let sb = Sandbox::with("pn_retry_schedule = 100ms 2 mins\npn_retry_max_age = 3d\n");
    let out = sb.pn(&["config", "check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
