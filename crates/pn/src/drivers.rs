//! The driver table of the `pn` binary (every driver it ships, by Dovecot's names) and the
//! user's plugin settings the engine loads them from.

use pn_config::{DriverSpec, Location, UserSettings};
use pn_core::{DriverRegistry, PluginEnv};

/// All drivers pn ships, registered under the names Dovecot uses.
pub(crate) fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    registry.register(pn_driver_ox::NAME, pn_driver_ox::init);
    registry.register(pn_driver_lua::NAME, pn_driver_lua::init);
    registry.register(pn_driver_webhook::NAME, pn_driver_webhook::init);
    registry
}

/// Plugin settings of one user with the config lines they came from, and the driver lists
/// pn-config built: 2.3's numbered keys followed by 2.4's `push_notification NAME { }`
/// filters, which the engine could not find among the plugin settings.
pub(crate) struct UserPlugin(pub(crate) UserSettings);

impl PluginEnv for UserPlugin {
    fn get(&self, key: &str) -> Option<String> {
        self.0.plugin.get(key).cloned()
    }

    fn location(&self, key: &str) -> Option<Location> {
        self.0.locations.get(key).cloned()
    }

    fn driver_specs(&self, root: &str) -> Option<Vec<DriverSpec>> {
        match root {
            "push_notification_driver" => Some(self.0.drivers.clone()),
            "push_notification_backend" => Some(self.0.backends.clone()),
            _ => None,
        }
    }
}
