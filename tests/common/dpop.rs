//! Client-side DPoP proofs for tests (being written).
#![allow(dead_code)]
