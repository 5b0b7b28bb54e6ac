//! Concurrent deliveries (threads and processes) and crashes in the middle of a delivery.
//!
//! Child processes are this test binary running `concurrency::helper_process` with
//! `PN_STORE_HELPER` set: `deliver <root> <count>` or `crash <root> tmp|renamed`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pn_store::{Maildir, NewMessage, SaveStep, StoreOptions};

use crate::util::message;

const HELPER_ENV: &str = "PN_STORE_HELPER";

/// Not a test of its own: the body of the child processes.
#[test]
fn helper_process() {
    let Ok(args) = std::env::var(HELPER_ENV) else {
        return;
    };
    let args: Vec<&str> = args.split('\t').collect();
    match args.as_slice() {
        ["deliver", root, count] => {
            let store = Maildir::open(root);
            for i in 0..count.parse::<usize>().unwrap() {
                let m = message(i);
                store.deliver(None, "INBOX", &NewMessage::new(&m)).unwrap();
            }
        }
        ["crash", root, step] => {
            let at = if *step == "tmp" {
                SaveStep::TmpWritten
            } else {
                SaveStep::Renamed
            };
            let options = StoreOptions {
                save_hook: Some(Arc::new(move |s| {
                    if s == at {
                        // Simulated power loss: no cleanup, the lock stays behind.
                        std::process::exit(9);
                    }
                })),
                ..StoreOptions::default()
            };
            let m = message(99);
            let _ =
                Maildir::with_options(root, options).deliver(None, "INBOX", &NewMessage::new(&m));
            panic!("the hook should have exited");
        }
        other => panic!("bad helper args {other:?}"),
    }
}

fn spawn_helper(args: &[&str]) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "concurrency::helper_process",
            "--test-threads=1",
            "--quiet",
        ])
        .env(HELPER_ENV, args.join("\t"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn assert_uids_are_1_to(store: &Maildir, n: u32) {
    let msgs = store.messages("INBOX").unwrap();
    let uids: BTreeSet<u32> = msgs.iter().map(|m| m.uid).collect();
    assert_eq!(uids, (1..=n).collect::<BTreeSet<u32>>());
    assert_eq!(msgs.len() as u32, n);
    let status = store.status("INBOX").unwrap();
    assert_eq!((status.messages, status.uid_next), (n, n + 1));
}

#[test]
fn threads_delivering_at_once_get_distinct_uids() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Maildir::open(&root);
            std::thread::spawn(move || {
                let mut uids = Vec::new();
                for i in 0..15 {
                    let m = message(t * 100 + i);
                    uids.extend(
                        store
                            .deliver(None, "INBOX", &NewMessage::new(&m))
                            .unwrap()
                            .uids,
                    );
                }
                uids
            })
        })
        .collect();
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=60).collect::<Vec<u32>>());
    assert_uids_are_1_to(&Maildir::open(&root), 60);
}

#[test]
fn processes_and_threads_delivering_at_once_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let root_s = root.to_str().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| spawn_helper(&["deliver", root_s, "12"]))
        .collect();
    let store = Maildir::open(&root);
    for i in 0..12 {
        let m = message(i);
        store.deliver(None, "INBOX", &NewMessage::new(&m)).unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_uids_are_1_to(&store, 48);
}

fn crash(root: &Path, step: &str) {
    let status = spawn_helper(&["crash", root.to_str().unwrap(), step])
        .wait()
        .unwrap();
    assert_eq!(status.code(), Some(9), "the child should have 'crashed'");
}

#[test]
fn a_crash_after_the_tmp_write_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let store = Maildir::open(&root);
    let m = message(1);
    store.deliver(None, "INBOX", &NewMessage::new(&m)).unwrap();
    crash(&root, "tmp");
    // The unacknowledged message is only in tmp/: not visible, the MTA delivers it again.
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 1);
    assert_uids_are_1_to(&store, 1);
    let again = store
        .deliver(None, "INBOX", &NewMessage::new(&message(99)))
        .unwrap();
    assert_eq!(again.uids, [2]);
    assert_uids_are_1_to(&store, 2);
}

#[test]
fn a_crash_after_the_rename_keeps_the_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let store = Maildir::open(&root);
    let m = message(1);
    store.deliver(None, "INBOX", &NewMessage::new(&m)).unwrap();
    crash(&root, "renamed");
    // The dead process's dotlock is still there; it is taken over once its pid is checked.
    assert!(root.join("dovecot-uidlist.lock").exists());
    assert_uids_are_1_to(&store, 2);
    assert_eq!(
        store.read_message("INBOX", 2).unwrap(),
        b"From: a@example.com\nSubject: test 99\n\nbody 99\n"
    );
    let again = store
        .deliver(None, "INBOX", &NewMessage::new(&message(3)))
        .unwrap();
    assert_eq!(again.uids, [3]);
    assert_uids_are_1_to(&store, 3);
    assert!(!root.join("dovecot-uidlist.lock").exists());
}
