//! The body of an OAuth POST: `application/x-www-form-urlencoded`, each parameter at most once
//! (RFC 6749 §3.1, §3.2), empty values treated as omitted, nothing in the query string.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::error::OAuthError;

/// Largest form accepted at the OAuth endpoints.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// Reads a request body of at most [`MAX_FORM_BYTES`]; a larger one is refused with an RFC
/// 6749 error (status 413) before the rest of it is read.
pub async fn read_body(mut payload: web::Payload) -> Result<web::Bytes, OAuthError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| OAuthError::invalid_request("the request body could not be read").caused_by(e))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(OAuthError::payload_too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[derive(Debug, Default)]
pub struct FormParams {
    single: HashMap<String, String>,
    /// RFC 8707 allows `resource` more than once.
    resources: Vec<String>,
}

impl FormParams {
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if content_type.as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
        }
        // RFC 6749 §2.3.1 / §3.2: credentials and parameters never travel in the URI.
        if !req.query_string().is_empty() {
            return Err(OAuthError::invalid_request("parameters must be sent in the request body"));
        }
        let mut params = Self::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if name == "resource" {
                params.resources.push(value.into_owned());
                continue;
            }
            if params.single.insert(name.into_owned(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request("a parameter is repeated"));
            }
        }
        Ok(params)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }

    pub fn resources(&self) -> &[String] {
        &self.resources
    }
}
