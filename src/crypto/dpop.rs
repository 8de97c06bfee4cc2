//! DPoP proof verification (being written).
