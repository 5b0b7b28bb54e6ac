//! `cargo xtask bench lmtp`: deliveries per second and push latency of `pn lmtp` against
//! Dovecot 2.3's LMTP (Debian's `dovecot-lmtpd`), in the same run, on the same machine.
//!
//! Both servers get the same setup: a passwd-file userdb with one user per client (all the
//! mail user `nobody`), `mail_location = maildir:~/Maildir`, the ox driver enabled per user
//! through METADATA and pointing at one local HTTP receiver. Durability: pn fsyncs every
//! message, its directories and the uidlist before the 250 (always). Dovecot is measured
//! twice: with `mail_fsync = always` (the same durability: the ratio the target is about)
//! and with its default `mail_fsync = optimized` (fsyncs the message, not the uidlist or
//! directories).
//!
//! Each client keeps one LMTP connection and delivers messages back to back (MAIL, RCPT, DATA
//! pipelined, then the body). Measured, for 1 and 16 concurrent clients:
//! - deliveries per second: successful DATA replies over the run's wall time;
//! - latency from the end of DATA (the client wrote `.`) to the push arriving at the receiver
//!   (matched by the message's unique Subject), p50 and p99.
//!
//! Dovecot needs root; without root or without `/usr/lib/dovecot/lmtp` only pn is measured
//! and a notice says so. `PN_BENCH_SECONDS` sets each run's length (default 3) and `PN_BENCH_ROUNDS` how many
//! interleaved rounds each server gets (default 3); `PN_BENCH_PN_ONLY=1` measures pn alone
//! (for profiling it). `PN_BENCH_OUTBOX=memory|durable` sets pn's `pn_outbox` (default: pn's
//! default, durable); `PN_BENCH_OUTBOX=both` runs a second pn server, `pn-memory`, with the
//! memory outbox in the same interleaved rounds and prints what the durable outbox costs.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVEADM: &str = "/usr/bin/doveadm";
const DOVECOT_LMTP: &str = "/usr/lib/dovecot/lmtp";
const KEY: &str = "/private/vendor/vendor.dovecot/http-notify";
const CLIENTS: [usize; 2] = [1, 16];
const USERS: usize = 16;

/// Arrival times of pushes and the `unseen` they carried, by subject.
type Arrivals = Arc<Mutex<HashMap<String, (Instant, Option<u64>)>>>;

/// One run's figures.
struct Figures {
    per_second: f64,
    /// DATA end → push arrival, in milliseconds, of every delivery whose push arrived.
    latencies: Vec<f64>,
    deliveries: usize,
    /// Pushes whose `unseen` was not the previous one's + 1 (each client has a user of its
    /// own and nothing marks mail seen, so every push must count exactly one more).
    unseen_wrong: usize,
}

pub(crate) fn run() -> anyhow::Result<()> {
    let root = std::env::var_os("PN_BENCH_ROOT").map_or_else(
        || {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().map(PathBuf::from).unwrap_or(manifest)
        },
        PathBuf::from,
    );
    let seconds: u64 = std::env::var("PN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "pn"])
        .status()
        .context("cargo build")?;
    if !status.success() {
        bail!("building pn failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let pn = target.join("release/pn");

    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    let pn_only = std::env::var("PN_BENCH_PN_ONLY").is_ok_and(|v| v == "1");
    let with_dovecot = root_user && Path::new(DOVECOT_LMTP).exists() && !pn_only;
    if pn_only {
        eprintln!("NOTICE: PN_BENCH_PN_ONLY=1: pn only");
    } else if !with_dovecot {
        eprintln!(
            "NOTICE: Dovecot's LMTP not measured ({}): pn only",
            if root_user {
                "dovecot-lmtpd is not installed"
            } else {
                "not root"
            }
        );
    }
    let base = std::env::temp_dir().join(format!("pn-bench-lmtp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let rounds: usize = std::env::var("PN_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(3);
    let result = measure(&pn, &base, seconds, rounds, with_dovecot, root_user);
    let _ = std::fs::remove_dir_all(&base);
    result
}

fn measure(
    pn: &Path,
    base: &Path,
    seconds: u64,
    rounds: usize,
    with_dovecot: bool,
    root_user: bool,
) -> anyhow::Result<()> {
    let arrivals: Arrivals = Arc::default();
    let http = receiver(Arc::clone(&arrivals))?;

    // All servers run at once and the runs alternate between them, round after round, so a
    // slow spell of the machine (other jobs, the disk's write-back) hits every server alike.
    let mut servers: Vec<(&str, String, Server)> = Vec::new();
    let outbox = std::env::var("PN_BENCH_OUTBOX").ok();
    let both = outbox.as_deref() == Some("both");
    let pn_outbox = if both {
        Some("durable")
    } else {
        outbox.as_deref()
    };
    let (child, address) = start_pn(pn, &base.join("pn"), http, root_user, pn_outbox)?;
    servers.push(("pn", address, Server(child, None)));
    if both {
        let dir = base.join("pn-memory");
        let (child, address) = start_pn(pn, &dir, http, root_user, Some("memory"))?;
        servers.push(("pn-memory", address, Server(child, None)));
    }
    if with_dovecot {
        for (name, fsync) in [("dovecot", "always"), ("dovecot-optimized", "optimized")] {
            let (child, conf, address) = start_dovecot(&base.join(name), http, fsync)?;
            servers.push((name, address, Server(child, Some(conf))));
        }
    }
    // (server, clients) → the figures of each round.
    let mut results: Vec<(&str, usize, Vec<Figures>)> = Vec::new();
    for clients in CLIENTS {
        for round in 0..rounds {
            for (name, address, _) in &servers {
                let label = format!("{name}-r{round}");
                let f = load(address, clients, seconds, &arrivals, &label)?;
                match results
                    .iter_mut()
                    .find(|(n, c, _)| n == name && *c == clients)
                {
                    Some((_, _, runs)) => runs.push(f),
                    None => results.push((name, clients, vec![f])),
                }
            }
        }
    }
    drop(servers);

    println!(
        "\nLMTP delivery with ox push ({rounds} rounds of {seconds} s per server, interleaved)"
    );
    println!(
        "pn: fsyncs message, directories and uidlist; dovecot: mail_fsync = always (the same \
         durability); dovecot-optimized: Dovecot's default"
    );
    println!(
        "{:<18} {:>7} {:>14} {:>9} {:>9} {:>10} {:>7} {:>10}",
        "server",
        "clients",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "deliveries",
        "pushes",
        "unseen ok"
    );
    for (name, clients, runs) in &results {
        let mut latencies: Vec<f64> = runs.iter().flat_map(|f| f.latencies.clone()).collect();
        latencies.sort_by(f64::total_cmp);
        println!(
            "{name:<18} {clients:>7} {:>14} {:>9.2} {:>9.2} {:>10} {:>7} {:>10}",
            format!("{:.1} (median)", median(runs.iter().map(|f| f.per_second))),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            runs.iter().map(|f| f.deliveries).sum::<usize>(),
            latencies.len(),
            match runs.iter().map(|f| f.unseen_wrong).sum::<usize>() {
                0 => "yes".to_owned(),
                n => format!("{n} wrong"),
            }
        );
    }
    for clients in CLIENTS {
        let runs = |n: &str| {
            results
                .iter()
                .find(|(name, c, _)| *name == n && *c == clients)
                .map(|(_, _, r)| r)
        };
        for other in ["dovecot", "dovecot-optimized", "pn-memory"] {
            if let (Some(p), Some(d)) = (runs("pn"), runs(other)) {
                // The ratio of each round (both measured back to back), then their median.
                let ratios: Vec<f64> = p
                    .iter()
                    .zip(d)
                    .map(|(p, d)| p.per_second / d.per_second.max(f64::MIN_POSITIVE))
                    .collect();
                let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
                println!(
                    "ratio pn/{other}, {clients} client(s): deliveries/s {:.2}x median \
                     (rounds: {})",
                    median(ratios.iter().copied()),
                    listed.join(" ")
                );
            }
        }
    }
    Ok(())
}

pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A server process, stopped on drop (Dovecot through `doveadm stop`).
pub(crate) struct Server(pub(crate) Child, pub(crate) Option<PathBuf>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(conf) = &self.1 {
            let _ = Command::new(DOVEADM)
                .arg("-c")
                .arg(conf)
                .arg("stop")
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP receiver recording when each push (by subject) arrived.
fn receiver(arrivals: Arrivals) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let arrivals = Arc::clone(&arrivals);
            std::thread::spawn(move || {
                let _ = serve_http(stream, &arrivals);
            });
        }
    });
    Ok(port)
}

fn serve_http(stream: TcpStream, arrivals: &Arrivals) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("Content-Length: ") {
                length = v.parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let now = Instant::now();
        writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && let Some(s) = v["subject"].as_str()
        {
            arrivals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(s.to_owned(), (now, v["unseen"].as_u64()));
        }
    }
}

fn id(flag: &str) -> anyhow::Result<u32> {
    let out = Command::new("id").args([flag, "nobody"]).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

pub(crate) fn user(i: usize) -> String {
    format!("user{i}@example.com")
}

/// Users `user0…` with homes under `dir/home`, owned by nobody when root.
pub(crate) fn setup(dir: &Path, root_user: bool) -> anyhow::Result<(PathBuf, Option<(u32, u32)>)> {
    let ids = if root_user {
        Some((id("-u")?, id("-g")?))
    } else {
        None
    };
    std::fs::create_dir_all(dir.join("home"))?;
    for p in [dir, &dir.join("home")] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    }
    let mut passwd = String::new();
    for i in 0..USERS {
        let home = dir.join("home").join(user(i));
        std::fs::create_dir_all(&home)?;
        let (uid, gid) = match ids {
            Some((u, g)) => {
                std::os::unix::fs::chown(&home, Some(u), Some(g))?;
                (u.to_string(), g.to_string())
            }
            None => (String::new(), String::new()),
        };
        passwd.push_str(&format!(
            "{}:{{PLAIN}}x:{uid}:{gid}::{}::\n",
            user(i),
            home.display()
        ));
    }
    let users = dir.join("users");
    std::fs::write(&users, passwd)?;
    Ok((users, ids))
}

fn common(users: &Path, http: u16) -> String {
    format!(
        "mail_location = maildir:~/Maildir\n\
         mail_attribute_dict = file:%h/dovecot-attributes\nimap_metadata = yes\n\
         hostname = bench.example.com\nfirst_valid_uid = 0\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
         protocol lmtp {{\n  mail_plugins = $mail_plugins notify push_notification\n}}\n\
         plugin {{\n  push_notification_driver = ox:url=http://127.0.0.1:{http}/preliminary/http-notify/v1/notify\n}}\n",
        u = users.display()
    )
}

fn start_pn(
    pn: &Path,
    dir: &Path,
    http: u16,
    root_user: bool,
    outbox: Option<&str>,
) -> anyhow::Result<(Child, String)> {
    let (users, ids) = setup(dir, root_user)?;
    let conf = dir.join("pn.conf");
    let mut text = common(&users, http);
    if let Some(mode) = outbox {
        text.push_str(&format!("pn_outbox = {mode}\n"));
    }
    // Under home/, which belongs to the mail user.
    text.push_str(&format!(
        "pn_outbox_path = {}\n",
        dir.join("home/.pn-outbox/outbox.db").display()
    ));
    if let Some((u, g)) = ids {
        text = format!("mail_uid = {u}\nmail_gid = {g}\n{text}");
    }
    std::fs::write(&conf, text)?;
    enable_ox(pn, &conf)?;
    if let Some((u, g)) = ids {
        let ok = Command::new("chown")
            .args(["-R", &format!("{u}:{g}")])
            .arg(dir.join("home"))
            .status()?
            .success();
        if !ok {
            bail!("chown failed");
        }
    }
    let log = std::fs::File::create(dir.join("pn.log"))?;
    let mut child = Command::new(pn)
        .arg("-c")
        .arg(&conf)
        .args(["lmtp", "--listen", "127.0.0.1:0", "--print-address"])
        .env_remove("PN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let mut line = String::new();
    let stdout = child.stdout.take().context("no stdout")?;
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim().is_empty() {
        let _ = child.kill();
        bail!(
            "pn lmtp did not start; see {}",
            dir.join("pn.log").display()
        );
    }
    Ok((child, line.trim().to_owned()))
}

fn start_dovecot(
    dir: &Path,
    http: u16,
    mail_fsync: &str,
) -> anyhow::Result<(Child, PathBuf, String)> {
    let (users, _) = setup(dir, true)?;
    for d in ["run", "state"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let b = dir.display();
    let conf = dir.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {b}/run\nstate_dir = {b}/state\ninstance_name = pn-bench-{port}\n\
             log_path = {b}/dovecot.log\nlisten = 127.0.0.1\nprotocols = lmtp\nssl = no\n\
             default_login_user = dovenull\ndefault_internal_user = dovecot\n\
             mail_fsync = {mail_fsync}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n{c}",
            u = users.display(),
            c = common(&users, http)
        ),
    )?;
    let child = Command::new(DOVECOT)
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("Dovecot did not start; see {}/dovecot.log", b);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    enable_ox(Path::new(DOVEADM), &conf)?;
    Ok((child, conf, format!("127.0.0.1:{port}")))
}

/// Enables ox for every user through `program`'s `mailbox metadata set` (`pn` and `doveadm`
/// take the same arguments).
fn enable_ox(program: &Path, conf: &Path) -> anyhow::Result<()> {
    for i in 0..USERS {
        let out = Command::new(program)
            .arg("-c")
            .arg(conf)
            .args(["mailbox", "metadata", "set", "-u", &user(i), "-s", "", KEY])
            .arg("user=11@3")
            .output()?;
        if !out.status.success() {
            bail!(
                "{} mailbox metadata set: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// `clients` connections delivering for `seconds`.
fn load(
    address: &str,
    clients: usize,
    seconds: u64,
    arrivals: &Arrivals,
    label: &str,
) -> anyhow::Result<Figures> {
    // Warm up: one delivery per client's user, not counted.
    for c in 0..clients {
        let mut s = Session::connect(address)?;
        s.deliver(&user(c % USERS), &format!("warmup-{label}-{c}"))?;
    }
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut handles = Vec::new();
    for c in 0..clients {
        let address = address.to_owned();
        let label = label.to_owned();
        handles.push(std::thread::spawn(
            move || -> anyhow::Result<Vec<(String, Instant)>> {
                let mut s = Session::connect(&address)?;
                let mut sent = Vec::new();
                let mut n = 0;
                while Instant::now() < until {
                    let subject = format!("bench-{label}-{clients}-{c}-{n}");
                    let end = s.deliver(&user(c % USERS), &subject)?;
                    sent.push((subject, end));
                    n += 1;
                }
                Ok(sent)
            },
        ));
    }
    let mut per_client = Vec::new();
    for h in handles {
        match h.join() {
            Ok(r) => per_client.push(r?),
            Err(_) => bail!("a client thread panicked"),
        }
    }
    let sent: Vec<(String, Instant)> = per_client.iter().flatten().cloned().collect();
    let elapsed = start.elapsed().as_secs_f64();
    // Let the last pushes arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = {
            let a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
            sent.iter().filter(|(s, _)| a.contains_key(s)).count()
        };
        if got == sent.len() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(s, end)| {
            a.get(s)
                .map(|(t, _)| t.saturating_duration_since(*end).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let unseen_wrong = per_client
        .iter()
        .map(|client| {
            let unseen: Vec<Option<u64>> = client
                .iter()
                .map(|(s, _)| a.get(s).and_then(|(_, u)| *u))
                .collect();
            unseen
                .windows(2)
                .filter(|w| !matches!(w, [Some(x), Some(y)] if *y == x + 1))
                .count()
        })
        .sum();
    Ok(Figures {
        per_second: sent.len() as f64 / elapsed,
        latencies,
        deliveries: sent.len(),
        unseen_wrong,
    })
}

/// A raw LMTP client connection.
pub(crate) struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    pub(crate) fn connect(address: &str) -> anyhow::Result<Session> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut s = Session {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        };
        s.reply()?;
        s.writer.write_all(b"LHLO bench.client\r\n")?;
        s.reply()?;
        Ok(s)
    }

    /// The last line of one reply.
    fn reply(&mut self) -> anyhow::Result<String> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("connection closed");
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line.trim_end().to_owned());
            }
        }
    }

    /// Delivers one message; returns when DATA's end was written.
    pub(crate) fn deliver(&mut self, rcpt: &str, subject: &str) -> anyhow::Result<Instant> {
        let envelope = format!("MAIL FROM:<bench@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n");
        self.writer.write_all(envelope.as_bytes())?;
        for _ in 0..3 {
            let r = self.reply()?;
            if !(r.starts_with('2') || r.starts_with('3')) {
                bail!("{rcpt}: {r}");
            }
        }
        let body = format!(
            "From: Bench <bench@example.org>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n\
             Message-ID: <{subject}@example.org>\r\n\r\n\
             A short benchmark message, the size of a typical notification-worthy mail.\r\n\
             Second line of the body.\r\n.\r\n"
        );
        self.writer.write_all(body.as_bytes())?;
        let end = Instant::now();
        let r = self.reply()?;
        if !r.starts_with("250") {
            bail!("{rcpt}: {r}");
        }
        Ok(end)
    }
}
