//! The web portal: server-rendered pages for people and the open data API
//! for other directories, over HTTP (axum).
//!
//! ```text
//!  GET /                 home page             pages::home
//!  GET /directory        browse and search     pages::directory
//!  GET /services         HSDS page of services open_data::list     (CORS *)
//!  GET /services/{id}    one HSDS service      open_data::one      (CORS *)
//!  GET/POST /setup/{token}  choose a password   account::setup_form, setup
//!  GET/POST /sign-in      sign in               account::sign_in_form, sign_in
//!  POST /sign-out         sign out              account::sign_out   (signed in)
//!  GET /account           who is signed in      account::account    (signed in)
//!  GET /staff/stats       usage dashboard       staff::stats_page   (staff)
//!  GET /staff/stats.csv   its figures as CSV    staff::stats_csv    (staff)
//!  GET/POST /staff/invite an organisation's link staff::invite_form, invite (staff)
//!  GET /staff/queue     changes waiting       queue::queue        (staff)
//!  GET /staff/queue/{id} one change          queue::change       (staff)
//!  POST /staff/queue/{id}/approve, /reject   queue::approve, reject (staff)
//!  GET /organisation/changes  its changes    queue::organisation_changes (organisation)
//!  GET /organisation     its listings, reminders organisation::dashboard (organisation)
//!  GET/POST /organisation/activities/new  add one   organisation::new_activity, add_activity
//!  GET/POST /organisation/activities/{id} change one organisation::edit_activity, change_activity
//!  POST /organisation/activities/{id}/withdraw, /confirm  organisation::withdraw_activity, confirm_activity
//!  GET/POST /organisation/profile  its profile organisation::profile_form, save_profile
//!  POST /organisation/feed, /feed/fetch  its calendar feed organisation::save_feed, fetch_feed
//!  GET /staff/audit      who changed what     staff::audit            (staff)
//!  GET/POST /organisation/tokens, POST /organisation/tokens/revoke
//!                        its API tokens        tokens::tokens_page, create, revoke (organisation)
//!  GET/POST /api/v1/services, GET/PUT/DELETE /api/v1/services/{id},
//!  GET /api/v1/changes[/{id}]  the organisation API   api::routes (bearer token, JSON, no CORS)
//!  GET /healthz          200 if the database answers, else 503
//!  GET /style.css        the one style sheet
//!  anything else         404 page
//! ```
//!
//! [`router`] builds the whole application from an [`AppState`], apart
//! from serving it, so tests call `router(state).oneshot(request)`;
//! [`serve`] runs it on a listener until a shutdown future completes.
//!
//! Invariants: this module (with the Telegram webhook) is the only one that
//! imports axum. Every response carries the security headers
//! ([`security_headers`]). Nothing about a request is logged: no request
//! log, no addresses, no paths, no query strings (`search` is typed by the
//! public); a failure is logged by its cause only ([`error`]). No page
//! loads anything from another site or needs JavaScript. Pages behind a
//! sign-in take an extractor from [`account`] ([`account::SignedIn`],
//! [`account::Staff`], [`account::Organisation`]), and every POST form is
//! checked for its token before anything changes. The organisation API
//! takes [`api::Client`] instead, from a bearer token, and has no forms.

pub mod account;
pub mod api;
pub mod error;
pub mod open_data;
pub mod organisation;
pub mod pages;
pub mod queue;
pub mod staff;
pub mod tokens;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;

use crate::accounts::{Accounts, LoginLimiter};
use crate::directory::Directory;
use crate::feeds::Feeds;
use crate::moderation::Moderation;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Where the services come from.
    pub directory: Directory,
    /// Today's date in the UK, which decides what has expired; passed in
    /// so tests can fix it.
    pub today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
    /// People reach the portal over HTTPS, so browsers may be told to use
    /// nothing else (`http.https`).
    /// Also marks the cookies `Secure`.
    pub https: bool,
    /// Staff and organisation accounts, and their sessions.
    pub accounts: Accounts,
    /// Listings organisations propose, and staff decisions on them.
    pub moderation: Moderation,
    /// Organisations' calendar feeds: set on the profile page, fetched now
    /// on request (and on a schedule by `serve` and `web`).
    pub feeds: Feeds,
    /// Failed sign-ins per address, shared by every request.
    pub limiter: Arc<LoginLimiter>,
    /// Seconds since 1970 UTC, which decides when sessions, setup links
    /// and sign-in pauses end; passed in so tests can move it.
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// The policy for everything the portal serves: its own resources only,
/// never in a frame, forms only to itself, no `<base>` tricks.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The whole portal, every route and header, ready to serve or to test.
pub fn router(state: AppState) -> Router {
    let open_data = Router::new()
        .route(
            "/services",
            get(open_data::list).options(open_data::preflight),
        )
        .route(
            "/services/{id}",
            get(open_data::one).options(open_data::preflight),
        )
        .layer(middleware::from_fn(open_data::allow_any_origin));
    Router::new()
        .route("/", get(pages::home))
        .route("/directory", get(pages::directory))
        .route(
            "/setup/{token}",
            get(account::setup_form).post(account::setup),
        )
        .route(
            "/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route("/sign-out", post(account::sign_out))
        .route("/account", get(account::account))
        .route("/staff/stats", get(staff::stats_page))
        .route("/staff/stats.csv", get(staff::stats_csv))
        .route("/staff/invite", get(staff::invite_form).post(staff::invite))
        .route("/staff/queue", get(queue::queue))
        .route("/staff/queue/{id}", get(queue::change))
        .route("/staff/queue/{id}/approve", post(queue::approve))
        .route("/staff/queue/{id}/reject", post(queue::reject))
        .route("/organisation/changes", get(queue::organisation_changes))
        .route("/organisation", get(organisation::dashboard))
        .route(
            "/organisation/activities/new",
            get(organisation::new_activity).post(organisation::add_activity),
        )
        .route(
            "/organisation/activities/{id}",
            get(organisation::edit_activity).post(organisation::change_activity),
        )
        .route(
            "/organisation/activities/{id}/withdraw",
            post(organisation::withdraw_activity),
        )
        .route(
            "/organisation/activities/{id}/confirm",
            post(organisation::confirm_activity),
        )
        .route(
            "/organisation/profile",
            get(organisation::profile_form).post(organisation::save_profile),
        )
        .route("/organisation/feed", post(organisation::save_feed))
        .route("/organisation/feed/fetch", post(organisation::fetch_feed))
        .route("/staff/audit", get(staff::audit))
        .route(
            "/organisation/tokens",
            get(tokens::tokens_page).post(tokens::create),
        )
        .route("/organisation/tokens/revoke", post(tokens::revoke))
        .route("/healthz", get(healthz))
        .route("/style.css", get(pages::stylesheet))
        .merge(open_data)
        .merge(api::routes())
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(
            state.https,
            security_headers,
        ))
        .with_state(state)
}

/// Serves the portal on `listener` until `shutdown` completes, then
/// finishes the requests in flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `GET /healthz`: 200 when the database answers, 503 when it does not,
/// for load balancers and monitoring.
async fn healthz(State(state): State<AppState>) -> Response {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match state.directory.database().ping().await {
        Ok(()) => (StatusCode::OK, text, "ok\n").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                text,
                "the database does not answer\n",
            )
                .into_response()
        }
    }
}

/// Adds the security headers to every response. Strict-Transport-Security
/// only when the portal is served over HTTPS: sent over plain HTTP it
/// would be ignored, and sent from a test set-up it would lock browsers
/// out of it.
async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // For browsers too old for frame-ancestors.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}
