//! HTTP for scripts: `dovecot.http` (Dovecot's `dlua-dovecot-http.c`) and built-in versions of
//! LuaSocket's `socket.http` and `socket.url`, which the documented example scripts `require`.
//!
//! Requests are synchronous from the script's view, as in Dovecot (`submit()` waits for the
//! response). Only the calling user's Lua state waits; other users have their own.

use std::time::Duration;

use base64::Engine as _;

use mlua::{Lua, MultiValue, Table, Value};
use pn_config::HttpUrl;

use crate::api::{ApiResult, api_fn, check_string, item, lua_err, metatable, object};

const CLIENT: &str = "struct http_client";
const REQUEST: &str = "struct http_client_request";
const RESPONSE: &str = "struct dlua_http_response";

/// Dovecot's `HTTP_CLIENT_DEFAULT_REQUEST_TIMEOUT_MSECS`.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// LuaSocket's `socket.http.TIMEOUT`.
const LUASOCKET_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest response body kept.
const MAX_BODY: u64 = 64 << 20;

// Dovecot's `enum http_request_status_internal` (lib-http/http-client.h).
const ERROR_INVALID_URL: u16 = 9001;
const ERROR_HOST_LOOKUP_FAILED: u16 = 9002;
const ERROR_CONNECT_FAILED: u16 = 9003;
const ERROR_INVALID_REDIRECT: u16 = 9004;
const ERROR_CONNECTION_LOST: u16 = 9005;
const ERROR_BAD_RESPONSE: u16 = 9007;
const ERROR_TIMED_OUT: u16 = 9008;

/// The settings of a `dovecot.http.client{…}` (the ones pn acts on).
#[derive(Debug, Clone)]
struct ClientSettings {
    user_agent: Option<String>,
    request_timeout: Duration,
    connect_timeout: Option<Duration>,
    max_attempts: u32,
    max_redirects: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            user_agent: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: None,
            max_attempts: 1,
            max_redirects: 0,
        }
    }
}

/// One request being built.
#[derive(Debug, Clone)]
struct Request {
    settings: ClientSettings,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    payload: Option<Vec<u8>>,
    submitted: bool,
}

/// What came back: a real response, or one of Dovecot's internal 9xxx statuses.
#[derive(Debug, Clone, Default)]
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    payload: Vec<u8>,
}

impl Response {
    fn failed(status: u16, reason: impl Into<String>) -> Response {
        Response {
            status,
            reason: reason.into(),
            ..Response::default()
        }
    }
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Checks an `http://` / `https://` URL with pn-config's URL parser (lib-http's rules, shared
/// with the ox driver and the dispatcher) and moves its userinfo out: the URL to request,
/// and a Basic `Authorization` value only for `user:password@`, as lib-http sends one
/// (`user@` alone sends none).
fn parse_url(url: &str) -> Result<(String, Option<String>), String> {
    let parsed = HttpUrl::parse(url).map_err(|e| e.to_string())?;
    let auth = parsed.basic_credentials().map(|(user, password)| {
        format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
    });
    Ok((parsed.without_userinfo(), auth))
}

fn classify(e: &ureq::Error) -> u16 {
    match e {
        ureq::Error::Timeout(_) => ERROR_TIMED_OUT,
        ureq::Error::HostNotFound => ERROR_HOST_LOOKUP_FAILED,
        ureq::Error::ConnectionFailed => ERROR_CONNECT_FAILED,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => ERROR_INVALID_URL,
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => ERROR_INVALID_REDIRECT,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => ERROR_CONNECT_FAILED,
            std::io::ErrorKind::TimedOut => ERROR_TIMED_OUT,
            _ => ERROR_CONNECTION_LOST,
        },
        _ => ERROR_BAD_RESPONSE,
    }
}

/// Sends the request, retrying connection failures and 5xx answers up to `max_attempts`.
fn perform(req: &Request) -> Response {
    let (url, auth) = match parse_url(&req.url) {
        Ok(u) => u,
        Err(e) => return Response::failed(ERROR_INVALID_URL, e),
    };
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(req.settings.max_redirects)
        .max_redirects_will_error(false)
        .timeout_global(Some(req.settings.request_timeout))
        .timeout_connect(req.settings.connect_timeout);
    if let Some(ua) = &req.settings.user_agent {
        config = config.user_agent(ua.as_str());
    }
    let agent: ureq::Agent = config.build().into();
    let attempts = req.settings.max_attempts.max(1);
    let mut last = Response::default();
    for _ in 0..attempts {
        last = attempt(&agent, req, &url, auth.as_deref());
        let retry = last.status >= 500 && last.status != ERROR_INVALID_URL;
        if !retry {
            break;
        }
    }
    last
}

fn attempt(agent: &ureq::Agent, req: &Request, url: &str, auth: Option<&str>) -> Response {
    let mut builder = ureq::http::Request::builder()
        .method(req.method.as_str())
        .uri(url);
    if let Some(auth) = auth {
        builder = builder.header("Authorization", auth);
    }
    for (k, v) in &req.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let request = match builder.body(req.payload.clone().unwrap_or_default()) {
        Ok(r) => r,
        Err(e) => return Response::failed(ERROR_INVALID_URL, e.to_string()),
    };
    let mut response = match agent.run(request) {
        Ok(r) => r,
        Err(e) => return Response::failed(classify(&e), e.to_string()),
    };
    let status = response.status();
    if status.is_redirection() && req.settings.max_redirects == 0 {
        return Response::failed(ERROR_INVALID_REDIRECT, "Redirect refused");
    }
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let payload = match response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
    {
        Ok(p) => p,
        Err(e) => return Response::failed(ERROR_CONNECTION_LOST, e.to_string()),
    };
    Response {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        headers,
        payload,
    }
}

fn uint_setting(t: &Table, key: &str) -> ApiResult<Option<u64>> {
    match t.raw_get::<Value>(key).map_err(lua_err)? {
        Value::Nil => Ok(None),
        Value::Integer(i) if i >= 0 => Ok(Some(i as u64)),
        Value::Number(n) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
        _ => Err(format!(
            "Invalid HTTP client setting: {key}: non-negative number expected"
        )),
    }
}

fn parse_settings(t: &Table) -> ApiResult<ClientSettings> {
    let mut s = ClientSettings::default();
    match t.raw_get::<Value>("user_agent").map_err(lua_err)? {
        Value::Nil => {}
        Value::String(ua) => s.user_agent = Some(ua.to_string_lossy()),
        _ => return Err("Invalid HTTP client setting: user_agent: string expected".to_owned()),
    }
    for key in ["debug", "no_auto_redirect", "no_auto_retry"] {
        match t.raw_get::<Value>(key).map_err(lua_err)? {
            Value::Nil | Value::Boolean(_) => {}
            _ => {
                return Err(format!(
                    "Invalid HTTP client setting: {key}: boolean expected"
                ));
            }
        }
    }
    for key in [
        "max_idle_time_msecs",
        "max_connect_attempts",
        "connect_backoff_time_msecs",
        "connect_backoff_max_time_msecs",
        "request_absolute_timeout_msecs",
        "soft_connect_timeout_msecs",
        "max_auto_retry_delay_secs",
    ] {
        uint_setting(t, key)?;
    }
    if let Some(ms) = uint_setting(t, "request_timeout_msecs")?.filter(|ms| *ms > 0) {
        s.request_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = uint_setting(t, "request_absolute_timeout_msecs")?.filter(|ms| *ms > 0) {
        s.request_timeout = s.request_timeout.min(Duration::from_millis(ms));
    }
    if let Some(ms) = uint_setting(t, "connect_timeout_msecs")?.filter(|ms| *ms > 0) {
        s.connect_timeout = Some(Duration::from_millis(ms));
    }
    if let Some(n) = uint_setting(t, "max_attempts")?.filter(|n| *n > 0) {
        s.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = uint_setting(t, "max_redirects")? {
        s.max_redirects = u32::try_from(n).unwrap_or(u32::MAX);
    }
    Ok(s)
}

fn with_request<R>(this: &Value, f: impl FnOnce(&mut Request) -> ApiResult<R>) -> ApiResult<R> {
    let ud = item(this, REQUEST, 1)?;
    let mut req = ud.borrow_mut::<Request>().map_err(lua_err)?;
    f(&mut req)
}

fn with_response<R>(this: &Value, f: impl FnOnce(&Response) -> R) -> ApiResult<R> {
    let ud = item(this, RESPONSE, 1)?;
    let resp = ud.borrow::<Response>().map_err(lua_err)?;
    Ok(f(&resp))
}

fn push_response(lua: &Lua, resp: Response) -> mlua::Result<Table> {
    object(lua, RESPONSE, lua.create_any_userdata(resp)?)
}

fn register_dovecot_http(lua: &Lua) -> mlua::Result<()> {
    metatable(
        lua,
        RESPONSE,
        vec![
            (
                "status",
                api_fn(lua, |_, this: Value| {
                    with_response(&this, |r| i64::from(r.status))
                })?,
            ),
            (
                "reason",
                api_fn(lua, |_, this: Value| {
                    with_response(&this, |r| r.reason.clone())
                })?,
            ),
            (
                "payload",
                api_fn(lua, |lua, this: Value| {
                    let p = with_response(&this, |r| r.payload.clone())?;
                    lua.create_string(p).map_err(lua_err)
                })?,
            ),
            (
                "header",
                api_fn(lua, |_, (this, name): (Value, Value)| {
                    let name = check_string(&name, 2)?;
                    with_response(&this, |r| {
                        r.headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    })
                })?,
            ),
        ],
    )?;
    metatable(
        lua,
        REQUEST,
        vec![
            (
                "add_header",
                api_fn(lua, |_, (this, k, v): (Value, Value, Value)| {
                    let (k, v) = (check_string(&k, 2)?, check_string(&v, 3)?);
                    with_request(&this, |r| {
                        r.headers.push((k, v));
                        Ok(())
                    })
                })?,
            ),
            (
                "remove_header",
                api_fn(lua, |_, (this, k): (Value, Value)| {
                    let k = check_string(&k, 2)?;
                    with_request(&this, |r| {
                        r.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&k));
                        Ok(())
                    })
                })?,
            ),
            (
                "set_payload",
                api_fn(lua, |_, (this, p): (Value, Value)| {
                    let payload = match &p {
                        Value::String(s) => s.as_bytes().to_vec(),
                        other => check_string(other, 2)?.into_bytes(),
                    };
                    with_request(&this, |r| {
                        r.payload = Some(payload);
                        Ok(())
                    })
                })?,
            ),
            (
                "submit",
                api_fn(lua, |lua, this: Value| {
                    let req = with_request(&this, |r| {
                        if std::mem::replace(&mut r.submitted, true) {
                            return Err("request was already submitted".to_owned());
                        }
                        Ok(r.clone())
                    })?;
                    push_response(lua, perform(&req)).map_err(lua_err)
                })?,
            ),
        ],
    )?;
    metatable(
        lua,
        CLIENT,
        vec![(
            "request",
            api_fn(lua, |lua, (this, spec): (Value, Value)| {
                let settings = {
                    let ud = item(&this, CLIENT, 1)?;
                    let s = ud.borrow::<ClientSettings>().map_err(lua_err)?;
                    s.clone()
                };
                let Value::Table(spec) = spec else {
                    return Err(format!(
                        "bad argument #2 (table expected, got {})",
                        spec.type_name()
                    ));
                };
                let url = match spec.raw_get::<Value>("url").map_err(lua_err)? {
                    Value::Nil => return Err("cannot create request: url not specified".to_owned()),
                    v => check_string(&v, 2)?,
                };
                let method = match spec.raw_get::<Value>("method").map_err(lua_err)? {
                    Value::Nil => "GET".to_owned(),
                    v => check_string(&v, 2)?,
                };
                parse_url(&url).map_err(|e| format!("Failed to parse url {url}: {e}"))?;
                let req = Request {
                    settings,
                    method,
                    url,
                    headers: Vec::new(),
                    payload: None,
                    submitted: false,
                };
                object(lua, REQUEST, lua.create_any_userdata(req).map_err(lua_err)?)
                    .map_err(lua_err)
            })?,
        )],
    )?;
    let http = lua.create_table()?;
    http.raw_set(
        "client",
        api_fn(lua, |lua, settings: Value| {
            let Value::Table(t) = settings else {
                return Err(format!(
                    "bad argument #1 (table expected, got {})",
                    settings.type_name()
                ));
            };
            let settings = parse_settings(&t)?;
            object(
                lua,
                CLIENT,
                lua.create_any_userdata(settings).map_err(lua_err)?,
            )
            .map_err(lua_err)
        })?,
    )?;
    let dovecot: Table = lua.globals().raw_get("dovecot")?;
    dovecot.raw_set("http", http)
}

/// LuaSocket's `http.request`: `(url [, body])` returns `body, code, headers, status` (a
/// body makes it a form POST); the table form `{url=, method=, headers=, source=, sink=}`
/// returns `1, code, headers, status`. Failures return `nil, message`.
fn socket_request(lua: &Lua, args: MultiValue) -> ApiResult<MultiValue> {
    let mut args = args.into_iter();
    let first = args.next().unwrap_or(Value::Nil);
    let settings = ClientSettings {
        user_agent: Some("LuaSocket 3.0-rc1".to_owned()),
        request_timeout: LUASOCKET_TIMEOUT,
        max_redirects: 5,
        ..ClientSettings::default()
    };
    let (req, sink) = match &first {
        Value::Table(t) => {
            let url = check_string(&t.raw_get::<Value>("url").map_err(lua_err)?, 1)?;
            let method = match t.raw_get::<Value>("method").map_err(lua_err)? {
                Value::Nil => "GET".to_owned(),
                v => check_string(&v, 1)?,
            };
            let mut headers = Vec::new();
            if let Value::Table(h) = t.raw_get::<Value>("headers").map_err(lua_err)? {
                for pair in h.pairs::<String, String>() {
                    headers.push(pair.map_err(lua_err)?);
                }
            }
            let mut payload = None;
            if let Value::Function(source) = t.raw_get::<Value>("source").map_err(lua_err)? {
                let mut body = Vec::new();
                while let Value::String(s) = source.call::<Value>(()).map_err(lua_err)? {
                    body.extend_from_slice(&s.as_bytes());
                }
                payload = Some(body);
            }
            let sink = match t.raw_get::<Value>("sink").map_err(lua_err)? {
                Value::Function(f) => Some(f),
                _ => None,
            };
            (
                Request {
                    settings,
                    method,
                    url,
                    headers,
                    payload,
                    submitted: true,
                },
                sink,
            )
        }
        other => {
            let url = check_string(other, 1)?;
            let body = match args.next() {
                None | Some(Value::Nil) => None,
                Some(Value::String(s)) => Some(s.as_bytes().to_vec()),
                Some(v) => Some(check_string(&v, 2)?.into_bytes()),
            };
            let mut headers = Vec::new();
            let method = if let Some(body) = &body {
                headers.push((
                    "Content-Type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ));
                headers.push(("Content-Length".to_owned(), body.len().to_string()));
                "POST"
            } else {
                "GET"
            };
            (
                Request {
                    settings,
                    method: method.to_owned(),
                    url,
                    headers,
                    payload: body,
                    submitted: true,
                },
                None,
            )
        }
    };
    let resp = perform(&req);
    let mut out = MultiValue::new();
    if resp.status >= 9000 {
        out.push_back(Value::Nil);
        let msg = match resp.status {
            ERROR_CONNECT_FAILED => "connection refused".to_owned(),
            ERROR_TIMED_OUT => "timeout".to_owned(),
            ERROR_HOST_LOOKUP_FAILED => "host not found".to_owned(),
            _ => resp.reason,
        };
        out.push_back(Value::String(lua.create_string(msg).map_err(lua_err)?));
        return Ok(out);
    }
    let headers = lua.create_table().map_err(lua_err)?;
    for (k, v) in &resp.headers {
        headers
            .raw_set(k.to_ascii_lowercase(), v.as_str())
            .map_err(lua_err)?;
    }
    let status_line = format!("HTTP/1.1 {} {}", resp.status, resp.reason);
    let first_result = match sink {
        Some(sink) => {
            let body = lua.create_string(&resp.payload).map_err(lua_err)?;
            sink.call::<()>(body).map_err(lua_err)?;
            sink.call::<()>(Value::Nil).map_err(lua_err)?;
            Value::Integer(1)
        }
        None if matches!(first, Value::Table(_)) => Value::Integer(1),
        None => Value::String(lua.create_string(&resp.payload).map_err(lua_err)?),
    };
    out.push_back(first_result);
    out.push_back(Value::Integer(i64::from(resp.status)));
    out.push_back(Value::Table(headers));
    out.push_back(Value::String(
        lua.create_string(status_line).map_err(lua_err)?,
    ));
    Ok(out)
}

/// `socket.url` and `ltn12`'s string source and table sink, in Lua.
const LUA_MODULES: &str = r#"
local url = {}
function url.escape(s)
  return (string.gsub(s, "([^A-Za-z0-9_])", function(c)
    return string.format("%%%02x", string.byte(c))
  end))
end
function url.unescape(s)
  return (string.gsub(s, "%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end))
end
local ltn12 = { source = {}, sink = {} }
function ltn12.source.string(s)
  local done = false
  return function()
    if done or s == nil or s == "" then return nil end
    done = true
    return s
  end
end
function ltn12.source.empty() return function() return nil end end
function ltn12.sink.table(t)
  t = t or {}
  return function(chunk)
    if chunk then t[#t + 1] = chunk end
    return 1
  end, t
end
return url, ltn12
"#;

/// Registers `dovecot.http` and the `socket.http`, `socket.url` and `ltn12` modules
/// (`package.preload`, so `require` finds them).
pub(crate) fn register(lua: &Lua) -> mlua::Result<()> {
    register_dovecot_http(lua)?;
    let (url, ltn12): (Table, Table) = lua.load(LUA_MODULES).set_name("=pn").call(())?;
    let http = lua.create_table()?;
    http.raw_set("request", api_fn(lua, socket_request)?)?;
    http.raw_set("TIMEOUT", LUASOCKET_TIMEOUT.as_secs())?;
    http.raw_set("USERAGENT", "LuaSocket 3.0-rc1")?;
    let package: Table = lua.globals().raw_get("package")?;
    let preload: Table = package.raw_get("preload")?;
    for (name, module) in [("socket.http", http), ("socket.url", url), ("ltn12", ltn12)] {
        let loader = lua.create_function(move |_, ()| Ok(module.clone()))?;
        preload.raw_set(name, loader)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn userinfo_becomes_basic_auth() {
        let (url, auth) = parse_url("http://u%40x:p@127.0.0.1:8080/a?b").expect("valid");
        assert_eq!(url, "http://127.0.0.1:8080/a?b");
        assert_eq!(auth.as_deref(), Some("Basic dUB4OnA="));
        assert_eq!(parse_url("ftp://x/").unwrap_err(), "Not an HTTP URL");
        assert_eq!(
            parse_url("/relative").unwrap_err(),
            "Relative HTTP URL not allowed"
        );
    }

    #[test]
    fn no_basic_auth_without_a_password_as_lib_http() {
        let (url, auth) = parse_url("http://user@127.0.0.1/x").expect("valid");
        assert_eq!((url.as_str(), auth), ("http://127.0.0.1/x", None));
        let (_, auth) = parse_url("http://:pw@127.0.0.1/x").expect("valid");
        assert_eq!(auth, None);
    }
}
