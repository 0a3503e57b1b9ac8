//! What can go wrong answering a request, and what people are shown.
//!
//! Invariant: a failure inside Signpost (the database, a template) is
//! logged once, here, by its cause, and people see only an opaque message;
//! nothing from the request (its path, its query, what was searched for)
//! reaches the log.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};

use crate::accounts::AccountsError;
use crate::database::DatabaseError;
use crate::directory::DirectoryError;
use crate::moderation::ModerationError;
use crate::stats::StatsError;

/// Why a request was not answered, by what the person asking does next.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request asked for something in a way we cannot read: the
    /// message says what to change. 400.
    #[error("{0}")]
    BadRequest(String),
    /// There is nothing here, or nothing people may see. 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// The person is signed in but may not do this, or a form came without
    /// its token. 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The accounts failed: try again later. 500, logged by kind only, as
    /// some of its messages quote an email address.
    #[error("the accounts failed")]
    Accounts(#[from] AccountsError),
    /// The directory failed: try again later. 500, logged.
    #[error("the directory failed: {0}")]
    Directory(#[from] DirectoryError),
    /// The database does not answer: try again later. 503, logged.
    #[error("the database does not answer: {0}")]
    Unavailable(#[from] DatabaseError),
    /// The usage counts could not be read: try again later. 500, logged.
    #[error("the usage counts failed: {0}")]
    Stats(#[from] StatsError),
    /// The moderation queue failed: try again later. 500, logged.
    #[error("the moderation queue failed: {0}")]
    Moderation(#[from] ModerationError),
    /// A page could not be written: a bug. 500, logged.
    #[error("a page could not be written: {0}")]
    Template(#[from] askama::Error),
    /// The calendar feeds failed: try again later. 500, logged.
    #[error("the calendar feeds failed: {0}")]
    Feeds(#[from] crate::feeds::FeedsError),
}

/// What people are told when the fault is ours.
const OUR_FAULT: &str = "Something went wrong on our side. Please try again in a few minutes.";

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::NotFound(_) => StatusCode::NOT_FOUND,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Directory(_)
            | HttpError::Template(_)
            | HttpError::Accounts(_)
            | HttpError::Stats(_)
            | HttpError::Moderation(_)
            | HttpError::Feeds(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message people see: theirs to act on, or an opaque one when the
    /// fault is ours (whose cause is logged now, the one time).
    pub fn public_message(&self) -> String {
        match self {
            HttpError::BadRequest(message) => message.clone(),
            HttpError::NotFound(message) | HttpError::Forbidden(message) => (*message).to_owned(),
            HttpError::Accounts(err) => {
                // Only the database's own error is safe to log whole.
                match err {
                    AccountsError::Database(cause) => {
                        tracing::error!(error = %cause, "could not answer a web request: the accounts failed");
                    }
                    AccountsError::Open(cause) => {
                        tracing::error!(error = %cause, "could not answer a web request: the accounts failed");
                    }
                    _ => tracing::error!("could not answer a web request: the accounts failed"),
                }
                OUR_FAULT.to_owned()
            }
            HttpError::Directory(_)
            | HttpError::Unavailable(_)
            | HttpError::Template(_)
            | HttpError::Stats(_)
            | HttpError::Moderation(_)
            | HttpError::Feeds(_) => {
                tracing::error!(error = %self, "could not answer a web request");
                OUR_FAULT.to_owned()
            }
        }
    }
}

/// An [`HttpError`] answered as JSON (`{"error": "..."}`), for the open
/// data API.
#[derive(Debug)]
pub struct ApiError(pub HttpError);

impl<E: Into<HttpError>> From<E> for ApiError {
    fn from(err: E) -> Self {
        ApiError(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0.public_message() });
        (
            self.0.status(),
            [(CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// An [`HttpError`] answered as a page, for people in a browser.
#[derive(Debug)]
pub struct PageError(pub HttpError);

impl<E: Into<HttpError>> From<E> for PageError {
    fn from(err: E) -> Self {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let page = super::pages::ErrorPage {
            section: "",
            heading: match status {
                StatusCode::NOT_FOUND => "Page not found",
                StatusCode::FORBIDDEN => "You cannot do that here",
                StatusCode::BAD_REQUEST => "We could not read that request",
                _ => "Sorry, something went wrong",
            },
            message: self.0.public_message(),
        };
        match askama::Template::render(&page) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(error = %err, "could not write the error page");
                (status, OUR_FAULT).into_response()
            }
        }
    }
}
