//! One Lua state with a loaded script (Dovecot's `dlua_script`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::{
    Function, HookTriggers, IntoLuaMulti, Lua, LuaOptions, RegistryKey, StdLib, Table, Value,
    VmState,
};
use pn_config::{DovecotVersion, DriverArgs};
use pn_core::{MailboxHost, PluginEnv, UserInfo};
use pn_event::EventData;
use tracing::error;

use pn_config::time::parse_uint;
use pn_config::value::parse_size;

use crate::sandbox::{self, Trust};
use crate::{LOG_TARGET, api, event, http, user};

/// What the Lua API reaches outside the state: the user, the settings, the mail store.
/// Kept in the state's app data.
pub(crate) struct Env {
    pub(crate) user: UserInfo,
    pub(crate) env: Arc<dyn PluginEnv>,
    pub(crate) host: Arc<dyn MailboxHost>,
    pub(crate) file: String,
    /// The Dovecot version whose Lua API the script is given (2.4's user table has no
    /// `mail_debug`).
    pub(crate) dovecot: DovecotVersion,
}

/// pn's guard rails (not in Dovecot): a time limit per call, a memory limit and the
/// restricted mode.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    call_timeout: Option<Duration>,
    memory: Option<usize>,
    trust: Trust,
}

impl Limits {
    pub(crate) fn from_args(args: &DriverArgs) -> Result<Limits, String> {
        // pn-config's parsers (Dovecot's), the ones `pn config check` uses.
        let call_timeout = match args.get("call_timeout_msecs") {
            None => None,
            Some(v) => Some(Duration::from_millis(u64::from(
                parse_uint(v).map_err(|e| format!("call_timeout_msecs: {e}"))?,
            ))),
        };
        let memory = match args.get("memory_limit") {
            None => None,
            Some(v) => {
                let bytes = parse_size(v).map_err(|e| format!("memory_limit: {e}"))?;
                Some(usize::try_from(bytes).unwrap_or(usize::MAX))
            }
        };
        Ok(Limits {
            call_timeout,
            memory,
            trust: Trust::from_arg(args.get("restricted"))?,
        })
    }
}

/// When the running call must stop, checked by the instruction hook.
#[derive(Default)]
struct Deadline(Mutex<Option<Instant>>);

/// A loaded script.
pub(crate) struct Script {
    lua: Lua,
    limits: Limits,
    deinitialized: bool,
}

/// The text of a Lua error as Dovecot shows it: the message with its traceback, without
/// mlua's `runtime error: ` prefix.
pub(crate) fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { traceback, cause } => {
            format!("{}\n{traceback}", error_text(cause))
        }
        other => other.to_string(),
    }
}

impl Script {
    /// Loads `file` into a new state and registers the API; the chunk is not run yet.
    pub(crate) fn load(file: &str, env: Env, limits: Limits) -> Result<Script, String> {
        let source = std::fs::read(file).map_err(|e| {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            format!("access({file}) failed: {text}")
        })?;
        let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())
            .map_err(|e| format!("lua_newstate failed: {}", error_text(&e)))?;
        if let Some(limit) = limits.memory {
            lua.set_memory_limit(limit)
                .map_err(|e| format!("Cannot set the memory limit: {}", error_text(&e)))?;
        }
        sandbox::apply(&lua, limits.trust)
            .map_err(|e| format!("Cannot restrict the Lua state: {}", error_text(&e)))?;
        // Dovecot loads the chunk before registering its API; a syntax error is reported first.
        // Text only: Lua does not verify binary chunks (see `sandbox`).
        let chunk = lua
            .load(source)
            .set_name(format!("@{file}"))
            .set_mode(mlua::chunk::ChunkMode::Text)
            .into_function()
            .map_err(|e| format!("lua_load({file}) failed: {}", error_text(&e)))?;
        lua.set_app_data(env);
        lua.set_app_data(Deadline::default());
        let setup = || -> mlua::Result<()> {
            api::register(&lua)?;
            user::register(&lua)?;
            http::register(&lua)?;
            lua.set_named_registry_value("pn_main_chunk", chunk)?;
            Ok(())
        };
        setup().map_err(|e| format!("Cannot register the dovecot API: {}", error_text(&e)))?;
        if limits.call_timeout.is_some() {
            lua.set_hook(
                HookTriggers::new().every_nth_instruction(1000),
                |lua, _debug| {
                    let expired = lua
                        .app_data_ref::<Deadline>()
                        .and_then(|d| *d.0.lock().unwrap_or_else(|p| p.into_inner()))
                        .is_some_and(|deadline| Instant::now() >= deadline);
                    if expired {
                        Err(mlua::Error::runtime("script call timed out"))
                    } else {
                        Ok(VmState::Continue)
                    }
                },
            )
            .map_err(|e| format!("Cannot set the time limit: {}", error_text(&e)))?;
        }
        Ok(Script {
            lua,
            limits,
            deinitialized: false,
        })
    }

    /// Runs `f` with the per-call deadline armed.
    fn guarded<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(timeout) = self.limits.call_timeout else {
            return f();
        };
        self.set_deadline(Some(Instant::now() + timeout));
        let result = f();
        self.set_deadline(None);
        result
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        if let Some(d) = self.lua.app_data_ref::<Deadline>() {
            *d.0.lock().unwrap_or_else(|p| p.into_inner()) = deadline;
        }
    }

    /// Runs the chunk and calls `script_init` (Dovecot's `dlua_script_init`). `settings` is
    /// Dovecot 2.4's `lua_settings` table, which 2.4 passes as the only argument and then
    /// ignores what the function returns; 2.3 calls `script_init()` without arguments and
    /// needs the integer 0 back.
    pub(crate) fn init(&self, settings: Option<&[(String, String)]>) -> Result<(), String> {
        let file = self.file();
        let chunk: Function = self
            .lua
            .named_registry_value("pn_main_chunk")
            .map_err(|e| error_text(&e))?;
        self.guarded(|| chunk.call::<()>(()))
            .map_err(|e| format!("lua_pcall({file}) failed: {}", error_text(&e)))?;
        let _ = self.lua.unset_named_registry_value("pn_main_chunk");
        if !self.has_function("script_init") {
            return Ok(());
        }
        let init: Function = self
            .lua
            .globals()
            .raw_get("script_init")
            .map_err(|e| error_text(&e))?;
        let (result, nargs) = match settings {
            Some(settings) => {
                let table = self
                    .lua
                    .create_table_from(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(|e| error_text(&e))?;
                (self.guarded(|| init.call::<Value>(table)), 1)
            }
            None => (self.guarded(|| init.call::<Value>(())), 0),
        };
        let value = result.map_err(|e| {
            format!(
                "lua_pcall(script_init, {nargs}, 1) failed: {}",
                error_text(&e)
            )
        })?;
        // A 2.4 configuration: Dovecot 2.4 ignores the result.
        if settings.is_some() {
            return Ok(());
        }
        // 2.3 wants the integer 0 (`lua_isinteger`: a float such as 0.0 is a "non-number" to
        // it), but its documented 2.4-style scripts return nothing: both kinds run, and a
        // number other than 0 still fails as in 2.3.
        match value {
            Value::Nil | Value::Integer(0) => Ok(()),
            Value::Integer(_) => Err("Script init failed".to_owned()),
            _ => Err("script_init() returned non-number".to_owned()),
        }
    }

    fn file(&self) -> String {
        self.lua
            .app_data_ref::<Env>()
            .map(|e| e.file.clone())
            .unwrap_or_default()
    }

    /// Whether the global `name` is a function (a raw lookup in `_G`, as Dovecot).
    pub(crate) fn has_function(&self, name: &str) -> bool {
        matches!(
            self.lua.globals().raw_get::<Value>(name),
            Ok(Value::Function(_))
        )
    }

    /// Calls a global function the way Dovecot's `dlua_pcall` does, with its error texts.
    fn pcall<A: IntoLuaMulti>(
        &self,
        name: &str,
        args: impl FnOnce(&Lua) -> mlua::Result<A>,
        nargs: usize,
        nresults: usize,
    ) -> Result<Value, String> {
        let func = match self.lua.globals().raw_get::<Value>(name) {
            Ok(Value::Function(f)) => f,
            _ => return Err(format!("'{name}' is not a function")),
        };
        let fail = |e: mlua::Error| {
            format!(
                "lua_pcall({name}, {nargs}, {nresults}) failed: {}",
                error_text(&e)
            )
        };
        let args = args(&self.lua).map_err(fail)?;
        self.guarded(|| func.call::<Value>(args)).map_err(fail)
    }

    /// `dovecot_lua_notify_begin_txn(user)`: its result is kept as the transaction context.
    pub(crate) fn begin_txn(&self, user: &UserInfo) -> Result<RegistryKey, String> {
        let ctx = self.pcall(crate::FN_BEGIN_TXN, |lua| user::push_user(lua, user), 1, 1)?;
        self.lua
            .create_registry_value(ctx)
            .map_err(|e| error_text(&e))
    }

    /// `dovecot_lua_notify_event_<x>(ctx, event)`.
    pub(crate) fn call_event(
        &self,
        name: &str,
        ctx: &RegistryKey,
        data: &EventData,
        mailbox: &str,
        uid: Option<(u32, u32)>,
    ) -> Result<(), String> {
        self.pcall(
            name,
            |lua| {
                let ctx: Value = lua.registry_value(ctx)?;
                let table: Table = event::event_table(lua, data, mailbox, uid)?;
                Ok((ctx, table))
            },
            2,
            0,
        )
        .map(|_| ())
    }

    /// `dovecot_lua_notify_end_txn(ctx, success)`.
    pub(crate) fn end_txn(&self, ctx: &RegistryKey, success: bool) -> Result<(), String> {
        self.pcall(
            crate::FN_END_TXN,
            |lua| {
                let ctx: Value = lua.registry_value(ctx)?;
                Ok((ctx, success))
            },
            2,
            0,
        )
        .map(|_| ())
    }

    /// Releases the transaction context and runs a full garbage collection, as Dovecot does
    /// after every `end_txn`.
    pub(crate) fn release(&self, ctx: RegistryKey) {
        let _ = self.lua.remove_registry_value(ctx);
        let _ = self.lua.gc_collect();
    }

    /// The user is going away: `script_deinit()` if the script has one.
    pub(crate) fn deinit(&mut self) {
        if std::mem::replace(&mut self.deinitialized, true) || !self.has_function("script_deinit") {
            return;
        }
        if let Err(e) = self.pcall("script_deinit", |_| Ok(()), 0, 0) {
            error!(target: LOG_TARGET, "script_deinit() failed: {e}");
        }
    }
}
