//! `user:metadata_*`, `mailbox:metadata_*` and `mailbox:status()` against pn's real Maildir
//! store and pn-metadata's file dictionary (Dovecot's format) in a temporary home.

use std::path::Path;
use std::sync::Arc;

use pn_core::{AttributeType, HostError, MailboxHost, MailboxStatus, UserInfo};
use pn_metadata::{FileStore, Target};
use pn_store::{Maildir, NewMessage};
use pn_userdb::UserRecord;
use tracing::Level;

use crate::util::{Capture, alice, engine, script, user};

/// A mail store with attributes: what a pn host provides.
struct Host {
    maildir: Maildir,
    meta: FileStore,
}

fn target(mailbox: &str) -> Target<'_> {
    if mailbox.is_empty() {
        Target::Server
    } else {
        Target::Mailbox(mailbox)
    }
}

fn host_err(e: impl std::fmt::Display) -> HostError {
    HostError::new(e.to_string())
}

impl MailboxHost for Host {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        self.maildir.status(mailbox).map_err(host_err)
    }

    fn attribute_get_typed(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        t: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.meta.get(target(mailbox), t, key).map_err(host_err)
    }

    fn attribute_set(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        t: AttributeType,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), HostError> {
        self.meta
            .set(target(mailbox), t, key, value)
            .map_err(host_err)
    }

    fn attribute_list(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        t: AttributeType,
        prefix: &str,
    ) -> Result<Vec<String>, HostError> {
        self.meta.list(target(mailbox), t, prefix).map_err(host_err)
    }
}

fn host(home: &Path) -> Host {
    let maildir = Maildir::open(home.join("Maildir"));
    maildir
        .deliver(None, "INBOX", &NewMessage::new(b"Subject: a\n\nhello\n"))
        .expect("deliver");
    maildir
        .deliver(None, "INBOX", &NewMessage::new(b"Subject: b\n\nhello\n"))
        .expect("deliver");
    let mut record = UserRecord::new("alice@example.com");
    record.home = Some(home.to_path_buf());
    let meta = FileStore::for_user(&record, "file:%h/dovecot-attributes", "maildir:~/Maildir")
        .expect("store");
    Host { maildir, meta }
}

const SCRIPT: &str = r#"
function dovecot_lua_notify_begin_txn(user)
  user:metadata_set("/private/vendor/vendor.dovecot/http-notify", "user=11@3")
  user:metadata_set("/private/push/a", "1")
  user:metadata_set("/private/push/b", "x\ty")
  user:metadata_unset("/private/push/a")
  local v, missing = user:metadata_get("/private/vendor/vendor.dovecot/http-notify", "/private/none")
  dovecot.i_info("get " .. v .. " " .. tostring(missing))
  local keys = {}
  for k, val in pairs(user:metadata_list("/private/push/")) do keys[#keys + 1] = k .. "=" .. val end
  table.sort(keys)
  dovecot.i_info("list " .. table.concat(keys, ","))

  local box = user:mailbox("INBOX")
  box:metadata_set("/private/comment", "inbox note")
  dovecot.i_info("box " .. box:metadata_get("/private/comment"))
  local st = box:status(dovecot.storage.STATUS_MESSAGES, dovecot.storage.STATUS_UNSEEN,
                        dovecot.storage.STATUS_UIDNEXT)
  dovecot.i_info(string.format("status %s %d %d %d %d %s", st.mailbox, st.messages, st.unseen,
                               st.uidnext, st.recent, math.type(st.messages)))
  box:free()
  local ok, err = pcall(function() user:mailbox("Nope"):sync() end)
  dovecot.i_info(err)
  return {}
end
function dovecot_lua_notify_event_mailbox_create(ctx, e) end
function dovecot_lua_notify_end_txn(ctx, ok) end
"#;

#[test]
fn metadata_and_status_reach_the_mail_store() {
    let capture = Capture::default();
    let _g = capture.install();
    let home = tempfile::tempdir().expect("tempdir");
    let host = Arc::new(host(home.path()));
    let path = script(home.path(), "push.lua", SCRIPT);
    let pn = engine(host.clone());
    let u = user(
        &pn,
        alice("imap"),
        &format!("lua:file={}", path.display()),
        &[],
    );
    u.mailbox_created("X");
    let lines = capture.take();
    assert!(
        Capture::lua_messages(&lines, Level::ERROR).is_empty(),
        "{lines:?}"
    );
    let info = Capture::lua_messages(&lines, Level::INFO);
    assert_eq!(info[0], "get user=11@3 nil");
    assert_eq!(info[1], "list /private/push/b=x\ty");
    assert_eq!(info[2], "box inbox note");
    assert_eq!(info[3], "status INBOX 2 2 3 0 float");
    assert!(
        info[4].starts_with("mailbox_sync(Nope) failed: "),
        "{info:?}"
    );

    // The ox driver reads the same server entry.
    assert_eq!(
        host.meta
            .get(
                Target::Server,
                AttributeType::Private,
                "vendor/vendor.dovecot/http-notify"
            )
            .expect("get"),
        Some(b"user=11@3".to_vec())
    );
    let dict = std::fs::read_to_string(home.path().join("dovecot-attributes")).expect("dict");
    assert!(
        dict.contains("vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/http-notify"),
        "{dict}"
    );
}
