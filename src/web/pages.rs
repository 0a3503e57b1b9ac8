//! The pages people read in a browser: the home page, the directory and
//! the error pages, written from the templates in `templates/`, and the
//! style sheet.
//!
//! Invariants: every page works without JavaScript and loads nothing from
//! another site (the security headers' policy would block it anyway).
//! Everything written into a page goes through the templates' HTML
//! escaping: no text from the directory or a request is ever written raw,
//! and only `http:` and `https:` links from the directory become links.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::{HttpError, PageError};
use super::open_data::ListRequest;
use crate::directory::AreaMatch;
use crate::directory::model::Batch;

/// The shared style sheet: plain, calm, high-contrast, with visible focus.
const STYLE: &str = include_str!("style.css");

/// `GET /`: what Signpost is, and where the open data is.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Which link in the navigation is the current page.
    pub section: &'static str,
}

pub async fn home() -> Result<Html<String>, PageError> {
    Ok(Html(HomePage { section: "home" }.render()?))
}

/// `GET /directory`: the services people may see, searchable, a page at
/// a time.
#[derive(Template)]
#[template(path = "directory.html")]
pub struct DirectoryPage {
    pub section: &'static str,
    /// The words searched for, to show in the search box again.
    pub search: String,
    /// The postcode searched near, likewise.
    pub postcode: String,
    /// Why nothing could be searched, in words for the person.
    pub problem: Option<String>,
    pub total: usize,
    /// The position of the first service on this page, from 1.
    pub first: usize,
    pub services: Vec<ServiceCard>,
    pub previous_page: Option<String>,
    pub next_page: Option<String>,
}

/// One service as the directory page shows it.
pub struct ServiceCard {
    pub id: String,
    pub name: String,
    pub organisation: Option<String>,
    /// The description, a paragraph each.
    pub paragraphs: Vec<String>,
    /// Each place's town and postcode.
    pub places: Vec<String>,
    pub online: bool,
    /// The service's website, when it is an http or https address.
    pub website: Option<String>,
}

pub async fn directory(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let mut echo = (String::new(), String::new());
    for (name, value) in
        url::form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
    {
        match name.as_ref() {
            "search" => echo.0 = value.trim().to_owned(),
            "postcode" => echo.1 = value.trim().to_owned(),
            _ => {}
        }
    }
    let (search, postcode) = echo;
    let mut page = DirectoryPage {
        section: "directory",
        search,
        postcode,
        problem: None,
        total: 0,
        first: 1,
        services: Vec::new(),
        previous_page: None,
        next_page: None,
    };
    let request = match ListRequest::parse(query.as_deref()) {
        Ok(request) => request,
        Err(HttpError::BadRequest(message)) => {
            // Said on the page itself, beside the form to put it right.
            page.problem = Some(sentence(&message));
            return Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response());
        }
        Err(err) => return Err(err.into()),
    };
    let found = state
        .directory
        .list_services(&request.query((state.today)()))
        .await?;
    if found.area == AreaMatch::Unknown {
        page.problem = Some(
            "We do not know where that postcode is. Try the first half of a nearby one, or leave it out."
                .to_owned(),
        );
        return Ok(Html(page.render()?).into_response());
    }
    page.total = found.total;
    page.first = (request.page as usize - 1) * request.per_page as usize + 1;
    page.services = cards(&found.page);
    let link = |number: u32| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !page.search.is_empty() {
            query.append_pair("search", &page.search);
        }
        if !page.postcode.is_empty() {
            query.append_pair("postcode", &page.postcode);
        }
        query.append_pair("page", &number.to_string());
        format!("/directory?{}", query.finish())
    };
    if request.page > 1 {
        page.previous_page = Some(link(request.page - 1));
    }
    if (request.page as usize) * (request.per_page as usize) < found.total {
        page.next_page = Some(link(request.page + 1));
    }
    Ok(Html(page.render()?).into_response())
}

/// An error message as a sentence: capital first, full stop last.
pub(super) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut text: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    text.push('.');
    text
}

/// The page's services as cards, in the page's order.
fn cards(batch: &Batch) -> Vec<ServiceCard> {
    batch
        .services
        .iter()
        .map(|service| {
            let organisation = batch
                .organizations
                .iter()
                .find(|o| o.id == service.organization_id)
                .map(|o| o.name.clone());
            let places = batch
                .service_at_locations
                .iter()
                .filter(|link| link.service_id == service.id)
                .filter_map(|link| batch.locations.iter().find(|l| l.id == link.location_id))
                .filter_map(|location| location.addresses.first())
                .map(|address| {
                    [address.city.trim(), address.postal_code.trim()]
                        .into_iter()
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|place| !place.is_empty())
                .collect();
            let paragraphs = service
                .description
                .as_deref()
                .unwrap_or_default()
                .split('\n')
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect();
            let website = service
                .url
                .as_deref()
                .and_then(|text| url::Url::parse(text).ok())
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .map(String::from);
            ServiceCard {
                id: service.id.clone(),
                name: service.name.clone(),
                organisation,
                paragraphs,
                places,
                online: service.online,
                website,
            }
        })
        .collect()
}

/// An error, or the page for an address that leads nowhere.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub section: &'static str,
    pub heading: &'static str,
    pub message: String,
}

/// Any address without a page: 404, saying where to go instead.
pub async fn not_found() -> PageError {
    PageError(HttpError::NotFound(
        "There is no page at this address. It may have moved, or the link may be mistyped.",
    ))
}

/// `GET /style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}
