//! `pn lmtp`'s backend: recipients looked up in the userdb, messages delivered into the
//! user's store with push notifications, under the settings in force (swapped on SIGHUP).

use std::sync::Arc;

use pn_lmtp::{Backend, Envelope, Message, Reply};
use pn_userdb::UserRecord;

use crate::cmd::deliver::{deliver, incoming};
use crate::privileges;
use crate::session::{LookupError, ServerOutbox, Session};

/// What a configuration reload (SIGHUP) replaces: the settings new deliveries use.
pub(crate) struct Live {
    pub(crate) session: Session,
    detail_mailbox: bool,
    delimiter: String,
}

impl Live {
    /// The settings of `session`.
    pub(crate) fn new(session: Session) -> Live {
        Live {
            detail_mailbox: session.flag("lmtp_save_to_detail_mailbox"),
            delimiter: session
                .setting("recipient_delimiter")
                .unwrap_or_else(|| "+".to_owned()),
            session,
        }
    }
}

/// The store behind the server.
pub(crate) struct StoreBackend {
    /// Swapped whole on SIGHUP; a delivery keeps the `Arc` it started with.
    pub(crate) live: std::sync::RwLock<Arc<Live>>,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    pub(crate) outbox: ServerOutbox,
    pub(crate) ids: Ids,
}

/// Whose ids deliveries run with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ids {
    /// The process's: every recipient must have this uid.
    Process(u32),
    /// The recipient's, on the delivering thread only (started as root without `mail_uid`).
    PerDelivery,
}

/// An accepted recipient.
pub(crate) struct Recipient {
    address: String,
    record: UserRecord,
    detail: Option<String>,
    /// The ids to deliver with in [`Ids::PerDelivery`] mode.
    ids: Option<(u32, u32)>,
}

impl StoreBackend {
    /// The settings in force now.
    fn live(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(l) => Arc::clone(&l),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// New deliveries use `live` from now on.
    pub(crate) fn replace(&self, live: Live) {
        let live = Arc::new(live);
        match self.live.write() {
            Ok(mut l) => *l = live,
            Err(poisoned) => *poisoned.into_inner() = live,
        }
    }

    /// `local+detail@domain` → (`local@domain`, `detail`), with any character of
    /// `recipient_delimiter` as the separator.
    fn split_detail(live: &Live, address: &str) -> (String, Option<String>) {
        let (local, domain) = match address.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (address, None),
        };
        let at = if live.delimiter.is_empty() {
            None
        } else {
            local.find(|c| live.delimiter.contains(c))
        };
        let (base, detail) = match at {
            Some(i) => (&local[..i], Some(local[i + 1..].to_owned())),
            None => (local, None),
        };
        let username = match domain {
            Some(d) => format!("{base}@{d}"),
            None => base.to_owned(),
        };
        (username, detail.filter(|d| !d.is_empty()))
    }
}

impl Backend for StoreBackend {
    type Recipient = Recipient;

    fn recipient(&self, address: &str) -> Result<Recipient, Reply> {
        // Dovecot's RCPT parser refuses these domains before any lookup; a path-like local
        // part is an unknown user (550), found by the lookup.
        if let Err(why) = pn_userdb::check_username(address)
            && !matches!(why, pn_userdb::InvalidName::PathLike(_))
        {
            let why = match why {
                pn_userdb::InvalidName::EmptySubDomain if address.ends_with('.') => {
                    "Invalid character in domain".to_owned()
                }
                other => other.to_string(),
            };
            return Err(Reply::new(501, "5.5.4", format!("Invalid TO: {why}")));
        }
        let live = self.live();
        let (username, detail) = Self::split_detail(&live, address);
        let tempfail = || {
            Reply::new(
                451,
                "4.3.0",
                format!("<{address}> Temporary internal error"),
            )
        };
        let record = match live.session.lookup(&username) {
            Ok(r) => r,
            Err(LookupError::Unknown | LookupError::Invalid(_)) => {
                return Err(Reply::new(
                    550,
                    "5.1.1",
                    format!("<{address}> User doesn't exist: {username}"),
                ));
            }
            Err(LookupError::Failed(why)) => {
                tracing::error!("lmtp({username}): User lookup failed: {why}");
                return Err(tempfail());
            }
        };
        let ids = match live.session.mail_ids(&record) {
            Err(e) => {
                tracing::error!("lmtp({username}): {e}");
                return Err(tempfail());
            }
            Ok(ids) => ids,
        };
        let thread_ids = match (self.ids, ids.uid, ids.gid) {
            (Ids::Process(euid), Some(uid), _) if uid != euid => {
                tracing::error!(
                    "lmtp({username}): refusing delivery: the user's uid {uid} differs from \
                     the server's uid {euid} (pn lmtp started with mail_uid delivers as that \
                     one uid; see docs/lmtp.md)"
                );
                return Err(tempfail());
            }
            (Ids::Process(_), _, _) => None,
            (Ids::PerDelivery, Some(uid), Some(gid)) => Some((uid, gid)),
            (Ids::PerDelivery, Some(uid), None) => {
                tracing::error!(
                    "lmtp({username}): User has UID {uid} but no GID (set gid in the userdb \
                     or mail_gid)"
                );
                return Err(tempfail());
            }
            (Ids::PerDelivery, None, _) => {
                tracing::error!("lmtp({username}): {}", privileges::MISSING_UID);
                return Err(tempfail());
            }
        };
        Ok(Recipient {
            address: address.to_owned(),
            record,
            detail,
            ids: thread_ids,
        })
    }

    fn deliver(&self, envelope: &Envelope, rcpt: &Recipient, message: &Message) -> Reply {
        let reply = self.deliver_one(envelope, rcpt, message);
        self.metrics.delivery(reply.code);
        reply
    }

    fn session_opened(&self) {
        self.metrics.session_opened();
    }

    fn session_closed(&self) {
        self.metrics.session_closed();
    }
}

impl StoreBackend {
    fn deliver_one(&self, envelope: &Envelope, rcpt: &Recipient, message: &Message) -> Reply {
        let live = self.live();
        let address = &rcpt.address;
        let username = rcpt.record.username.clone();
        let span = tracing::info_span!("lmtp", user = %username, session = %envelope.id);
        let _entered = span.enter();
        // Declared before the user's store and drivers, so it is dropped after them: every
        // file of the user is closed before the thread is root again.
        let _thread_ids = match rcpt
            .ids
            .map(|(uid, gid)| privileges::ThreadIds::switch(uid, gid))
        {
            Some(Err(e)) => {
                tracing::error!("lmtp({username}): {e}");
                return Reply::new(
                    451,
                    "4.3.0",
                    format!("<{address}> Temporary internal error"),
                );
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let user = match live.session.shared_mail_user(
            rcpt.record.clone(),
            &self.outbox,
            envelope.id.clone(),
        ) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("lmtp({username}): {e}");
                return Reply::new(
                    451,
                    "4.3.0",
                    format!("<{address}> Temporary internal error"),
                );
            }
        };
        let raw_user = user.raw_user();
        let mailbox = match (&rcpt.detail, live.detail_mailbox) {
            (Some(d), true) => d.as_str(),
            _ => "INBOX",
        };
        let incoming = incoming(message);
        let result = deliver(&live.session, &user, mailbox, &incoming);
        // The 250 promises the notification too: it is durable before we answer.
        let committed = match &result {
            Ok(_) => user.commit_outbox(),
            Err(_) => Ok(()),
        };
        drop(raw_user);
        drop(user);
        if let Err(e) = committed {
            tracing::error!("lmtp({username}): {e}");
            return Reply::new(
                451,
                "4.3.0",
                format!("<{address}> Temporary internal error"),
            );
        }
        match result {
            Ok(_) => Reply::new(250, "2.0.0", format!("<{address}> {} Saved", envelope.id)),
            Err(e) if e.is_temporary() => Reply::new(451, "4.2.0", format!("<{address}> {e}")),
            Err(e) => Reply::new(552, "5.2.0", format!("<{address}> {e}")),
        }
    }
}
