-- pn test data. Dovecot 2.4's documented "example with event code" Lua push script
-- (docs/core/plugins/push_notification_lua.md in github.com/dovecot/documentation), rebuilt
-- from its description (spec §6.6): the same API calls in the same way (script_init creating
-- a dovecot.http.client and returning nothing, dovecot.event with a parent, mailbox
-- sync/status/free, add_header, submit():status(), end_txn taking one argument). Not a
-- verbatim copy. Run unmodified by lua_cli.rs.
--
-- plugin {
--   push_notification_driver = lua:file=/path/to/this.lua
--   push_lua_url = http://push.example.org/handler
-- }

local client = nil
local url = require "socket.url"

function field_or(t, key, default)
  return t[key] or default
end

function script_init()
  client = dovecot.http.client({debug=True, timeout=10000})
end

function dovecot_lua_notify_begin_txn(user)
  return {user=user, event=dovecot.event(), ep=user:plugin_getenv("push_lua_url"), states={}, messages={}}
end

function dovecot_lua_notify_event_message_new(ctx, event)
  local box = ctx.user:mailbox(event.mailbox)
  box:sync()
  local status = box:status(dovecot.storage.STATUS_RECENT, dovecot.storage.STATUS_UNSEEN, dovecot.storage.STATUS_MESSAGES)
  box:free()
  ctx.states[event.mailbox] = status
  table.insert(ctx.messages, {from=event.from, subject=event.subject, mailbox=event.mailbox})
end

function dovecot_lua_notify_event_message_append(ctx, event, user)
  dovecot_lua_notify_event_message_new(ctx, event, user)
end

local function post(ep, body)
  local rq = client:request({url=ep, method="POST"})
  rq:set_payload(body)
  rq:add_header("content-type", "application/x-www-form-urlencoded")
  return rq:submit():status()
end

function dovecot_lua_notify_end_txn(ctx)
  for i, msg in ipairs(ctx.messages) do
    local e = dovecot.event(ctx.event)
    e:set_name("lua_notify_mail_finished")
    body = "mailbox=" .. url.escape(msg.mailbox) .. "&from=" .. url.escape(field_or(msg, "from", "")) .. "&subject=" .. url.escape(field_or(msg, "subject", ""))
    e:log_debug(ctx.ep .. " - sending " .. body)
    local code = post(ctx.ep, body)
    e:add_int("result_code", code)
    e:log_info("Mail notify status " .. tostring(code))
  end
  for box, state in pairs(ctx.states) do
    local e = dovecot.event()
    e:set_name("lua_notify_mailbox_finished")
    body = "mailbox=" .. url.escape(state.mailbox) .. "&recent=" .. tostring(state.recent) .. "&unseen=" .. tostring(state.unseen) .. "&messages=" .. tostring(state.messages)
    e:log_debug(ctx.ep .. " - sending " .. body)
    local code = post(ctx.ep, body)
    e:add_int("result_code", code)
    e:log_info("Mailbox notify status " .. tostring(code))
  end
end
