//! Domain types that cannot hold an invalid value (being written).
