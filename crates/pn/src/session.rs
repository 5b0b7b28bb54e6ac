//! One mail user's session, shared by `pn deliver` and the doveadm-style mail commands:
//! the configuration for a protocol, the userdb lookup, the switch to the user's ids, the
//! user's Maildir and its push-notification user (Dovecot's `mail-storage-service`).

use std::path::PathBuf;
use std::sync::Arc;

use pn_outbox::{DurableOutbox, Producer};

use pn_config::time::parse_uint;
use pn_config::value::{parse_bool, parse_octal};
use pn_config::{Config, DovecotVersion, Settings, UserSettings};
use pn_core::{
    AttributeType, HostError, MailboxHost, MailboxStatus, MemoryOutbox, PluginEnv,
    PushNotifications, PushUser, UserInfo,
};
use pn_event::MessageSource;
use pn_metadata::{MailLocation, MetadataStore, Target};
use pn_store::{Maildir, StatusCache, StoreOptions};
use pn_userdb::{UserDb, UserRecord};

use crate::Cli;
use crate::drivers::UserPlugin;
use crate::exit::{EX_TEMPFAIL, Failure};
use crate::privileges;

/// Dovecot's default `auth_username_chars`.
const DEFAULT_USERNAME_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@";

/// pn's data directory: `pn_data_dir`, else `$PN_DATA_DIR`, else `$XDG_DATA_HOME/pn`, else
/// `/var/lib/pn` as root (root's home is closed to the unprivileged user the embedded
/// default writes mail as), else `~/.local/share/pn`. The embedded default's static userdb
/// puts homes under `home/`.
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
    // Decided by how the process started, not by the ids it runs with now: a command that
    // became the mail user must find the same directory as the one that started as root.
    if started_as_root() {
        return PathBuf::from("/var/lib/pn");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/var/lib"), PathBuf::from);
    home.join(".local/share/pn")
}

/// Whether the process started as root (remembered at the first call, which `main` makes
/// before any privilege switch).
pub(crate) fn started_as_root() -> bool {
    static STARTED_AS_ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STARTED_AS_ROOT.get_or_init(|| rustix::process::geteuid().is_root())
}

/// As root, before becoming the mail user: makes the durable outbox's directory if it does
/// not exist yet and gives it to that user, who then creates the database in it. An existing
/// directory is left as it is (`docs/outbox.md`: one outbox for several uids needs a shared
/// group). Failures are logged; opening the outbox later reports what it cannot do.
pub(crate) fn prepare_outbox_dir(get: impl Fn(&str) -> Option<String>, ids: privileges::MailIds) {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let Ok(crate::cmd::dispatch::OutboxMode::Durable(path, _)) =
        crate::cmd::dispatch::outbox_mode(get)
    else {
        return;
    };
    let Some(dir) = path.parent() else {
        return;
    };
    if dir.exists() {
        return;
    }
    let made = std::fs::create_dir_all(dir).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))?;
        std::os::unix::fs::chown(dir, ids.uid, ids.gid)
    });
    if let Err(e) = made {
        tracing::error!("cannot prepare the outbox directory {}: {e}", dir.display());
    }
}

/// The configuration and userdb of one command run.
pub(crate) struct Session {
    config: Config,
    protocol: &'static str,
    settings: Settings,
    userdb: UserDb,
    /// Mailbox status state shared by every user's store, so a long-running server
    /// (`pn lmtp`) rereads only what changed between deliveries.
    status_cache: Arc<StatusCache>,
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
        let folders = settings
            .typed("pn_status_cache_folders", |v| Ok(parse_uint(v)?))
            .map_err(crate::settings::failure)?
            .map_or(StatusCache::DEFAULT_FOLDERS, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        Ok(Session {
            config,
            protocol,
            settings,
            userdb,
            status_cache: Arc::new(StatusCache::new(folders)),
        })
    }

    /// Whether `mail_plugins` loads `push_notification` for this protocol.
    pub(crate) fn push_notification_loaded(&self) -> bool {
        self.settings.push_notification_loaded()
    }

    /// The configuration loaded.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A setting's value, `None` when unset.
    pub(crate) fn setting(&self, key: &str) -> Option<String> {
        text(&self.settings, key)
    }

    /// A `plugin { }` setting's value, `None` when unset.
    pub(crate) fn plugin_setting(&self, key: &str) -> Option<String> {
        self.settings
            .get_path(&pn_config::SettingPath::in_section("plugin", key))
            .map(|s| s.value.to_string())
            .filter(|v| !v.is_empty())
    }

    /// The listeners of `service NAME { inet_listener … { address port } unix_listener PATH
    /// { } }` as `HOST:PORT` / `unix:PATH` (a port of 0 or none disables an inet listener;
    /// `address` defaults to 127.0.0.1 — pn listens on loopback unless told otherwise).
    pub(crate) fn service_listeners(&self, service: &str) -> Vec<String> {
        use std::collections::BTreeMap;
        let mut inet: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
        let mut unix = Vec::new();
        for (path, setting) in self.settings.iter() {
            let [svc, listener] = path.sections.as_slice() else {
                continue;
            };
            if svc.kind != "service" || svc.name.as_deref() != Some(service) {
                continue;
            }
            let name = listener.name.clone().unwrap_or_default();
            let value = setting.value.to_string();
            match (listener.kind.as_str(), path.key.as_str()) {
                // `listen` is 2.4's name for 2.3's `address`.
                ("inet_listener", "address" | "listen") => {
                    inet.entry(name).or_default().0 = Some(value);
                }
                ("inet_listener", "port") => inet.entry(name).or_default().1 = Some(value),
                ("unix_listener", _) if !unix.contains(&name) => unix.push(name),
                _ => {}
            }
        }
        let mut out: Vec<String> = inet
            .into_values()
            .filter_map(|(address, port)| {
                let port = port.filter(|p| p.trim() != "0" && !p.trim().is_empty())?;
                let address = address
                    .map(|a| a.split([',', ' ']).next().unwrap_or("").trim().to_owned())
                    .filter(|a| !a.is_empty() && a != "*")
                    .unwrap_or_else(|| "127.0.0.1".to_owned());
                Some(format!("{address}:{}", port.trim()))
            })
            .collect();
        out.extend(unix.into_iter().map(|p| format!("unix:{p}")));
        out
    }

    /// `mode` of `service NAME { unix_listener PATH { mode } }` (octal).
    pub(crate) fn unix_listener_mode(&self, service: &str, path: &std::path::Path) -> Option<u32> {
        self.settings.iter().find_map(|(p, setting)| {
            let [svc, listener] = p.sections.as_slice() else {
                return None;
            };
            let name = listener.name.as_deref()?;
            (svc.kind == "service"
                && svc.name.as_deref() == Some(service)
                && listener.kind == "unix_listener"
                && p.key == "mode"
                && path.ends_with(name))
            .then(|| parse_octal(&setting.value.to_string()).ok())
            .flatten()
        })
    }

    /// The session limit of `service NAME { process_limit client_limit }`: their product.
    pub(crate) fn service_limit(&self, service: &str) -> Option<usize> {
        let get = |key: &str| {
            self.settings.iter().find_map(|(p, setting)| {
                let [svc] = p.sections.as_slice() else {
                    return None;
                };
                (svc.kind == "service" && svc.name.as_deref() == Some(service) && p.key == key)
                    .then(|| parse_uint(&setting.value.to_string()).ok())
                    .flatten()
                    .and_then(|n| usize::try_from(n).ok())
            })
        };
        match (get("process_limit"), get("client_limit")) {
            (None, None) => None,
            (p, c) => Some(p.unwrap_or(100).saturating_mul(c.unwrap_or(1))),
        }
    }

    /// A setting parsed with one of pn-config's parsers, `None` when unset; a bad value is
    /// a located usage error.
    pub(crate) fn typed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, pn_config::ValueError>,
    ) -> Result<Option<T>, Failure> {
        self.settings
            .typed(key, parse)
            .map_err(crate::settings::failure)
    }

    /// A boolean setting (Dovecot's `yes`/`no`), `false` when unset. The value's type was
    /// checked when the configuration was loaded.
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.settings.typed(key, parse_bool), Ok(Some(true)))
    }

    /// Looks the user up after checking the name against `auth_username_chars`.
    pub(crate) fn lookup(&self, username: &str) -> Result<UserRecord, LookupError> {
        let chars = self
            .setting("auth_username_chars")
            .unwrap_or_else(|| DEFAULT_USERNAME_CHARS.to_owned());
        if let Err(why) = pn_userdb::check_username(username) {
            return Err(LookupError::Invalid(format!(
                "{why} (username: {username:?})"
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
        self.open_user(record, None, session_id())
    }

    /// Like [`Session::mail_user`], for a long-running server: the user's drivers enqueue
    /// into the server's `outbox`, which the server's dispatcher task drains (dropping the
    /// user sends nothing), and `session_id` names the delivery.
    pub(crate) fn shared_mail_user(
        &self,
        record: UserRecord,
        outbox: &ServerOutbox,
        session_id: String,
    ) -> Result<MailUser, String> {
        let outbox = match outbox {
            ServerOutbox::Memory(m) => UserOutbox::Memory(Arc::clone(m)),
            ServerOutbox::Durable(d) => UserOutbox::Durable(Arc::new(d.producer(None))),
            ServerOutbox::Nats(n) => UserOutbox::Nats(Arc::new(n.producer())),
        };
        self.open_user(record, Some(outbox), session_id)
    }

    /// The outbox a one-shot command's drivers enqueue into (`pn_outbox`), and how long it
    /// sends before leaving the rest to the dispatcher.
    fn one_shot_outbox(&self) -> Result<(UserOutbox, std::time::Duration), String> {
        let get = |k: &str| self.setting(k);
        let wait = crate::cmd::dispatch::push_wait(get)?;
        if let Some((cfg, _)) = crate::cmd::worker::nats_mode(get)? {
            let nats = crate::cmd::worker::open(cfg)?;
            return Ok((UserOutbox::Nats(Arc::new(nats.producer())), wait));
        }
        Ok(match crate::cmd::dispatch::outbox_mode(get)? {
            crate::cmd::dispatch::OutboxMode::Memory => {
                (UserOutbox::Memory(Arc::new(MemoryOutbox::new())), wait)
            }
            crate::cmd::dispatch::OutboxMode::Durable(path, policy) => {
                let durable = Arc::new(DurableOutbox::new(path, policy));
                // Held past the wait so the dispatcher never sends it at the same time; a
                // process that dies frees its queues at once (pn-outbox checks its pid).
                let hold = wait + std::time::Duration::from_secs(5);
                (
                    UserOutbox::Durable(Arc::new(durable.producer(Some(hold)))),
                    wait,
                )
            }
        })
    }

    /// The ids a user's files are accessed with (userdb, else `mail_uid`/`mail_gid`).
    pub(crate) fn mail_ids(&self, record: &UserRecord) -> Result<privileges::MailIds, String> {
        privileges::mail_ids(record, &self.settings).map_err(|e| e.to_string())
    }

    fn open_user(
        &self,
        record: UserRecord,
        shared_outbox: Option<UserOutbox>,
        session_id: String,
    ) -> Result<MailUser, String> {
        let ids = privileges::mail_ids(&record, &self.settings).map_err(|e| e.to_string())?;
        if shared_outbox.is_none() {
            prepare_outbox_dir(|k| self.setting(k), ids);
        }
        privileges::switch_to(ids).map_err(|e| e.to_string())?;

        let store = Maildir::with_options(
            self.maildir_root(&record)?,
            StoreOptions {
                sources: Arc::new(message_source as SourceFn),
                status_cache: Some(Arc::clone(&self.status_cache)),
                ..StoreOptions::default()
            },
        );
        let metadata = pn_metadata::Backend::from_settings(&|key| self.setting(key))
            .and_then(|backend| backend.store_for(&record))
            .map_err(|e| e.to_string());
        let host: Arc<dyn MailboxHost> = Arc::new(StoreHost {
            store: store.clone(),
            metadata,
        });
        let drain_on_drop = shared_outbox.is_none();
        let (outbox, push_wait) = match shared_outbox {
            Some(o) => (o, std::time::Duration::ZERO),
            None => self.one_shot_outbox()?,
        };
        let producer: Arc<dyn pn_core::Outbox> = match &outbox {
            UserOutbox::Memory(m) => Arc::clone(m) as Arc<dyn pn_core::Outbox>,
            UserOutbox::Durable(p) => Arc::clone(p) as Arc<dyn pn_core::Outbox>,
            UserOutbox::Nats(p) => Arc::clone(p) as Arc<dyn pn_core::Outbox>,
        };
        let pn = PushNotifications::new(crate::drivers::registry(), Arc::clone(&host), producer);
        let env = self.plugin_env(&record)?;
        let info = UserInfo {
            username: record.username.clone(),
            home: record.home.clone(),
            uid: ids.uid,
            gid: ids.gid,
            service: self.protocol.to_owned(),
            session_id,
            raw_autocreated: false,
        };
        let push = pn.user(info, Arc::clone(&env));
        // 2.3 calls LDA/LMTP's raw user "raw mail user", 2.4 "raw-mail-user" (Lua scripts
        // see the name).
        let raw_name = match self.settings.dovecot_version() {
            DovecotVersion::V2_3 => "raw mail user",
            DovecotVersion::V2_4 => "raw-mail-user",
        };
        // The raw user's settings are expanded for the raw user (a Lua `lua_settings`
        // value of `%{user}` is its name, as in Dovecot), else they are the user's.
        let raw_env = self
            .plugin_env(&UserRecord::new(raw_name))
            .unwrap_or_else(|_| Arc::clone(&env));
        Ok(MailUser {
            store,
            push,
            pn,
            env: raw_env,
            raw_name,
            outbox,
            drain_on_drop,
            push_wait,
            dispatch: pn_dispatch::DispatchConfig::from_settings(|key| self.setting(key)),
            host,
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
        Ok(Arc::new(UserPlugin(self.user_settings(record)?)))
    }

    /// The user's settings with `%` variables expanded, whether or not `mail_plugins` loads
    /// `push_notification` for this protocol.
    ///
    /// The SPECIAL-USE mailboxes of the configuration are added as the plugin value
    /// `pn_special_use` (unless `plugin { }` sets it), because drivers see plugin values but
    /// not the `namespace { mailbox { } }` sections (see `crate::drivers::special_use`).
    pub(crate) fn user_settings(&self, record: &UserRecord) -> Result<UserSettings, String> {
        let vars = record.vars().with_service(self.protocol);
        let mut settings = self
            .config
            .user_settings(self.protocol, &vars)
            .map_err(|e| e.to_string())?;
        if let Some(value) = crate::drivers::special_use(&self.settings) {
            settings
                .plugin
                .entry(pn_driver_webhook::special_use::SETTING.to_owned())
                .or_insert(value);
        }
        Ok(settings)
    }

    /// The root of the user's Maildir (`mail_location`, default `maildir:~/Maildir`).
    pub(crate) fn maildir_root(&self, record: &UserRecord) -> Result<PathBuf, String> {
        let mail_location = self
            .setting("mail_location")
            .unwrap_or_else(|| "maildir:~/Maildir".to_owned());
        let expanded = record
            .mail_location(&mail_location)
            .map_err(|e| e.to_string())?;
        MailLocation::parse(&expanded, record.home.as_deref())
            .map(|l| l.root)
            .map_err(|e| e.to_string())
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
    /// The plugin settings of the raw user.
    env: Arc<dyn PluginEnv>,
    raw_name: &'static str,
    outbox: UserOutbox,
    /// Whether dropping the user sends what its drivers queued (one-shot commands).
    drain_on_drop: bool,
    /// How long a one-shot command sends before leaving the rest to the dispatcher.
    push_wait: std::time::Duration,
    dispatch: pn_dispatch::DispatchConfig,
    /// The user's mail and metadata store, for the push drivers' gone-feedback.
    host: Arc<dyn MailboxHost>,
}

/// The outbox of a long-running server, shared by all its deliveries.
pub(crate) enum ServerOutbox {
    /// `pn_outbox = memory`.
    Memory(Arc<MemoryOutbox>),
    /// `pn_outbox = durable`.
    Durable(Arc<DurableOutbox>),
    /// `pn_outbox = nats`.
    Nats(Arc<pn_outbox_nats::JetStreamOutbox>),
}

/// What one user's drivers enqueue into.
enum UserOutbox {
    Memory(Arc<MemoryOutbox>),
    Durable(Arc<Producer>),
    /// `pn_outbox = nats`: published to JetStream by `commit`, sent by `pn worker`.
    Nats(Arc<pn_outbox_nats::NatsProducer>),
}

/// A one-shot command sends what its drivers queued before the process exits (Dovecot's user
/// deinit waits for pending HTTP requests too), for at most `pn_deliver_push_wait` with the
/// durable outbox. The command's exit code never depends on the sending.
impl Drop for MailUser {
    fn drop(&mut self) {
        if !self.drain_on_drop {
            return;
        }
        if let Err(e) = self.commit_outbox() {
            tracing::error!("{e}");
        }
        let pending = match &self.outbox {
            UserOutbox::Memory(m) => !m.is_empty(),
            UserOutbox::Durable(p) => p.holds_any(),
            UserOutbox::Nats(_) => false,
        };
        if !pending {
            return;
        }
        // Built only when there is something to send: it reads the system's CA store.
        let dispatcher = match crate::cmd::dispatch::dispatcher_for(&self.dispatch) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(target: pn_driver_ox::LOG_TARGET, "{e}");
                return;
            }
        };
        match &self.outbox {
            // A push service's 404/410 removes the device token or Web Push subscription
            // (pn_driver_push::gone); the durable outbox's dispatcher does not report back yet.
            UserOutbox::Memory(m) => {
                crate::drivers::drain_with_feedback(&dispatcher, m, &*self.host, self.push.info());
            }
            UserOutbox::Durable(p) => {
                // What a push service answered 404/410 for is removed from the user's
                // METADATA (pn_driver_push::gone), as with the memory outbox; the outbox
                // itself turns those statuses into dead letters.
                let mut dispatcher = dispatcher;
                let gone = Arc::new(std::sync::Mutex::new(Vec::new()));
                let sink = Arc::clone(&gone);
                let log = crate::cmd::dispatch::outcome_log();
                dispatcher.set_outcome_log(Arc::new(move |item, outcome| {
                    log(item, outcome);
                    if pn_driver_push::gone::is_gone(outcome.status) {
                        sink.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(item.clone());
                    }
                }));
                p.send_held(&dispatcher, self.push_wait);
                let gone = std::mem::take(&mut *gone.lock().unwrap_or_else(|p| p.into_inner()));
                for item in gone {
                    crate::drivers::forget_gone(&*self.host, self.push.info(), &item);
                }
            }
            UserOutbox::Nats(_) => {}
        }
    }
}

impl MailUser {
    /// Makes the notifications of what this user did so far durable (nothing to do with the
    /// memory outbox). Call it after the mail was stored and before acknowledging it.
    pub(crate) fn commit_outbox(&self) -> Result<(), String> {
        match &self.outbox {
            UserOutbox::Memory(_) => Ok(()),
            UserOutbox::Durable(p) => p.commit_staged().map_err(|e| e.to_string()),
            UserOutbox::Nats(p) => p.commit_staged().map_err(|e| e.to_string()),
        }
    }

    /// The "raw mail user" LDA creates to read the incoming message: its drivers are
    /// initialised (dlog's second `Called init`) but it starts no transaction.
    pub(crate) fn raw_user(&self) -> PushUser {
        let mut info = UserInfo::new(self.raw_name, self.push.info().service.clone());
        info.session_id = self.push.info().session_id.clone();
        info.raw_autocreated = true;
        self.pn.user(info, Arc::clone(&self.env))
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

    fn attribute_get_typed(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        key: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.metadata()?
            .get(target(mailbox), attr_type, key)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn attribute_set(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), HostError> {
        self.metadata()?
            .set(target(mailbox), attr_type, key, value)
            .map_err(|e| HostError::new(e.to_string()))
    }

    fn attribute_list(
        &self,
        _user: &UserInfo,
        mailbox: &str,
        attr_type: AttributeType,
        prefix: &str,
    ) -> Result<Vec<String>, HostError> {
        self.metadata()?
            .list(target(mailbox), attr_type, prefix)
            .map_err(|e| HostError::new(e.to_string()))
    }
}

impl StoreHost {
    fn metadata(&self) -> Result<&MetadataStore, HostError> {
        self.metadata
            .as_ref()
            .map_err(|e| HostError::new(e.clone()))
    }
}

/// Mailbox `""` means server metadata, as in IMAP METADATA.
fn target(mailbox: &str) -> Target<'_> {
    if mailbox.is_empty() {
        Target::Server
    } else {
        Target::Mailbox(mailbox)
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
