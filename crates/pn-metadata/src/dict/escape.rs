//! Dovecot's tab escaping, shared with the rest of pn through `pn_config::tabescape`.

pub use pn_config::tabescape::{split_tab_escaped, tab_escape, tab_unescape};
