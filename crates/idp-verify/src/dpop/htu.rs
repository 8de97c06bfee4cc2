//! `htu` (RFC 9449 §4.3 check 9): the proof names the URL of the request it is for, compared
//! with the URL this server expects after RFC 3986 normalisation.

use serde_json::{Map, Value};
use url::Url;

use super::DpopError;

/// RFC 9449 §4.3 check 9 (DPOP-10, DPOP-11, DPOP-12): `htu` is a string holding an absolute
/// http(s) URL that equals the URL of this endpoint, ignoring query and fragment, after
/// RFC 3986 §6.2.2 and §6.2.3 normalisation. The expected URL comes from configuration.
pub(super) fn check_htu(claims: &Map<String, Value>, expected_htu: &str) -> Result<String, DpopError> {
    let htu = match claims.get("htu") {
        None => return Err(DpopError::MissingHtu),
        Some(Value::String(htu)) => htu,
        Some(_) => return Err(DpopError::HtuNotString),
    };
    let presented = normalize_http_url(htu).ok_or(DpopError::HtuNotAbsoluteUrl)?;
    // An expected URL that does not normalise is a configuration bug; it matches nothing.
    match normalize_http_url(expected_htu) {
        Some(expected) if expected == presented => Ok(htu.clone()),
        _ => Err(DpopError::HtuMismatch),
    }
}

/// An absolute http(s) URL without query and fragment, normalised per RFC 3986 §6.2.2
/// (case of scheme and host, percent-encoding, dot segments) and §6.2.3 (default port
/// elided, empty path is `/`). `None` if `raw` is not such a URL.
fn normalize_http_url(raw: &str) -> Option<String> {
    // WHATWG parsing (the `url` crate) drops tabs and newlines and reads `\` as `/`; a string
    // that only matches after such repairs is not the URI the client signed, so anything that
    // is not RFC 3986 syntax up to the query is refused first.
    let (before_query, after) = match raw.find(['?', '#']) {
        Some(at) => raw.split_at(at),
        None => (raw, ""),
    };
    if !is_rfc3986_text(before_query) || !after.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    // An authority is required ("https:host/path" has none in RFC 3986 terms).
    let scheme_len = if starts_with_ignore_case(raw, "https://") {
        5
    } else if starts_with_ignore_case(raw, "http://") {
        4
    } else {
        return None;
    };
    let url = Url::parse(raw).ok()?;
    if url.scheme().len() != scheme_len || url.host().is_none() {
        return None;
    }
    let authority = &url[..url::Position::BeforePath];
    Some(format!("{authority}{}", normalize_percent_encoding(url.path())))
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// RFC 3986 §2: unreserved, reserved and well-formed percent-encoded octets only.
fn is_rfc3986_text(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// RFC 3986 §6.2.2.1-2: decode percent-encoded unreserved characters, upper-case the hex
/// digits of the rest. The input is a parsed path, so every `%` starts a valid triplet.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let triplet = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match triplet {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
    out
}
