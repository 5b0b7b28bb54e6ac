//! The on-disk layout: Dovecot's folder names, files and modes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pn_store::{MailboxInfo, Maildir, NewMessage};

use crate::util::message;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn folders_and_files_get_dovecots_names_and_default_modes() {
    let dir = tempfile::tempdir().unwrap();
    // The home does not exist yet: it is created on first use.
    let root = dir.path().join("home/alice/Maildir");
    let store = Maildir::open(&root);
    store.create_mailbox(None, "Foo/Bär").unwrap();
    let m = message(1);
    store
        .deliver(None, "Foo/Bär", &NewMessage::new(&m))
        .unwrap();
    let folder = root.join(".Foo.B&AOQ-r");
    for d in [
        &root,
        &folder,
        &folder.join("new"),
        &folder.join("cur"),
        &folder.join("tmp"),
    ] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert!(folder.join("maildirfolder").is_file());
    assert_eq!(mode(&folder.join("dovecot-uidlist")), 0o600);
    let file = std::fs::read_dir(folder.join("new"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(mode(&file.path()), 0o600);
    let name = file.file_name().into_string().unwrap();
    assert!(name.ends_with(",S=44,W=48"), "{name}");
    assert!(root.join("dovecot-uidvalidity").is_file());
}

#[test]
fn existing_group_permissions_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Maildir");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o770)).unwrap();
    let store = Maildir::open(&root);
    let m = message(1);
    store.deliver(None, "INBOX", &NewMessage::new(&m)).unwrap();
    assert_eq!(mode(&root.join("new")), 0o770);
    assert_eq!(mode(&root.join("dovecot-uidlist")), 0o660);
    let file = std::fs::read_dir(root.join("new"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(mode(&file.path()), 0o660);
}

#[test]
fn list_shows_inbox_first_and_parents_as_not_selectable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Maildir::open(dir.path().join("Maildir"));
    store.create_mailbox(None, "A/B/C").unwrap();
    store.create_mailbox(None, "Work").unwrap();
    store.set_subscribed(None, "Work", true).unwrap();
    let info = |name: &str, subscribed, selectable| MailboxInfo {
        name: name.to_owned(),
        subscribed,
        selectable,
    };
    assert_eq!(
        store.list_mailboxes().unwrap(),
        [
            info("INBOX", false, true),
            info("A", false, false),
            info("A/B", false, false),
            info("A/B/C", false, true),
            info("Work", true, true),
        ]
    );
    // A parent that only exists through its children can't be renamed; a real one takes its
    // children along.
    assert!(store.rename_mailbox(None, "A", "Z").is_err());
    store.create_mailbox(None, "A/B").unwrap();
    store.rename_mailbox(None, "A/B", "Z").unwrap();
    let names: Vec<String> = store
        .list_mailboxes()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "Work", "Z", "Z/C"]);
}
