//! The `pn` binary on a full disk (issue 21.2): a 2 MiB tmpfs filled up with 0 to 3 pages
//! left, so some step of a delivery (message, dotlock, uidlist) hits ENOSPC; afterwards no
//! lock is left and the next delivery does not wait out the 120 s stale timeout. Needs root
//! (`mount -t tmpfs`); says so and checks nothing otherwise.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use util::raw_lmtp::{HELLO, Lmtp, MESSAGE, PN, is_root, static_conf, stderr, tree};

// ---- 21.2: a full disk -----------------------------------------------------------------

/// A 2 MiB tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_owned()))
    }

    /// Fills the file system, then frees `pages` pages.
    fn fill_leaving(&self, pages: u64) {
        let filler = self.0.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = [0u8; 4096];
        loop {
            match f.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(pages * 4096) / 4096 * 4096)
            .unwrap();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs `cmd`, killing it after `secs`: `None` when it had to be killed.
fn within(mut cmd: Command, secs: u64) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..secs * 20 {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn lock_files(maildir: &Path) -> Vec<String> {
    tree(maildir)
        .into_iter()
        .filter(|p| p.ends_with(".lock"))
        .collect()
}

#[test]
fn a_full_disk_leaves_no_lock_for_the_next_delivery_to_wait_out() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the full-disk test (it mounts a tmpfs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mail")) else {
        eprintln!("NOTICE: mount -t tmpfs failed, skipping the full-disk test");
        return;
    };
    let conf = static_conf(dir.path(), "");
    let maildir = dir.path().join("mail/example.com/alice/Maildir");
    let deliver = |timeout: u64| {
        let mut cmd = Command::new(PN);
        cmd.arg("-c")
            .arg(&conf)
            .args(["deliver", "-d", "alice@example.com", "-p", HELLO])
            .env_remove("PN_CONFIG");
        within(cmd, timeout)
    };
    let first = deliver(60).expect("first delivery finished");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let mut failures = 0;
    // With 0 to 3 pages free, some step of the delivery (message, lock, uidlist) hits ENOSPC.
    for pages in 0..4 {
        fs.fill_leaving(pages);
        // Generous, and far below the 120 s stale timeout an empty lock used to cost.
        let out = deliver(60).expect("a delivery on a full disk waited for a lock");
        if out.status.code() != Some(0) {
            failures += 1;
            assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
        }
        fs.free();
        assert_eq!(
            lock_files(&maildir),
            Vec::<String>::new(),
            "{pages} pages free"
        );
        let out = deliver(60).expect("the delivery after the disk filled waited for a lock");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert!(failures > 0, "the disk never filled up");
    assert_eq!(lock_files(&maildir), Vec::<String>::new());
}

#[test]
fn a_full_disk_leaves_no_lock_for_the_next_lmtp_delivery_to_wait_out() {
    if !is_root() {
        eprintln!("NOTICE: not root, skipping the full-disk test (it mounts a tmpfs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mail")) else {
        eprintln!("NOTICE: mount -t tmpfs failed, skipping the full-disk test");
        return;
    };
    let conf = static_conf(dir.path(), "");
    let maildir = dir.path().join("mail/example.com/alice/Maildir");
    let server = Lmtp::start(&conf, &[]);
    let mut c = server.connect();
    let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
    assert!(data[0].starts_with("250"), "{data:?}");
    let mut failures = 0;
    for pages in 0..4 {
        fs.fill_leaving(pages);
        let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
        if !data[0].starts_with("250") {
            failures += 1;
        }
        fs.free();
        assert_eq!(
            lock_files(&maildir),
            Vec::<String>::new(),
            "{pages} pages free"
        );
        // The read timeout (60 s) is far below the 120 s stale timeout.
        let (_, data) = c.transaction(&["alice@example.com"], MESSAGE);
        assert!(data[0].starts_with("250"), "{data:?}");
    }
    assert!(failures > 0, "the disk never filled up");
}
