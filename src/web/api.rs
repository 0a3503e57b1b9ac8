//! The organisation API: an organisation's own system proposes and changes
//! its listings as Open Referral HSDS 3.0 JSON, with an API token it made
//! in the portal (`/organisation/tokens`). Described for clients in
//! `openapi.json` at the top of the repository, which `tests/api.rs` checks
//! against these routes and their answers.
//!
//! ```text
//!  GET    /api/v1/services        its services, whatever their status   list_services
//!  POST   /api/v1/services        propose a new service        (202)    propose_service
//!  GET    /api/v1/services/{id}   one of its services                   one_service
//!  PUT    /api/v1/services/{id}   propose a changed version    (202)    change_service
//!  DELETE /api/v1/services/{id}   propose withdrawing it       (202)    withdraw_service
//!  GET    /api/v1/changes         its proposed changes, newest first    list_changes
//!  GET    /api/v1/changes/{id}    one of them                           one_change
//! ```
//!
//! Every request carries `Authorization: Bearer <token>`. Without a live
//! token the answer is 401 with `WWW-Authenticate: Bearer`; every error is
//! JSON, `{"error": "..."}`, saying what to do (422 adds the importer's
//! `problems`).
//!
//! Invariants:
//! - Nothing here changes the directory. Every proposal goes through
//!   [`crate::moderation::Moderation::submit`], as the portal's do, and
//!   waits for staff; the answer is 202 with the change, `waiting`.
//! - A token speaks for one organisation and reaches only its services:
//!   another organisation's service and one that does not exist get the
//!   same 404.
//! - Bodies are read only up to [`MAX_BODY_BYTES`] (413 beyond), and only
//!   as `application/json` (415 otherwise).
//! - No CORS: a browser on another site cannot call this API, and only
//!   the open data is open to every origin. Answers are `Cache-Control:
//!   no-store`.
//! - Nothing is logged: not the token, not the body, not the path.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::{ApiError, HttpError};
use crate::accounts::{ApiClient, Token};
use crate::directory::export;
use crate::directory::import::Problem;
use crate::moderation::{Change, ModerationError, Proposal};

/// The largest request body read, in bytes: far more than one service
/// with its places and times needs.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

const SERVICES: &str = "/api/v1/services";
const SERVICE: &str = "/api/v1/services/{id}";
const CHANGES: &str = "/api/v1/changes";
const CHANGE: &str = "/api/v1/changes/{id}";

/// Every method and path [`routes`] answers, as `openapi.json` must
/// document them; the OpenAPI test checks both ways.
pub const ENDPOINTS: [(Method, &str); 7] = [
    (Method::GET, SERVICES),
    (Method::POST, SERVICES),
    (Method::GET, SERVICE),
    (Method::PUT, SERVICE),
    (Method::DELETE, SERVICE),
    (Method::GET, CHANGES),
    (Method::GET, CHANGE),
];

/// The API's routes, to merge into the portal's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(SERVICES, get(list_services).post(propose_service))
        .route(
            SERVICE,
            get(one_service)
                .put(change_service)
                .delete(withdraw_service),
        )
        .route(CHANGES, get(list_changes))
        .route(CHANGE, get(one_change))
        .route("/api/v1/{*rest}", any(unknown_address))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(no_store))
}

/// Why the API refused a request, by what the client does next. Each is
/// answered as `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiRefusal {
    /// No token was sent: send one. 401.
    #[error(
        "send your organisation's API token as \"Authorization: Bearer <token>\"; \
         someone signed in to your organisation's account can make one at /organisation/tokens"
    )]
    NoToken,
    /// The token is wrong or revoked: make a new one. 401.
    #[error(
        "this API token is not known or has been revoked: \
         check it was copied whole, or make a new one at /organisation/tokens"
    )]
    WrongToken,
    /// The request cannot be read: fix it. 400.
    #[error("{0}")]
    BadRequest(String),
    /// The token's organisation may not do this. 403.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing of this organisation's is here. 404.
    #[error("{0}")]
    NotFound(String),
    /// The body is too large. 413.
    #[error("the body is larger than {} KiB: send one service at a time", MAX_BODY_BYTES / 1024)]
    TooLarge,
    /// The body is not JSON by its type. 415.
    #[error("send the body as JSON, with \"Content-Type: application/json\"")]
    NotJson,
    /// The listing was read but cannot be accepted: fix what is listed. 422.
    #[error("{message}")]
    Unprocessable {
        message: String,
        problems: Vec<Problem>,
    },
    /// Our own failure, answered and logged as the open data's are.
    #[error(transparent)]
    Ours(#[from] HttpError),
}

impl ApiRefusal {
    fn status(&self) -> StatusCode {
        match self {
            ApiRefusal::NoToken | ApiRefusal::WrongToken => StatusCode::UNAUTHORIZED,
            ApiRefusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiRefusal::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiRefusal::NotFound(_) => StatusCode::NOT_FOUND,
            ApiRefusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiRefusal::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiRefusal::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiRefusal::Ours(err) => err.status(),
        }
    }
}

impl From<ModerationError> for ApiRefusal {
    fn from(err: ModerationError) -> Self {
        match err {
            ModerationError::InvalidListing(problems) => ApiRefusal::Unprocessable {
                message: "the listing cannot be accepted: fix each of the problems listed \
                          and send it again"
                    .to_owned(),
                problems,
            },
            ModerationError::Invalid(message) => ApiRefusal::Unprocessable {
                message,
                problems: Vec::new(),
            },
            ModerationError::NotAllowed(message) => ApiRefusal::Forbidden(message),
            ModerationError::UnknownService { id } => not_yours(&id),
            err => ApiRefusal::Ours(HttpError::Moderation(err)),
        }
    }
}

impl From<crate::directory::DirectoryError> for ApiRefusal {
    fn from(err: crate::directory::DirectoryError) -> Self {
        ApiRefusal::Ours(err.into())
    }
}

impl IntoResponse for ApiRefusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, challenge) = match self {
            ApiRefusal::Ours(err) => return ApiError(err).into_response(),
            ApiRefusal::Unprocessable { message, problems } if !problems.is_empty() => (
                json!({
                    "error": message,
                    "problems": problems.iter().map(problem_json).collect::<Vec<_>>(),
                }),
                None,
            ),
            ApiRefusal::NoToken => (
                json!({ "error": ApiRefusal::NoToken.to_string() }),
                Some(r#"Bearer realm="signpost""#),
            ),
            ApiRefusal::WrongToken => (
                json!({ "error": ApiRefusal::WrongToken.to_string() }),
                Some(r#"Bearer realm="signpost", error="invalid_token""#),
            ),
            refusal => (json!({ "error": refusal.to_string() }), None),
        };
        let mut response = json_response(status, &body);
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

fn problem_json(problem: &Problem) -> Value {
    json!({
        "location": problem.location,
        "record": problem.record,
        "message": problem.message,
    })
}

/// The 404 for a service that is not the organisation's, whether or not
/// it exists: the same either way.
fn not_yours(id: &str) -> ApiRefusal {
    ApiRefusal::NotFound(format!(
        "your organisation has no service with id {id}: \
         GET {SERVICES} lists the ones it has"
    ))
}

/// The organisation a request speaks for, from its bearer token.
pub struct Client(pub ApiClient);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiRefusal> {
        let given = bearer_token(&parts.headers).ok_or(ApiRefusal::NoToken)?;
        let token = Token::from_given(given);
        match state.accounts.api_client(&token).await {
            Ok(Some(client)) => Ok(Client(client)),
            Ok(None) => Err(ApiRefusal::WrongToken),
            Err(err) => Err(ApiRefusal::Ours(err.into())),
        }
    }
}

/// The token in `Authorization: Bearer <token>`; the scheme's case does
/// not matter (RFC 9110).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A change as the API shows it (`Change` in `openapi.json`).
fn change_json(change: &Change) -> Value {
    json!({
        "id": change.id,
        "kind": change.kind.as_str(),
        "service_id": change.service_id,
        "service_name": change.service_name,
        "status": change.status.as_str(),
        "submitted_at": rfc3339(change.submitted_at),
        "decided_at": change.decided_at.map(rfc3339),
        "reason": change.reason,
    })
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The organisation's services, whole, as HSDS 3.0 JSON objects.
async fn own_services(state: &AppState, client: &ApiClient) -> Result<Vec<Value>, ApiRefusal> {
    let batch = state
        .directory
        .services_of(client.organization_id(), (state.today)())
        .await?;
    Ok(match export::hsds_services(&batch) {
        Value::Array(services) => services,
        _ => Vec::new(),
    })
}

/// One of the organisation's services, or the 404 for one it does not have.
async fn own_service(state: &AppState, client: &ApiClient, id: &str) -> Result<Value, ApiRefusal> {
    own_services(state, client)
        .await?
        .into_iter()
        .find(|service| service.get("id").and_then(Value::as_str) == Some(id))
        .ok_or_else(|| not_yours(id))
}

/// `GET /api/v1/services`.
async fn list_services(
    State(state): State<AppState>,
    Client(client): Client,
) -> Result<Response, ApiRefusal> {
    let services = own_services(&state, &client).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "organization_id": client.organization_id(),
            "services": services,
        }),
    ))
}

/// `GET /api/v1/services/{id}`.
async fn one_service(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiRefusal> {
    let service = own_service(&state, &client, &id).await?;
    Ok(json_response(StatusCode::OK, &service))
}

/// `POST /api/v1/services`: a new service, as one HSDS service object.
/// Without `organization_id` (or a nested `organization`) it is the
/// token's organisation's.
async fn propose_service(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiRefusal> {
    let mut service = read_service(&headers, body)?;
    if !service.contains_key("organization_id") && !service.contains_key("organization") {
        service.insert(
            "organization_id".to_owned(),
            Value::String(client.organization_id().to_owned()),
        );
    }
    let proposal = Proposal::Add(Value::Object(service));
    submitted(&state, &client, &proposal).await
}

/// `PUT /api/v1/services/{id}`: a new version of one of its services. The
/// body's `id`, when given, must be the one in the path.
async fn change_service(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiRefusal> {
    own_service(&state, &client, &id).await?;
    let mut service = read_service(&headers, body)?;
    match service.get("id") {
        None => {
            service.insert("id".to_owned(), Value::String(id.clone()));
        }
        Some(Value::String(given)) if *given == id => {}
        Some(given) => {
            return Err(ApiRefusal::Unprocessable {
                message: format!(
                    "the body's id ({given}) is not the id in the address ({id}): \
                     send a service to the address of its own id"
                ),
                problems: Vec::new(),
            });
        }
    }
    if !service.contains_key("organization_id") && !service.contains_key("organization") {
        service.insert(
            "organization_id".to_owned(),
            Value::String(client.organization_id().to_owned()),
        );
    }
    let proposal = Proposal::Edit(Value::Object(service));
    submitted(&state, &client, &proposal).await
}

/// `DELETE /api/v1/services/{id}`: proposes taking it down; once staff
/// approve, its HSDS status becomes `inactive`.
async fn withdraw_service(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiRefusal> {
    own_service(&state, &client, &id).await?;
    let proposal = Proposal::Withdraw { service_id: id };
    submitted(&state, &client, &proposal).await
}

/// Submits a proposal, and answers 202 with the change, waiting for staff.
async fn submitted(
    state: &AppState,
    client: &ApiClient,
    proposal: &Proposal,
) -> Result<Response, ApiRefusal> {
    let id = state
        .moderation
        .submit(client, proposal, (state.now)())
        .await?;
    let change = find_change(state, client, id).await?;
    let mut response = json_response(StatusCode::ACCEPTED, &change_json(&change));
    if let Ok(location) = HeaderValue::from_str(&format!("{CHANGES}/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn find_change(state: &AppState, client: &ApiClient, id: i64) -> Result<Change, ApiRefusal> {
    state
        .moderation
        .changes_for(client)
        .await?
        .into_iter()
        .find(|change| change.id == id)
        .ok_or_else(|| no_such_change(&id.to_string()))
}

fn no_such_change(id: &str) -> ApiRefusal {
    ApiRefusal::NotFound(format!(
        "your organisation has no change numbered {id}: GET {CHANGES} lists the ones it has"
    ))
}

/// `GET /api/v1/changes`.
async fn list_changes(
    State(state): State<AppState>,
    Client(client): Client,
) -> Result<Response, ApiRefusal> {
    let changes: Vec<Value> = state
        .moderation
        .changes_for(&client)
        .await?
        .iter()
        .map(change_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "changes": changes }),
    ))
}

/// `GET /api/v1/changes/{id}`.
async fn one_change(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiRefusal> {
    let number: i64 = id.parse().map_err(|_| no_such_change(&id))?;
    let change = find_change(&state, &client, number).await?;
    Ok(json_response(StatusCode::OK, &change_json(&change)))
}

/// Any other address under `/api/v1`.
/// 405, as JSON like every other refusal; axum adds the `Allow` header.
async fn method_not_allowed(method: axum::http::Method) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({
            "error": format!(
                "this address does not take {method}: the Allow header, and openapi.json, say what it takes"
            ),
        })),
    )
        .into_response()
}

async fn unknown_address() -> ApiRefusal {
    ApiRefusal::NotFound(
        "there is no such address in the API: openapi.json describes the ones there are".to_owned(),
    )
}

/// The body as one JSON object: JSON by its type, within the size limit.
fn read_service(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiRefusal> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|kind| {
            let kind = kind.trim().to_ascii_lowercase();
            kind == "application/json" || kind.ends_with("+json")
        });
    if !is_json {
        return Err(ApiRefusal::NotJson);
    }
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiRefusal::TooLarge
        } else {
            ApiRefusal::BadRequest("the body could not be read: send it again".to_owned())
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|err| ApiRefusal::BadRequest(format!("the body is not JSON: {err}")))?;
    match value {
        Value::Object(service) => Ok(service),
        _ => Err(ApiRefusal::Unprocessable {
            message: "send one service as a JSON object, shaped as HSDS 3.0's service_full.json"
                .to_owned(),
            problems: Vec::new(),
        }),
    }
}

/// Marks every answer of the API as not for keeping: it is one
/// organisation's, fetched with its token.
async fn no_store(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_s_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        for (sent, read) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer   ", None),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(sent));
            assert_eq!(bearer_token(&headers), read, "{sent}");
        }
    }

    #[test]
    fn times_are_rfc_3339_in_utc() {
        assert_eq!(rfc3339(1_795_521_600), "2026-11-24T12:00:00Z");
    }
}
