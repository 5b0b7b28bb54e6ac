//! The driver table of the `pn` binary: every driver it ships, by Dovecot's names.

use pn_core::DriverRegistry;

/// All drivers pn ships, registered under the names Dovecot uses.
pub(crate) fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    registry.register(pn_driver_ox::NAME, pn_driver_ox::init);
    registry.register(pn_driver_lua::NAME, pn_driver_lua::init);
    registry.register(pn_driver_webhook::NAME, pn_driver_webhook::init);
    registry
}
