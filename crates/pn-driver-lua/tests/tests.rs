//! Integration tests of the lua driver: one test binary (see STYLE.md).

mod errors;
mod http;
mod metadata;
mod replay;
mod sandbox;
mod util;
