//! Cursor pagination: `limit` and an opaque `cursor` in, `items` and a `next` link out. The
//! cursor is the sort key of the last item shown (keyset pagination), so an insert between two
//! pages neither repeats an item nor skips one that was there when the listing began.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::crypto::b64url;
use crate::error::{FieldError, Problem};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` of every listing.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `cursor` of the previous page's `next` link; absent for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The request's `limit` and `cursor` (other parameters are ignored). A refusal is a problem
    /// naming the parameter, as a body's is, whatever was wrong with it: not a number, out of
    /// range, or given twice.
    pub fn from_request(req: &HttpRequest) -> Result<Self, Problem> {
        let refuse = |field: &str, message: &str| Problem::invalid_fields(vec![FieldError::new(field, message)]);
        let mut query = Self::default();
        for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
            match name.as_ref() {
                "limit" if query.limit.is_some() => return Err(refuse("limit", "is given more than once")),
                "cursor" if query.cursor.is_some() => return Err(refuse("cursor", "is given more than once")),
                "limit" => match value.parse::<i64>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => query.limit = Some(n),
                    _ => return Err(refuse("limit", "must be a whole number from 1 to 200")),
                },
                "cursor" => query.cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Items per page: as asked (checked by [`PageQuery::from_request`]), else the default.
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(DEFAULT_LIMIT)
    }

    /// The sort key the cursor carries.
    pub fn after<K: serde::de::DeserializeOwned>(&self) -> Result<Option<K>, Problem> {
        let Some(cursor) = &self.cursor else { return Ok(None) };
        let invalid = || Problem::invalid_fields(vec![FieldError::new("cursor", "is not a cursor this API gave out")]);
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cursor).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map(Some).map_err(|_| invalid())
    }
}

/// A page of a listing, as every listing answers.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The next page, absent on the last one (also in a `Link: rel="next"` header).
    pub next: Option<String>,
}

/// `items` (fetched with one more than `limit`, to know whether a next page exists) as a page
/// whose `next` link carries the sort key of its last item.
pub fn respond<T: Serialize, K: Serialize>(
    req: &HttpRequest,
    mut items: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> K,
) -> HttpResponse {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = match (more, items.last()) {
        (true, Some(last)) => {
            let cursor = b64url(serde_json::to_vec(&key(last)).unwrap_or_default().as_slice());
            Some(next_link(req, &cursor))
        }
        _ => None,
    };
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(next) = &next {
        response.insert_header((header::LINK, format!("<{next}>; rel=\"next\"")));
    }
    response.json(Page { items, next })
}

/// This request's path and query with `cursor` replaced: a relative reference (RFC 3986 §4.2),
/// so it holds on whichever listener the request came in.
fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let mut query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| name != "cursor")
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    query.push(("cursor".into(), cursor.into()));
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    format!("{}?{query}", req.path())
}
