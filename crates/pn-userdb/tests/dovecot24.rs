//! Dovecot 2.4's userdb forms: `userdb NAME { }` naming its driver, `passwd_file_path`, and
//! static `fields { }`; errors name the section's position.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use pn_config::{Config, ParseOptions};
use pn_userdb::UserDb;

fn userdb(text: &str) -> Result<UserDb, pn_userdb::UserDbError> {
    let c = Config::parse_str(text, Path::new("t.conf"), &ParseOptions::default()).unwrap();
    UserDb::from_settings(&c.effective("lmtp"), Path::new("/nonexistent"))
}

#[test]
fn passwd_file_path_in_a_section_named_after_its_driver() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        "alice@example.com:{PLAIN}x:1000:1000::/home/alice::\n",
    )
    .unwrap();
    let db = userdb(&format!(
        "userdb passwd-file {{\n  passwd_file_path = {}\n}}\n",
        users.display()
    ))
    .unwrap();
    let alice = db.lookup("alice@example.com").unwrap().unwrap();
    assert_eq!(alice.uid, Some(1000));
    assert_eq!(alice.home.as_deref(), Some(Path::new("/home/alice")));
    assert!(db.lookup("bob@example.com").unwrap().is_none());
}

#[test]
fn static_fields_are_the_templates() {
    let db = userdb(
        "userdb static {\n  fields {\n    uid = 1000\n    gid = 1000\n    home = /var/mail/%{user}\n  }\n}\n",
    )
    .unwrap();
    let u = db.lookup("bob@example.com").unwrap().unwrap();
    assert_eq!(
        u.home.as_deref(),
        Some(Path::new("/var/mail/bob@example.com"))
    );
    assert_eq!(u.gid, Some(1000));
}

#[test]
fn an_unnamed_section_without_driver_is_an_error_at_its_position() {
    let e = userdb("mail_path = ~/Maildir\nuserdb {\n  args = /x\n}\n").unwrap_err();
    assert_eq!(e.to_string(), "t.conf:2:1: userdb: driver is missing");
}
