//! Registered redirect URIs (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7).

use url::{Host, Url};

use super::{has_only_uri_chars, impl_string_traits, is_scheme_syntax, serialises_unchanged_up_to_path, DomainError};

/// A redirect URI a client may register, kept exactly as given because a presented
/// `redirect_uri` is compared to it byte for byte (RFC 9700 §2.1, RFC 3986 §6.2.1).
///
/// `==` is that exact comparison; use [`RedirectUri::matches`] for a presented value, which
/// also lets the port of a loopback IP redirect URI vary (RFC 8252 §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RedirectUri {
    uri: String,
    kind: RedirectUriKind,
}

/// Which of the allowed forms a redirect URI has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RedirectUriKind {
    /// `https://host/...`: a web application, or a native app's claimed https URL.
    Https,
    /// `http://127.0.0.1`, `http://[::1]` or `http://localhost`: a native app listening on
    /// the loopback interface (RFC 8252 §7.3).
    Loopback,
    /// A reverse-domain private-use scheme such as `com.example.app:/cb` (RFC 8252 §7.1).
    PrivateUse,
}

const EMPTY: DomainError = DomainError::new("redirect_uri must not be empty");
const TOO_LONG: DomainError = DomainError::new("redirect_uri must be at most 2048 characters");
const SCHEME_NOT_ALLOWED: DomainError = DomainError::new(
    "redirect_uri scheme must be https, http on a loopback host, or a reverse-domain private-use scheme",
);
const BAD_CHARS: DomainError =
    DomainError::new("redirect_uri must be a URI without whitespace, control or non-ASCII characters");
const FRAGMENT: DomainError = DomainError::new("redirect_uri must not contain a fragment");
const NOT_ABSOLUTE: DomainError = DomainError::new("redirect_uri must be an absolute URI");
const UPPERCASE_SCHEME: DomainError = DomainError::new("redirect_uri scheme must be lowercase");
const INVALID: DomainError = DomainError::new("redirect_uri is not a valid URI");
const USERINFO: DomainError = DomainError::new("redirect_uri must not contain userinfo");
const HTTP_NOT_LOOPBACK: DomainError =
    DomainError::new("http redirect_uri is allowed only for 127.0.0.1, [::1] and localhost");
const NOT_CANONICAL: DomainError =
    DomainError::new("redirect_uri must be in normal form: lowercase host, no default port, no dot segments");
const PRIVATE_USE_PATH: DomainError =
    DomainError::new("private-use redirect_uri must have a path after the scheme, as in com.example.app:/cb");

/// Schemes that run code or read local data when navigated to. They are refused anyway for
/// not being https, http or reverse-domain, but this list is matched after removing
/// everything a browser ignores or strips (WEB-6; Keycloak CVE-2026-9086), so that a
/// variant such as ` JaVa\tScRiPt:` is named for what it is however the checks below change.
const SCRIPT_SCHEMES: [&str; 7] = ["javascript", "vbscript", "data", "file", "blob", "about", "filesystem"];

impl RedirectUri {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Err(EMPTY);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TOO_LONG);
        }
        if has_script_scheme(text) {
            return Err(SCHEME_NOT_ALLOWED);
        }
        if !has_only_uri_chars(text) {
            return Err(BAD_CHARS);
        }
        // RFC 6749 §3.1.2: MUST NOT include a fragment; a bare trailing `#` included.
        if text.contains('#') {
            return Err(FRAGMENT);
        }
        let (scheme, rest) = text.split_once(':').ok_or(NOT_ABSOLUTE)?;
        if !is_scheme_syntax(scheme) {
            return Err(NOT_ABSOLUTE);
        }
        // Schemes are case-insensitive (RFC 3986 §3.1), but Android matches intent-filter
        // schemes case-sensitively and we compare bytes: only the lowercase form is usable.
        if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(UPPERCASE_SCHEME);
        }
        let kind = match scheme {
            "https" => RedirectUriKind::Https,
            "http" => RedirectUriKind::Loopback,
            _ if is_reverse_domain(scheme) => RedirectUriKind::PrivateUse,
            _ => return Err(SCHEME_NOT_ALLOWED),
        };
        match kind {
            RedirectUriKind::Https | RedirectUriKind::Loopback => check_http(text, rest, kind)?,
            RedirectUriKind::PrivateUse => check_private_use(text, rest)?,
        }
        Ok(Self { uri: text.to_owned(), kind })
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    pub fn kind(&self) -> RedirectUriKind {
        self.kind
    }

    pub fn into_string(self) -> String {
        self.uri
    }

    /// Whether a presented `redirect_uri` is this one: byte equality (RFC 9700 §2.1), the
    /// sole exception being that the port of an `http` loopback IP literal redirect URI may
    /// differ, because a native app gets an ephemeral port from the OS (RFC 8252 §7.3).
    /// `localhost` does not get that exception (RFC 8252 §8.3 discourages it).
    pub fn matches(&self, presented: &str) -> bool {
        if self.uri == presented {
            return true;
        }
        let Some(host_end) = self.loopback_ip_host_end() else {
            return false;
        };
        let (scheme_and_host, registered_tail) = self.uri.split_at(host_end);
        let Some(presented_tail) = presented.strip_prefix(scheme_and_host) else {
            return false;
        };
        match (skip_port(registered_tail), skip_port(presented_tail)) {
            (Some(registered_rest), Some(presented_rest)) => registered_rest == presented_rest,
            _ => false,
        }
    }

    /// End of `http://127.0.0.1` or `http://[::1]` in the stored text. `parse` stored the
    /// canonical host form, so a prefix test is enough once the next byte ends the host.
    fn loopback_ip_host_end(&self) -> Option<usize> {
        if self.kind != RedirectUriKind::Loopback {
            return None;
        }
        ["http://127.0.0.1", "http://[::1]"].into_iter().find_map(|prefix| {
            let after = self.uri.strip_prefix(prefix)?;
            matches!(after.bytes().next(), None | Some(b':' | b'/' | b'?')).then_some(prefix.len())
        })
    }
}

impl_string_traits!(RedirectUri, "a redirect URI");

fn has_script_scheme(text: &str) -> bool {
    let visible: String =
        text.chars().filter(char::is_ascii_graphic).take_while(|&c| c != ':').map(|c| c.to_ascii_lowercase()).collect();
    text.contains(':') && SCRIPT_SCHEMES.contains(&visible.as_str())
}

/// RFC 8252 §7.1: a private-use scheme is a reverse domain name the app controls, e.g.
/// `com.example.app`. Requiring a `.` keeps out generic schemes (`myapp:`, `intent:`,
/// `ms-settings:`) that any app or the OS may claim.
fn is_reverse_domain(scheme: &str) -> bool {
    scheme.split('.').count() >= 2
        && scheme.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_http(text: &str, rest: &str, kind: RedirectUriKind) -> Result<(), DomainError> {
    // Without the `//` a URL parser still finds a host (`https:evil.example`), but the
    // text is then not the absolute URI RFC 3986 §4.3 describes.
    if !rest.starts_with("//") {
        return Err(NOT_ABSOLUTE);
    }
    let url = Url::parse(text).map_err(|_| INVALID)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(USERINFO);
    }
    let host = url.host().ok_or(INVALID)?;
    if kind == RedirectUriKind::Loopback {
        // RFC 9700 §2.6 / RFC 8252 §7.3, §8.3: plain http only for a native app's loopback
        // listener. Only the literals 127.0.0.1 and ::1 and the name localhost, not all of
        // 127.0.0.0/8, as that is what native app libraries bind to.
        let allowed = match host {
            Host::Domain(name) => name == "localhost",
            Host::Ipv4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
            Host::Ipv6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
        };
        if !allowed {
            return Err(HTTP_NOT_LOOPBACK);
        }
    }
    if !serialises_unchanged_up_to_path(text, &url) {
        return Err(NOT_CANONICAL);
    }
    Ok(())
}

fn check_private_use(text: &str, rest: &str) -> Result<(), DomainError> {
    if !rest.starts_with('/') {
        return Err(PRIVATE_USE_PATH);
    }
    let url = Url::parse(text).map_err(|_| INVALID)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(USERINFO);
    }
    Ok(())
}

/// The rest after an optional `:port`, or `None` if the port is not a canonical decimal in
/// 1..=65535 (leading zeros, empty or out of range would be other spellings of some port).
fn skip_port(tail: &str) -> Option<&str> {
    let Some(after_colon) = tail.strip_prefix(':') else {
        return Some(tail);
    };
    let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
    let port = &after_colon[..digits];
    let canonical = (1..=5).contains(&digits) && !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p != 0);
    canonical.then_some(&after_colon[digits..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> RedirectUri {
        RedirectUri::parse(text).unwrap()
    }

    #[test]
    fn an_https_redirect_uri_is_kept_exactly_as_given() {
        for text in [
            "https://app.example/cb",
            "https://app.example",
            "https://app.example:8443/a/b?x=1&y=%2F",
            "https://app.example/cb?q='quoted'",
        ] {
            let redirect = uri(text);
            assert_eq!(redirect.as_str(), text);
            assert_eq!(redirect.kind(), RedirectUriKind::Https);
        }
    }

    #[test]
    fn http_loopback_redirect_uris_are_accepted() {
        for text in ["http://127.0.0.1:8400/cb", "http://[::1]/cb", "http://localhost:3000/cb", "http://127.0.0.1"] {
            assert_eq!(uri(text).kind(), RedirectUriKind::Loopback, "{text:?}");
        }
    }

    #[test]
    fn http_on_a_non_loopback_host_is_refused() {
        for text in
            ["http://app.example/cb", "http://127.0.0.2/cb", "http://localhost.evil.example/cb", "http://10.0.0.1/cb"]
        {
            assert_eq!(RedirectUri::parse(text), Err(HTTP_NOT_LOOPBACK), "{text:?}");
        }
    }

    #[test]
    fn a_reverse_domain_private_use_scheme_is_accepted() {
        for text in ["com.example.app:/callback", "com.example.app:/oauth2redirect/provider", "io.app-1.x://cb"] {
            assert_eq!(uri(text).kind(), RedirectUriKind::PrivateUse, "{text:?}");
        }
    }

    #[test]
    fn a_private_use_scheme_without_a_dot_is_refused() {
        for text in ["myapp:/callback", "intent:/x", "ms-settings:/x"] {
            assert_eq!(RedirectUri::parse(text), Err(SCHEME_NOT_ALLOWED), "{text:?}");
        }
    }

    #[test]
    fn a_private_use_scheme_without_a_path_is_refused() {
        assert_eq!(RedirectUri::parse("com.example.app:callback"), Err(PRIVATE_USE_PATH));
        assert_eq!(RedirectUri::parse("com.example.app:"), Err(PRIVATE_USE_PATH));
    }

    #[test]
    fn script_and_local_schemes_are_refused_in_any_case_and_spacing() {
        for text in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:x",
            "java\tscript:x",
            "java\nscript:x",
            "\u{0}javascript:x",
            "java\u{200b}script:x",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "VBScript:msgbox(1)",
            "file:///etc/passwd",
            "FILE:///etc/passwd",
            "blob:https://app.example/uuid",
        ] {
            assert_eq!(RedirectUri::parse(text), Err(SCHEME_NOT_ALLOWED), "{text:?}");
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        for text in ["ftp://app.example/cb", "ws://localhost/cb", "mailto:a@app.example"] {
            assert_eq!(RedirectUri::parse(text), Err(SCHEME_NOT_ALLOWED), "{text:?}");
        }
    }

    #[test]
    fn an_uppercase_scheme_is_refused() {
        assert_eq!(RedirectUri::parse("HTTPS://app.example/cb"), Err(UPPERCASE_SCHEME));
        assert_eq!(RedirectUri::parse("Com.Example.App:/cb"), Err(UPPERCASE_SCHEME));
    }

    #[test]
    fn a_redirect_uri_with_a_fragment_is_refused() {
        assert_eq!(RedirectUri::parse("https://app.example/cb#x"), Err(FRAGMENT));
        assert_eq!(RedirectUri::parse("https://app.example/cb#"), Err(FRAGMENT));
    }

    #[test]
    fn a_relative_redirect_uri_is_refused() {
        for text in ["/cb", "//app.example/cb", "app.example/cb"] {
            assert_eq!(RedirectUri::parse(text), Err(NOT_ABSOLUTE), "{text:?}");
        }
    }

    #[test]
    fn an_https_redirect_uri_without_slashes_is_refused() {
        assert_eq!(RedirectUri::parse("https:app.example/cb"), Err(NOT_ABSOLUTE));
    }

    #[test]
    fn a_redirect_uri_with_userinfo_is_refused() {
        assert_eq!(RedirectUri::parse("https://user@app.example/cb"), Err(USERINFO));
        assert_eq!(RedirectUri::parse("https://app.example:pw@evil.example/cb"), Err(USERINFO));
        assert_eq!(RedirectUri::parse("com.example.app://u@cb/x"), Err(USERINFO));
    }

    #[test]
    fn a_redirect_uri_with_whitespace_or_backslash_is_refused() {
        for text in [
            "https://app.example/c b",
            "https://app.example/cb ",
            "https://app.example\\@evil.example/",
            "https://app.example/é",
        ] {
            assert_eq!(RedirectUri::parse(text), Err(BAD_CHARS), "{text:?}");
        }
    }

    #[test]
    fn a_redirect_uri_the_parser_would_rewrite_is_refused() {
        for text in [
            "https://App.example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example/a/%2E%2E/cb",
            "http://127.1/cb",
            "https://app%2eexample/cb",
            "https:///app.example/cb",
        ] {
            assert_eq!(RedirectUri::parse(text), Err(NOT_CANONICAL), "{text:?}");
        }
    }

    #[test]
    fn a_redirect_uri_of_2048_characters_is_accepted_and_2049_is_refused() {
        let base = "https://app.example/";
        let at = |n: usize| format!("{base}{}", "a".repeat(n - base.len()));
        assert!(RedirectUri::parse(&at(2048)).is_ok());
        assert_eq!(RedirectUri::parse(&at(2049)), Err(TOO_LONG));
    }

    #[test]
    fn the_error_never_echoes_the_input() {
        let err = RedirectUri::parse("javascript:alert(document.cookie)").unwrap_err();
        assert!(!err.description().contains("cookie"));
    }

    #[test]
    fn the_identical_string_matches() {
        assert!(uri("https://app.example/cb?x=1").matches("https://app.example/cb?x=1"));
        assert!(uri("com.example.app:/cb").matches("com.example.app:/cb"));
    }

    #[test]
    fn near_misses_of_an_https_redirect_uri_do_not_match() {
        let registered = uri("https://app.example/cb");
        for presented in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://APP.example/cb",
            "HTTPS://app.example/cb",
            "https://app.example/cb/extra",
            "https://app.example/cb?x=1",
            "https://app.example/cb?",
            "https://app.example/cb#frag",
            "https://app.example/cb#",
            "https://user@app.example/cb",
            "https://app.example@evil.example/cb",
            "https://app.example:8443/cb",
            "https://app.example:443/cb",
            "https://app.example%2Fcb",
            "https://app.example/%63b",
            "https://app.example/cb%2F",
            "https://app.example.evil.example/cb",
            "http://app.example/cb",
            " https://app.example/cb",
            "https://app.example/cb ",
            "",
        ] {
            assert!(!registered.matches(presented), "{presented:?} matched");
        }
    }

    #[test]
    fn a_loopback_ip_redirect_uri_matches_any_port() {
        let registered = uri("http://127.0.0.1:8400/cb");
        assert!(registered.matches("http://127.0.0.1:51234/cb"));
        assert!(registered.matches("http://127.0.0.1/cb"));
        let ipv6 = uri("http://[::1]/cb");
        assert!(ipv6.matches("http://[::1]:61000/cb"));
    }

    #[test]
    fn a_loopback_ip_redirect_uri_without_a_path_matches_any_port() {
        assert!(uri("http://127.0.0.1").matches("http://127.0.0.1:9999"));
    }

    #[test]
    fn a_loopback_ip_redirect_uri_with_another_port_must_match_everything_else() {
        let registered = uri("http://127.0.0.1:8400/cb");
        for presented in [
            "http://127.0.0.1:8400/cb/",
            "http://127.0.0.1:8400/CB",
            "http://127.0.0.1:9/cb?x=1",
            "http://127.0.0.1:9/cb#x",
            "http://127.0.0.1:9/cb%2F",
            "http://127.0.0.1.evil.example:9/cb",
            "http://127.0.0.1:9@evil.example/cb",
            "http://127.0.0.10:9/cb",
            "https://127.0.0.1:9/cb",
            "http://[::1]:9/cb",
        ] {
            assert!(!registered.matches(presented), "{presented:?} matched");
        }
    }

    #[test]
    fn a_presented_loopback_port_must_be_a_plain_port_number() {
        let registered = uri("http://127.0.0.1:8400/cb");
        for presented in [
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:08400/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:123456/cb",
            "http://127.0.0.1:+80/cb",
        ] {
            assert!(!registered.matches(presented), "{presented:?} matched");
        }
    }

    #[test]
    fn a_localhost_redirect_uri_does_not_get_the_port_exception() {
        let registered = uri("http://localhost:8400/cb");
        assert!(registered.matches("http://localhost:8400/cb"));
        assert!(!registered.matches("http://localhost:9000/cb"));
    }

    #[test]
    fn an_https_redirect_uri_on_a_loopback_address_does_not_get_the_port_exception() {
        assert!(!uri("https://127.0.0.1:8443/cb").matches("https://127.0.0.1:9443/cb"));
    }

    #[test]
    fn a_redirect_uri_serialises_as_its_string() {
        let redirect = uri("https://app.example/cb");
        assert_eq!(serde_json::to_string(&redirect).unwrap(), r#""https://app.example/cb""#);
        assert_eq!(serde_json::from_str::<RedirectUri>(r#""https://app.example/cb""#).unwrap(), redirect);
        assert!(serde_json::from_str::<RedirectUri>(r#""javascript:alert(1)""#).is_err());
    }
}
