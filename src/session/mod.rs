//! The provider's own pages: sign-in, consent and logout. The browser session they share
//! (cookie, CSRF token, interactions) is `http::session`.

pub mod consent;
pub mod login;
pub mod logout;
