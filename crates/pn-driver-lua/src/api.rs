//! The `dovecot` global (Dovecot's `dlua-dovecot.c`): logging, events, flag helpers,
//! `restrict_global_variables`, and the helpers every object of the API is built with.

use mlua::{
    AnyUserData, FromLuaMulti, Function, IntoLuaMulti, Lua, MaybeSend, MultiValue, Table, Value,
};
use tracing::{debug, error, info, warn};

use crate::LOG_TARGET;

const ERR_KEY: &str = "pn_api_error";
const WRAP_KEY: &str = "pn_api_wrap";

/// The result of an API function: `Err` is raised in Lua as a plain string error without a
/// position, as `luaL_error` in a C function does.
pub(crate) type ApiResult<T> = Result<T, String>;

/// Turns an mlua error into an API error text.
pub(crate) fn lua_err(e: mlua::Error) -> String {
    crate::script::error_text(&e)
}

/// A Lua function running `f`; an `Err` becomes a Lua string error.
pub(crate) fn api_fn<A, R, F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> ApiResult<R> + MaybeSend + 'static,
{
    let raw = lua.create_function(move |lua, args: A| match f(lua, args) {
        Ok(r) => r.into_lua_multi(lua),
        Err(msg) => {
            let marker: Table = lua.named_registry_value(ERR_KEY)?;
            (marker, msg).into_lua_multi(lua)
        }
    })?;
    let wrap: Function = lua.named_registry_value(WRAP_KEY)?;
    wrap.call(raw)
}

/// A metatable registered under `name` (like `luaL_newmetatable`), `__index` pointing to
/// itself, with `methods`.
pub(crate) fn metatable(lua: &Lua, name: &str, methods: Vec<(&str, Function)>) -> mlua::Result<()> {
    let mt = lua.create_table()?;
    mt.raw_set("__index", &mt)?;
    mt.raw_set("__name", name)?;
    for (k, f) in methods {
        mt.raw_set(k, f)?;
    }
    lua.set_named_registry_value(name, mt)
}

/// A new table with the metatable registered under `name` and `item` set to `item`.
pub(crate) fn object(lua: &Lua, name: &str, item: AnyUserData) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let mt: Table = lua.named_registry_value(name)?;
    t.set_metatable(Some(mt))?;
    t.raw_set("item", item)?;
    Ok(t)
}

/// The `item` of an object passed as argument `arg` (`self` is #1), checked like Dovecot's
/// `dlua_check_*`.
pub(crate) fn item(value: &Value, name: &str, arg: usize) -> ApiResult<AnyUserData> {
    let bad = || {
        format!(
            "Bad argument #{arg}, expected {name} got {}",
            value.type_name()
        )
    };
    let Value::Table(t) = value else {
        return Err(bad());
    };
    match t.raw_get::<Value>("item") {
        Ok(Value::UserData(ud)) => Ok(ud),
        _ => Err(bad()),
    }
}

/// `luaL_checkstring`: a string or a number.
pub(crate) fn check_string(value: &Value, arg: usize) -> ApiResult<String> {
    match value {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!(
            "bad argument #{arg} (string expected, got {})",
            other.type_name()
        )),
    }
}

/// `luaL_checkinteger`.
pub(crate) fn check_integer(value: &Value, arg: usize) -> ApiResult<i64> {
    match value {
        Value::Integer(i) => Ok(*i),
        Value::Number(n) if n.fract() == 0.0 => Ok(*n as i64),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("bad argument #{arg} (number expected, got string)")),
        other => Err(format!(
            "bad argument #{arg} (number expected, got {})",
            other.type_name()
        )),
    }
}

/// The script position of the caller, `file:line`, for log events.
fn caller(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| {
        let source = d.source();
        let file = source
            .source
            .as_deref()
            .and_then(|s| s.strip_prefix('@'))
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_owned())
            .unwrap_or_else(|| "<non-file location>".to_owned());
        format!("{file}:{}", d.current_line().unwrap_or(0))
    })
    .unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

fn log(level: Level, text: &str, event: Option<&LuaEvent>, source: &str) {
    let (name, fields, prefix) = match event {
        Some(e) => (
            e.name.as_deref().unwrap_or(""),
            e.fields
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            e.prefix.as_str(),
        ),
        None => ("", String::new(), ""),
    };
    match level {
        Level::Debug => {
            debug!(target: LOG_TARGET, event = name, fields, source, "{prefix}{text}")
        }
        Level::Info => info!(target: LOG_TARGET, event = name, fields, source, "{prefix}{text}"),
        Level::Warning => {
            warn!(target: LOG_TARGET, event = name, fields, source, "{prefix}{text}")
        }
        Level::Error => {
            error!(target: LOG_TARGET, event = name, fields, source, "{prefix}{text}")
        }
    }
}

/// A Dovecot log event created by the script: name, fields and log prefix.
#[derive(Debug, Clone, Default)]
struct LuaEvent {
    name: Option<String>,
    fields: Vec<(String, String)>,
    prefix: String,
}

impl LuaEvent {
    fn set_field(&mut self, key: String, value: String) {
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(f) => f.1 = value,
            None => self.fields.push((key, value)),
        }
    }
}

const EVENT: &str = "struct event";
const EVENT_PASSTHROUGH: &str = "struct event_passthrough";

fn push_event(lua: &Lua, event: LuaEvent, kind: &str) -> mlua::Result<Table> {
    object(lua, kind, lua.create_any_userdata(event)?)
}

fn with_event<R>(
    this: &Value,
    kind: &str,
    f: impl FnOnce(&mut LuaEvent) -> ApiResult<R>,
) -> ApiResult<R> {
    let ud = item(this, kind, 1)?;
    let mut event = ud.borrow_mut::<LuaEvent>().map_err(lua_err)?;
    f(&mut event)
}

/// The methods of `struct event` and `struct event_passthrough`: each returns the object.
fn event_methods(lua: &Lua, kind: &'static str) -> mlua::Result<Vec<(&'static str, Function)>> {
    type Setter = fn(&mut LuaEvent, String);
    let mut methods = Vec::new();
    let one_arg: [(&str, Setter); 3] = [
        ("set_name", |e, v| e.name = Some(v)),
        ("append_log_prefix", |e, v| e.prefix.push_str(&v)),
        ("replace_log_prefix", |e, v| e.prefix = v),
    ];
    for (name, set) in one_arg {
        methods.push((
            name,
            api_fn(lua, move |_, (this, v): (Value, Value)| {
                let v = check_string(&v, 2)?;
                with_event(&this, kind, |e| {
                    set(e, v);
                    Ok(())
                })?;
                Ok(this)
            })?,
        ));
    }
    methods.push((
        "set_always_log_source",
        api_fn(lua, move |_, this: Value| {
            with_event(&this, kind, |_| Ok(()))?;
            Ok(this)
        })?,
    ));
    methods.push((
        "add_str",
        api_fn(lua, move |_, (this, k, v): (Value, Value, Value)| {
            let (k, v) = (check_string(&k, 2)?, check_string(&v, 3)?);
            with_event(&this, kind, |e| {
                e.set_field(k, v);
                Ok(())
            })?;
            Ok(this)
        })?,
    ));
    for name in ["add_int", "add_timeval", "inc_int"] {
        methods.push((
            name,
            api_fn(lua, move |_, (this, k, v): (Value, Value, Value)| {
                let (k, v) = (check_string(&k, 2)?, check_integer(&v, 3)?);
                with_event(&this, kind, |e| {
                    let v = if name == "inc_int" {
                        let old = e
                            .fields
                            .iter()
                            .find(|(f, _)| *f == k)
                            .and_then(|(_, x)| x.parse::<i64>().ok())
                            .unwrap_or(0);
                        old.saturating_add(v)
                    } else {
                        v
                    };
                    e.set_field(k, v.to_string());
                    Ok(())
                })?;
                Ok(this)
            })?,
        ));
    }
    let levels = [
        ("log_debug", Level::Debug),
        ("log_info", Level::Info),
        ("log_warning", Level::Warning),
        ("log_error", Level::Error),
    ];
    for (name, level) in levels {
        methods.push((
            name,
            api_fn(lua, move |lua, (this, text): (Value, Value)| {
                let text = check_string(&text, 2)?;
                let source = caller(lua);
                with_event(&this, kind, |e| {
                    log(level, &text, Some(e), &source);
                    Ok(())
                })?;
                Ok(this)
            })?,
        ));
    }
    if kind == EVENT {
        methods.push((
            "passthrough_event",
            api_fn(lua, |lua, this: Value| {
                let copy = with_event(&this, EVENT, |e| Ok(e.clone()))?;
                push_event(lua, copy, EVENT_PASSTHROUGH).map_err(lua_err)
            })?,
        ));
    }
    Ok(methods)
}

/// Registers the `dovecot` global and the event metatables. Also gives scripts a
/// `debug.traceback`, the one function of the (unsafe, not loaded) `debug` library that push
/// scripts use.
pub(crate) fn register(lua: &Lua) -> mlua::Result<()> {
    let marker = lua.create_table()?;
    lua.set_named_registry_value(ERR_KEY, &marker)?;
    let wrap: Function = lua
        .load(
            r#"
            local ERR = ...
            local error = error
            local function pass(first, ...)
              if first == ERR then error((...), 0) end
              return first, ...
            end
            return function(f)
              return function(...) return pass(f(...)) end
            end
            "#,
        )
        .set_name("=pn")
        .call(marker)?;
    lua.set_named_registry_value(WRAP_KEY, wrap)?;

    let ev = event_methods(lua, EVENT)?;
    metatable(lua, EVENT, ev)?;
    let pt = event_methods(lua, EVENT_PASSTHROUGH)?;
    metatable(lua, EVENT_PASSTHROUGH, pt)?;

    let dovecot = lua.create_table()?;
    let mt = lua.create_table()?;
    let levels = [
        ("i_debug", Level::Debug),
        ("i_info", Level::Info),
        ("i_warning", Level::Warning),
        ("i_error", Level::Error),
    ];
    for (name, level) in levels {
        mt.raw_set(
            name,
            api_fn(lua, move |_, text: Value| {
                log(level, &check_string(&text, 1)?, None, "");
                Ok(())
            })?,
        )?;
    }
    mt.raw_set(
        "event",
        api_fn(lua, |lua, args: MultiValue| {
            if args.len() > 1 {
                return Err("expected 0 to 1 arguments, got more".to_owned());
            }
            let mut event = match args.front() {
                Some(parent) => with_event(parent, EVENT, |e| Ok(e.clone()))?,
                None => LuaEvent::default(),
            };
            event.name = None;
            push_event(lua, event, EVENT).map_err(lua_err)
        })?,
    )?;
    mt.raw_set(
        "has_flag",
        api_fn(lua, |_, (v, f): (Value, Value)| {
            let (v, f) = (check_integer(&v, 1)?, check_integer(&f, 2)?);
            Ok(v & f == f)
        })?,
    )?;
    mt.raw_set(
        "set_flag",
        api_fn(lua, |_, (v, f): (Value, Value)| {
            Ok(check_integer(&v, 1)? | check_integer(&f, 2)?)
        })?,
    )?;
    mt.raw_set(
        "clear_flag",
        api_fn(lua, |_, (v, f): (Value, Value)| {
            Ok(check_integer(&v, 1)? & !check_integer(&f, 2)?)
        })?,
    )?;
    let restrict: Function = lua
        .load(
            r#"
            return function(on)
              local mt = {}
              if on then
                mt.__index = function(_, name)
                  error("attempt to write to read undeclared global variable " .. tostring(name), 0)
                end
                mt.__newindex = function(t, name, value)
                  if type(value) == "function" then rawset(t, name, value)
                  else error("attempt to write to undeclared global variable " .. tostring(name), 0) end
                end
              end
              setmetatable(_G, mt)
            end
            "#,
        )
        .set_name("=pn")
        .call(())?;
    mt.raw_set("restrict_global_variables", restrict)?;
    mt.raw_set("__index", &mt)?;
    dovecot.set_metatable(Some(mt))?;
    lua.globals().raw_set("dovecot", dovecot)?;

    if lua.globals().raw_get::<Value>("debug")?.is_nil() {
        let debug_lib = lua.create_table()?;
        debug_lib.raw_set(
            "traceback",
            lua.create_function(|lua, (msg, level): (Value, Option<usize>)| match msg {
                Value::String(_) | Value::Nil | Value::Integer(_) | Value::Number(_) => {
                    let text = match &msg {
                        Value::Nil => None,
                        other => Some(other.to_string()?),
                    };
                    Ok(Value::String(
                        lua.traceback(text.as_deref(), level.unwrap_or(1))?,
                    ))
                }
                other => Ok(other),
            })?,
        )?;
        lua.globals().raw_set("debug", debug_lib)?;
    }
    Ok(())
}
