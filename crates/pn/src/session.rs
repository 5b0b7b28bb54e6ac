//! One mail user's session, shared by `pn deliver` and the doveadm-style mail commands:
//! the configuration for a protocol, the userdb lookup, the switch to the user's ids, the
//! user's Maildir and its push-notification user (Dovecot's `mail-storage-service`).

use std::path::PathBuf;
use std::sync::Arc;

use pn_dispatch::{DispatchConfig, Dispatcher};

use pn_config::{Config, Location, Settings, UserSettings};
use pn_core::{
    HostError, MailboxHost, MailboxStatus, MemoryOutbox, PluginEnv, PushNotifications, PushUser,
    UserInfo,
};
use pn_event::MessageSource;
use pn_metadata::{MailLocation, MetadataStore};
use pn_store::{Maildir, StoreOptions};
use pn_userdb::{UserDb, UserRecord};

use crate::Cli;
use crate::exit::{EX_TEMPFAIL, Failure};
use crate::privileges;

/// Dovecot's default `auth_username_chars`.
const DEFAULT_USERNAME_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@";

/// pn's data directory: `pn_data_dir`, else `$PN_DATA_DIR`, else `$XDG_DATA_HOME/pn`, else
/// `~/.local/share/pn`. The embedded default's static userdb puts homes under `home/`.
pub(crate) fn data_dir(setting: Option<String>) -> PathBuf {
    if let Some(d) = setting.filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("PN_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("pn");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/var/lib"), PathBuf::from);
    home.join(".local/share/pn")
}

/// The configuration and userdb of one command run.
pub(crate) struct Session {
    config: Config,
    protocol: &'static str,
    settings: Settings,
    userdb: UserDb,
}

/// Why a user could not be looked up.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// A user name the userdb would never accept (auth's `auth_username_chars`); Dovecot
    /// answers "unknown user" for it.
    Invalid(String),
    /// No userdb knows the user.
    Unknown,
    /// The userdb could not be read.
    Failed(String),
}

impl Session {
    /// Loads the configuration (`-c`/embedded default, `-o`) for `protocol` and the userdb.
    pub(crate) fn open(cli: &Cli, protocol: &'static str) -> Result<Session, Failure> {
        let config = crate::settings::load(cli)?;
        let settings = config.effective(protocol);
        let data_dir = data_dir(text(&settings, "pn_data_dir"));
        let userdb = UserDb::from_settings(&settings, &data_dir)
            .map_err(|e| Failure::new(EX_TEMPFAIL, format!("pn: {e}")))?;
        Ok(Session {
            config,
            protocol,
            settings,
            userdb,
        })
    }

    /// A setting's value, `None` when unset.
    pub(crate) fn setting(&self, key: &str) -> Option<String> {
        text(&self.settings, key)
    }

    /// A boolean setting (`yes`/`no`), `false` when unset.
    pub(crate) fn flag(&self, key: &str) -> bool {
        self.setting(key)
            .is_some_and(|v| matches!(v.trim(), "yes" | "y" | "1" | "true"))
    }

    /// Looks the user up after checking the name against `auth_username_chars`.
    pub(crate) fn lookup(&self, username: &str) -> Result<UserRecord, LookupError> {
        let chars = self
            .setting("auth_username_chars")
            .unwrap_or_else(|| DEFAULT_USERNAME_CHARS.to_owned());
        if username.is_empty() || username == "." || username == ".." {
            return Err(LookupError::Invalid(format!(
                "Invalid username: {username:?}"
            )));
        }
        if !chars.is_empty()
            && let Some(b) = username.bytes().find(|b| !chars.as_bytes().contains(b))
        {
            return Err(LookupError::Invalid(format!(
                "Username character disallowed by auth_username_chars: 0x{b:02x} \
                 (username: {username})"
            )));
        }
        match self.userdb.lookup(username) {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(LookupError::Unknown),
            Err(e) => Err(LookupError::Failed(e.to_string())),
        }
    }

    /// Becomes the user (see [`crate::privileges`]) and opens their Maildir and push user.
    /// Errors are Dovecot's fatal texts with EX_TEMPFAIL.
    pub(crate) fn mail_user(&self, record: UserRecord) -> Result<MailUser, String> {
        let ids = privileges::mail_ids(&record, &self.settings).map_err(|e| e.to_string())?;
        privileges::switch_to(ids).map_err(|e| e.to_string())?;

        let mail_location = self
            .setting("mail_location")
            .unwrap_or_else(|| "maildir:~/Maildir".to_owned());
        let expanded = record
            .mail_location(&mail_location)
            .map_err(|e| e.to_string())?;
        let location =
            MailLocation::parse(&expanded, record.home.as_deref()).map_err(|e| e.to_string())?;
        let store = Maildir::with_options(
            location.root.clone(),
            StoreOptions {
                sources: Arc::new(message_source as SourceFn),
                ..StoreOptions::default()
            },
        );
        let metadata = pn_metadata::Backend::from_settings(&|key| self.setting(key))
            .and_then(|backend| backend.store_for(&record))
            .map_err(|e| e.to_string());
        let host = StoreHost {
            store: store.clone(),
            metadata,
        };
        let outbox = Arc::new(MemoryOutbox::new());
        let pn = PushNotifications::new(
            crate::drivers::registry(),
            Arc::new(host),
            Arc::clone(&outbox) as Arc<dyn pn_core::Outbox>,
        );
        let env = self.plugin_env(&record)?;
        let info = UserInfo {
            username: record.username.clone(),
            home: record.home.clone(),
            uid: ids.uid,
            gid: ids.gid,
            service: self.protocol.to_owned(),
            session_id: session_id(),
            raw_autocreated: false,
        };
        let push = pn.user(info, Arc::clone(&env));
        Ok(MailUser {
            store,
            push,
            pn,
            env,
            outbox,
            dispatch: DispatchConfig::from_settings(|key| self.setting(key)),
        })
    }

    /// The user's plugin settings; none when `mail_plugins` does not load `push_notification`
    /// for this protocol (Dovecot then never runs the plugin).
    fn plugin_env(&self, record: &UserRecord) -> Result<Arc<dyn PluginEnv>, String> {
        if !self.settings.push_notification_loaded() {
            tracing::debug!(
                "mail_plugins does not load notify and push_notification for protocol {}: \
                 no push notifications",
                self.protocol
            );
            return Ok(Arc::new(UserPlugin(UserSettings::default())));
        }
        let vars = record.vars().with_service(self.protocol);
        let settings = self
            .config
            .user_settings(self.protocol, &vars)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(UserPlugin(settings)))
    }
}

fn text(settings: &Settings, key: &str) -> Option<String> {
    settings
        .get(key)
        .map(|s| s.value.to_string())
        .filter(|v| !v.is_empty())
}

/// A mail user ready for mail operations.
pub(crate) struct MailUser {
    /// The user's Maildir.
    pub(crate) store: Maildir,
    /// The user's push notifications.
    pub(crate) push: PushUser,
    pn: PushNotifications,
    env: Arc<dyn PluginEnv>,
    outbox: Arc<MemoryOutbox>,
    dispatch: DispatchConfig,
}

/// A one-shot command sends what its drivers queued before the process exits (Dovecot's user
/// deinit waits for pending HTTP requests too). The command's exit code never depends on it.
impl Drop for MailUser {
    fn drop(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        match Dispatcher::new(&self.dispatch) {
            Ok(dispatcher) => {
                dispatcher.drain_blocking(&self.outbox);
            }
            Err(e) => tracing::error!(target: pn_driver_ox::LOG_TARGET, "{e}"),
        }
    }
}

impl MailUser {
    /// The "raw mail user" LDA creates to read the incoming message: its drivers are
    /// initialised (dlog's second `Called init`) but it starts no transaction.
    pub(crate) fn raw_user(&self) -> PushUser {
        let mut info = UserInfo::new("raw mail user", self.push.info().service.clone());
        info.session_id = self.push.info().session_id.clone();
        info.raw_autocreated = true;
        self.pn.user(info, Arc::clone(&self.env))
    }
}

/// Plugin settings of one user with the config lines they came from.
struct UserPlugin(UserSettings);

impl PluginEnv for UserPlugin {
    fn get(&self, key: &str) -> Option<String> {
        self.0.plugin.get(key).cloned()
    }

    fn location(&self, key: &str) -> Option<Location> {
        self.0.locations.get(key).cloned()
    }
}

type SourceFn = for<'a> fn(&'a [u8]) -> Box<dyn MessageSource + 'a>;

/// pn-message's parser as the store's content source for MessageNew/MessageAppend.
fn message_source(raw: &[u8]) -> Box<dyn MessageSource + '_> {
    Box::new(pn_message::RawMessage::new(raw))
}

/// The mail store and the metadata store answering the engine and drivers for one user.
struct StoreHost {
    store: Maildir,
    metadata: Result<MetadataStore, String>,
}

impl MailboxHost for StoreHost {
    fn status(&self, _user: &UserInfo, mailbox: &str) -> Result<MailboxStatus, HostError> {
        self.store.status(mailbox).map_err(HostError::from)
    }

    fn attribute_get(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        match &self.metadata {
            Ok(m) => pn_metadata::host_attribute_get(m, mailbox, key)
                .map_err(|e| HostError::new(e.to_string())),
            Err(e) => Err(HostError::new(e.clone())),
        }
    }
}

/// A session id like Dovecot's (unique per process and time), for logs and Lua.
fn session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("pn-{}-{nanos:x}", std::process::id())
}
