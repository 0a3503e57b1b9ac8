//! The moderation pages: staff see the queue and decide each change;
//! organisations see what became of theirs.
//!
//! ```text
//!  GET  /staff/queue                 the waiting changes, oldest first   (Staff)
//!  GET  /staff/queue/{id}            one change, with Approve and Reject (Staff)
//!  POST /staff/queue/{id}/approve    writes it to the directory          (Staff)
//!  POST /staff/queue/{id}/reject     refuses it, with a reason           (Staff)
//!  GET  /organisation/changes        its changes, newest first           (Organisation)
//! ```
//!
//! Invariants: every decision goes through [`crate::moderation::Moderation`],
//! which checks the role again and decides a change once only; both forms
//! carry the session's form token, checked before anything changes. A
//! proposed listing is shown through the templates, so whatever an
//! organisation typed is escaped.

use crate::directory::model::{Location, WelcomeFact};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::account::{Organisation, Staff, private};
use super::error::{HttpError, PageError};
use crate::moderation::{Change, ChangeKind, ChangeOrigin, ChangeStatus, ModerationError};

/// A change as a row of a table.
pub struct ChangeRow {
    pub id: i64,
    pub organisation: String,
    pub kind: &'static str,
    pub service_name: String,
    pub submitted: String,
    pub status: &'static str,
    pub reason: Option<String>,
    /// Who sent it, in words.
    pub origin: &'static str,
}

impl ChangeRow {
    fn new(change: &Change) -> ChangeRow {
        ChangeRow {
            id: change.id,
            organisation: change.organization_name.clone(),
            kind: kind_words(change.kind),
            service_name: change.service_name.clone(),
            submitted: when(change.submitted_at),
            status: status_words(change.status),
            reason: change.reason.clone(),
            origin: match change.origin {
                ChangeOrigin::Account => "The organisation's account",
                ChangeOrigin::Api => "An API token",
                ChangeOrigin::CalendarFeed => "The calendar feed",
            },
        }
    }
}

fn kind_words(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Add => "New service",
        ChangeKind::Edit => "Changed service",
        ChangeKind::Withdraw => "Withdraw service",
    }
}

fn status_words(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::Waiting => "Waiting for staff",
        ChangeStatus::Approved => "Approved",
        ChangeStatus::Rejected => "Rejected",
        ChangeStatus::Superseded => "Replaced by a newer change",
    }
}

/// Seconds since 1970 as a UTC date and time people read.
pub(super) fn when(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|time| time.format("%-d %B %Y, %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// `GET /staff/queue`.
#[derive(Template)]
#[template(path = "staff_queue.html")]
pub struct QueuePage {
    pub section: &'static str,
    pub changes: Vec<ChangeRow>,
    /// What was just decided, to confirm it.
    pub done: Option<&'static str>,
}

pub async fn queue(
    State(state): State<AppState>,
    Staff(staff): Staff,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let done = match query.as_deref() {
        Some("done=approved") => Some("The change was approved and is now in the directory."),
        Some("done=rejected") => Some("The change was rejected. The organisation will see why."),
        _ => None,
    };
    let changes = state.moderation.queue(&staff.account).await?;
    let page = QueuePage {
        section: "account",
        changes: changes.iter().map(ChangeRow::new).collect(),
        done,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// The proposed listing, in the fields people read: everything staff
/// check before the bot shows it.
pub struct Listing {
    pub name: String,
    pub description: String,
    /// The kinds of activity, by name.
    pub categories: String,
    pub places: Vec<String>,
    pub times: Vec<String>,
    /// What it costs, and whether it is free.
    pub cost: String,
    /// Access and welcome: step-free, and the service's attributes.
    pub welcome: Vec<String>,
    pub how_to_join: String,
    /// Phones, email and web address.
    pub contact: Vec<String>,
}

impl Listing {
    /// The listing as the directory will hold it: read from the proposal by
    /// the same HSDS importer that approval uses, so staff check what the
    /// bot will show (the rule it will follow, the welcome facts by their
    /// term ids), not the labels a client chose to send with it. `None`
    /// when the importer no longer accepts it (approval then says why).
    fn read(proposal: &str, organization_id: &str) -> Option<Listing> {
        let batch = crate::moderation::read_listing(proposal, organization_id)?;
        let service = batch.services.first()?;
        let links: Vec<_> = batch
            .service_at_locations
            .iter()
            .filter(|link| link.service_id == service.id)
            .collect();
        let locations: Vec<&Location> = links
            .iter()
            .filter_map(|link| batch.locations.iter().find(|l| l.id == link.location_id))
            .collect();
        let mut places: Vec<String> = locations
            .iter()
            .map(|location| {
                let mut parts: Vec<String> = location.name.iter().cloned().collect();
                if let Some(address) = location.addresses.first() {
                    parts.extend([
                        address.address_1.clone(),
                        address.city.clone(),
                        address.postal_code.clone(),
                    ]);
                }
                parts.retain(|part| !part.trim().is_empty());
                parts.join(", ")
            })
            .filter(|place| !place.is_empty())
            .collect();
        if service.online {
            places.push("By phone or online".to_owned());
        }
        let times = service
            .schedules
            .iter()
            .chain(links.iter().flat_map(|link| &link.schedules))
            .map(|schedule| match &schedule.recurrence {
                Some(rule) => {
                    let mut time = rule.summary().unwrap_or_else(|| {
                        format!("from {}: {}", rule.start, rule.rules.join("; "))
                    });
                    if !rule.excluded_dates.is_empty() {
                        let left_out: Vec<String> = rule
                            .excluded_dates
                            .iter()
                            .map(|date| date.format("%-d %B %Y").to_string())
                            .collect();
                        time.push_str(&format!("; not on {}", left_out.join(", ")));
                    }
                    time
                }
                None => schedule
                    .description
                    .clone()
                    .map(|words| format!("{words} (no dates)"))
                    .unwrap_or_default(),
            })
            .filter(|time| !time.is_empty())
            .collect();
        let mut welcome = Vec::new();
        if locations.iter().any(|l| l.step_free == Some(true)) {
            welcome.push("Step-free access".to_owned());
        }
        welcome.extend(
            WelcomeFact::ALL
                .into_iter()
                .filter(|fact| {
                    let id = fact.term_id();
                    service.attributes.iter().any(|a| a.taxonomy_term_id == id)
                })
                .map(|fact| fact.name().to_owned()),
        );
        let cost = match (service.fees_description.as_deref(), service.free) {
            (Some(cost), Some(true)) if cost != "Free" => format!("{cost} (free)"),
            (Some(cost), _) => cost.to_owned(),
            (None, Some(true)) => "Free".to_owned(),
            (None, _) => String::new(),
        };
        let mut contact: Vec<String> = service.phones.iter().map(|p| p.number.clone()).collect();
        contact.extend(service.email.clone());
        contact.extend(service.url.clone());
        Some(Listing {
            name: service.name.clone(),
            description: service.description.clone().unwrap_or_default(),
            categories: service
                .categories
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>()
                .join(", "),
            places,
            times,
            cost,
            welcome,
            how_to_join: service.application_process.clone().unwrap_or_default(),
            contact,
        })
    }
}

/// `GET /staff/queue/{id}`, and the page again after a problem.
#[derive(Template)]
#[template(path = "staff_change.html")]
pub struct ChangePage {
    pub section: &'static str,
    pub form_token: String,
    pub change: ChangeRow,
    pub waiting: bool,
    pub service_id: String,
    pub listing: Option<Listing>,
    pub reason: String,
    pub reason_error: Option<String>,
    /// Why the change can no longer be decided, for the whole page.
    pub problem: Option<String>,
}

impl ChangePage {
    fn has_errors(&self) -> bool {
        self.reason_error.is_some() || self.problem.is_some()
    }
}

/// The change's page, or 404 when there is no such change.
async fn change_page(state: &AppState, staff: &Staff, id: i64) -> Result<ChangePage, PageError> {
    let Some((change, proposal)) = state.moderation.change(&staff.0.account, id).await? else {
        return Err(no_such_change());
    };
    Ok(ChangePage {
        section: "account",
        form_token: staff.0.form_token(),
        waiting: change.status == ChangeStatus::Waiting,
        service_id: change.service_id.clone(),
        listing: proposal
            .as_deref()
            .and_then(|proposal| Listing::read(proposal, &change.organization_id)),
        change: ChangeRow::new(&change),
        reason: String::new(),
        reason_error: None,
        problem: None,
    })
}

fn no_such_change() -> PageError {
    PageError(HttpError::NotFound(
        "There is no such change. It may have been mistyped; go back to the queue.",
    ))
}

pub async fn change(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let page = change_page(&state, &staff, id).await?;
    Ok(private(StatusCode::OK, page.render()?))
}

/// `POST /staff/queue/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, PageError> {
    staff.0.checked_form(&body)?;
    let result = state
        .moderation
        .approve(&staff.0.account, id, (state.today)(), (state.now)())
        .await;
    decided(&state, &staff, id, result, "approved", String::new()).await
}

/// `POST /staff/queue/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = staff.0.checked_form(&body)?;
    let reason = fields.get("reason").cloned().unwrap_or_default();
    if reason.trim().is_empty() {
        let mut page = change_page(&state, &staff, id).await?;
        page.reason_error = Some("Enter a reason the organisation will see.".to_owned());
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    }
    let result = state
        .moderation
        .reject(&staff.0.account, id, &reason, (state.now)())
        .await;
    decided(&state, &staff, id, result, "rejected", reason).await
}

/// After a decision: back to the queue to confirm it, or the change's page
/// again saying why it was not made.
async fn decided(
    state: &AppState,
    staff: &Staff,
    id: i64,
    result: Result<(), ModerationError>,
    done: &'static str,
    reason: String,
) -> Result<Response, PageError> {
    let (reason_error, problem) = match result {
        Ok(()) => {
            let location = if done == "approved" {
                "/staff/queue?done=approved"
            } else {
                "/staff/queue?done=rejected"
            };
            return Ok((
                StatusCode::SEE_OTHER,
                [(header::LOCATION, HeaderValue::from_static(location))],
            )
                .into_response());
        }
        Err(ModerationError::UnknownChange { .. }) => return Err(no_such_change()),
        Err(ModerationError::AlreadyDecided { status, .. }) => (
            None,
            Some(format!(
                "This change has already been {status}, so it cannot be decided again."
            )),
        ),
        Err(ModerationError::Invalid(message)) if done == "rejected" => {
            (Some(super::pages::sentence(&message)), None)
        }
        Err(
            err @ (ModerationError::Invalid(_)
            | ModerationError::InvalidListing(_)
            | ModerationError::UnknownService { .. }
            | ModerationError::NotAllowed(_)),
        ) => (
            None,
            Some(super::pages::sentence(&format!(
                "this change cannot be approved: {err}"
            ))),
        ),
        Err(err) => return Err(err.into()),
    };
    let status = if reason_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::CONFLICT
    };
    let mut page = change_page(state, staff, id).await?;
    page.reason = reason;
    page.reason_error = reason_error;
    page.problem = problem;
    Ok(private(status, page.render()?))
}

/// `GET /organisation/changes`.
#[derive(Template)]
#[template(path = "organisation_changes.html")]
pub struct OrganisationChangesPage {
    pub section: &'static str,
    pub changes: Vec<ChangeRow>,
}

pub async fn organisation_changes(
    State(state): State<AppState>,
    organisation: Organisation,
) -> Result<Response, PageError> {
    let changes = state
        .moderation
        .changes_for(&organisation.signed_in.account)
        .await?;
    let page = OrganisationChangesPage {
        section: "account",
        changes: changes.iter().map(ChangeRow::new).collect(),
    };
    Ok(private(StatusCode::OK, page.render()?))
}
