//! `cargo xtask bench bridge`: Dovecot 2.3's LMTP deliveries per second with pn-bridge.lua
//! as its Lua push driver (`bridge`; and `bridge-nostatus`, with `pn_bridge_status = no`),
//! against the same Dovecot with no push plugin at all (`none`).
//!
//! The Dovecot instances run at once with the same setup (`bench lmtp`'s users, Maildir,
//! Dovecot's default `mail_fsync`); runs alternate between them round after round, so a slow
//! spell of the machine hits both alike. The script is read from the source tree
//! (`crates/pn/src/cmd/bridge/pn-bridge.lua`, what `pn bridge print-script` prints). `pn
//! bridge` itself does not run: the figure is the cost inside Dovecot's delivery path (the
//! spooled files are counted to check that every delivery was recorded).
//!
//! Needs root and `/usr/lib/dovecot/lmtp`. `PN_BENCH_SECONDS` (default 3) and
//! `PN_BENCH_ROUNDS` (default 3) as for `bench lmtp`; `PN_BENCH_BRIDGE_SCRIPT=FILE` measures
//! another script instead (how docs/bridge.md's variants were measured).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench_lmtp::{Server, Session, median, setup, user};

const DOVECOT: &str = "/usr/sbin/dovecot";
const DOVECOT_LMTP: &str = "/usr/lib/dovecot/lmtp";
const CLIENTS: [usize; 2] = [1, 4];

pub(crate) fn run() -> anyhow::Result<()> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().map(PathBuf::from).unwrap_or(manifest);
    // PN_BENCH_BRIDGE_SCRIPT measures another script (a variant under study) in its place.
    let script_path = std::env::var_os("PN_BENCH_BRIDGE_SCRIPT").map_or_else(
        || root.join("crates/pn/src/cmd/bridge/pn-bridge.lua"),
        PathBuf::from,
    );
    let script = std::fs::read_to_string(&script_path)
        .with_context(|| format!("reading {}", script_path.display()))?;
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&v| v > 0)
            .unwrap_or(d)
    };
    let (seconds, rounds) = (env("PN_BENCH_SECONDS", 3), env("PN_BENCH_ROUNDS", 3));
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    if !root_user || !Path::new(DOVECOT_LMTP).exists() {
        bail!("bench bridge needs root and Dovecot's LMTP (dovecot-lmtpd)");
    }
    let base = std::env::temp_dir().join(format!("pn-bench-bridge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    let result = measure(&base, &script, seconds, rounds);
    let _ = std::fs::remove_dir_all(&base);
    result
}

const SERVERS: [&str; 3] = ["none", "bridge", "bridge-nostatus"];

fn measure(base: &Path, script: &str, seconds: u64, rounds: u64) -> anyhow::Result<()> {
    let mut servers = Vec::new();
    for name in SERVERS {
        let (server, address) = start(&base.join(name), name, script)?;
        servers.push((name, address, server));
    }
    let mut results: Vec<(&str, usize, Vec<f64>)> = Vec::new();
    let mut delivered = [0; SERVERS.len()];
    for clients in CLIENTS {
        for round in 0..rounds {
            for (i, (name, address, _)) in servers.iter().enumerate() {
                let (rate, n) = load(address, clients, seconds, &format!("{name}-{round}"))?;
                delivered[i] += n + clients;
                match results
                    .iter_mut()
                    .find(|(n, c, _)| n == name && *c == clients)
                {
                    Some((_, _, r)) => r.push(rate),
                    None => results.push((name, clients, vec![rate])),
                }
            }
        }
    }
    drop(servers);
    println!("\nDovecot LMTP deliveries/s, {rounds} rounds of {seconds} s, interleaved");
    println!(
        "none: no push plugin; bridge: notify push_notification mail_lua \
         push_notification_lua + pn-bridge.lua; bridge-nostatus: with pn_bridge_status = no"
    );
    for (name, clients, rates) in &results {
        let listed: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
        println!(
            "{name:<8} {clients} client(s): {:.1}/s median (rounds: {})",
            median(rates.iter().copied()),
            listed.join(" ")
        );
    }
    for clients in CLIENTS {
        let rates = |n: &str| {
            results
                .iter()
                .find(|(name, c, _)| *name == n && *c == clients)
                .map(|(_, _, r)| r.clone())
                .unwrap_or_default()
        };
        for bridge in ["bridge", "bridge-nostatus"] {
            let ratios: Vec<f64> = rates(bridge)
                .iter()
                .zip(rates("none"))
                .map(|(b, n)| b / n.max(f64::MIN_POSITIVE))
                .collect();
            let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "ratio {bridge}/none, {clients} client(s): {:.2}x median (rounds: {})",
                median(ratios.iter().copied()),
                listed.join(" ")
            );
        }
    }
    for (i, name) in SERVERS.iter().enumerate().skip(1) {
        let spooled = std::fs::read_dir(base.join(name).join("spool/new"))?.count();
        println!(
            "{name}: {spooled} transactions spooled for {} deliveries (warm-up included; \
             the first delivery to a user also creates its INBOX)",
            delivered[i]
        );
    }
    Ok(())
}

/// Starts one Dovecot of [`SERVERS`]; the bridge ones run the script, spooling to `dir/spool`.
fn start(dir: &Path, name: &str, script: &str) -> anyhow::Result<(Server, String)> {
    let spool = &dir.join("spool");
    let (users, ids) = setup(dir, true)?;
    let (uid, gid) = ids.context("ids of nobody")?;
    for d in ["run", "state"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    let plugins = if name != "none" {
        for d in ["tmp", "new"] {
            std::fs::create_dir_all(spool.join(d))?;
        }
        let ok = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(spool)
            .status()?
            .success();
        if !ok {
            bail!("chown failed");
        }
        let file = dir.join("pn-bridge.lua");
        std::fs::write(
            &file,
            script.replace("@PN_BRIDGE_SPOOL@", &spool.display().to_string()),
        )?;
        format!(
            "protocol lmtp {{\n  mail_plugins = $mail_plugins notify push_notification mail_lua push_notification_lua\n}}\n\
             plugin {{\n  push_notification_driver = lua:file={}\n  pn_bridge_status = {}\n}}\n",
            file.display(),
            if name == "bridge-nostatus" {
                "no"
            } else {
                "yes"
            }
        )
    } else {
        String::new()
    };
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let b = dir.display();
    let conf = dir.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {b}/run\nstate_dir = {b}/state\ninstance_name = pn-bench-bridge-{port}\n\
             log_path = {b}/dovecot.log\nlisten = 127.0.0.1\nprotocols = lmtp\nssl = no\n\
             default_login_user = dovenull\ndefault_internal_user = dovecot\n\
             mail_location = maildir:~/Maildir\nhostname = bench.example.com\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {u}\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {u}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n}}\n{plugins}",
            u = users.display(),
        ),
    )?;
    let child = Command::new(DOVECOT)
        .arg("-F")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()?;
    let server = Server(child, Some(conf));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("Dovecot did not start; see {b}/dovecot.log");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((server, format!("127.0.0.1:{port}")))
}

/// `clients` connections delivering back to back for `seconds`: (deliveries/s, deliveries).
fn load(address: &str, clients: usize, seconds: u64, label: &str) -> anyhow::Result<(f64, usize)> {
    // Warm up: one delivery per client's user (starts the lmtp processes), not counted.
    for c in 0..clients {
        Session::connect(address)?.deliver(&user(c), &format!("warmup-{label}-{c}"))?;
    }
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let address = address.to_owned();
            let label = label.to_owned();
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let mut s = Session::connect(&address)?;
                let mut n = 0;
                while Instant::now() < until {
                    s.deliver(&user(c), &format!("bench-{label}-{clients}-{c}-{n}"))?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        match h.join() {
            Ok(n) => total += n?,
            Err(_) => bail!("a client thread panicked"),
        }
    }
    Ok((total as f64 / start.elapsed().as_secs_f64(), total))
}
