//! The `event` table of `dovecot_lua_notify_event_<x>(ctx, event)` (spec §6.4): exactly the
//! fields and Lua types Dovecot pushes. Numbers are floats (`lua_pushnumber`), flag lists are
//! arrays of flag names in Dovecot's order, raw header values are passed as bytes.

use mlua::{Lua, Table, Value};
use pn_event::{EventData, MailFlags, MessageData, RawValue};

fn flags(lua: &Lua, flags: MailFlags) -> mlua::Result<Table> {
    lua.create_sequence_from(flags.imap_names())
}

fn keywords(lua: &Lua, keywords: &[String]) -> mlua::Result<Table> {
    lua.create_sequence_from(keywords.iter().map(String::as_str))
}

/// A raw header value, `""` when absent (Dovecot's `push_notification_lua_push_string`).
fn raw_or_empty(lua: &Lua, value: Option<&RawValue>) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(
        value.map(RawValue::as_bytes).unwrap_or_default(),
    )?))
}

fn str_or_empty(lua: &Lua, value: Option<&str>) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(value.unwrap_or_default())?))
}

/// `lua_pushstring` of a possibly NULL string: `nil` when absent.
fn str_or_nil(lua: &Lua, value: Option<&[u8]>) -> mlua::Result<Value> {
    match value {
        Some(v) => Ok(Value::String(lua.create_string(v)?)),
        None => Ok(Value::Nil),
    }
}

/// MessageNew / MessageAppend (`push_notification_lua_push_messagenew`).
fn message(lua: &Lua, t: &Table, d: &MessageData) -> mlua::Result<()> {
    // `date` is -1 when it was not looked up (never for lua, which asks for all fields).
    t.raw_set("date", d.date.unwrap_or(-1) as f64)?;
    t.raw_set("tz", f64::from(d.date_tz))?;
    t.raw_set("from", raw_or_empty(lua, d.from.as_ref())?)?;
    t.raw_set("to", raw_or_empty(lua, d.to.as_ref())?)?;
    t.raw_set(
        "snippet",
        str_or_nil(lua, d.snippet.as_deref().map(str::as_bytes))?,
    )?;
    t.raw_set("flags", flags(lua, d.flags.unwrap_or_default())?)?;
    t.raw_set(
        "keywords",
        keywords(lua, d.keywords.as_deref().unwrap_or_default())?,
    )?;
    t.raw_set(
        "message_id",
        str_or_nil(lua, d.message_id.as_ref().map(RawValue::as_bytes))?,
    )?;
    t.raw_set(
        "from_address",
        str_or_empty(lua, d.from_address.as_deref())?,
    )?;
    t.raw_set(
        "from_display_name",
        str_or_empty(lua, d.from_display_name.as_deref())?,
    )?;
    t.raw_set("to_address", str_or_empty(lua, d.to_address.as_deref())?)?;
    t.raw_set(
        "to_display_name",
        str_or_empty(lua, d.to_display_name.as_deref())?,
    )?;
    t.raw_set(
        "subject",
        str_or_nil(lua, d.subject_utf8.as_deref().map(str::as_bytes))?,
    )?;
    Ok(())
}

/// The event table: `name`, the event's own fields, then `mailbox` and, for message events,
/// `uid` and `uid_validity`.
pub(crate) fn event_table(
    lua: &Lua,
    data: &EventData,
    mailbox: &str,
    uid: Option<(u32, u32)>,
) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("name", data.name().as_str())?;
    match data {
        EventData::FlagsClear(d) => {
            t.raw_set("flags", flags(lua, d.flags_clear)?)?;
            t.raw_set("flags_old", flags(lua, d.flags_old)?)?;
            t.raw_set("keywords", keywords(lua, &d.keywords_clear)?)?;
            if let Some(old) = &d.keywords_old {
                t.raw_set("keywords_old", keywords(lua, old)?)?;
            }
        }
        EventData::FlagsSet(d) => {
            t.raw_set("flags", flags(lua, d.flags_set)?)?;
            t.raw_set("keywords", keywords(lua, &d.keywords_set)?)?;
        }
        EventData::MailboxRename { old_mailbox } => {
            t.raw_set("mailbox_old", lua.create_string(old_mailbox)?)?;
        }
        EventData::MessageNew(d) | EventData::MessageAppend(d) => message(lua, &t, d)?,
        EventData::MailboxCreate { .. }
        | EventData::MailboxDelete
        | EventData::MailboxSubscribe
        | EventData::MailboxUnsubscribe
        | EventData::MessageExpunge
        | EventData::MessageRead
        | EventData::MessageTrash => {}
    }
    t.raw_set("mailbox", lua.create_string(mailbox)?)?;
    if let Some((uid, uid_validity)) = uid {
        t.raw_set("uid", f64::from(uid))?;
        t.raw_set("uid_validity", f64::from(uid_validity))?;
    }
    Ok(t)
}
