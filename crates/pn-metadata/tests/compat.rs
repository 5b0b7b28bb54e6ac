//! The `file` backend writes the same dictionary as Dovecot 2.3.19 did in the captured doveadm
//! session (tests/data, see README.md): the same line pairs, byte for byte. Only the order of
//! the pairs may differ (Dovecot writes its hash table's order, which carries no meaning).

use std::fs;
use std::path::Path;

use pn_metadata::{AttributeType, FileStore, Target};
use pn_userdb::UserRecord;

const GUID: &str = "8d5a8631581b0b6b4a1d000083ecc375";

fn store(home: &Path) -> FileStore {
    let maildir = home.join("Maildir");
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(d)).expect("mkdir");
    }
    fs::write(
        maildir.join("dovecot-uidlist"),
        format!("3 V1764000000 N1 G{GUID}\n"),
    )
    .expect("uidlist");
    let mut user = UserRecord::new("alice@example.com");
    user.home = Some(home.to_path_buf());
    FileStore::for_user(&user, "file:%h/dovecot-attributes", "maildir:~/Maildir").expect("store")
}

fn data(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .expect("test data")
}

/// The file's line pairs, each pair's exact bytes, sorted.
fn pairs(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut out: Vec<Vec<u8>> = lines[..lines.len() - 1]
        .chunks(2)
        .map(|p| [p[0], b"\n", p[1], b"\n"].concat())
        .collect();
    out.sort();
    out
}

fn assert_same_dict(file: &Path, captured: &str) {
    let ours = fs::read(file).expect("dict");
    let theirs = data(captured);
    assert_eq!(ours.len(), theirs.len(), "{captured}");
    assert_eq!(pairs(&ours), pairs(&theirs), "{captured}");
}

fn set(s: &FileStore, server: bool, key: &str, value: Option<&str>) {
    let (t, k) = pn_metadata::key::parse_doveadm_key(key).expect("key");
    let target = if server {
        Target::Server
    } else {
        Target::Mailbox("INBOX")
    };
    s.set(target, t, &k, value.map(str::as_bytes)).expect("set");
}

#[test]
fn replaying_the_doveadm_session_writes_dovecots_bytes_at_every_stage() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = store(home.path());
    let file = home.path().join("dovecot-attributes");
    let http = "/private/vendor/vendor.dovecot/http-notify";

    set(&s, true, http, Some("user=11@3"));
    assert_same_dict(&file, "dovecot-attributes.after-set.txt");

    set(&s, false, "/private/comment", Some("inbox private comment"));
    set(&s, false, "/shared/comment", Some("inbox shared comment"));
    set(&s, true, "/shared/vendor/vendor.example/flag", Some("on"));
    assert_same_dict(&file, "dovecot-attributes.after-more-sets.txt");

    set(&s, true, "/private/vendor/vendor.dovecot/empty", Some(""));
    set(
        &s,
        true,
        "/private/vendor/vendor.dovecot/multi",
        Some("user=1@2\tx=y"),
    );
    assert_same_dict(&file, "dovecot-attributes.after-empty-and-tab.txt");

    set(&s, true, http, None);
    set(&s, true, http, None);
    assert_same_dict(&file, "dovecot-attributes.after-unset.txt");

    set(&s, true, "/private", Some("v"));
    set(&s, true, "/private/", Some("v"));
    set(
        &s,
        true,
        "/private/vendor/vendor.dovecot/pvt/server/foo",
        Some("x"),
    );
    set(
        &s,
        false,
        "/private/vendor/vendor.dovecot/pvt/foo",
        Some("x"),
    );
    set(&s, true, "/private/with space/key", Some("x"));
    assert_same_dict(&file, "dovecot-attributes.final.txt");
}

#[test]
fn listing_follows_dovecots_order_with_internal_attributes_last() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = store(home.path());
    fs::write(
        home.path().join("dovecot-attributes"),
        data("dovecot-attributes.after-more-sets.txt"),
    )
    .expect("dict");
    let inbox = Target::Mailbox("INBOX");
    assert_eq!(
        s.list(inbox, AttributeType::Private, "").expect("list"),
        vec![
            "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/http-notify",
            "comment",
            "specialuse"
        ]
    );
    assert_eq!(
        s.list(inbox, AttributeType::Shared, "").expect("list"),
        vec![
            "vendor/vendor.dovecot/pvt/server/vendor/vendor.example/flag",
            "comment",
            "vendor/vendor.dovecot/pvt/server/admin",
            "vendor/vendor.dovecot/pvt/server/comment"
        ]
    );
    assert_eq!(
        s.list(Target::Server, AttributeType::Private, "")
            .expect("list"),
        vec!["vendor/vendor.dovecot/http-notify"]
    );
}

#[test]
fn get_reads_values_with_tabs_and_empty_values() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = store(home.path());
    fs::write(
        home.path().join("dovecot-attributes"),
        data("dovecot-attributes.after-empty-and-tab.txt"),
    )
    .expect("dict");
    let get = |k: &str| {
        s.get(Target::Server, AttributeType::Private, k)
            .expect("get")
    };
    assert_eq!(
        get("vendor/vendor.dovecot/multi"),
        Some(b"user=1@2\tx=y".to_vec())
    );
    assert_eq!(get("vendor/vendor.dovecot/empty"), Some(Vec::new()));
    assert_eq!(get("vendor/vendor.dovecot/nonexistent"), None);
    let any = pn_metadata::MetadataStore::File(s);
    assert_eq!(
        // The ox driver asks with the key as stored (pn_driver_ox::METADATA_KEY).
        pn_metadata::host_attribute_get(
            &any,
            "",
            "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/http-notify"
        )
        .expect("host get"),
        Some(b"user=11@3".to_vec())
    );
}

#[test]
fn internal_authority_attributes_cannot_be_set() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = store(home.path());
    let err = s
        .set(Target::Server, AttributeType::Shared, "admin", Some(b"x"))
        .expect_err("read-only");
    assert_eq!(
        err.to_string(),
        "The /shared/vendor/vendor.dovecot/pvt/server/admin attribute cannot be changed"
    );
}
