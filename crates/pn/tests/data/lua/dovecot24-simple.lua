-- pn test data. Dovecot 2.4's documented "simple example with dovecot.http.client" Lua push
-- script (docs/core/plugins/push_notification_lua.md in github.com/dovecot/documentation),
-- rebuilt from its description (spec §6.6): the same API calls in the same way (script_init
-- creating the client with `debug=True`, an undefined global, and returning nothing;
-- client:request, set_payload, submit, status()/100, reason()). Not a verbatim copy. Run
-- unmodified by lua_cli.rs.
--
-- plugin {
--   push_notification_driver = lua:file=/path/to/this.lua
--   push_lua_url = http://push.example.org/handler
-- }

local url = require 'socket.url'

local client = nil

function script_init()
  client = dovecot.http.client({debug=True, timeout=10000})
end

local function field_or(t, key, default)
  return t[key] or default
end

function dovecot_lua_notify_begin_txn(user)
  return {messages={}, ep=user:plugin_getenv("push_lua_url"), username=user.username}
end

function dovecot_lua_notify_end_txn(ctx, success)
  local key, msg = next(ctx["messages"], nil)
  while key do
    local rq = client:request({url=ctx["ep"], method="POST"})
    rq:set_payload("from=" .. url.escape(field_or(msg, "from", ""))
      .. "&to=" .. url.escape(field_or(msg, "to", ""))
      .. "&subject=" .. url.escape(field_or(msg, "subject", ""))
      .. "&snippet=" .. url.escape(field_or(msg, "snippet", ""))
      .. "&user=" .. url.escape(ctx["username"]))
    r = rq:submit()
    if r and r:status()/100 ~= 2 then
      dovecot.i_error("lua-push: endpoint error " .. tostring(r:reason()))
    end
    key, msg = next(ctx["messages"], key)
  end
end

function dovecot_lua_notify_event_message_append(ctx, event)
  table.insert(ctx["messages"], event)
end

function dovecot_lua_notify_event_message_new(ctx, event)
  table.insert(ctx["messages"], event)
end
