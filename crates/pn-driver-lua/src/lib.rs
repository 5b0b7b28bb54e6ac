//! The `lua` push-notification driver: runs Dovecot's Lua push scripts unmodified.
//!
//! ```text
//! push_notification_driver = lua:file=/etc/dovecot/push.lua
//! ```
//!
//! The script file comes from the plugin setting `push_notification_lua_script_file`, else
//! from the driver argument `file=` (Dovecot 2.4's `push_notification NAME { lua_file = … }`
//! arrives as `file=` too). Like Dovecot, every driver instance of every user has its own Lua
//! state: the script is loaded and `script_init()` is called when the user is set up. A script
//! that cannot be loaded or initialised disables the driver for that user (logged as
//! `lua: <error>` by the engine); mail is never held up by it.
//!
//! For each transaction the driver looks up the script's global functions exactly as Dovecot
//! does (spec §6): `dovecot_lua_notify_begin_txn(user)`, then
//! `dovecot_lua_notify_event_<event>(ctx, event)` for each event, then
//! `dovecot_lua_notify_end_txn(ctx, success)`. Only events with a function are subscribed;
//! with none, the transaction is skipped. The `dovecot` global (`i_info`, `event()`,
//! `http.client`, `storage.STATUS_*`, …), the `user` object (`plugin_getenv`, `var_expand`,
//! `mailbox()`, `metadata_*`) and LuaSocket's `socket.http`/`socket.url` are provided; see
//! `docs/lua.md` for the complete API and the differences from Dovecot.
//!
//! pn extensions (Dovecot ignores unknown driver arguments, so they are safe to add):
//! `call_timeout_msecs=N` stops a script call that runs longer than N ms,
//! `memory_limit=N` (bytes, `k`/`M`/`G` suffix allowed) caps the Lua state's memory, and
//! `restricted=yes` takes away everything that reaches outside the Lua state (files,
//! programs, the environment). In every mode `os.exit` is an error instead of a process exit
//! and only text chunks load (see the `sandbox` module).

mod api;
mod event;
mod http;
mod sandbox;
mod script;
mod user;

use std::sync::{Arc, Mutex, MutexGuard};

use mlua::RegistryKey;
use pn_config::DovecotVersion;
use pn_core::{
    Driver, DriverInitCtx, DriverInitError, DriverTxn, EventConfig, ProcessCtx, Subscriptions,
    TxnInfo, UserInfo,
};
use pn_event::{EventName, MailboxTxnData, MessageFields, MessageTxnData};
use tracing::{debug, error};

use script::{Limits, Script};

/// The name the driver is registered under.
pub const NAME: &str = "lua";

/// `tracing` target of the driver's log lines (Dovecot's `lua: ` prefix).
pub const LOG_TARGET: &str = "pn_driver_lua";

/// The plugin setting that names the script and wins over `file=` (spec §6.1).
pub const SCRIPT_FILE_SETTING: &str = "push_notification_lua_script_file";

/// How pn-config hands 2.4's `lua_settings { key = value }` to the driver.
const LUA_SETTINGS_PREFIX: &str = "lua_settings/";

const FN_BEGIN_TXN: &str = "dovecot_lua_notify_begin_txn";
const FN_END_TXN: &str = "dovecot_lua_notify_end_txn";
const FN_EVENT_PREFIX: &str = "dovecot_lua_notify_event_";

/// Creates the driver for one user (Dovecot's `init`): loads the script into a new Lua state,
/// registers the `dovecot` API and calls `script_init`. Fails with Dovecot's messages
/// (`No file in config and no push_notification_lua_script_file set`,
/// `access(<file>) failed: …`, `lua_load(<file>) failed: …`, `Script init failed`,
/// `script_init() returned non-number`, `lua_pcall(script_init, 0, 1) failed: …`).
/// `script_init` may return nothing (Dovecot 2.4) or `0` (2.3).
pub fn init(ctx: &DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> {
    let named_filter = ctx.spec.key.starts_with("push_notification ");
    let file = ctx
        .env
        .get(SCRIPT_FILE_SETTING)
        .or_else(|| ctx.spec.args.get("file").map(str::to_owned))
        .filter(|f| !named_filter || !f.is_empty());
    let Some(file) = file else {
        return Err(DriverInitError(if named_filter {
            "lua_file setting is empty".to_owned()
        } else {
            format!("No file in config and no {SCRIPT_FILE_SETTING} set")
        }));
    };
    let limits = Limits::from_args(&ctx.spec.args).map_err(DriverInitError)?;
    // Dovecot 2.4 passes the filter's `lua_settings { }` (pn-config hands them over as
    // `lua_settings/KEY` arguments, `%` variables expanded) to script_init as one table.
    let dovecot = ctx.spec.dovecot;
    let settings: Option<Vec<(String, String)>> = (dovecot == DovecotVersion::V2_4).then(|| {
        ctx.spec
            .args
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(LUA_SETTINGS_PREFIX)
                    .map(|k| (k.to_owned(), v.to_owned()))
            })
            .collect()
    });
    debug!(target: LOG_TARGET, "Loading {file}");
    let env = script::Env {
        user: ctx.user.clone(),
        env: Arc::clone(ctx.env),
        host: Arc::clone(ctx.host),
        file: file.clone(),
        dovecot,
    };
    let script = Script::load(&file, env, limits).map_err(DriverInitError)?;
    debug!(target: LOG_TARGET, "Calling script_init");
    script.init(settings.as_deref()).map_err(DriverInitError)?;
    Ok(Box::new(LuaDriver {
        script: Arc::new(Mutex::new(script)),
    }))
}

/// The lua driver for one user: one Lua state, used by one call at a time.
pub struct LuaDriver {
    script: Arc<Mutex<Script>>,
}

impl std::fmt::Debug for LuaDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuaDriver").finish_non_exhaustive()
    }
}

fn lock(script: &Mutex<Script>) -> MutexGuard<'_, Script> {
    // A panic inside a Lua call leaves the state usable (Lua's own error handling unwinds
    // it), so a poisoned lock is taken over.
    script.lock().unwrap_or_else(|p| p.into_inner())
}

/// The function called for an event (`dovecot_lua_notify_event_message_new`).
pub fn event_function(event: EventName) -> String {
    format!("{FN_EVENT_PREFIX}{}", event.snake_case())
}

/// The config Dovecot's lua driver subscribes an event with (`DLUA_DEFAULT_EVENTS`).
fn event_config(event: EventName) -> EventConfig {
    match event {
        EventName::MessageNew | EventName::MessageAppend => {
            EventConfig::fields(MessageFields::DOVECOT)
        }
        EventName::FlagsClear => EventConfig::store_old(),
        _ => EventConfig::default(),
    }
}

impl Driver for LuaDriver {
    fn begin_txn(&self, txn: &TxnInfo<'_>, subs: &mut Subscriptions) -> Option<Box<dyn DriverTxn>> {
        let script = lock(&self.script);
        if !script.has_function(FN_BEGIN_TXN) {
            error!(target: LOG_TARGET, "Missing function {FN_BEGIN_TXN}");
            return None;
        }
        let mut found = false;
        for event in EventName::ALL {
            let name = event_function(event);
            if script.has_function(&name) {
                found = true;
                debug!(target: LOG_TARGET, "Found {name}, handling {event} event");
                subs.subscribe(event, event_config(event));
            }
        }
        if !found {
            debug!(target: LOG_TARGET, "No event handlers found in script");
            return None;
        }
        debug!(target: LOG_TARGET, "Calling {FN_BEGIN_TXN}({})", txn.user.username);
        match script.begin_txn(txn.user) {
            Ok(ctx) => {
                debug!(target: LOG_TARGET, "Called {FN_BEGIN_TXN}");
                Some(Box::new(LuaTxn {
                    script: Arc::clone(&self.script),
                    ctx: Some(ctx),
                }))
            }
            Err(e) => {
                error!(target: LOG_TARGET, function_name = FN_BEGIN_TXN, "{e}");
                None
            }
        }
    }

    fn deinit(&self, _user: &UserInfo) {
        lock(&self.script).deinit();
    }
}

/// One transaction: the context `dovecot_lua_notify_begin_txn` returned.
struct LuaTxn {
    script: Arc<Mutex<Script>>,
    ctx: Option<RegistryKey>,
}

impl LuaTxn {
    fn call_events<'a>(
        &self,
        mailbox: &str,
        uid: Option<(u32, u32)>,
        events: impl Iterator<Item = &'a pn_event::EventData>,
    ) {
        let Some(ctx) = &self.ctx else { return };
        let script = lock(&self.script);
        for data in events {
            let event = data.name();
            let name = event_function(event);
            match uid {
                None => debug!(
                    target: LOG_TARGET,
                    "Calling {name}(ctx, event[name={event},mailbox={mailbox}])"
                ),
                Some((uid, _)) => debug!(
                    target: LOG_TARGET,
                    "Calling {name}(ctx, event[name={event},mailbox={mailbox},uid={uid}])"
                ),
            }
            match script.call_event(&name, ctx, data, mailbox, uid) {
                Ok(()) => debug!(target: LOG_TARGET, event_name = %event, "Called {name}"),
                Err(e) => error!(
                    target: LOG_TARGET,
                    event_name = %event,
                    function_name = %name,
                    mailbox,
                    "{e}"
                ),
            }
        }
    }
}

impl DriverTxn for LuaTxn {
    fn process_mbox(&mut self, _ctx: &ProcessCtx<'_>, mbox: &MailboxTxnData) {
        self.call_events(&mbox.mailbox, None, mbox.events.iter());
    }

    fn process_msg(&mut self, _ctx: &ProcessCtx<'_>, msg: &MessageTxnData) {
        self.call_events(
            &msg.mailbox,
            Some((msg.uid, msg.uid_validity)),
            msg.events.iter(),
        );
    }

    fn end_txn(&mut self, _ctx: &ProcessCtx<'_>, success: bool) {
        let Some(ctx) = self.ctx.take() else { return };
        let script = lock(&self.script);
        if !script.has_function(FN_END_TXN) {
            error!(target: LOG_TARGET, "Missing function {FN_END_TXN}");
        } else {
            debug!(target: LOG_TARGET, "Calling {FN_END_TXN}");
            match script.end_txn(&ctx, success) {
                Ok(()) => debug!(target: LOG_TARGET, "Called {FN_END_TXN}"),
                Err(e) => error!(target: LOG_TARGET, function_name = FN_END_TXN, "{e}"),
            }
        }
        script.release(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_functions_have_dovecot_names() {
        assert_eq!(
            event_function(EventName::MailboxUnsubscribe),
            "dovecot_lua_notify_event_mailbox_unsubscribe"
        );
    }
}
