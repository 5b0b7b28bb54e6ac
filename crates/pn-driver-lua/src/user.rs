//! The `user` object (`mail-user-lua.c`), `user:mailbox()` objects (`mailbox-lua.c`) and
//! `dovecot.storage` (`mail-storage-lua.c`).

use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{Lua, MultiValue, Table, Value};
use pn_config::vars::UserVars;
use pn_core::{AttributeType, UserInfo};

use crate::api::{
    ApiResult, api_fn, check_integer, check_string, item, lua_err, metatable, object,
};
use crate::script::Env;

const MAIL_USER: &str = "struct mail_user";
const MAILBOX: &str = "struct mailbox";
const PVT_SERVER: &str = "vendor/vendor.dovecot/pvt/server/";
const INVALID_PREFIX: &str = "Invalid key prefix, must be /private/ or /shared/";

/// `STATUS_*` values of `enum mailbox_status_items`.
const STATUS_MESSAGES: i64 = 0x01;
const STATUS_RECENT: i64 = 0x02;
const STATUS_UIDNEXT: i64 = 0x04;
const STATUS_UIDVALIDITY: i64 = 0x08;
const STATUS_UNSEEN: i64 = 0x10;

/// `dovecot.storage`: the constants Dovecot registers, as floats (`lua_pushnumber`).
const STORAGE_NUMBERS: [(&str, i64); 26] = [
    ("STATUS_MESSAGES", STATUS_MESSAGES),
    ("STATUS_RECENT", STATUS_RECENT),
    ("STATUS_UIDNEXT", STATUS_UIDNEXT),
    ("STATUS_UIDVALIDITY", STATUS_UIDVALIDITY),
    ("STATUS_UNSEEN", STATUS_UNSEEN),
    ("STATUS_FIRST_UNSEEN_SEQ", 0x20),
    ("STATUS_KEYWORDS", 0x40),
    ("STATUS_HIGHESTMODSEQ", 0x80),
    ("STATUS_PERMANENT_FLAGS", 0x200),
    ("STATUS_FIRST_RECENT_UID", 0x400),
    ("STATUS_HIGHESTPVTMODSEQ", 0x2000),
    ("MAILBOX_FLAG_READONLY", 0x01),
    ("MAILBOX_FLAG_SAVEONLY", 0x02),
    ("MAILBOX_FLAG_DROP_RECENT", 0x04),
    ("MAILBOX_FLAG_NO_INDEX_FILES", 0x10),
    ("MAILBOX_FLAG_KEEP_LOCKED", 0x20),
    ("MAILBOX_FLAG_IGNORE_ACLS", 0x100),
    ("MAILBOX_FLAG_AUTO_CREATE", 0x1000),
    ("MAILBOX_FLAG_AUTO_SUBSCRIBE", 0x2000),
    ("MAILBOX_SYNC_FLAG_FULL_READ", 0x01),
    ("MAILBOX_SYNC_FLAG_FULL_WRITE", 0x02),
    ("MAILBOX_SYNC_FLAG_FAST", 0x04),
    ("MAILBOX_SYNC_FLAG_NO_EXPUNGES", 0x08),
    ("MAILBOX_SYNC_FLAG_FIX_INCONSISTENT", 0x40),
    ("MAILBOX_SYNC_FLAG_EXPUNGE", 0x80),
    ("MAILBOX_SYNC_FLAG_FORCE_RESYNC", 0x100),
];

/// The `item` of a user object.
struct UserItem;

/// The `item` of a mailbox object.
struct MailboxItem {
    name: String,
}

fn env(lua: &Lua) -> ApiResult<mlua::AppDataRef<'_, Env>> {
    lua.app_data_ref::<Env>()
        .ok_or_else(|| "the Lua state has no user".to_owned())
}

/// Splits `/private/x` or `/shared/x` into the attribute type and `x`.
fn split_key(key: &str) -> ApiResult<(AttributeType, &str)> {
    if let Some(rest) = key.strip_prefix("/private/") {
        Ok((AttributeType::Private, rest))
    } else if let Some(rest) = key.strip_prefix("/shared/") {
        Ok((AttributeType::Shared, rest))
    } else {
        Err(INVALID_PREFIX.to_owned())
    }
}

/// Pushes the `user` argument of `dovecot_lua_notify_begin_txn` (`dlua_push_mail_user`).
pub(crate) fn push_user(lua: &Lua, user: &UserInfo) -> mlua::Result<Table> {
    let t = object(lua, MAIL_USER, lua.create_any_userdata(UserItem)?)?;
    if let Some(home) = &user.home {
        t.raw_set(
            "home",
            lua.create_string(home.as_os_str().as_encoded_bytes())?,
        )?;
    }
    t.raw_set("username", user.username.as_str())?;
    t.raw_set("uid", f64::from(user.uid.unwrap_or(0)))?;
    t.raw_set("gid", f64::from(user.gid.unwrap_or(0)))?;
    t.raw_set("service", user.service.as_str())?;
    t.raw_set("session_id", user.session_id.as_str())?;
    let created = lua
        .app_data_ref::<SessionCreated>()
        .map(|s| s.0)
        .unwrap_or_default();
    t.raw_set("session_create_time", created)?;
    let mail_debug = tracing::enabled!(target: crate::LOG_TARGET, tracing::Level::DEBUG);
    // Dovecot 2.4 dropped `mail_debug` from the table.
    let v24 = lua
        .app_data_ref::<crate::script::Env>()
        .is_some_and(|e| e.dovecot == pn_config::DovecotVersion::V2_4);
    for (field, value) in [
        ("nonexistent", false),
        ("anonymous", false),
        ("autocreated", user.raw_autocreated),
        ("mail_debug", mail_debug),
        ("fuzzy_search", false),
        ("dsyncing", false),
        ("admin", false),
        ("session_restored", false),
    ] {
        if v24 && field == "mail_debug" {
            continue;
        }
        t.raw_set(field, value)?;
    }
    Ok(t)
}

/// When the Lua state (the session, for the script) was created, in seconds.
struct SessionCreated(f64);

fn push_mailbox(lua: &Lua, name: &str) -> mlua::Result<Table> {
    let t = object(
        lua,
        MAILBOX,
        lua.create_any_userdata(MailboxItem {
            name: name.to_owned(),
        })?,
    )?;
    t.raw_set("vname", name)?;
    t.raw_set("name", name)?;
    Ok(t)
}

fn mailbox_name(this: &Value) -> ApiResult<String> {
    let ud = item(this, MAILBOX, 1)?;
    let mbox = ud.borrow::<MailboxItem>().map_err(lua_err)?;
    Ok(mbox.name.clone())
}

fn check_user(this: &Value) -> ApiResult<()> {
    item(this, MAIL_USER, 1).map(|_| ())
}

/// Reads `keys` (arguments 2…) of `mailbox` (`""`: server); one value or nil per key.
fn metadata_get(lua: &Lua, mailbox: &str, keys: &[Value]) -> ApiResult<MultiValue> {
    if keys.is_empty() {
        return Err("expecting at least 1 parameter".to_owned());
    }
    let env = env(lua)?;
    let mut out = MultiValue::new();
    for (i, key) in keys.iter().enumerate() {
        let Value::String(key) = key else {
            return Err(format!("expected string at #{}", i + 2));
        };
        let key = key.to_string_lossy();
        let (attr_type, key) = split_key(&key)?;
        let value = env
            .host
            .attribute_get_typed(&env.user, mailbox, attr_type, key)
            .map_err(|e| e.message)?;
        out.push_back(match value {
            Some(v) => Value::String(lua.create_string(v).map_err(lua_err)?),
            None => Value::Nil,
        });
    }
    Ok(out)
}

fn metadata_set(lua: &Lua, mailbox: &str, key: &str, value: Option<&[u8]>) -> ApiResult<()> {
    let env = env(lua)?;
    let (attr_type, key) = split_key(key)?;
    env.host
        .attribute_set(&env.user, mailbox, attr_type, key, value)
        .map_err(|e| e.message)
}

/// The entries under each prefix, as a table `full key → value`.
fn metadata_list(lua: &Lua, mailbox: &str, prefixes: &[Value]) -> ApiResult<Table> {
    if prefixes.is_empty() {
        return Err("expecting at least 1 parameter".to_owned());
    }
    let env = env(lua)?;
    let out = lua.create_table().map_err(lua_err)?;
    for (i, prefix) in prefixes.iter().enumerate() {
        let Value::String(prefix) = prefix else {
            return Err(format!("expected string at #{}", i + 2));
        };
        let full = prefix.to_string_lossy();
        let (attr_type, rel) = split_key(&full)?;
        let keys = env
            .host
            .attribute_list(&env.user, mailbox, attr_type, rel)
            .map_err(|e| e.message)?;
        for key in keys {
            let rel_key = format!("{rel}{key}");
            let value = env
                .host
                .attribute_get_typed(&env.user, mailbox, attr_type, &rel_key)
                .map_err(|e| e.message)?
                .unwrap_or_default();
            out.raw_set(
                format!("{full}{key}"),
                lua.create_string(value).map_err(lua_err)?,
            )
            .map_err(lua_err)?;
        }
    }
    Ok(out)
}

/// The `value` argument of `metadata_set`: `lua_tolstring` (a number becomes a string).
fn set_value(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        Value::Number(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

fn args_from(args: MultiValue, skip: usize) -> Vec<Value> {
    args.into_iter().skip(skip).collect()
}

fn user_methods(lua: &Lua) -> mlua::Result<Vec<(&'static str, mlua::Function)>> {
    Ok(vec![
        (
            "__tostring",
            lua.create_function(|lua, this: Table| {
                let _ = lua;
                this.raw_get::<Value>("username")
            })?,
        ),
        (
            "plugin_getenv",
            api_fn(lua, |lua, (this, key): (Value, Value)| {
                check_user(&this)?;
                let key = check_string(&key, 2)?;
                Ok(env(lua)?.env.get(&key))
            })?,
        ),
        (
            "var_expand",
            api_fn(lua, |lua, (this, format): (Value, Value)| {
                check_user(&this)?;
                let format = check_string(&format, 2)?;
                let env = env(lua)?;
                let mut vars =
                    UserVars::new(env.user.username.clone()).with_service(env.user.service.clone());
                if let Some(home) = &env.user.home {
                    vars = vars.with_home(home.to_string_lossy().into_owned());
                }
                pn_config::vars::expand(&format, &vars)
                    .map_err(|e| format!("var_expand({format}) failed: {e}"))
            })?,
        ),
        (
            "mailbox",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                if !(2..=3).contains(&args.len()) {
                    return Err(format!("expected 2 to 3 arguments, got {}", args.len()));
                }
                check_user(&args[0])?;
                let name = check_string(&args[1], 2)?;
                if let Some(flags) = args.get(2) {
                    check_integer(flags, 3)?;
                }
                push_mailbox(lua, &name).map_err(lua_err)
            })?,
        ),
        (
            "metadata_get",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let Some(this) = args.first() else {
                    return Err("expecting at least 1 parameter".to_owned());
                };
                check_user(this)?;
                metadata_get(lua, "", &args[1..])
            })?,
        ),
        (
            "metadata_set",
            api_fn(lua, |lua, (this, key, value): (Value, Value, Value)| {
                check_user(&this)?;
                let key = check_string(&key, 2)?;
                metadata_set(lua, "", &key, set_value(&value).as_deref())
                    .map_err(|e| user_set_error(&e))
            })?,
        ),
        (
            "metadata_unset",
            api_fn(lua, |lua, (this, key): (Value, Value)| {
                check_user(&this)?;
                let key = check_string(&key, 2)?;
                metadata_set(lua, "", &key, None).map_err(|e| user_set_error(&e))
            })?,
        ),
        (
            "metadata_list",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let Some(this) = args.first() else {
                    return Err("expecting at least 1 parameter".to_owned());
                };
                check_user(this)?;
                metadata_list(lua, "", &args[1..])
            })?,
        ),
    ])
}

/// Dovecot words every user-level set/unset failure as "Cannot get attribute", except the
/// key prefix check.
fn user_set_error(e: &str) -> String {
    if e == INVALID_PREFIX {
        e.to_owned()
    } else {
        format!("Cannot get attribute: {e}")
    }
}

fn status_table(lua: &Lua, name: &str, items: i64) -> ApiResult<Table> {
    let env = env(lua)?;
    let status = env
        .host
        .status(&env.user, name)
        .map_err(|e| format!("mailbox_get_status({name}, {items}) failed: {}", e.message))?;
    let pick = |flag: i64, v: u32| if items & flag != 0 { f64::from(v) } else { 0.0 };
    let t = lua.create_table().map_err(lua_err)?;
    let numbers = [
        ("messages", pick(STATUS_MESSAGES, status.messages)),
        ("recent", pick(STATUS_RECENT, status.recent)),
        ("unseen", pick(STATUS_UNSEEN, status.unseen)),
        ("uidvalidity", pick(STATUS_UIDVALIDITY, status.uid_validity)),
        ("uidnext", pick(STATUS_UIDNEXT, status.uid_next)),
        ("first_unseen_seq", 0.0),
        ("first_recent_uid", 0.0),
        ("highest_modseq", 0.0),
        ("highest_pvt_modseq", 0.0),
        ("permanent_flags", 0.0),
        ("flags", 0.0),
    ];
    let set = || -> mlua::Result<()> {
        t.raw_set("mailbox", name)?;
        for (k, v) in numbers {
            t.raw_set(k, v)?;
        }
        for k in [
            "permanent_keywords",
            "allow_new_keywords",
            "nonpermanent_modseqs",
            "no_modseq_tracking",
            "have_guids",
            "have_save_guids",
            "have_only_guid128",
        ] {
            t.raw_set(k, false)?;
        }
        Ok(())
    };
    set().map_err(lua_err)?;
    Ok(t)
}

fn mailbox_methods(lua: &Lua) -> mlua::Result<Vec<(&'static str, mlua::Function)>> {
    Ok(vec![
        (
            "__tostring",
            lua.create_function(|_, this: Table| this.raw_get::<Value>("vname"))?,
        ),
        (
            "free",
            api_fn(lua, |_, this: Value| {
                mailbox_name(&this)?;
                Ok(())
            })?,
        ),
        (
            "close",
            api_fn(lua, |_, this: Value| {
                mailbox_name(&this)?;
                Ok(())
            })?,
        ),
        (
            "open",
            api_fn(lua, |lua, this: Value| {
                let name = mailbox_name(&this)?;
                let env = env(lua)?;
                env.host
                    .status(&env.user, &name)
                    .map(|_| ())
                    .map_err(|e| format!("mailbox_open({name}) failed: {}", e.message))
            })?,
        ),
        (
            "sync",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let this = args.first().cloned().unwrap_or(Value::Nil);
                let name = mailbox_name(&this)?;
                if let Some(flags) = args.get(1) {
                    check_integer(flags, 2)?;
                }
                let env = env(lua)?;
                env.host
                    .status(&env.user, &name)
                    .map(|_| ())
                    .map_err(|e| format!("mailbox_sync({name}) failed: {}", e.message))
            })?,
        ),
        (
            "status",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let this = args.first().cloned().unwrap_or(Value::Nil);
                let name = mailbox_name(&this)?;
                if args.len() < 2 {
                    return Err("expecting at least 1 parameter".to_owned());
                }
                let mut items = 0;
                for (i, v) in args.iter().enumerate().skip(1) {
                    items |= check_integer(v, i + 1)?;
                }
                status_table(lua, &name, items)
            })?,
        ),
        (
            "metadata_get",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let this = args.first().cloned().unwrap_or(Value::Nil);
                let name = mailbox_name(&this)?;
                metadata_get(lua, &name, &args[1.min(args.len())..])
            })?,
        ),
        (
            "metadata_set",
            api_fn(lua, |lua, (this, key, value): (Value, Value, Value)| {
                let name = mailbox_name(&this)?;
                let key = check_string(&key, 2)?;
                metadata_set(lua, &name, &key, set_value(&value).as_deref())
                    .map_err(|e| format!("Cannot set attribute: {e}"))
            })?,
        ),
        (
            "metadata_unset",
            api_fn(lua, |lua, (this, key): (Value, Value)| {
                let name = mailbox_name(&this)?;
                let key = check_string(&key, 2)?;
                metadata_set(lua, &name, &key, None)
                    .map_err(|e| format!("Cannot unset attribute: {e}"))
            })?,
        ),
        (
            "metadata_list",
            api_fn(lua, |lua, args: MultiValue| {
                let args = args_from(args, 0);
                let this = args.first().cloned().unwrap_or(Value::Nil);
                let name = mailbox_name(&this)?;
                metadata_list(lua, &name, &args[1.min(args.len())..])
            })?,
        ),
    ])
}

/// Registers the user and mailbox metatables and `dovecot.storage`.
pub(crate) fn register(lua: &Lua) -> mlua::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or_default();
    lua.set_app_data(SessionCreated(now));
    let methods = user_methods(lua)?;
    metatable(lua, MAIL_USER, methods)?;
    let methods = mailbox_methods(lua)?;
    metatable(lua, MAILBOX, methods)?;

    let storage = lua.create_table()?;
    for (name, value) in STORAGE_NUMBERS {
        storage.raw_set(name, value as f64)?;
    }
    storage.raw_set("MAILBOX_ATTRIBUTE_PREFIX_DOVECOT", "vendor/vendor.dovecot/")?;
    storage.raw_set(
        "MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT",
        "vendor/vendor.dovecot/pvt/",
    )?;
    storage.raw_set("MAILBOX_ATTRIBUTE_PREFIX_DOVECOT_PVT_SERVER", PVT_SERVER)?;
    let dovecot: Table = lua.globals().raw_get("dovecot")?;
    dovecot.raw_set("storage", storage)?;
    Ok(())
}
