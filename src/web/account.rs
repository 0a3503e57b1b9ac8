//! Signing in and out, setting a password from a setup link, and the
//! extractors that protect every page behind a sign-in.
//!
//! ```text
//!  GET/POST /setup/{token}  choose a password, then signed in  (link once only)
//!  GET/POST /sign-in        email and password                 (LoginLimiter)
//!  POST     /sign-out       ends the session
//!  GET      /account        who you are, and links for your role
//! ```
//!
//! Invariants:
//! - The session cookie (`signpost_session`) is `HttpOnly; SameSite=Strict;
//!   Path=/`, and `Secure` when `http.https` is on. It lasts as long as the
//!   session in the database ([`SESSION_HOURS`]).
//! - Every POST form carries a token, checked before anything changes;
//!   without it, or with a wrong one, the answer is 403 and nothing
//!   changes. Signed-in forms carry the session's `form_token()`. The
//!   sign-in form has no session yet, so it is a double-submit cookie:
//!   `signpost_form` holds a random token and the form holds its
//!   `form_token()`; another site can neither read the cookie nor send it
//!   (`SameSite=Strict`). The setup form carries the setup link's
//!   `form_token()`, which only someone holding the link can know.
//! - A wrong address and a wrong password look the same, and after five
//!   failures for one address signing in with it waits (429).
//! - Nothing here logs: no address, password, token or cookie.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::{HttpError, PageError};
use super::pages::{ErrorPage, sentence};
use crate::accounts::{Account, AccountsError, Email, Password, Role, SESSION_HOURS, Token};

/// The sign-in session's cookie.
pub const SESSION_COOKIE: &str = "signpost_session";
/// The sign-in form's double-submit cookie.
pub const FORM_COOKIE: &str = "signpost_form";

/// What a person sees when a form comes without its token.
const FORM_REFUSED: &str =
    "This form has expired or did not come from Signpost. Go back, reload the page and try again.";

/// What a person sees when the address or the password is wrong: the same
/// for both, so it does not tell who has an account.
pub const WRONG_DETAILS: &str =
    "That email address and password do not match an account. Check them and try again.";

/// A signed-in person: their account, and the session's token (for the
/// form token and signing out).
pub struct SignedIn {
    pub account: Account,
    token: Token,
}

impl SignedIn {
    /// The token every form of this session carries.
    pub fn form_token(&self) -> String {
        self.token.form_token()
    }

    /// A submitted form's fields, if it carries this session's token;
    /// otherwise the 403 for a form without it, before anything changes.
    pub fn checked_form(&self, body: &[u8]) -> Result<HashMap<String, String>, PageError> {
        let fields = form_fields(body);
        if same_secret(fields.get("form_token"), &self.form_token()) {
            Ok(fields)
        } else {
            Err(forbidden_form())
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    /// Anyone without a current session is sent to sign in (303).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(given) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(see_other("/sign-in"));
        };
        let token = Token::from_given(&given);
        match state.accounts.session(&token, (state.now)()).await {
            Ok(Some(account)) => Ok(SignedIn { account, token }),
            Ok(None) => Err(see_other("/sign-in")),
            Err(err) => Err(PageError::from(err).into_response()),
        }
    }
}

/// A signed-in member of staff; anyone else signed in gets 403.
pub struct Staff(pub SignedIn);

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        match signed_in.account.role {
            Role::Staff => Ok(Staff(signed_in)),
            Role::Organisation { .. } => Err(PageError(HttpError::Forbidden(
                "This page is for Signpost staff. Your account is for an organisation.",
            ))
            .into_response()),
        }
    }
}

/// A signed-in organisation, with the directory id it speaks for; anyone
/// else signed in gets 403.
pub struct Organisation {
    pub signed_in: SignedIn,
    pub organization_id: String,
}

impl FromRequestParts<AppState> for Organisation {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        match signed_in.account.role.clone() {
            Role::Organisation { organization_id } => Ok(Organisation {
                signed_in,
                organization_id,
            }),
            Role::Staff => Err(PageError(HttpError::Forbidden(
                "This page is for organisations in the directory. Your account is a staff account.",
            ))
            .into_response()),
        }
    }
}

/// `GET /sign-in` and the form again after a problem.
#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub section: &'static str,
    pub form_token: String,
    /// The address typed, to show again.
    pub email: String,
    /// Why signing in did not work, for the whole form.
    pub problem: Option<&'static str>,
    pub email_error: Option<&'static str>,
    pub password_error: Option<&'static str>,
}

impl SignInPage {
    fn has_errors(&self) -> bool {
        self.problem.is_some() || self.email_error.is_some() || self.password_error.is_some()
    }
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    // Keep a form cookie already given, so two open tabs both work.
    let secret = cookie(&headers, FORM_COOKIE)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|value| Token::from_given(&value))
        .unwrap_or_else(Token::generate);
    let page = SignInPage {
        section: "sign-in",
        form_token: secret.form_token(),
        email: String::new(),
        problem: None,
        email_error: None,
        password_error: None,
    };
    let mut response = private(StatusCode::OK, page.render()?);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(FORM_COOKIE, secret.reveal(), "/sign-in", 3600, state.https),
    );
    Ok(response)
}

/// `POST /sign-in`.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = form_fields(&body);
    let Some(secret) = cookie(&headers, FORM_COOKIE).map(|value| Token::from_given(&value)) else {
        return Err(forbidden_form());
    };
    if !same_secret(fields.get("form_token"), &secret.form_token()) {
        return Err(forbidden_form());
    }
    let email_text = field(&fields, "email").trim().to_owned();
    let password_text = field(&fields, "password");
    let mut page = SignInPage {
        section: "sign-in",
        form_token: secret.form_token(),
        email: email_text.clone(),
        problem: None,
        email_error: email_text.is_empty().then_some("Enter your email address."),
        password_error: password_text.is_empty().then_some("Enter your password."),
    };
    if page.has_errors() {
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    }
    let key = email_text.to_lowercase();
    let now = (state.now)();
    if let Err(wait) = state.limiter.check(&key, now) {
        return too_many_tries(wait);
    }
    let found = match (Email::parse(&email_text), Password::parse(password_text)) {
        (Ok(email), Ok(password)) => state.accounts.sign_in(&email, password, now).await?,
        _ => None,
    };
    let Some((_, token)) = found else {
        state.limiter.failed(&key, now);
        page.problem = Some(WRONG_DETAILS);
        return Ok(private(StatusCode::OK, page.render()?));
    };
    state.limiter.succeeded(&key);
    Ok(signed_in(&state, &token))
}

/// `POST /sign-out`: ends the session, then back to the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    signed_in: SignedIn,
    body: Bytes,
) -> Result<Response, PageError> {
    signed_in.checked_form(&body)?;
    state.accounts.sign_out(&signed_in.token).await?;
    let mut response = see_other("/sign-in");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", 0, state.https),
    );
    Ok(response)
}

/// `GET /setup/{token}`: the form to choose a password.
#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub section: &'static str,
    pub form_token: String,
    pub password_error: Option<String>,
}

pub async fn setup_form(
    State(state): State<AppState>,
    Path(link): Path<String>,
) -> Result<Response, PageError> {
    let link = Token::from_given(&link);
    if !state.accounts.link_is_valid(&link, (state.now)()).await? {
        return link_not_valid();
    }
    let page = SetupPage {
        section: "",
        form_token: link.form_token(),
        password_error: None,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// `POST /setup/{token}`: sets the password, and signs the person in.
pub async fn setup(
    State(state): State<AppState>,
    Path(link): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let link = Token::from_given(&link);
    let fields = form_fields(&body);
    if !same_secret(fields.get("form_token"), &link.form_token()) {
        return Err(forbidden_form());
    }
    let now = (state.now)();
    if !state.accounts.link_is_valid(&link, now).await? {
        return link_not_valid();
    }
    let text = field(&fields, "password");
    let password = match Password::parse(text) {
        Ok(password) => password,
        Err(err) => {
            let page = SetupPage {
                section: "",
                form_token: link.form_token(),
                password_error: Some(match err {
                    AccountsError::Invalid(message) => sentence(&message),
                    _ => "Choose another password.".to_owned(),
                }),
            };
            return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
        }
    };
    let account = match state.accounts.set_password(&link, password, now).await {
        Ok(account) => account,
        Err(AccountsError::LinkNotValid) => return link_not_valid(),
        Err(err) => return Err(err.into()),
    };
    // The password was just checked, so it parses again.
    let password = Password::parse(text)?;
    match state
        .accounts
        .sign_in(&account.email, password, now)
        .await?
    {
        Some((_, token)) => Ok(signed_in(&state, &token)),
        None => Ok(see_other("/sign-in")),
    }
}

/// `GET /account`: who is signed in, and where they can go.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub section: &'static str,
    pub email: String,
    pub staff: bool,
    pub organization_id: Option<String>,
    pub form_token: String,
}

pub async fn account(signed_in: SignedIn) -> Result<Response, PageError> {
    let (staff, organization_id) = match &signed_in.account.role {
        Role::Staff => (true, None),
        Role::Organisation { organization_id } => (false, Some(organization_id.clone())),
    };
    let page = AccountPage {
        section: "account",
        email: signed_in.account.email.to_string(),
        staff,
        organization_id,
        form_token: signed_in.form_token(),
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// The fields of a form sent as `application/x-www-form-urlencoded`; the
/// first of a repeated name counts.
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        fields
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    fields
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or_default()
}

/// Whether a submitted token is the expected one, compared in time that
/// does not depend on where they differ.
pub fn same_secret(given: Option<&String>, expected: &str) -> bool {
    let Some(given) = given else {
        return false;
    };
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The 403 for a form without its token; nothing has changed.
fn forbidden_form() -> PageError {
    PageError(HttpError::Forbidden(FORM_REFUSED))
}

/// A cookie's value from the request, if it was sent.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value: never readable by scripts, never sent from
/// another site, `Secure` behind HTTPS. `max_age` 0 removes it.
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, https: bool) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path={path}; Max-Age={max_age}{secure}"
    );
    // The name and path are ours and the value is hex, so this is valid.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Signed in: the session cookie, the form cookie gone, and on to the
/// account page.
fn signed_in(state: &AppState, token: &Token) -> Response {
    let mut response = see_other("/account");
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            token.reveal(),
            "/",
            SESSION_HOURS * 3600,
            state.https,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(FORM_COOKIE, "", "/sign-in", 0, state.https),
    );
    response
}

/// 303 See Other, to `location`.
pub fn see_other(location: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static(location))],
    )
        .into_response()
}

/// A page about an account, which no cache may keep.
pub fn private(status: StatusCode, html: String) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

/// 429, saying when to try again.
fn too_many_tries(wait_seconds: i64) -> Result<Response, PageError> {
    let minutes = (wait_seconds.max(1) + 59) / 60;
    let when = if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    let page = ErrorPage {
        section: "sign-in",
        heading: "Please wait before trying again",
        message: format!(
            "There have been too many tries to sign in with this email address. To keep the account safe, please try again in {when}."
        ),
    };
    let mut response = private(StatusCode::TOO_MANY_REQUESTS, page.render()?);
    if let Ok(value) = HeaderValue::from_str(&(wait_seconds.max(1)).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Ok(response)
}

/// A setup link that has expired, been used or never was.
fn link_not_valid() -> Result<Response, PageError> {
    let page = ErrorPage {
        section: "",
        heading: "This link has expired or been used",
        message: "Each setup link works once, for 3 days. Please ask Signpost staff for a new one."
            .to_owned(),
    };
    Ok(private(StatusCode::NOT_FOUND, page.render()?))
}
