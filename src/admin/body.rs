//! Request bodies of the admin API: JSON only, unknown members refused, and a refusal that
//! names the member (`errors[].field`) rather than a line and column.

use actix_web::http::header;
use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::error::{FieldError, Problem};

pub const JSON: &str = "application/json";
/// RFC 7396 JSON Merge Patch, the body of every `PATCH` (applied by `services::merge_patch`).
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// The body as a `T`, when it is sent as `media_type` (or plain JSON).
pub fn parse<T: DeserializeOwned>(req: &HttpRequest, body: &[u8], media_type: &str) -> Result<T, Problem> {
    check_media_type(req, media_type)?;
    from_json(body)
}

/// `T` from JSON bytes; the error names the member it was refused at. Every body is a JSON
/// object (or `null`, which only an optional body takes): serde's derived structs would also
/// read an array as their members in order, which no client means and the document does not
/// allow.
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if !matches!(body.trim_ascii_start().first(), Some(b'{') | Some(b'n')) {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Problem::bad_request("the body must be a JSON object"),
            Err(_) => Problem::bad_request("the body is not valid JSON"),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| match FieldError::from_json_error(e) {
        Some(field) => Problem::invalid_fields(vec![field]),
        None => Problem::bad_request("the body is not valid JSON"),
    })
}

fn check_media_type(req: &HttpRequest, expected: &str) -> Result<(), Problem> {
    let sent = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = sent.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == expected || essence == JSON {
        Ok(())
    } else {
        Err(Problem::unsupported_media_type(expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn an_unknown_member_is_named() {
        let problem = from_json::<Body>(br#"{"name":"a","colour":"red"}"#).unwrap_err();
        assert_eq!(problem.status.as_u16(), 400);
        assert_eq!(problem.errors[0].field, "colour");
        assert!(problem.errors[0].message.starts_with("unknown field `colour`"), "{:?}", problem.errors);
    }

    #[test]
    fn a_missing_member_is_named() {
        let problem = from_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(problem.errors[0].field, "name");
    }

    #[test]
    fn a_wrong_type_is_named_by_its_path() {
        let problem = from_json::<Body>(br#"{"name":"a","tags":["x",3]}"#).unwrap_err();
        assert_eq!(problem.errors[0].field, "tags[1]");
    }

    #[test]
    fn an_array_is_not_read_as_the_members_in_order() {
        let problem = from_json::<Body>(br#"["a", ["x"]]"#).unwrap_err();
        assert_eq!(problem.status.as_u16(), 400);
        assert_eq!(problem.detail.as_deref(), Some("the body must be a JSON object"));
        assert!(from_json::<Option<Body>>(b" null").unwrap().is_none(), "an optional body may be null");
        assert!(from_json::<Body>(b"null").is_err());
    }

    #[test]
    fn broken_json_is_a_plain_bad_request() {
        let problem = from_json::<Body>(b"{").unwrap_err();
        assert!(problem.errors.is_empty());
        assert_eq!(problem.status.as_u16(), 400);
    }
}
