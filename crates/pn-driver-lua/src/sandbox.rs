//! What a script may do to the process it runs in.
//!
//! Dovecot trusts its Lua scripts: they get every standard library and may load C modules. pn
//! trusts them too by default (a script may read and write files, run programs, read the
//! environment), with two exceptions that protect mail rather than the host:
//!
//! * `os.exit` raises an error instead of ending the process. A script runs after the message
//!   is stored and before the delivery is acknowledged; ending `pn lmtp` there makes the MTA
//!   retry a message that is already stored, so it is stored twice.
//! * Only text chunks load (`load`, `loadfile`, `dofile`, `require` and the script itself).
//!   Lua does not verify binary chunks, and a crafted one corrupts the interpreter's memory.
//!
//! `restricted=yes` removes everything that reaches outside the Lua state: the `io` library,
//! `os.execute`, `os.remove`, `os.rename`, `os.tmpname`, `os.getenv`, `os.setlocale`,
//! `loadfile`, `dofile`, and `require` of anything but the standard and built-in modules
//! (`socket.http`, `socket.url`, `ltn12`); `print` still writes to standard output. C modules
//! cannot be loaded in either mode.

use mlua::{Function, Lua, Table, Value};

/// The error `os.exit` raises.
pub(crate) const EXIT_ERROR: &str =
    "os.exit is disabled: a push script cannot end the mail process";

/// How much the script is trusted (driver argument `restricted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Dovecot's model: every standard library mlua's safe mode offers (no C modules).
    #[default]
    Trusted,
    /// Nothing outside the Lua state.
    Restricted,
}

impl Trust {
    /// `restricted` (a bare flag), `restricted=yes|no` and Dovecot's other boolean spellings.
    pub(crate) fn from_arg(value: Option<&str>) -> Result<Trust, String> {
        let Some(value) = value else {
            return Ok(Trust::Trusted);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "yes" | "y" | "1" | "true" => Ok(Trust::Restricted),
            "no" | "n" | "0" | "false" => Ok(Trust::Trusted),
            _ => Err(format!("Invalid restricted: {value} (yes or no)")),
        }
    }
}

/// Replacements written in Lua because the loaders must keep the argument counts of the originals
/// (`load(chunk, name, mode, nil)` and `load(chunk, name, mode)` differ in Lua 5.4). The
/// originals stay reachable only as upvalues, which a script cannot read without the debug
/// library.
const TEXT_ONLY: &str = r#"
local load, loadfile, select, error, searchpath, package, exit_error = ...
local function no_exit() error(exit_error, 0) end
local function text_load(chunk, name, mode, ...)
  if select('#', ...) > 0 then return load(chunk, name, "t", (...)) end
  return load(chunk, name, "t")
end
local function text_loadfile(file, mode, ...)
  if select('#', ...) > 0 then return loadfile(file, "t", (...)) end
  return loadfile(file, "t")
end
local function text_dofile(file)
  local f, err = loadfile(file, "t")
  if not f then error(err, 0) end
  return f()
end
local function lua_searcher(name)
  local path, err = searchpath(name, package.path)
  if not path then return err end
  local f, lerr = loadfile(path, "t")
  if not f then
    error("error loading module '" .. name .. "' from file '" .. path .. "':\n\t" .. lerr, 0)
  end
  return f, path
end
return text_load, text_loadfile, text_dofile, lua_searcher, no_exit
"#;

/// Applies the rules above to a fresh state, before the script's chunk runs.
pub(crate) fn apply(lua: &Lua, trust: Trust) -> mlua::Result<()> {
    let globals = lua.globals();
    let os: Table = globals.raw_get("os")?;

    let package: Table = globals.raw_get("package")?;
    let searchers: Table = package.raw_get("searchers")?;
    let make: Function = lua
        .load(TEXT_ONLY)
        .set_name("=pn-sandbox")
        .set_mode(mlua::chunk::ChunkMode::Text)
        .into_function()?;
    let (load, loadfile, dofile, searcher, exit): (
        Function,
        Function,
        Function,
        Function,
        Function,
    ) = make.call((
        globals.raw_get::<Value>("load")?,
        globals.raw_get::<Value>("loadfile")?,
        globals.raw_get::<Value>("select")?,
        globals.raw_get::<Value>("error")?,
        package.raw_get::<Value>("searchpath")?,
        package.clone(),
        EXIT_ERROR,
    ))?;
    // A plain string error without a position, like the API's errors.
    os.raw_set("exit", exit)?;
    globals.raw_set("load", load)?;
    match trust {
        Trust::Trusted => {
            globals.raw_set("loadfile", loadfile)?;
            globals.raw_set("dofile", dofile)?;
            // The second searcher finds Lua files on `package.path`.
            searchers.raw_set(2, searcher)?;
        }
        Trust::Restricted => {
            globals.raw_set("loadfile", Value::Nil)?;
            globals.raw_set("dofile", Value::Nil)?;
            // Keep only the preload searcher: built-in modules and loaded standard ones.
            while searchers.raw_len() > 1 {
                searchers.raw_remove(searchers.raw_len())?;
            }
            globals.raw_set("io", Value::Nil)?;
            let loaded: Table = package.raw_get("loaded")?;
            loaded.raw_set("io", Value::Nil)?;
            for name in [
                "execute",
                "remove",
                "rename",
                "tmpname",
                "getenv",
                "setlocale",
            ] {
                os.raw_set(name, Value::Nil)?;
            }
            package.raw_set("path", "")?;
            package.raw_set("cpath", "")?;
            package.raw_set("searchpath", Value::Nil)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restricted_argument_spellings() {
        assert_eq!(Trust::from_arg(None), Ok(Trust::Trusted));
        assert_eq!(Trust::from_arg(Some("")), Ok(Trust::Restricted));
        assert_eq!(Trust::from_arg(Some("YES")), Ok(Trust::Restricted));
        assert_eq!(Trust::from_arg(Some("no")), Ok(Trust::Trusted));
        assert!(Trust::from_arg(Some("maybe")).is_err());
    }
}
