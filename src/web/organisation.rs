//! The organisation's own pages: its listings, the activity form, its
//! profile.
//!
//! ```text
//!  GET  /organisation                          its listings and reminders
//!  GET  /organisation/activities/new           the activity form, empty
//!  POST /organisation/activities/new           propose a new activity
//!  GET  /organisation/activities/{id}          the form for one of its own
//!  POST /organisation/activities/{id}          propose the changed activity
//!  POST /organisation/activities/{id}/withdraw propose taking it down
//!  POST /organisation/activities/{id}/confirm  confirm it still runs
//!  GET/POST /organisation/profile              its name, contact details
//! ```
//!
//! Every route takes the [`Organisation`] extractor, so only an
//! organisation's own account reaches it, and a service is looked up among
//! that organisation's own services only: another's id is "not found".
//! Listings go through the moderation queue ([`crate::moderation`]); only
//! confirming that an unchanged listing still runs, and the profile, are
//! written at once (and recorded in the audit log), as neither changes
//! what a listing says about an activity.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;

use super::AppState;
use super::account::{Organisation, private, see_other};
use super::error::{HttpError, PageError};
use crate::activity::{
    ActivityForm, FieldProblem, MAX_URL_CHARS, Repeat, is_phone_number, is_web_address,
    keep_other_attributes, new_service_id,
};
use crate::directory::model::{Moderation as Shown, Organization, Phone, Service};
use crate::feeds::FeedsError;
use crate::moderation::{ChangeKind, ChangeStatus, ModerationError, PORTAL_SOURCE, Proposal};
use crate::search::Category;

/// How long after a fetch "Fetch the calendar now" waits, in seconds.
pub const FETCH_NOW_PAUSE_SECONDS: i64 = 5 * 60;

/// How many days before a listing expires its reminder shows.
pub const REMINDER_DAYS: i64 = 30;

/// One of the organisation's listings, as its dashboard shows it.
pub struct ListingRow {
    pub id: String,
    pub name: String,
    /// Where it stands, in words.
    pub state: String,
    /// A reminder to confirm it still runs, when it expires soon.
    pub reminder: Option<String>,
    /// Whether it may be confirmed now: published and active.
    pub can_confirm: bool,
    /// Whether a change to it waits for staff.
    pub change_waiting: bool,
}

/// `GET /organisation`.
#[derive(Template)]
#[template(path = "organisation.html")]
pub struct DashboardPage {
    pub section: &'static str,
    pub form_token: String,
    pub organisation_name: String,
    pub listings: Vec<ListingRow>,
    /// New activities still waiting for staff: names.
    pub waiting: Vec<String>,
    /// How many listings need confirming soon.
    pub reminders: usize,
    /// What was just done, to confirm it.
    pub done: Option<&'static str>,
}

/// A date as people read it: 3 January 2027.
fn day(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn listing_row(service: &Service, today: NaiveDate, waiting: bool) -> ListingRow {
    let published = service.moderation == Shown::Published;
    let active = service.status == "active";
    let expired = service.expires.is_some_and(|expires| expires < today);
    let state = if !active {
        "Withdrawn".to_owned()
    } else if !published {
        "Not yet approved by staff".to_owned()
    } else if expired {
        "Expired: not shown to people".to_owned()
    } else {
        match service.expires {
            Some(expires) => format!("Shown to people until {}", day(expires)),
            None => "Shown to people".to_owned(),
        }
    };
    let can_confirm = published && active;
    let reminder = match service.expires {
        Some(expires) if can_confirm && expired => Some(format!(
            "This listing expired on {}. If it still runs, confirm it to show it again.",
            day(expires)
        )),
        Some(expires) if can_confirm && (expires - today).num_days() <= REMINDER_DAYS => {
            Some(format!(
                "This listing will stop showing on {} unless you confirm it still runs.",
                day(expires)
            ))
        }
        _ => None,
    };
    ListingRow {
        id: service.id.clone(),
        name: service.name.clone(),
        state,
        reminder,
        can_confirm,
        change_waiting: waiting,
    }
}

pub async fn dashboard(
    State(state): State<AppState>,
    organisation: Organisation,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let today = (state.today)();
    let done = match query.as_deref() {
        Some("done=sent") => Some(
            "Thank you. Your activity has been sent to Signpost staff, who check every listing before people see it.",
        ),
        Some("done=withdraw") => {
            Some("Thank you. Staff will take the listing down when they have checked the request.")
        }
        Some("done=confirmed") => Some("Thank you for confirming. The listing stays up."),
        Some("done=profile") => Some("Your profile has been saved."),
        _ => None,
    };
    let account = &organisation.signed_in.account;
    let changes = state.moderation.changes_for(account).await?;
    let waiting_for = |id: &str| {
        changes
            .iter()
            .any(|c| c.service_id == id && c.status == ChangeStatus::Waiting)
    };
    let batch = state
        .directory
        .services_of(&organisation.organization_id, today)
        .await?;
    let listings: Vec<ListingRow> = batch
        .services
        .iter()
        .map(|service| listing_row(service, today, waiting_for(&service.id)))
        .collect();
    let waiting = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Add && c.status == ChangeStatus::Waiting)
        .map(|c| c.service_name.clone())
        .collect();
    let organisation_name = state
        .directory
        .organisation(&organisation.organization_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let page = DashboardPage {
        section: "account",
        form_token: organisation.signed_in.form_token(),
        organisation_name,
        reminders: listings.iter().filter(|l| l.reminder.is_some()).count(),
        listings,
        waiting,
        done,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// A category as a tick box.
pub struct CategoryBox {
    pub slug: &'static str,
    pub label: &'static str,
    pub ticked: bool,
}

/// `GET /organisation/activities/new` and `/{id}`, and either again after
/// a problem.
#[derive(Template)]
#[template(path = "organisation_activity.html")]
pub struct ActivityPage {
    pub section: &'static str,
    pub form_token: String,
    pub heading: &'static str,
    pub action: String,
    pub form: ActivityForm,
    pub categories: Vec<CategoryBox>,
    pub repeats: Vec<(&'static str, &'static str)>,
    pub problems: Vec<FieldProblem>,
    /// For an existing listing: its id, to withdraw it.
    pub service_id: Option<String>,
}

impl ActivityPage {
    fn new(
        organisation: &Organisation,
        form: ActivityForm,
        service_id: Option<String>,
    ) -> ActivityPage {
        let categories = Category::ALL
            .iter()
            .map(|c| CategoryBox {
                slug: c.slug(),
                label: c.label(),
                ticked: form.categories.contains(c.slug()),
            })
            .collect();
        ActivityPage {
            section: "account",
            form_token: organisation.signed_in.form_token(),
            heading: if service_id.is_some() {
                "Change an activity"
            } else {
                "Add an activity"
            },
            action: match &service_id {
                Some(id) => format!("/organisation/activities/{id}"),
                None => "/organisation/activities/new".to_owned(),
            },
            form,
            categories,
            repeats: Repeat::ALL
                .iter()
                .map(|r| (r.as_str(), r.label()))
                .collect(),
            problems: Vec::new(),
            service_id,
        }
    }

    /// The problem with `field`, if there is one.
    fn error(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

pub async fn new_activity(organisation: Organisation) -> Result<Response, PageError> {
    let page = ActivityPage::new(&organisation, ActivityForm::default(), None);
    Ok(private(StatusCode::OK, page.render()?))
}

pub async fn add_activity(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    propose(&state, &organisation, None, None, &body).await
}

/// One of the organisation's own services, with what it refers to; 404
/// for any other id.
async fn own_service(
    state: &AppState,
    organisation: &Organisation,
    id: &str,
) -> Result<crate::directory::model::Batch, PageError> {
    let batch = state
        .directory
        .services_of(&organisation.organization_id, (state.today)())
        .await?;
    if batch.services.iter().any(|s| s.id == id) {
        Ok(batch)
    } else {
        Err(no_such_activity())
    }
}

fn no_such_activity() -> PageError {
    PageError(HttpError::NotFound(
        "There is no such activity among your listings. Go back to your listings and choose one.",
    ))
}

pub async fn edit_activity(
    State(state): State<AppState>,
    organisation: Organisation,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let batch = own_service(&state, &organisation, &id).await?;
    match ActivityForm::from_listing(&batch, &id) {
        Ok(form) => {
            let page = ActivityPage::new(&organisation, form, Some(id));
            Ok(private(StatusCode::OK, page.render()?))
        }
        Err(why) => {
            let name = batch
                .services
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            let page = CannotEditPage {
                section: "account",
                form_token: organisation.signed_in.form_token(),
                name,
                why,
                service_id: id,
            };
            Ok(private(StatusCode::OK, page.render()?))
        }
    }
}

/// A listing the form cannot show faithfully: say why, and offer what
/// can be done.
#[derive(Template)]
#[template(path = "organisation_cannot_edit.html")]
pub struct CannotEditPage {
    pub section: &'static str,
    pub form_token: String,
    pub name: String,
    pub why: String,
    pub service_id: String,
}

pub async fn change_activity(
    State(state): State<AppState>,
    organisation: Organisation,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let batch = own_service(&state, &organisation, &id).await?;
    let existing = batch.services.into_iter().find(|s| s.id == id);
    propose(&state, &organisation, Some(id), existing, &body).await
}

/// Checks the form and puts the listing in the moderation queue, or shows
/// the form again with each problem beside its field.
async fn propose(
    state: &AppState,
    organisation: &Organisation,
    service_id: Option<String>,
    existing: Option<Service>,
    body: &[u8],
) -> Result<Response, PageError> {
    let fields = organisation.signed_in.checked_form(body)?;
    let form = ActivityForm::from_fields(&fields);
    let mut problems = match form.check((state.today)()) {
        Ok(activity) => {
            let position = match &activity.place {
                Some(place) => state.directory.outcode_centre(&place.outcode).await?,
                None => None,
            };
            if activity.place.is_some() && position.is_none() {
                vec![FieldProblem {
                    field: "postcode",
                    message: "Signpost does not know where this postcode is yet. Check it, or ask Signpost staff to add the area.".to_owned(),
                }]
            } else {
                let id = service_id.clone().unwrap_or_else(new_service_id);
                let mut listing = activity.to_listing(&organisation.organization_id, &id, position);
                if let Some(existing) = &existing {
                    keep_other_attributes(&mut listing, existing);
                }
                let proposal = if service_id.is_some() {
                    Proposal::Edit(listing)
                } else {
                    Proposal::Add(listing)
                };
                match state
                    .moderation
                    .submit(&organisation.signed_in.account, &proposal, (state.now)())
                    .await
                {
                    Ok(_) => return Ok(see_other("/organisation?done=sent")),
                    Err(ModerationError::InvalidListing(found)) => vec![FieldProblem {
                        field: "title",
                        message: format!(
                            "The listing could not be accepted: {}. Please tell Signpost staff.",
                            found
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    }],
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Err(problems) => problems,
    };
    problems.dedup_by(|a, b| a.field == b.field);
    let mut page = ActivityPage::new(organisation, form.with_dates_for_fields(), service_id);
    page.problems = problems;
    Ok(private(StatusCode::BAD_REQUEST, page.render()?))
}

pub async fn withdraw_activity(
    State(state): State<AppState>,
    organisation: Organisation,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    organisation.signed_in.checked_form(&body)?;
    own_service(&state, &organisation, &id).await?;
    let proposal = Proposal::Withdraw { service_id: id };
    state
        .moderation
        .submit(&organisation.signed_in.account, &proposal, (state.now)())
        .await?;
    Ok(see_other("/organisation?done=withdraw"))
}

pub async fn confirm_activity(
    State(state): State<AppState>,
    organisation: Organisation,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    organisation.signed_in.checked_form(&body)?;
    let confirmed = state
        .directory
        .confirm_service(&organisation.organization_id, &id, (state.today)())
        .await?;
    if !confirmed {
        return Err(no_such_activity());
    }
    state
        .accounts
        .record(
            Some(&organisation.signed_in.account),
            "confirm listing",
            &id,
            None,
            (state.now)(),
        )
        .await?;
    Ok(see_other("/organisation?done=confirmed"))
}

/// `GET /organisation/profile`, and the form again after a problem.
#[derive(Template)]
#[template(path = "organisation_profile.html")]
pub struct ProfilePage {
    pub section: &'static str,
    pub form_token: String,
    pub name: String,
    pub description: String,
    pub email: String,
    pub website: String,
    pub phone: String,
    pub problems: Vec<FieldProblem>,
    /// The calendar feed's address, as saved or as typed.
    pub feed_url: String,
    /// Whether a feed is saved (so it can be fetched now or removed).
    pub has_feed: bool,
    /// How the last fetch went, in words.
    pub feed_status: Option<String>,
    /// What is wrong with the address typed.
    pub feed_error: Option<String>,
    /// What was just done, to confirm it.
    pub done: Option<&'static str>,
}

impl ProfilePage {
    fn error(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

async fn own_record(
    state: &AppState,
    organisation: &Organisation,
) -> Result<Organization, PageError> {
    state
        .directory
        .organisation(&organisation.organization_id)
        .await?
        .ok_or(PageError(HttpError::NotFound(
            "Your organisation is no longer in the directory. Please contact Signpost staff.",
        )))
}

/// The profile page as saved: the record and the calendar feed.
async fn profile_page(
    state: &AppState,
    organisation: &Organisation,
) -> Result<ProfilePage, PageError> {
    let record = own_record(state, organisation).await?;
    let feed = state
        .feeds
        .feed_for(&organisation.signed_in.account)
        .await?;
    let feed_status = feed.as_ref().map(|feed| match &feed.last_fetch {
        Some(fetch) => format!(
            "Last fetched {}. {}",
            super::queue::when(fetch.at),
            fetch.outcome
        ),
        None => "Not fetched yet: Signpost fetches calendars every few hours.".to_owned(),
    });
    Ok(ProfilePage {
        section: "account",
        form_token: organisation.signed_in.form_token(),
        name: record.name,
        description: record.description,
        email: record.email.unwrap_or_default(),
        website: record.website.unwrap_or_default(),
        phone: record
            .phones
            .first()
            .map(|p| p.number.clone())
            .unwrap_or_default(),
        problems: Vec::new(),
        has_feed: feed.is_some(),
        feed_url: feed.map(|feed| feed.url).unwrap_or_default(),
        feed_status,
        feed_error: None,
        done: None,
    })
}

pub async fn profile_form(
    State(state): State<AppState>,
    organisation: Organisation,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let mut page = profile_page(&state, &organisation).await?;
    page.done = match query.as_deref() {
        Some("done=feed") => Some(
            "The calendar's address is saved. Signpost will fetch it within a few hours, or fetch it now below.",
        ),
        Some("done=feed-removed") => Some(
            "The calendar feed is removed. Listings it sent stay as they are: withdraw any you want taken down.",
        ),
        Some("done=fetched") => Some("The calendar was fetched: see what happened below."),
        Some("done=fetched-lately") => Some(
            "The calendar was fetched a few minutes ago, so it was not fetched again. Please try again in 5 minutes.",
        ),
        _ => None,
    };
    Ok(private(StatusCode::OK, page.render()?))
}

/// `POST /organisation/feed`: saves the calendar's address, or removes the
/// feed when the address is empty.
pub async fn save_feed(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = organisation.signed_in.checked_form(&body)?;
    let typed = fields
        .get("feed_url")
        .map(|url| url.trim().to_owned())
        .unwrap_or_default();
    let url = (!typed.is_empty()).then_some(typed.as_str());
    match state
        .feeds
        .set_feed(&organisation.signed_in.account, url, (state.now)())
        .await
    {
        Ok(Some(_)) => Ok(see_other("/organisation/profile?done=feed")),
        Ok(None) => Ok(see_other("/organisation/profile?done=feed-removed")),
        Err(FeedsError::InvalidUrl(message)) => {
            let mut page = profile_page(&state, &organisation).await?;
            page.feed_url = typed;
            page.feed_error = Some(super::pages::sentence(&message));
            Ok(private(StatusCode::BAD_REQUEST, page.render()?))
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /organisation/feed/fetch`: fetches the organisation's calendar now.
pub async fn fetch_feed(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    organisation.signed_in.checked_form(&body)?;
    // Each fetch may take up to 20 seconds and queue many changes: once in
    // a few minutes is enough.
    let now = (state.now)();
    let fetched_lately = state
        .feeds
        .feed_for(&organisation.signed_in.account)
        .await?
        .and_then(|feed| feed.last_fetch)
        .is_some_and(|fetch| now - fetch.at < FETCH_NOW_PAUSE_SECONDS);
    if fetched_lately {
        return Ok(see_other("/organisation/profile?done=fetched-lately"));
    }
    state
        .feeds
        .refresh_feed_of(&organisation.signed_in.account, (state.today)(), now)
        .await?;
    Ok(see_other("/organisation/profile?done=fetched"))
}

pub async fn save_profile(
    State(state): State<AppState>,
    organisation: Organisation,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = organisation.signed_in.checked_form(&body)?;
    let text = |name: &str| {
        fields
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut page = ProfilePage {
        name: text("name"),
        description: text("description"),
        email: text("email"),
        website: text("website"),
        phone: text("phone"),
        ..profile_page(&state, &organisation).await?
    };
    let problems = profile_problems(&page);
    if !problems.is_empty() {
        page.problems = problems;
        return Ok(private(StatusCode::BAD_REQUEST, page.render()?));
    }
    let record = own_record(&state, &organisation).await?;
    let phones = if page.phone.is_empty() {
        Vec::new()
    } else {
        vec![Phone {
            id: crate::directory::model::derived_id(PORTAL_SOURCE, "phone", &record.id),
            number: page.phone.clone(),
            description: None,
            extra: Default::default(),
        }]
    };
    let updated = Organization {
        name: page.name.clone(),
        description: page.description.clone(),
        email: (!page.email.is_empty()).then(|| page.email.clone()),
        website: (!page.website.is_empty()).then(|| page.website.clone()),
        phones,
        ..record
    };
    state
        .directory
        .update_organisation(PORTAL_SOURCE, &updated)
        .await?;
    state
        .accounts
        .record(
            Some(&organisation.signed_in.account),
            "edit profile",
            &updated.id,
            Some(&format!("name \"{}\"", updated.name)),
            (state.now)(),
        )
        .await?;
    Ok(see_other("/organisation?done=profile"))
}

fn profile_problems(page: &ProfilePage) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, message: &str| {
        problems.push(FieldProblem {
            field,
            message: message.to_owned(),
        })
    };
    let name_length = page.name.chars().count();
    if name_length == 0 {
        problem("name", "Enter your organisation's name.");
    } else if name_length > 200 {
        problem("name", "The name must be 200 characters or fewer.");
    }
    if page.description.chars().count() > 2000 {
        problem(
            "description",
            "The description must be 2000 characters or fewer.",
        );
    }
    if !page.email.is_empty() && crate::accounts::Email::parse(&page.email).is_err() {
        problem(
            "email",
            "Enter an email address, such as hello@example.org, or leave it empty.",
        );
    }
    if !page.website.is_empty()
        && (page.website.chars().count() > MAX_URL_CHARS || !is_web_address(&page.website))
    {
        problem(
            "website",
            "Enter a web address starting https://, or leave it empty.",
        );
    }
    if !page.phone.is_empty() && (page.phone.chars().count() > 30 || !is_phone_number(&page.phone))
    {
        problem(
            "phone",
            "Enter a phone number, such as 01484 123456, or leave it empty.",
        );
    }
    problems
}
