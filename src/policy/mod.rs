//! Cross-origin rules: CORS per endpoint and origin checks (SECURITY.md §1, §2).

pub mod cors;
