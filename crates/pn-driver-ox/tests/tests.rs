//! Integration tests of the ox driver (one binary, modules below).

mod vectors;
