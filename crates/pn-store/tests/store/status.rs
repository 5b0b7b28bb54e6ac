//! Status through the cache agrees with a status counted from scratch, whatever mix of pn's
//! own saves, flag changes and expunges and other writers' changes (files dropped into
//! `new/` without a UID, moved to `cur/` and marked seen behind pn's back) came before.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pn_event::MailFlags;
use pn_store::{FlagOp, Maildir, NewMessage, StatusCache, StoreOptions};

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Sets a directory's mtime into the past, as if it had been quiet for a while.
fn age(dir: &Path) {
    let past = SystemTime::now() - Duration::from_secs(30);
    fs::File::open(dir).unwrap().set_modified(past).unwrap();
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn cached_status_matches_a_full_count_through_any_mix_of_changes() {
    // With inotify watches, and with the mtime rules alone.
    mix(StatusCache::new(4), true);
    mix(StatusCache::new(4).watching(false), false);
}

fn mix(cache: StatusCache, watching: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let cache = Arc::new(cache);
    let cached = Maildir::with_options(
        &root,
        StoreOptions {
            status_cache: Some(Arc::clone(&cache)),
            ..StoreOptions::default()
        },
    );
    let plain = Maildir::with_options(
        &root,
        StoreOptions {
            status_cache: None,
            ..StoreOptions::default()
        },
    );
    cached
        .deliver(None, "INBOX", &NewMessage::new(b"Subject: first\n\n\n"))
        .unwrap();
    let mut rng = Rng(7);
    let mut foreign = 0;
    for step in 0..300 {
        match rng.below(7) {
            0 | 1 => {
                let body = format!("Subject: {step}\n\nbody\n");
                cached
                    .deliver(None, "INBOX", &NewMessage::new(body.as_bytes()))
                    .unwrap();
            }
            2 => {
                // Another MDA: a file in new/ that no uidlist names yet.
                foreign += 1;
                let name = format!("1700000000.M{foreign}P1.other,S=10,W=11");
                fs::write(root.join("new").join(name), "Subject: x\n\n\n").unwrap();
            }
            3 => {
                // An IMAP server moving a message to cur/ and marking it seen.
                let new = files(&root.join("new"));
                if !new.is_empty() {
                    let f = &new[rng.below(new.len() as u64) as usize];
                    let base = f.split(':').next().unwrap();
                    fs::rename(
                        root.join("new").join(f),
                        root.join("cur").join(format!("{base}:2,S")),
                    )
                    .unwrap();
                }
            }
            4 => {
                let msgs = plain.messages("INBOX").unwrap();
                if !msgs.is_empty() {
                    let uid = msgs[rng.below(msgs.len() as u64) as usize].uid;
                    let op = if rng.below(2) == 0 {
                        FlagOp::Add
                    } else {
                        FlagOp::Remove
                    };
                    plain
                        .update_flags(None, "INBOX", &[uid], op, MailFlags::SEEN, &[])
                        .unwrap();
                }
            }
            5 => {
                let msgs = plain.messages("INBOX").unwrap();
                if !msgs.is_empty() {
                    let uid = msgs[rng.below(msgs.len() as u64) as usize].uid;
                    plain.expunge(None, "INBOX", &[uid]).unwrap();
                }
            }
            _ => {
                // Quiet for a while: the cache may now trust unchanged mtimes.
                age(&root.join("new"));
                age(&root.join("cur"));
            }
        }
        let a = cached.status("INBOX").unwrap();
        let again = cached.status("INBOX").unwrap();
        let b = plain.status("INBOX").unwrap();
        assert_eq!(a, b, "step {step}: cached vs counted");
        assert_eq!(again, b, "step {step}: second cached call");
    }
    let last = plain.status("INBOX").unwrap();
    assert!(last.messages > 20, "the mix left messages: {last:?}");
    assert!(last.unseen < last.messages, "some are seen: {last:?}");
    let stats = cache.stats();
    assert!(stats.answered > 100, "{stats:?}");
    if watching {
        assert!(stats.events > 100, "{stats:?}");
        // Listed on first use and after full syncs rewrote the uidlist behind files
        // without UIDs, never because a directory changed.
        assert!(stats.listings < stats.answered / 2, "{stats:?}");
    } else {
        assert_eq!(stats.events, 0, "{stats:?}");
    }
}

#[test]
fn a_uidlist_replaced_by_another_writer_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Maildir::open(dir.path().join("Maildir"));
    for _ in 0..3 {
        store
            .deliver(None, "INBOX", &NewMessage::new(b"Subject: a\n\nb\n"))
            .unwrap();
    }
    assert_eq!(store.status("INBOX").unwrap().messages, 3);
    // Another writer renames a new uidlist into place naming only the first two files.
    let path = dir.path().join("Maildir/dovecot-uidlist");
    let text = fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    let victim = text
        .lines()
        .nth(3)
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_owned();
    fs::remove_file(dir.path().join("Maildir/new").join(&victim)).unwrap();
    let tmp = dir.path().join("Maildir/dovecot-uidlist.new");
    fs::write(&tmp, format!("{}\n", kept.join("\n"))).unwrap();
    fs::rename(&tmp, &path).unwrap();
    let s = store.status("INBOX").unwrap();
    assert_eq!((s.messages, s.unseen), (2, 2));
    let counted = Maildir::with_options(
        dir.path().join("Maildir"),
        StoreOptions {
            status_cache: None,
            ..StoreOptions::default()
        },
    );
    assert_eq!(s, counted.status("INBOX").unwrap());
}

#[test]
fn a_mailbox_renamed_away_and_created_anew_is_counted_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    let cache = Arc::new(StatusCache::new(8));
    let cached = Maildir::with_options(
        &root,
        StoreOptions {
            status_cache: Some(Arc::clone(&cache)),
            ..StoreOptions::default()
        },
    );
    let plain = Maildir::with_options(
        &root,
        StoreOptions {
            status_cache: None,
            ..StoreOptions::default()
        },
    );
    let msg = NewMessage::new(b"Subject: s\n\nb\n");
    cached.create_mailbox(None, "Foo").unwrap();
    cached.deliver(None, "Foo", &msg).unwrap();
    cached.deliver(None, "Foo", &msg).unwrap();
    assert_eq!(cached.status("Foo").unwrap().messages, 2);
    // The watches on Foo's directories follow them to Bar.
    cached.rename_mailbox(None, "Foo", "Bar").unwrap();
    cached.create_mailbox(None, "Foo").unwrap();
    cached.deliver(None, "Foo", &msg).unwrap();
    let foo = cached.status("Foo").unwrap();
    assert_eq!(foo.messages, 1, "{foo:?}");
    assert_eq!(foo, plain.status("Foo").unwrap());
    // Changes in Bar are not taken for Foo's, and the cache answers for the new Foo (rather
    // than falling back to a full count every time).
    cached.deliver(None, "Bar", &msg).unwrap();
    let answered = cache.stats().answered;
    assert_eq!(cached.status("Foo").unwrap(), plain.status("Foo").unwrap());
    assert_eq!(cache.stats().answered, answered + 1, "{:?}", cache.stats());
    assert_eq!(cached.status("Bar").unwrap(), plain.status("Bar").unwrap());
    assert_eq!(cached.status("Bar").unwrap().messages, 3);
}
