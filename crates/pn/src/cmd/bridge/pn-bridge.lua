-- pn-bridge.lua: Dovecot push-notification Lua script shipped with pn (`pn bridge
-- print-script`). It hands every push-notification event to `pn bridge` through a spool
-- directory, without ever waiting on the network inside Dovecot's mail transaction.
--
-- Dovecot 2.3:  push_notification_driver = lua:file=/etc/dovecot/pn-bridge.lua
-- Dovecot 2.4:  push_notification lua { lua_file = /etc/dovecot/pn-bridge.lua }
-- Spool directory: `pn_bridge_spool` from 2.4's `lua_settings { }` or 2.3's plugin { },
-- else the default below.
--
-- Each committed transaction becomes one JSON file, written to <spool>/tmp/ and then renamed
-- into <spool>/new/, so `pn bridge` never sees half a file and nothing is lost while it is
-- down: the file waits in new/ until its pushes were handed over. Rolled-back transactions
-- are not written (Dovecot's drivers send nothing for them either).

local DEFAULT_SPOOL = "@PN_BRIDGE_SPOOL@"
-- Set by 2.4's script_init(lua_settings).
local configured_spool = nil
-- `pn_bridge_status = no` leaves the mailbox status out of Dovecot's delivery path; pn bridge
-- then reads it from the Maildir when it replays (see docs/bridge.md). nil: not read yet.
local read_status = nil

local EVENTS = {
  "FlagsClear", "FlagsSet", "MailboxCreate", "MailboxDelete",
  "MailboxRename", "MailboxSubscribe", "MailboxUnsubscribe",
  "MessageAppend", "MessageExpunge", "MessageNew", "MessageRead",
  "MessageTrash",
}

-- Files written by this Lua state (one per mail user and process); orders a session's files.
local seq = 0

-- JSON strings must be UTF-8; raw header bytes need not be, so those travel as hex.
local function json_string(s)
  if utf8.len(s) == nil then
    return '{"hex":"' .. s:gsub(".", function(c)
      return string.format("%02x", c:byte())
    end) .. '"}'
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json(v)
  local t = type(v)
  if t == "string" then return json_string(v) end
  if t == "number" then
    local i = math.tointeger(v)
    if i ~= nil then return string.format("%d", i) end
    return string.format("%.17g", v)
  end
  if t == "boolean" then return tostring(v) end
  if t == "table" then
    if next(v) == nil then return "[]" end
    if v[1] ~= nil then
      local parts = {}
      for i = 1, #v do parts[i] = json(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do
      if type(k) == "string" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = json_string(k) .. ":" .. json(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end

-- Mailbox status as Dovecot's documented script reads it; a failure leaves it out (pn's ox
-- then omits `unseen`, as Dovecot's ox does when its status lookup fails).
local function status(ctx, mailbox)
  if ctx.status[mailbox] ~= nil then return end
  local ok, st = pcall(function()
    local box = ctx.mail_user:mailbox(mailbox)
    box:sync()
    local s = box:status(dovecot.storage.STATUS_MESSAGES, dovecot.storage.STATUS_RECENT,
      dovecot.storage.STATUS_UNSEEN, dovecot.storage.STATUS_UIDVALIDITY,
      dovecot.storage.STATUS_UIDNEXT)
    box:free()
    return s
  end)
  if ok and type(st) == "table" then
    ctx.status[mailbox] = {
      messages = st.messages, recent = st.recent, unseen = st.unseen,
      uid_validity = st.uidvalidity, uid_next = st.uidnext,
    }
  end
end

-- 2.3 calls script_init() and wants 0; 2.4 passes the lua_settings table and ignores the
-- result.
function script_init(settings)
  if type(settings) == "table" then
    if type(settings.pn_bridge_spool) == "string" and settings.pn_bridge_spool ~= "" then
      configured_spool = settings.pn_bridge_spool
    end
    if settings.pn_bridge_status ~= nil then
      read_status = settings.pn_bridge_status ~= "no"
    end
  end
  return 0
end

local function setting(user, key)
  local ok, v = pcall(function() return user:plugin_getenv(key) end)
  if ok and type(v) == "string" and v ~= "" then return v end
  return nil
end

local function spool_of(user)
  if configured_spool == nil then
    configured_spool = setting(user, "pn_bridge_spool") or DEFAULT_SPOOL
  end
  if read_status == nil then
    read_status = setting(user, "pn_bridge_status") ~= "no"
  end
  return configured_spool
end

function dovecot_lua_notify_begin_txn(user)
  local spool = spool_of(user)
  return {
    mail_user = user, spool = spool, events = {}, status = {},
    user = user.username, service = user.service, session = user.session_id or "",
  }
end

for _, name in ipairs(EVENTS) do
  local fn = "dovecot_lua_notify_event" .. name:gsub("%u", function(c)
    return "_" .. c:lower()
  end)
  _G[fn] = function(ctx, event)
    ctx.events[#ctx.events + 1] = event
    -- `unseen` (ox, webhook) and MailboxCreate's UIDVALIDITY come from the mailbox
    -- status, read once per mailbox after the commit, as Dovecot's own drivers read it.
    if read_status and (event.uid ~= nil or name == "MailboxCreate") then
      status(ctx, event.mailbox)
    end
  end
end

function dovecot_lua_notify_end_txn(ctx, success)
  if not success or #ctx.events == 0 then return end
  seq = seq + 1
  local name = string.format("%d.%s.%08d.%s", os.time(), ctx.session:gsub("[^%w]", "_"),
    seq, tostring(ctx):gsub("^table: 0x", ""))
  local body = json({
    v = 1, user = ctx.user, service = ctx.service, session = ctx.session,
    time = os.time(), events = ctx.events, status = ctx.status,
  })
  local tmp = ctx.spool .. "/tmp/" .. name
  local f, err = io.open(tmp, "w")
  if f == nil then
    dovecot.i_error("pn-bridge: cannot write " .. tmp .. ": " .. tostring(err))
    return
  end
  local ok, werr = f:write(body, "\n")
  local closed, cerr = f:close()
  if not ok or not closed then
    dovecot.i_error("pn-bridge: cannot write " .. tmp .. ": " .. tostring(werr or cerr))
    os.remove(tmp)
    return
  end
  local renamed, rerr = os.rename(tmp, ctx.spool .. "/new/" .. name .. ".json")
  if not renamed then
    dovecot.i_error("pn-bridge: cannot rename " .. tmp .. ": " .. tostring(rerr))
  end
end
