//! Integration tests of pn-message (one binary, modules below).

mod automated;
mod charsets;
mod lua_fields;
mod rules;
