//! Dovecot's configuration language as far as pn needs it.
//!
//! The driver strings of `push_notification_driver` settings (spec §3.1/§3.2) live in
//! [`driver`]; the dovecot.conf grammar, effective settings per protocol, `%` variables and
//! Dovecot's time intervals are built on top.

pub mod driver;
mod location;

pub use driver::{DriverArgs, DriverSpec, driver_specs, parse_driver_value};
pub use location::Location;
