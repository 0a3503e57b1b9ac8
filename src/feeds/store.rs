//! The calendar feeds in the database, and refreshing them.
//!
//! Invariant: as for the other stores, each operation's SQL is written once,
//! in `backend.rs`, and compiled for both backends. Proposals go through
//! [`Moderation`], never straight to the directory. `cargo fmt` does not
//! reach an included file: run `rustfmt --edition 2024 src/feeds/backend.rs`.

use std::collections::HashSet;

use chrono::NaiveDate;

use super::fetch::{FetchLimits, Fetcher};
use super::{
    Feed, FeedUrl, FeedsError, Queued, Refreshed, describe, organisation_of, read_calendar,
};
use crate::accounts::Account;
use crate::database::{Database, dispatch};
use crate::directory::import::Problem;
use crate::moderation::{Moderation, ModerationError, Proposal};

/// The feeds' SQL for SQLite.
mod sqlite {
    type Db = sqlx::Sqlite;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
mod postgres {
    type Db = sqlx::Postgres;
    include!("backend.rs");
}

/// The most problems with single events an outcome lists.
const PROBLEMS_LISTED: usize = 5;

/// Organisations' calendar feeds, in the shared database.
#[derive(Debug, Clone)]
pub struct Feeds {
    database: Database,
    moderation: Moderation,
    fetcher: Fetcher,
}

impl Feeds {
    /// Feeds fetched within the default [`FetchLimits`] (20 seconds, 2 MiB,
    /// 3 redirects, public addresses only).
    pub fn new(database: Database) -> Self {
        Feeds::with_limits(database, FetchLimits::default())
    }

    pub fn with_limits(database: Database, limits: FetchLimits) -> Self {
        Feeds {
            moderation: Moderation::new(database.clone()),
            database,
            fetcher: Fetcher::new(limits),
        }
    }

    /// Gives the organisation's feed an address, replacing any it had, or
    /// (`None`) takes the feed away; recorded in the audit log. Only the
    /// organisation's own account may. Returns the feed as it now is.
    ///
    /// Taking a feed away leaves its events in the directory as they are;
    /// the organisation withdraws them itself if it wants them gone.
    pub async fn set_feed(
        &self,
        by: &Account,
        url: Option<&str>,
        now: i64,
    ) -> Result<Option<Feed>, FeedsError> {
        let organization_id = organisation_of(by)?;
        let url = url.map(FeedUrl::parse).transpose()?;
        if let Some(url) = &url
            && !self.fetcher.allows(url)
        {
            return Err(FeedsError::InvalidUrl(format!(
                "{url} is on a private or local network, which Signpost does not fetch \
                 from: give the calendar's public address"
            )));
        }
        let text = url.as_ref().map(FeedUrl::as_str);
        dispatch!(self, set_feed(organization_id, text, &by.id, now))?;
        dispatch!(self, feed(organization_id))
    }

    /// The organisation's feed and how its last fetch went, if it has one.
    pub async fn feed_for(&self, by: &Account) -> Result<Option<Feed>, FeedsError> {
        let organization_id = organisation_of(by)?;
        dispatch!(self, feed(organization_id))
    }

    /// Fetches the organisation's own feed now, as [`Feeds::refresh`] does
    /// for every feed; `None` if it has none.
    pub async fn refresh_feed_of(
        &self,
        by: &Account,
        today: NaiveDate,
        now: i64,
    ) -> Result<Option<Refreshed>, FeedsError> {
        let organization_id = organisation_of(by)?;
        let feeds = dispatch!(self, feeds())?;
        let Some((_, name, url)) = feeds.into_iter().find(|(id, ..)| id == organization_id) else {
            return Ok(None);
        };
        Ok(Some(
            self.refresh_one(organization_id, &name, &url, today, now)
                .await?,
        ))
    }

    /// Fetches every feed, one after another, and puts each new or changed
    /// event into the moderation queue, and each event gone from a feed up
    /// for withdrawal. A feed that cannot be fetched or read changes
    /// nothing but its outcome. Logs the totals.
    pub async fn refresh(&self, today: NaiveDate, now: i64) -> Result<Vec<Refreshed>, FeedsError> {
        let feeds = dispatch!(self, feeds())?;
        let mut refreshed = Vec::with_capacity(feeds.len());
        for (organization_id, name, url) in &feeds {
            // One feed's failure (the database, say) does not stop the rest.
            let one = match self
                .refresh_one(organization_id, name, url, today, now)
                .await
            {
                Ok(one) => one,
                Err(err) => {
                    tracing::error!(error = %err, "a calendar feed could not be refreshed");
                    Refreshed {
                        organization_id: organization_id.clone(),
                        organization_name: name.clone(),
                        url: url.clone(),
                        succeeded: false,
                        outcome: "Signpost could not finish reading the calendar, because of a \
                                  fault on its side. It will try again at the next fetch."
                            .to_owned(),
                        events: 0,
                        not_current: 0,
                        queued: Queued::default(),
                    }
                }
            };
            refreshed.push(one);
        }
        let total = |count: fn(&Refreshed) -> usize| refreshed.iter().map(count).sum::<usize>();
        tracing::info!(
            feeds = refreshed.len(),
            failed = refreshed.iter().filter(|r| !r.succeeded).count(),
            events = total(|r| r.events),
            added = total(|r| r.queued.added),
            changed = total(|r| r.queued.changed),
            withdrawn = total(|r| r.queued.withdrawn),
            refused = total(|r| r.queued.refused),
            "calendar feeds refreshed"
        );
        Ok(refreshed)
    }

    async fn refresh_one(
        &self,
        organization_id: &str,
        organization_name: &str,
        url: &str,
        today: NaiveDate,
        now: i64,
    ) -> Result<Refreshed, FeedsError> {
        let mut refreshed = Refreshed {
            organization_id: organization_id.to_owned(),
            organization_name: organization_name.to_owned(),
            url: url.to_owned(),
            succeeded: false,
            outcome: String::new(),
            events: 0,
            not_current: 0,
            queued: Queued::default(),
        };
        let text = match FeedUrl::parse(url) {
            Ok(feed_url) => self.fetcher.get(&feed_url).await,
            Err(err) => Err(err.to_string()),
        };
        let events = match text {
            // Reading and expanding up to 2 MiB of calendar is CPU work:
            // kept off the threads that answer people.
            Ok(text) => {
                let organization_id = organization_id.to_owned();
                tokio::task::spawn_blocking(move || read_calendar(&text, &organization_id, today))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Problem {
                            location: "line 1".to_owned(),
                            record: None,
                            message: "reading it stopped unexpectedly".to_owned(),
                        })
                    })
                    .map_err(|problem| format!("the calendar could not be read: {problem}"))
            }
            Err(message) => Err(message),
        };
        let events = match events {
            Ok(events) => events,
            Err(message) => {
                refreshed.outcome = format!(
                    "Could not use the calendar: {message}. Nothing was changed; Signpost \
                     will try again at the next fetch."
                );
                dispatch!(
                    self,
                    record_fetch(organization_id, url, now, false, &refreshed.outcome, None)
                )?;
                return Ok(refreshed);
            }
        };

        let known = dispatch!(self, fingerprints(organization_id))?;
        let mut notes: Vec<String> = Vec::new();
        let mut unchanged = 0;
        let queued = &mut refreshed.queued;
        for event in &events.listings {
            if !event.current {
                refreshed.not_current += 1;
                continue;
            }
            if known.get(&event.service_id) == Some(&event.fingerprint) {
                unchanged += 1;
                continue;
            }
            let listed = dispatch!(self, service_state(&event.service_id))?.is_some();
            let proposal = if listed {
                Proposal::Edit(event.listing.clone())
            } else {
                Proposal::Add(event.listing.clone())
            };
            match refused(
                self.moderation
                    .submit_from_feed(organization_id, &proposal, now)
                    .await,
            )? {
                None => {
                    dispatch!(
                        self,
                        remember(organization_id, &event.service_id, &event.fingerprint, now)
                    )?;
                    if listed {
                        queued.changed += 1;
                    } else {
                        queued.added += 1;
                    }
                }
                Some(reason) => {
                    queued.refused += 1;
                    let name = event.listing["name"].as_str().unwrap_or("an event");
                    notes.push(format!("\"{name}\" was not sent to staff: {reason}."));
                }
            }
        }

        let present: HashSet<&str> = events
            .listings
            .iter()
            .map(|event| event.service_id.as_str())
            .collect();
        let mut gone: Vec<&String> = known
            .keys()
            .filter(|id| !present.contains(id.as_str()))
            .collect();
        gone.sort();
        if !events.problems.is_empty() {
            let listed: Vec<String> = events
                .problems
                .iter()
                .take(PROBLEMS_LISTED)
                .map(ToString::to_string)
                .collect();
            let more = events.problems.len().saturating_sub(PROBLEMS_LISTED);
            let count = match events.problems.len() {
                1 => "1 event".to_owned(),
                n => format!("{n} events"),
            };
            let mut note = format!(
                "{count} could not be read, so they were left out and nothing was \
                 taken down this time: {}",
                listed.join("; ")
            );
            if more > 0 {
                note.push_str(&format!("; and {more} more"));
            }
            note.push('.');
            notes.push(note);
        } else {
            for service_id in gone {
                match dispatch!(self, service_state(service_id))? {
                    Some((_, status)) if status == "active" => {
                        let proposal = Proposal::Withdraw {
                            service_id: service_id.clone(),
                        };
                        let submitted = self
                            .moderation
                            .submit_from_feed(organization_id, &proposal, now)
                            .await;
                        if let Some(reason) = refused(submitted)? {
                            queued.refused += 1;
                            notes.push(format!(
                                "An event gone from the calendar could not be taken down: \
                                 {reason}."
                            ));
                            continue;
                        }
                        queued.withdrawn += 1;
                    }
                    // Already taken down.
                    Some(_) => {}
                    None => {
                        let taken_back = self
                            .moderation
                            .withdraw_waiting_from_feed(organization_id, service_id, now)
                            .await?;
                        if !taken_back.is_empty() {
                            queued.withdrawn += 1;
                        }
                    }
                }
                dispatch!(self, forget(organization_id, service_id))?;
            }
        }

        refreshed.succeeded = true;
        refreshed.events = events.listings.len();
        refreshed.outcome = describe(
            refreshed.events,
            &refreshed.queued,
            unchanged,
            refreshed.not_current,
            &notes,
        );
        let count = i64::try_from(refreshed.events).unwrap_or(i64::MAX);
        dispatch!(
            self,
            record_fetch(
                organization_id,
                url,
                now,
                true,
                &refreshed.outcome,
                Some(count)
            )
        )?;
        Ok(refreshed)
    }
}

/// A submission's result: `Ok(None)` when it went into the queue,
/// `Ok(Some(reason))` when the queue refused it (said to the organisation),
/// `Err` when the database failed.
fn refused(submitted: Result<i64, ModerationError>) -> Result<Option<String>, FeedsError> {
    match submitted {
        Ok(_) => Ok(None),
        Err(ModerationError::Database(err)) => Err(FeedsError::Database(err)),
        Err(err @ ModerationError::Directory(_)) => Err(FeedsError::Moderation(err)),
        Err(err) => Ok(Some(err.to_string())),
    }
}
