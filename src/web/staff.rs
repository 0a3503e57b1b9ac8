//! Pages for Signpost staff: the usage dashboard and its CSV, inviting an
//! organisation, and the audit log.
//!
//! ```text
//!  GET /staff/stats?from=&to=&by=      charts (inline SVG) and tables   (Staff)
//!  GET /staff/stats.csv?from=&to=&by=  the whole report, as CSV         (Staff)
//!  GET/POST /staff/invite              an organisation's setup link     (Staff)
//!  GET /staff/audit                    who changed what, newest first   (Staff)
//! ```
//!
//! Invariants: every figure comes from `stats::Store::report` or
//! `report_narrowed`, so it has been through the disclosure rule (0, `<8`,
//! or rounded to 5) after any adding up; urgent help is only ever by
//! calendar month. Charts are drawn here as SVG written through the
//! template, so they need no JavaScript and carry no inline styles (the
//! security policy forbids them); each has a table with the same figures.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::AppState;
use super::account::{Staff, private};
use super::error::PageError;
use crate::stats::report::Shown;
use crate::stats::{self, Grouping, Report, ReportRequest};

/// The dashboard's choices, as typed (to show again) and as understood.
pub struct Choices {
    pub from: String,
    pub to: String,
    pub by: String,
    pub from_error: Option<&'static str>,
    pub to_error: Option<&'static str>,
    pub by_error: Option<&'static str>,
}

impl Choices {
    /// Reads `from`, `to` and `by` from the query string; any left out
    /// take the defaults (the last 30 days, by week).
    fn parse(query: Option<&str>, today: NaiveDate) -> (Choices, Option<ReportRequest>) {
        let default = ReportRequest::last_days(today, Grouping::Week);
        let mut given = (None, None, None);
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.trim().to_owned();
            match name.as_ref() {
                "from" if !value.is_empty() => given.0 = Some(value),
                "to" if !value.is_empty() => given.1 = Some(value),
                "by" if !value.is_empty() => given.2 = Some(value),
                _ => {}
            }
        }
        let date = |text: &Option<String>, fallback: NaiveDate| match text {
            None => Ok(fallback),
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ()),
        };
        let mut choices = Choices {
            from: given
                .0
                .clone()
                .unwrap_or_else(|| default.from().to_string()),
            to: given.1.clone().unwrap_or_else(|| default.to().to_string()),
            by: given.2.clone().unwrap_or_else(|| "week".to_owned()),
            from_error: None,
            to_error: None,
            by_error: None,
        };
        let from = date(&given.0, default.from());
        let to = date(&given.1, default.to());
        let by = match choices.by.as_str() {
            "day" => Some(Grouping::Day),
            "week" => Some(Grouping::Week),
            "month" => Some(Grouping::Month),
            _ => None,
        };
        if from.is_err() {
            choices.from_error = Some("Enter the first day as a date, such as 2026-11-01.");
        }
        if to.is_err() {
            choices.to_error = Some("Enter the last day as a date, such as 2026-11-30.");
        }
        if by.is_none() {
            choices.by_error = Some("Choose day, week or month.");
        }
        let (Ok(from), Ok(to), Some(by)) = (from, to, by) else {
            return (choices, None);
        };
        match ReportRequest::new(from, to, by) {
            Ok(request) => (choices, Some(request)),
            Err(_) => {
                choices.to_error = Some("The last day must be on or after the first day.");
                (choices, None)
            }
        }
    }

    fn has_errors(&self) -> bool {
        self.from_error.is_some() || self.to_error.is_some() || self.by_error.is_some()
    }

    /// The query string for the same report, for the CSV link.
    fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("from", &self.from);
        query.append_pair("to", &self.to);
        query.append_pair("by", &self.by);
        query.finish()
    }
}

/// One chart and its table.
pub struct Chart {
    /// For ids in the page.
    pub id: &'static str,
    pub heading: &'static str,
    /// What the chart shows, in a sentence.
    pub summary: &'static str,
    /// The heading of the first column of the table.
    pub label_heading: &'static str,
    pub bars: Vec<Bar>,
    /// The SVG's height in its own units.
    pub height: usize,
}

/// One figure in a chart.
pub struct Bar {
    /// In full, for the table.
    pub label: String,
    /// Cut to fit beside the bar.
    pub short_label: String,
    /// `0`, `<8` or a rounded number.
    pub shown: String,
    pub suppressed: bool,
    /// Where the bar's row starts, and how long the bar is.
    pub y: usize,
    pub width: usize,
}

/// Where the bars start, and the longest bar.
const BAR_START: usize = 240;
const BAR_SPACE: usize = 330;
const ROW_HEIGHT: usize = 28;

impl Chart {
    fn new(
        id: &'static str,
        heading: &'static str,
        summary: &'static str,
        label_heading: &'static str,
        figures: Vec<(String, Shown)>,
    ) -> Chart {
        let largest = figures
            .iter()
            .filter_map(|(_, shown)| shown.number())
            .max()
            .unwrap_or(0)
            .max(1);
        let bars = figures
            .into_iter()
            .enumerate()
            .map(|(index, (label, shown))| {
                let short_label = if label.chars().count() > 30 {
                    label.chars().take(29).chain(['…']).collect()
                } else {
                    label.clone()
                };
                let width = shown
                    .number()
                    .map_or(0, |n| (n as usize * BAR_SPACE) / largest as usize);
                Bar {
                    label,
                    short_label,
                    shown: shown.to_string(),
                    suppressed: shown.number().is_none(),
                    y: index * ROW_HEIGHT,
                    width,
                }
            })
            .collect::<Vec<_>>();
        Chart {
            id,
            heading,
            summary,
            label_heading,
            height: bars.len().max(1) * ROW_HEIGHT,
            bars,
        }
    }

    pub fn bar_start(&self) -> usize {
        BAR_START
    }
}

/// `GET /staff/stats`.
#[derive(Template)]
#[template(path = "staff_stats.html")]
pub struct StatsPage {
    pub section: &'static str,
    pub choices: Choices,
    /// The report's dates and grouping, when the choices were good.
    pub showing: Option<(NaiveDate, NaiveDate, Grouping)>,
    pub csv_link: String,
    pub charts: Vec<Chart>,
    pub notes: Vec<String>,
}

pub async fn stats_page(
    State(state): State<AppState>,
    Staff(_): Staff,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (choices, request) = Choices::parse(query.as_deref(), today(&state));
    let mut page = StatsPage {
        section: "account",
        csv_link: format!("/staff/stats.csv?{}", choices.query()),
        choices,
        showing: None,
        charts: Vec::new(),
        notes: Vec::new(),
    };
    let Some(request) = request else {
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    };
    let store = stats::Store::new(state.directory.database().clone());
    let conversations = store
        .report_narrowed(&request, "conversation_started", &[])
        .await?;
    let searches = store
        .report_narrowed(&request, "search_made", &["category"])
        .await?;
    let gaps = store
        .report_narrowed(&request, "no_results", &["area", "category"])
        .await?;
    let urgent = store
        .report_narrowed(&request, "urgent_help_shown", &[])
        .await?;
    page.showing = Some((request.from(), request.to(), request.by()));
    page.charts = vec![
        Chart::new(
            "conversations",
            "Conversations",
            "Conversations started in each period, on every channel.",
            "Period",
            by_period(&conversations),
        ),
        Chart::new(
            "searches",
            "What people looked for",
            "Searches of the directory, by what they were for.",
            "Looked for",
            by_dimensions(&searches, &["category"]),
        ),
        Chart::new(
            "no-results",
            "Searches that found nothing",
            "Searches with no results, by area and what they were for: where the gaps are.",
            "Area and what was looked for",
            by_dimensions(&gaps, &["area", "category"]),
        ),
        Chart::new(
            "urgent-help",
            "Urgent help",
            "How often urgent help was shown, for the whole service, by calendar month only.",
            "Month",
            by_period(&urgent),
        ),
    ];
    page.notes = conversations.notes.clone();
    Ok(private(StatusCode::OK, page.render()?))
}

/// `GET /staff/stats.csv`: the whole report, as `signpost stats --format
/// csv` writes it.
pub async fn stats_csv(
    State(state): State<AppState>,
    Staff(_): Staff,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let (choices, request) = Choices::parse(query.as_deref(), today(&state));
    let Some(request) = request else {
        let page = StatsPage {
            section: "account",
            csv_link: format!("/staff/stats.csv?{}", choices.query()),
            choices,
            showing: None,
            charts: Vec::new(),
            notes: Vec::new(),
        };
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    };
    let store = stats::Store::new(state.directory.database().clone());
    let report = store.report(&request).await?;
    let name = format!(
        "attachment; filename=\"signpost-usage-{}-to-{}.csv\"",
        request.from(),
        request.to()
    );
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        stats::format::csv(&report),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Today, as the usage counts date it: the UTC day.
fn today(state: &AppState) -> NaiveDate {
    chrono::DateTime::from_timestamp((state.now)(), 0)
        .map(|time| time.date_naive())
        .unwrap_or_else(|| (state.today)())
}

/// A report on one event without dimensions: a figure per period.
fn by_period(report: &Report) -> Vec<(String, Shown)> {
    report
        .rows
        .iter()
        .map(|row| (row.period.label.clone(), row.count))
        .collect()
}

/// A report's totals for each set of the named dimensions, largest first.
fn by_dimensions(report: &Report, names: &[&str]) -> Vec<(String, Shown)> {
    let mut figures: Vec<(String, Shown)> = report
        .totals
        .iter()
        .filter_map(|total| {
            let dimensions = total.dimensions.as_ref()?;
            let label = names
                .iter()
                .map(|name| {
                    let value = dimensions.get(name).unwrap_or("-");
                    // Category slugs read better as words.
                    if *name == "category" {
                        value.replace('-', " ")
                    } else {
                        value.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            Some((label, total.count))
        })
        .collect();
    figures.sort_by(|a, b| {
        b.1.number()
            .unwrap_or(1)
            .cmp(&a.1.number().unwrap_or(1))
            .then_with(|| a.0.cmp(&b.0))
    });
    figures
}

/// `GET /staff/invite`, and the form again after a problem.
#[derive(Template)]
#[template(path = "staff_invite.html")]
pub struct InvitePage {
    pub section: &'static str,
    pub form_token: String,
    /// Published organisations: id and name, by name.
    pub organisations: Vec<(String, String)>,
    pub chosen: String,
    pub email: String,
    pub organisation_error: Option<&'static str>,
    pub email_error: Option<String>,
}

impl InvitePage {
    fn has_errors(&self) -> bool {
        self.organisation_error.is_some() || self.email_error.is_some()
    }
}

/// The one-time link, shown once to copy.
#[derive(Template)]
#[template(path = "staff_invited.html")]
pub struct InvitedPage {
    pub section: &'static str,
    pub email: String,
    pub organisation: String,
    pub link: String,
    pub hours: i64,
}

pub async fn invite_form(
    State(state): State<AppState>,
    Staff(staff): Staff,
) -> Result<Response, PageError> {
    let page = InvitePage {
        section: "account",
        form_token: staff.form_token(),
        organisations: organisations(&state).await?,
        chosen: String::new(),
        email: String::new(),
        organisation_error: None,
        email_error: None,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// `POST /staff/invite`: makes the organisation's account and shows its
/// setup link. The link is not emailed: staff pass it on.
pub async fn invite(
    State(state): State<AppState>,
    Staff(staff): Staff,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let fields = staff.checked_form(&body)?;
    let organisations = organisations(&state).await?;
    let chosen = fields
        .get("organisation")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default();
    let email_text = fields
        .get("email")
        .map(|email| email.trim().to_owned())
        .unwrap_or_default();
    let organisation = organisations.iter().find(|(id, _)| *id == chosen).cloned();
    let mut page = InvitePage {
        section: "account",
        form_token: staff.form_token(),
        organisations,
        chosen,
        email: email_text.clone(),
        organisation_error: organisation
            .is_none()
            .then_some("Choose the organisation from the list."),
        email_error: None,
    };
    let email = if email_text.is_empty() {
        page.email_error =
            Some("Enter the email address of the person at the organisation.".to_owned());
        None
    } else {
        match crate::accounts::Email::parse(&email_text) {
            Ok(email) => Some(email),
            Err(_) => {
                page.email_error =
                    Some("Enter an email address that looks like name@example.org.".to_owned());
                None
            }
        }
    };
    let (Some(email), Some((organization_id, name))) = (email, organisation) else {
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    };
    let invitation = match state
        .accounts
        .invite_organisation(&staff.account, &email, &organization_id, (state.now)())
        .await
    {
        Ok(invitation) => invitation,
        Err(crate::accounts::AccountsError::AlreadyExists { .. }) => {
            page.email_error = Some(
                "There is already an account for this email address. If they have lost their password, they need a new setup link from the command line."
                    .to_owned(),
            );
            return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
        }
        Err(crate::accounts::AccountsError::UnknownOrganisation { .. }) => {
            page.organisation_error = Some("Choose the organisation from the list.");
            return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
        }
        Err(err) => return Err(err.into()),
    };
    let page = InvitedPage {
        section: "account",
        email: email.to_string(),
        organisation: name,
        link: invitation.link(&base_url(&headers, state.https)),
        hours: crate::accounts::LINK_HOURS,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// The published organisations, by name.
async fn organisations(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    let batch = state.directory.published((state.today)()).await?;
    let mut organisations: Vec<(String, String)> = batch
        .organizations
        .into_iter()
        .map(|organisation| (organisation.id, organisation.name))
        .collect();
    organisations.sort_by(|a, b| {
        a.1.to_lowercase()
            .cmp(&b.1.to_lowercase())
            .then(a.0.cmp(&b.0))
    });
    organisations.dedup_by(|a, b| a.0 == b.0);
    Ok(organisations)
}

/// The portal's address as the member of staff reached it, for the link:
/// only a plain host name (and port) is used, else the link is a path.
fn base_url(headers: &axum::http::HeaderMap, https: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        });
    match host {
        Some(host) => format!("{}://{host}", if https { "https" } else { "http" }),
        None => String::new(),
    }
}

/// The most audit events the page shows.
pub const AUDIT_PAGE_EVENTS: u32 = 200;

/// An audit event as a row of the table.
pub struct AuditRow {
    pub at: String,
    pub by: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// `GET /staff/audit`.
#[derive(Template)]
#[template(path = "staff_audit.html")]
pub struct AuditPage {
    pub section: &'static str,
    pub events: Vec<AuditRow>,
    pub limit: u32,
}

pub async fn audit(State(state): State<AppState>, _staff: Staff) -> Result<Response, PageError> {
    let events = state.accounts.audit(None, AUDIT_PAGE_EVENTS).await?;
    let page = AuditPage {
        section: "account",
        events: events
            .into_iter()
            .map(|event| AuditRow {
                at: chrono::DateTime::from_timestamp(event.at, 0)
                    .map(|time| time.format("%-d %B %Y, %H:%M UTC").to_string())
                    .unwrap_or_default(),
                by: event.by.unwrap_or_else(|| {
                    "no account: an API token, a calendar feed or the command line".to_owned()
                }),
                action: event.action,
                subject: event.subject,
                detail: event.detail.unwrap_or_default(),
            })
            .collect(),
        limit: AUDIT_PAGE_EVENTS,
    };
    Ok(private(StatusCode::OK, page.render()?))
}
