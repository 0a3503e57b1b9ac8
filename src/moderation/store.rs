//! The moderation queue in the database, and what staff and organisations
//! can do with it.
//!
//! Invariant: as for the directory, each operation's SQL is written once,
//! in `backend.rs`, and compiled for both backends; approval calls the
//! directory's own SQL for the same backend inside its transaction, so the
//! listing, the change's status and the audit event are written together or
//! not at all. `cargo fmt` does not reach an included file: run `rustfmt
//! --edition 2024 src/moderation/backend.rs`.

use chrono::NaiveDate;

use super::{
    Change, ChangeKind, ChangeOrigin, ModerationError, Proposal, Submitter, check_listing, reason,
    staff_only,
};
use crate::accounts::Account;
use crate::database::{Database, dispatch};

/// The queue's SQL for SQLite.
mod sqlite {
    type Db = sqlx::Sqlite;
    use crate::directory::store::sqlite as directory_sql;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
mod postgres {
    type Db = sqlx::Postgres;
    use crate::directory::store::postgres as directory_sql;
    include!("backend.rs");
}

/// The moderation queue, in the shared database.
#[derive(Debug, Clone)]
pub struct Moderation {
    database: Database,
}

/// A change as the store writes it.
struct NewChange<'a> {
    organization_id: &'a str,
    service_id: &'a str,
    service_name: &'a str,
    kind: ChangeKind,
    proposal: Option<String>,
    /// Who proposed it.
    by: Proposer<'a>,
}

/// Who puts a proposal in the queue: always on behalf of one organisation.
#[derive(Debug, Clone, Copy)]
enum Proposer<'a> {
    /// The organisation's own account, or its system through an API token.
    Submitter(Submitter<'a>),
    /// The organisation's calendar feed, which its own account set (see
    /// [`crate::feeds`]); recorded with no account, as "calendar feed".
    CalendarFeed,
}

impl<'a> Proposer<'a> {
    /// Where the change comes from, as stored.
    fn origin(self) -> ChangeOrigin {
        match self {
            Proposer::Submitter(Submitter::Account(_)) => ChangeOrigin::Account,
            Proposer::Submitter(Submitter::Api(_)) => ChangeOrigin::Api,
            Proposer::CalendarFeed => ChangeOrigin::CalendarFeed,
        }
    }

    /// The account to record, if a person is behind it.
    fn account_id(self) -> Option<&'a str> {
        match self {
            Proposer::Submitter(by) => by.account_id(),
            Proposer::CalendarFeed => None,
        }
    }

    /// The API token to name in the audit record, if it came through one.
    fn token_name(self) -> Option<&'a str> {
        match self {
            Proposer::Submitter(by) => by.token_name(),
            Proposer::CalendarFeed => None,
        }
    }
}

impl Moderation {
    pub fn new(database: Database) -> Self {
        Moderation { database }
    }

    /// Puts an organisation's proposal in the queue, superseding any change
    /// to the same service still waiting; returns the change's number.
    ///
    /// A listing (add or edit) is checked by the HSDS importer now, so an
    /// invalid one is refused at once with the importer's messages, and
    /// nothing is stored. `by` is an organisation's [`Account`] or an
    /// [`ApiClient`](crate::accounts::ApiClient).
    pub async fn submit<'a>(
        &self,
        by: impl Into<Submitter<'a>>,
        proposal: &Proposal,
        now: i64,
    ) -> Result<i64, ModerationError> {
        let by = by.into();
        let organization_id = by.organisation()?;
        self.submit_for(organization_id, Proposer::Submitter(by), proposal, now)
            .await
    }

    /// Puts a proposal from an organisation's calendar feed in the queue,
    /// exactly as [`Moderation::submit`] would from its account (the same
    /// checks; only its own services), recorded as from the calendar feed.
    /// Only [`crate::feeds`] calls this, for the organisation whose own
    /// account set the feed.
    pub(crate) async fn submit_from_feed(
        &self,
        organization_id: &str,
        proposal: &Proposal,
        now: i64,
    ) -> Result<i64, ModerationError> {
        self.submit_for(organization_id, Proposer::CalendarFeed, proposal, now)
            .await
    }

    /// Takes back the waiting changes an organisation's calendar feed
    /// proposed for a service that is not in the directory, because the
    /// event has left the feed: they become `superseded`, so staff cannot
    /// publish an event that no longer exists. Returns their numbers.
    pub(crate) async fn withdraw_waiting_from_feed(
        &self,
        organization_id: &str,
        service_id: &str,
        now: i64,
    ) -> Result<Vec<i64>, ModerationError> {
        if dispatch!(self, service_owner(service_id))?.is_some() {
            return Err(ModerationError::Invalid(format!(
                "the service {service_id} is in the directory: propose its withdrawal instead"
            )));
        }
        dispatch!(self, withdraw_waiting(organization_id, service_id, now))
    }

    async fn submit_for(
        &self,
        organization_id: &str,
        by: Proposer<'_>,
        proposal: &Proposal,
        now: i64,
    ) -> Result<i64, ModerationError> {
        let (checked, kind, service_id) = match proposal {
            Proposal::Add(value) => {
                let checked = check_listing(value, organization_id)?;
                let id = checked.service_id().to_owned();
                (Some(checked), ChangeKind::Add, id)
            }
            Proposal::Edit(value) => {
                let checked = check_listing(value, organization_id)?;
                let id = checked.service_id().to_owned();
                (Some(checked), ChangeKind::Edit, id)
            }
            Proposal::Withdraw { service_id } => (None, ChangeKind::Withdraw, service_id.clone()),
        };
        let listed = dispatch!(self, service_owner(&service_id))?;
        let service_name = match (kind, listed) {
            (ChangeKind::Add, None) => checked
                .as_ref()
                .map(|c| c.service_name().to_owned())
                .unwrap_or_default(),
            (ChangeKind::Add, Some(_)) => {
                return Err(ModerationError::Invalid(format!(
                    "there is already a service with id {service_id}: \
                     propose a change to it, or give the new service a new id"
                )));
            }
            (_, None) => return Err(ModerationError::UnknownService { id: service_id }),
            (_, Some((owner, _))) if owner != organization_id => {
                return Err(ModerationError::NotAllowed(format!(
                    "the service {service_id} belongs to another organisation"
                )));
            }
            (ChangeKind::Edit, Some(_)) => checked
                .as_ref()
                .map(|c| c.service_name().to_owned())
                .unwrap_or_default(),
            (_, Some((_, name))) => name,
        };
        if let Some(checked) = &checked {
            for link in &checked.batch.service_at_locations {
                let taken = dispatch!(self, place_owner(&link.id))?
                    .is_some_and(|owner| owner != service_id);
                if taken {
                    return Err(ModerationError::NotAllowed(format!(
                        "the place {} belongs to another service: give it a new id",
                        link.id
                    )));
                }
            }
        }
        let proposal = match proposal {
            Proposal::Add(value) | Proposal::Edit(value) => Some(value.to_string()),
            Proposal::Withdraw { .. } => None,
        };
        let change = NewChange {
            organization_id,
            service_id: &service_id,
            service_name: &service_name,
            kind,
            proposal,
            by,
        };
        dispatch!(self, submit(&change, now))
    }

    /// The changes waiting for staff, oldest first.
    pub async fn queue(&self, by: &Account) -> Result<Vec<Change>, ModerationError> {
        staff_only(by, "see the moderation queue")?;
        dispatch!(self, queue())
    }

    /// One change for staff to decide, with its proposed listing (HSDS
    /// JSON text; none for a withdrawal); `None` if there is no such change.
    pub async fn change(
        &self,
        by: &Account,
        change_id: i64,
    ) -> Result<Option<(Change, Option<String>)>, ModerationError> {
        staff_only(by, "see the moderation queue")?;
        Ok(dispatch!(self, change(change_id))?)
    }

    /// An organisation's own changes, newest first, with their status and
    /// any reason for a rejection.
    pub async fn changes_for<'a>(
        &self,
        by: impl Into<Submitter<'a>>,
    ) -> Result<Vec<Change>, ModerationError> {
        let organization_id = by.into().organisation()?;
        dispatch!(self, changes_for(organization_id))
    }

    /// Approves a waiting change: writes it to the directory, published
    /// (see [`crate::directory`]'s `publish_listing` for how), or withdraws
    /// the service (its HSDS status becomes `inactive`).
    pub async fn approve(
        &self,
        by: &Account,
        change_id: i64,
        today: NaiveDate,
        now: i64,
    ) -> Result<(), ModerationError> {
        staff_only(by, "approve listings")?;
        let (change, proposal) = dispatch!(self, change(change_id))?
            .ok_or(ModerationError::UnknownChange { id: change_id })?;
        if change.status != super::ChangeStatus::Waiting {
            return Err(ModerationError::AlreadyDecided {
                id: change_id,
                status: change.status,
            });
        }
        // Checked when it was proposed; checked again, as the importer may
        // have become stricter since.
        let batch = match proposal {
            Some(text) => {
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
                    ModerationError::Invalid(format!("the stored listing is not JSON: {err}"))
                })?;
                Some(check_listing(&value, &change.organization_id)?.batch)
            }
            None => None,
        };
        dispatch!(self, approve(&change, batch.as_ref(), &by.id, today, now))
    }

    /// Rejects a waiting change with a reason the organisation will see.
    pub async fn reject(
        &self,
        by: &Account,
        change_id: i64,
        reason_given: &str,
        now: i64,
    ) -> Result<(), ModerationError> {
        staff_only(by, "reject listings")?;
        let reason = reason(reason_given)?;
        dispatch!(self, reject(change_id, &reason, &by.id, now))
    }
}
