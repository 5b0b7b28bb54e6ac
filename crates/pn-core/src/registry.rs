//! The driver table: driver names to constructors, looked up case-insensitively like Dovecot's
//! `push_notification_driver_identify`.

use std::sync::Arc;

use pn_config::DriverSpec;

use crate::{Driver, MailboxHost, Outbox, PluginEnv, UserInfo};

/// Everything a driver's `init` may look at.
pub struct DriverInitCtx<'a> {
    /// The configured instance: name as spelled, raw and parsed arguments, location.
    pub spec: &'a DriverSpec,
    /// The user the instance is for.
    pub user: &'a UserInfo,
    /// The user's plugin settings (e.g. Lua's `push_notification_lua_script_file`).
    pub env: &'a Arc<dyn PluginEnv>,
    /// The mail store.
    pub host: &'a Arc<dyn MailboxHost>,
    /// The outbox.
    pub outbox: &'a Arc<dyn Outbox>,
}

/// A driver's `init` failed; the text is Dovecot's (`Driver requires the url parameter`) and
/// is logged as `<driver>: <text>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DriverInitError(pub String);

type InitFn =
    Box<dyn Fn(&DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError> + Send + Sync>;

/// Known drivers by name.
#[derive(Default)]
pub struct DriverRegistry {
    drivers: Vec<(String, InitFn)>,
}

impl DriverRegistry {
    /// An empty registry.
    pub fn new() -> DriverRegistry {
        DriverRegistry::default()
    }

    /// Adds a driver. Returns `false` and keeps the existing one if the name (ignoring case)
    /// is already taken — Dovecot panics there; a library should not.
    pub fn register<F>(&mut self, name: &str, init: F) -> bool
    where
        F: Fn(&DriverInitCtx<'_>) -> Result<Box<dyn Driver>, DriverInitError>
            + Send
            + Sync
            + 'static,
    {
        if self.contains(name) {
            return false;
        }
        self.drivers.push((name.to_owned(), Box::new(init)));
        true
    }

    /// Whether a driver of that name (ignoring case) is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Registered names in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.drivers.iter().map(|(n, _)| n.as_str())
    }

    pub(crate) fn find(&self, name: &str) -> Option<&InitFn> {
        self.drivers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, f)| f)
    }
}

impl std::fmt::Debug for DriverRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
