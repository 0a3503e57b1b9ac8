//! The moderation queue: listings organisations propose in the web portal,
//! and staff decisions on them.
//!
//! An organisation proposes a [`Proposal`]: a new service, a changed one (as
//! HSDS 3.0 JSON, checked by the directory's own importer at once) or the
//! withdrawal of one. It proposes as a [`Submitter`]: a person signed in to
//! the organisation's account, or the organisation's own system through
//! one of its API tokens (an [`ApiClient`], which only a live token makes). The proposal waits as a [`Change`] in the
//! `listing_change` table; staff approve it, which writes it to the
//! directory published, or reject it with a reason the organisation sees. A
//! newer proposal for the same service supersedes one still waiting.
//!
//! Invariants:
//! - The directory changes only when staff approve: until then a new listing
//!   is not in the directory at all, and a changed one keeps its published
//!   version, so the bot shows only what staff have checked.
//! - An organisation proposes only for itself, and touches only its own
//!   services; only staff see the queue and decide. Its calendar feed
//!   (see [`crate::feeds`]), which only its own account can set, proposes
//!   for it through the same checks, recorded as from the calendar feed;
//!   only the crate can submit that way. Each change records where it came
//!   from ([`ChangeOrigin`]), and a calendar feed never replaces (or takes
//!   back) a waiting change a person or the API sent.
//! - A proposal is decided once: approving or rejecting anything but a
//!   waiting change is refused.
//! - Each submission and decision is written in one transaction with its
//!   audit event (who, when, what), and approval with the directory change.
//!   A submission through the API has no account behind it: its audit
//!   event has none, and its detail names the API token instead.
//! - The clock is passed in (`now`, seconds since 1970 UTC; `today`, the UK
//!   local date).

mod store;

use std::fmt;

use serde_json::Value;

use crate::accounts::{Account, ApiClient, Role};
use crate::directory::DirectoryError;
use crate::directory::import::{ImportOptions, Problem, hsds};
use crate::directory::model::Batch;

pub use store::Moderation;

/// The source approved listings are filed under in the directory.
pub const PORTAL_SOURCE: &str = "portal";

/// The longest rejection reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a moderation operation was not done, by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The account may not do this: show the message, change nothing.
    #[error("{0}")]
    NotAllowed(String),
    /// The listing is not valid HSDS: show each problem to the organisation.
    #[error("the listing cannot be accepted: {}", list(.0))]
    InvalidListing(Vec<Problem>),
    /// Something else about the request is wrong: show the message.
    #[error("{0}")]
    Invalid(String),
    #[error("there is no service with id {id} in the directory")]
    UnknownService { id: String },
    #[error("there is no listing change with number {id}")]
    UnknownChange { id: i64 },
    #[error("listing change {id} has already been {status}; only a waiting change can be decided")]
    AlreadyDecided { id: i64, status: ChangeStatus },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("cannot reach the moderation queue in the database: {0}")]
    Database(#[from] sqlx::Error),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an organisation asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Proposal {
    /// A new service, as HSDS 3.0 JSON (one service, nested as
    /// `service_full.json` has it, or with `organization_id`).
    Add(Value),
    /// A new version of one of its services, as HSDS 3.0 JSON with the
    /// service's id.
    Edit(Value),
    /// Take one of its services down.
    Withdraw { service_id: String },
}

/// The kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Add,
    Edit,
    Withdraw,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Add => "add",
            ChangeKind::Edit => "edit",
            ChangeKind::Withdraw => "withdraw",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "add" => Some(ChangeKind::Add),
            "edit" => Some(ChangeKind::Edit),
            "withdraw" => Some(ChangeKind::Withdraw),
            _ => None,
        }
    }
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// Someone signed in to the organisation's account.
    Account,
    /// The organisation's own system, through one of its API tokens.
    Api,
    /// The organisation's calendar feed.
    CalendarFeed,
}

impl ChangeOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOrigin::Account => "account",
            ChangeOrigin::Api => "api",
            ChangeOrigin::CalendarFeed => "feed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "account" => Some(ChangeOrigin::Account),
            "api" => Some(ChangeOrigin::Api),
            "feed" => Some(ChangeOrigin::CalendarFeed),
            _ => None,
        }
    }
}

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStatus {
    /// In the queue for staff.
    Waiting,
    /// Written to the directory.
    Approved,
    /// Refused, with a reason for the organisation.
    Rejected,
    /// Replaced by a newer proposal for the same service before a decision.
    Superseded,
}

impl ChangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Waiting => "waiting",
            ChangeStatus::Approved => "approved",
            ChangeStatus::Rejected => "rejected",
            ChangeStatus::Superseded => "superseded",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "waiting" => Some(ChangeStatus::Waiting),
            "approved" => Some(ChangeStatus::Approved),
            "rejected" => Some(ChangeStatus::Rejected),
            "superseded" => Some(ChangeStatus::Superseded),
            _ => None,
        }
    }
}

impl fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A proposed change, as staff see it in the queue and the organisation in
/// its list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The change's number.
    pub id: i64,
    pub organization_id: String,
    pub organization_name: String,
    pub service_id: String,
    /// The service's name as proposed (or, for a withdrawal, as listed).
    pub service_name: String,
    pub kind: ChangeKind,
    /// Who sent it: a person, an API token or the calendar feed.
    pub origin: ChangeOrigin,
    pub status: ChangeStatus,
    /// Seconds since 1970 UTC.
    pub submitted_at: i64,
    /// Seconds since 1970 UTC; when it was approved, rejected or superseded.
    pub decided_at: Option<i64>,
    /// Why staff rejected it.
    pub reason: Option<String>,
}

/// A proposed listing after the importer's checks: its one service.
#[derive(Debug)]
struct Checked {
    batch: Batch,
}

impl Checked {
    fn service_id(&self) -> &str {
        &self.batch.services[0].id
    }

    fn service_name(&self) -> &str {
        &self.batch.services[0].name
    }
}

/// Reads a proposed listing with the HSDS importer, for `organization_id`.
/// Any problem the importer finds, or any record it would skip, refuses the
/// whole listing with the importer's words; so does anything but exactly
/// one service of that organisation.
fn check_listing(value: &Value, organization_id: &str) -> Result<Checked, ModerationError> {
    let options = ImportOptions {
        source: PORTAL_SOURCE.to_owned(),
        ..ImportOptions::default()
    };
    let parsed = hsds::parse(value, &options)
        .map_err(|problem| ModerationError::InvalidListing(vec![problem]))?;
    let mut problems = parsed.problems;
    problems.extend(parsed.batch.skipped.iter().map(|skipped| Problem {
        location: "listing".to_owned(),
        record: Some(skipped.record.clone()),
        message: skipped.reason.clone(),
    }));
    if !problems.is_empty() {
        return Err(ModerationError::InvalidListing(problems));
    }
    let batch = parsed.batch;
    if batch.services.len() != 1 {
        return Err(ModerationError::Invalid(format!(
            "a listing is one service, and this has {}: send each service on its own",
            batch.services.len()
        )));
    }
    let foreign = batch.services[0].organization_id != organization_id
        || batch.organizations.iter().any(|o| o.id != organization_id);
    if foreign {
        return Err(ModerationError::NotAllowed(
            "an organisation can list services only under its own organisation".to_owned(),
        ));
    }
    Ok(Checked { batch })
}

/// Who proposes a change, or asks for an organisation's changes.
#[derive(Debug, Clone, Copy)]
pub enum Submitter<'a> {
    /// Someone signed in; only an organisation's own, current account may
    /// propose.
    Account(&'a Account),
    /// An organisation's own system, through a live API token.
    Api(&'a ApiClient),
}

impl<'a> From<&'a Account> for Submitter<'a> {
    fn from(account: &'a Account) -> Self {
        Submitter::Account(account)
    }
}

impl<'a> From<&'a ApiClient> for Submitter<'a> {
    fn from(client: &'a ApiClient) -> Self {
        Submitter::Api(client)
    }
}

impl<'a> Submitter<'a> {
    /// The organisation it speaks for, if it may propose listings.
    fn organisation(self) -> Result<&'a str, ModerationError> {
        match self {
            Submitter::Account(account) => organisation_of(account),
            Submitter::Api(client) => Ok(client.organization_id()),
        }
    }

    /// The account to record, if a person is behind it.
    fn account_id(self) -> Option<&'a str> {
        match self {
            Submitter::Account(account) => Some(&account.id),
            Submitter::Api(_) => None,
        }
    }

    /// The API token to name in the audit record, if it came through one.
    fn token_name(self) -> Option<&'a str> {
        match self {
            Submitter::Account(_) => None,
            Submitter::Api(client) => Some(client.token_name()),
        }
    }
}

/// A stored proposal (HSDS JSON text) read as the directory would hold it
/// once approved: through the same checks as approval, for
/// `organization_id`. `None` if it is not JSON or the checks refuse it.
pub fn read_listing(proposal: &str, organization_id: &str) -> Option<Batch> {
    let value: Value = serde_json::from_str(proposal).ok()?;
    check_listing(&value, organization_id)
        .ok()
        .map(|checked| checked.batch)
}

/// The organisation an account speaks for, if it may propose listings.
fn organisation_of(account: &Account) -> Result<&str, ModerationError> {
    match &account.role {
        Role::Organisation { organization_id } if !account.disabled => Ok(organization_id),
        _ => Err(ModerationError::NotAllowed(
            "only an organisation's own account can propose its listings".to_owned(),
        )),
    }
}

/// Refuses anyone but current staff.
fn staff_only(account: &Account, what: &str) -> Result<(), ModerationError> {
    if account.role == Role::Staff && !account.disabled {
        Ok(())
    } else {
        Err(ModerationError::NotAllowed(format!(
            "only staff can {what}"
        )))
    }
}

/// A rejection's reason: trimmed, 1 to 500 characters.
fn reason(text: &str) -> Result<String, ModerationError> {
    let reason = text.trim();
    let length = reason.chars().count();
    if length == 0 || length > MAX_REASON_CHARS {
        return Err(ModerationError::Invalid(format!(
            "give the organisation a reason of 1 to {MAX_REASON_CHARS} characters, \
             such as \"please add the address of the hall\""
        )));
    }
    Ok(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_are_trimmed_and_must_be_one_to_five_hundred_characters() {
        assert_eq!(reason("  add the time  ").unwrap(), "add the time");
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(500)).is_ok());
        let long = reason(&"x".repeat(501)).unwrap_err().to_string();
        assert!(long.contains("1 to 500 characters"), "{long}");
    }

    #[test]
    fn a_listing_of_another_organisation_is_not_allowed() {
        let listing = json!({
            "id": "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01",
            "name": "Walk and talk",
            "status": "active",
            "organization_id": "someone-else",
        });
        let error = check_listing(&listing, "ours").unwrap_err();
        assert!(matches!(error, ModerationError::NotAllowed(_)), "{error}");
    }

    #[test]
    fn two_services_are_not_one_listing() {
        let listing = json!([
            {"id": "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", "name": "One", "status": "active",
             "organization_id": "ours"},
            {"id": "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e02", "name": "Two", "status": "active",
             "organization_id": "ours"},
        ]);
        let error = check_listing(&listing, "ours").unwrap_err().to_string();
        assert!(error.contains("one service, and this has 2"), "{error}");
    }

    #[test]
    fn only_current_staff_decide() {
        let organisation = Account {
            id: "a".to_owned(),
            email: crate::accounts::Email::parse("org@example.org").unwrap(),
            role: Role::Organisation {
                organization_id: "ours".to_owned(),
            },
            has_password: true,
            disabled: false,
        };
        assert!(staff_only(&organisation, "approve listings").is_err());
        assert_eq!(organisation_of(&organisation).unwrap(), "ours");
        let staff = Account {
            role: Role::Staff,
            ..organisation.clone()
        };
        assert!(staff_only(&staff, "approve listings").is_ok());
        assert!(organisation_of(&staff).is_err());
        let disabled = Account {
            disabled: true,
            ..staff
        };
        assert!(staff_only(&disabled, "approve listings").is_err());
    }
}
