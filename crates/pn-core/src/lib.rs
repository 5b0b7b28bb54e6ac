//! pn core (being written).
