//! The open data API: the directory's published services as Open Referral
//! HSDS 3.0 JSON, read-only, in the shape of the Open Referral UK API, so
//! council directories and others can reuse them.
//!
//! - `GET /services`: a page of services in the HSDS paging envelope
//!   (`total_items`, `total_pages`, `page_number`, `size`, `first_page`,
//!   `last_page`, `empty`, `contents`). Filters: `search` (full text, as the
//!   bot searches), `taxonomy_term_id`, and `postcode` with `proximity` in
//!   metres (only the postcode's first half is used, to find a centre);
//!   paging with `page` (from 1) and `per_page` (at most [`MAX_PER_PAGE`]).
//!   Each item is a whole service, as `GET /services/{id}` gives it, so one
//!   page is enough to show them.
//! - `GET /services/{id}`: one service, with everything nested.
//!
//! Invariants: only services people may see (published, active,
//! unexpired) ever appear: an unknown id and a hidden one get the same 404.
//! Every answer, errors included, carries `Access-Control-Allow-Origin: *`
//! and needs no key, as the ORUK profile asks. Nothing a request asked for
//! is logged.

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, HttpError};
use crate::directory::{AreaMatch, ServiceListQuery, export};
use crate::search::Area;

/// The most services one page may hold.
pub const MAX_PER_PAGE: u32 = 100;

/// Services per page when `per_page` is not given.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// The longest `search` or `taxonomy_term_id` we read, in characters.
const MAX_TEXT: usize = 200;

/// The furthest `proximity` reaches, in metres: more than the length of
/// Great Britain.
const MAX_PROXIMITY_METRES: f64 = 1_000_000.0;

/// Filters from the HSDS and ORUK API that this directory does not apply.
/// Asking for one is refused rather than ignored, so that nobody takes an
/// unfiltered list for a filtered one.
const UNSUPPORTED: [&str; 10] = [
    "taxonomy_id",
    "organization_id",
    "modified_after",
    "minimal",
    "minimum_age",
    "maximum_age",
    "start_time",
    "end_time",
    "day",
    "service_area",
];

/// What a `/services` request asked for, checked. Its `Debug` leaves out
/// the words searched for, which the public typed.
#[derive(Clone, PartialEq)]
pub struct ListRequest {
    pub search: Option<String>,
    pub taxonomy_term_id: Option<String>,
    /// The postcode's outcode, and how far from its centre, in km.
    pub near: Option<(Area, f64)>,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
}

impl ListRequest {
    /// Reads a query string; the error says which parameter is wrong and
    /// what it should be.
    pub fn parse(query: Option<&str>) -> Result<ListRequest, HttpError> {
        let bad = |message: String| HttpError::BadRequest(message);
        let mut seen = std::collections::BTreeSet::new();
        let mut request = ListRequest {
            search: None,
            taxonomy_term_id: None,
            near: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        };
        let mut postcode = None;
        let mut proximity = None;
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        for (name, value) in pairs {
            let name = name.as_ref();
            if UNSUPPORTED.contains(&name) {
                return Err(bad(format!(
                    "{name} is not supported here: filter with search, taxonomy_term_id, postcode and proximity"
                )));
            }
            let known = [
                "search",
                "taxonomy_term_id",
                "postcode",
                "proximity",
                "page",
                "per_page",
                "format",
            ];
            let Some(name) = known.into_iter().find(|known| *known == name) else {
                // Other parameters (such as a cache-buster) change nothing.
                continue;
            };
            if !seen.insert(name) {
                return Err(bad(format!("give {name} only once")));
            }
            let value = value.trim();
            match name {
                "search" => request.search = text(name, value)?,
                "taxonomy_term_id" => request.taxonomy_term_id = text(name, value)?,
                "postcode" => postcode = Some(value.to_owned()),
                "proximity" => proximity = Some(value.to_owned()),
                "page" => {
                    request.page = whole_number(value, 1, u32::MAX)
                        .ok_or_else(|| bad("page must be a whole number, 1 or more".to_owned()))?
                }
                "per_page" => {
                    request.per_page = whole_number(value, 1, MAX_PER_PAGE).ok_or_else(|| {
                        bad(format!(
                            "per_page must be a whole number from 1 to {MAX_PER_PAGE}"
                        ))
                    })?
                }
                _ => {
                    if !value.eq_ignore_ascii_case("json") {
                        return Err(bad("format must be json, the only format served".into()));
                    }
                }
            }
        }
        let radius_km = match proximity {
            None => crate::directory::query::DEFAULT_RADIUS_KM,
            Some(_) if postcode.is_none() => {
                return Err(bad(
                    "proximity needs a postcode to measure from, such as postcode=HD1 2SU".into(),
                ));
            }
            Some(metres) => match metres.parse::<f64>() {
                Ok(metres) if metres > 0.0 && metres <= MAX_PROXIMITY_METRES => metres / 1000.0,
                _ => {
                    return Err(bad(format!(
                        "proximity must be a distance in metres, more than 0 and at most {MAX_PROXIMITY_METRES}"
                    )));
                }
            },
        };
        if let Some(postcode) = postcode {
            let outcode =
                Area::outcode_of_postcode(&postcode).or_else(|| match Area::parse(&postcode) {
                    Some(Area::Outcode(code)) => Some(code),
                    _ => None,
                });
            let Some(outcode) = outcode else {
                return Err(bad(
                    "postcode must be a UK postcode or its first half, such as HD1 2SU or HD1"
                        .into(),
                ));
            };
            request.near = Some((Area::Outcode(outcode), radius_km));
        }
        Ok(request)
    }

    /// The directory query for this request, on `today`.
    pub fn query(&self, today: chrono::NaiveDate) -> ServiceListQuery {
        let mut query = ServiceListQuery::new(today);
        query.text = self.search.clone();
        query.taxonomy_term_id = self.taxonomy_term_id.clone();
        if let Some((area, radius_km)) = &self.near {
            query.near = Some(area.clone());
            query.radius_km = *radius_km;
        }
        query.limit = self.per_page as usize;
        query.offset = (self.page as usize - 1).saturating_mul(self.per_page as usize);
        query
    }
}

impl std::fmt::Debug for ListRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListRequest")
            .field("search", &self.search.as_ref().map(|_| "<redacted>"))
            .field("taxonomy_term_id", &self.taxonomy_term_id)
            .field("near", &self.near)
            .field("page", &self.page)
            .field("per_page", &self.per_page)
            .finish()
    }
}

/// A text parameter: `None` when empty, refused when too long.
fn text(name: &str, value: &str) -> Result<Option<String>, HttpError> {
    if value.chars().count() > MAX_TEXT {
        return Err(HttpError::BadRequest(format!(
            "{name} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// A whole number within `lowest..=highest`, written in plain digits.
fn whole_number(value: &str, lowest: u32, highest: u32) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: u64 = value.parse().ok()?;
    u32::try_from(number)
        .ok()
        .filter(|n| (lowest..=highest).contains(n))
}

/// The HSDS API paging envelope around a page's `contents`.
pub fn page_envelope(contents: Vec<Value>, total: usize, page: u32, per_page: u32) -> Value {
    let total_pages = total.div_ceil(per_page as usize);
    json!({
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page,
        "size": contents.len(),
        "first_page": page == 1,
        "last_page": page as usize >= total_pages,
        "empty": contents.is_empty(),
        "contents": contents,
    })
}

/// `GET /services`.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = ListRequest::parse(query.as_deref())?;
    let found = state
        .directory
        .list_services(&request.query((state.today)()))
        .await?;
    if found.area == AreaMatch::Unknown {
        return Err(HttpError::BadRequest(
            "the directory cannot place that postcode: it has no centre for its first half".into(),
        )
        .into());
    }
    let contents = match export::hsds_services(&found.page) {
        Value::Array(services) => services,
        _ => Vec::new(),
    };
    Ok(json_response(&page_envelope(
        contents,
        found.total,
        request.page,
        request.per_page,
    )))
}

/// `GET /services/{id}`.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state.directory.shown_service(&id, (state.today)()).await?;
    let service = found
        .map(|batch| export::hsds_services(&batch))
        .and_then(|list| list.as_array().and_then(|list| list.first().cloned()));
    match service {
        Some(service) => Ok(json_response(&service)),
        None => Err(HttpError::NotFound("there is no published service with this id").into()),
    }
}

/// An `OPTIONS` preflight: any origin may read the open data with `GET`.
pub async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("*"),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            ),
        ],
    )
        .into_response()
}

/// Adds `Access-Control-Allow-Origin: *` to every open data answer.
pub async fn allow_any_origin(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn json_response(value: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ListRequest, String> {
        ListRequest::parse(Some(query)).map_err(|err| err.to_string())
    }

    #[test]
    fn a_full_postcode_is_cut_to_its_outcode_and_proximity_is_read_as_metres() {
        let request = parse("postcode=hd1%202su&proximity=2500").unwrap();
        assert_eq!(request.near, Some((Area::Outcode("HD1".into()), 2.5)));
        let request = parse("postcode=WF13").unwrap();
        assert_eq!(
            request.near,
            Some((
                Area::Outcode("WF13".into()),
                crate::directory::query::DEFAULT_RADIUS_KM
            ))
        );
    }

    #[test]
    fn paging_defaults_to_the_first_page_of_twenty() {
        let request = parse("").unwrap();
        assert_eq!((request.page, request.per_page), (1, 20));
        let query = parse("page=3&per_page=10")
            .unwrap()
            .query("2026-11-24".parse().unwrap());
        assert_eq!((query.offset, query.limit), (20, 10));
    }

    #[test]
    fn each_bad_parameter_is_named_in_its_refusal() {
        for (query, expected) in [
            ("page=0", "page must be"),
            ("page=-1", "page must be"),
            ("page=two", "page must be"),
            ("page=1.5", "page must be"),
            ("page=99999999999", "page must be"),
            ("per_page=0", "per_page must be"),
            ("per_page=101", "per_page must be"),
            ("per_page=1000000", "per_page must be"),
            ("proximity=500", "proximity needs a postcode"),
            ("postcode=HD1&proximity=near", "proximity must be"),
            ("postcode=HD1&proximity=0", "proximity must be"),
            ("postcode=Huddersfield", "postcode must be"),
            ("organization_id=x", "organization_id is not supported"),
            ("format=ndjson", "format must be json"),
            ("page=1&page=2", "give page only once"),
        ] {
            let message = parse(query).unwrap_err();
            assert!(message.contains(expected), "{query}: {message}");
        }
        let long = "a".repeat(201);
        assert!(parse(&format!("search={long}")).is_err());
    }

    #[test]
    fn the_envelope_counts_pages_from_the_total() {
        let page = page_envelope(vec![json!({}); 3], 23, 3, 10);
        assert_eq!(page["total_pages"], 3);
        assert_eq!(page["size"], 3);
        assert_eq!(page["first_page"], false);
        assert_eq!(page["last_page"], true);
        let nothing = page_envelope(Vec::new(), 0, 1, 10);
        assert_eq!(nothing["total_pages"], 0);
        assert_eq!(nothing["empty"], true);
        assert_eq!(nothing["last_page"], true);
    }
}
