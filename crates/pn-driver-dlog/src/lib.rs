//! dlog driver (being written).
