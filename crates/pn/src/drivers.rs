//! The driver table of the `pn` binary: every driver it ships, by Dovecot's names.

use pn_core::DriverRegistry;

/// All drivers pn ships, registered under the names Dovecot uses.
// Used by the delivery commands, which are being added.
#[allow(dead_code)]
pub(crate) fn registry() -> DriverRegistry {
    let mut registry = DriverRegistry::new();
    registry.register(pn_driver_dlog::NAME, pn_driver_dlog::init);
    registry
}
