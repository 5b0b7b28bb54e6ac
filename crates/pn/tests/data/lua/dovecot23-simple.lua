-- pn test data. Dovecot 2.3's documented "simple example" Lua push script
-- (source/configuration_manual/push_notification.rst in github.com/dovecot/documentation),
-- rebuilt from its description (spec §6.6): the same API calls in the same way (LuaSocket's
-- string-form http.request, socket.url's escape, no script_init, next() over the messages
-- gathered in the transaction). Not a verbatim copy. Run unmodified by lua_cli.rs.
--
-- plugin {
--   push_notification_driver = lua:file=/path/to/this.lua
--   push_lua_url = http://push.example.org/handler
-- }

local http = require("socket.http")
local url = require("socket.url")

function field_or(t, key, default)
  return t[key] or default
end

function dovecot_lua_notify_begin_txn(user)
  return {messages={}, ep=user:plugin_getenv("push_lua_url"), username=user.username}
end

function dovecot_lua_notify_end_txn(ctx, success)
  local key, msg = next(ctx["messages"], nil)
  while key do
    local form = "from=" .. url.escape(field_or(msg, "from", ""))
      .. "&to=" .. url.escape(field_or(msg, "to", ""))
      .. "&subject=" .. url.escape(field_or(msg, "subject", ""))
      .. "&snippet=" .. url.escape(field_or(msg, "snippet", ""))
      .. "&user=" .. url.escape(ctx["username"])
    local r, c = http.request(ctx["ep"], form)
    if r and c/100 ~= 2 then
      dovecot.i_error("lua-push: endpoint answered " .. tostring(c))
    end
    if r == nil then
      dovecot.i_error("lua-push: " .. c)
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
