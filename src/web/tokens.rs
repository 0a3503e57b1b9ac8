//! An organisation's API tokens, for its own systems to use the
//! organisation API ([`super::api`]).
//!
//! ```text
//!  GET  /organisation/tokens          its tokens: name, made, revoked   (Organisation)
//!  POST /organisation/tokens          makes one, shown once             (Organisation)
//!  POST /organisation/tokens/revoke   revokes one by name               (Organisation)
//! ```
//!
//! Invariants: a token is shown once, on the page that answers its making,
//! and never again (only its digest is stored); the page is `no-store`.
//! Both forms carry the session's form token, checked before anything
//! changes. Names come from the organisation and are shown only through
//! the templates, escaped.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::account::{Organisation, private, see_other};
use super::error::{HttpError, PageError};
use super::pages::sentence;
use crate::accounts::AccountsError;

/// A token as a row of the table.
pub struct TokenRow {
    pub name: String,
    pub created: String,
    /// When it was revoked; `None` while it works.
    pub revoked: Option<String>,
}

/// `GET /organisation/tokens`, and the form again after a problem.
#[derive(Template)]
#[template(path = "organisation_tokens.html")]
pub struct TokensPage {
    pub section: &'static str,
    pub form_token: String,
    pub tokens: Vec<TokenRow>,
    /// The name typed, to show again.
    pub name: String,
    pub name_error: Option<String>,
    /// What was just done, to confirm it.
    pub done: Option<&'static str>,
}

/// The page that shows a new token, the only time it is shown.
#[derive(Template)]
#[template(path = "organisation_token_made.html")]
pub struct TokenMadePage {
    pub section: &'static str,
    pub name: String,
    pub token: String,
}

async fn tokens_of(
    state: &AppState,
    organisation: &Organisation,
) -> Result<Vec<TokenRow>, PageError> {
    let tokens = state
        .accounts
        .api_tokens(&organisation.signed_in.account)
        .await?;
    Ok(tokens
        .into_iter()
        .map(|(name, created, revoked)| TokenRow {
            name,
            created: super::queue::when(created),
            revoked: revoked.map(super::queue::when),
        })
        .collect())
}

pub async fn tokens_page(
    State(state): State<AppState>,
    organisation: Organisation,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let done = match query.as_deref() {
        Some("done=revoked") => Some("The token was revoked. Requests that use it are refused."),
        _ => None,
    };
    let page = TokensPage {
        section: "account",
        form_token: organisation.signed_in.form_token(),
        tokens: tokens_of(&state, &organisation).await?,
        name: String::new(),
        name_error: None,
        done,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// `POST /organisation/tokens`: makes a token named `name`, and shows it.
pub async fn create(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = organisation.signed_in.checked_form(&body)?;
    let name = fields.get("name").cloned().unwrap_or_default();
    let made = state
        .accounts
        .create_api_token(&organisation.signed_in.account, &name, (state.now)())
        .await;
    match made {
        Ok(token) => {
            let page = TokenMadePage {
                section: "account",
                name: name.trim().to_owned(),
                token: token.reveal().to_owned(),
            };
            Ok(private(StatusCode::OK, page.render()?))
        }
        Err(AccountsError::Invalid(message)) => {
            let page = TokensPage {
                section: "account",
                form_token: organisation.signed_in.form_token(),
                tokens: tokens_of(&state, &organisation).await?,
                name,
                name_error: Some(sentence(&message)),
                done: None,
            };
            Ok(private(StatusCode::BAD_REQUEST, page.render()?))
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /organisation/tokens/revoke`: revokes the token named `name`.
pub async fn revoke(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = organisation.signed_in.checked_form(&body)?;
    let name = fields.get("name").map(String::as_str).unwrap_or_default();
    let revoked = state
        .accounts
        .revoke_api_token(&organisation.signed_in.account, name, (state.now)())
        .await?;
    if revoked {
        Ok(see_other("/organisation/tokens?done=revoked"))
    } else {
        Err(PageError(HttpError::NotFound(
            "There is no token in use with that name. It may have been revoked already; go back to your tokens.",
        )))
    }
}
