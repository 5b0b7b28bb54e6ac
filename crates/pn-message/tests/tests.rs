//! Integration tests of pn-message (one binary, modules below).

mod lua_fields;
mod rules;
