//! Organisations' calendar feeds: an iCalendar web address an organisation
//! gives once, fetched on a schedule, whose events go into the moderation
//! queue.
//!
//! ```text
//! organisation ─set_feed(url)─▶ calendar_feed (+ audit)
//! refresh (signpost serve every feeds.refresh_minutes; signpost feeds refresh)
//!   ─▶ fetch.rs: GET, http(s) only, timeout, size cap, few redirects
//!   ─▶ directory import::ics::parse + check_schedules (for the organisation)
//!   ─▶ one HSDS listing per event series, fingerprinted
//!   ─▶ new or changed: Moderation::submit_from_feed(Add | Edit)
//!      gone from the feed: Withdraw (or take back a waiting Add), once
//!   ─▶ calendar_feed_event (fingerprints) and the outcome, for the organisation
//! ```
//!
//! Invariants:
//! - A feed changes nothing people see: every event goes through the
//!   moderation queue, and staff approve each one before the bot shows it.
//! - Only an organisation's own account sets or reads its feed, and a feed
//!   proposes only for that organisation.
//! - An unchanged event is not queued again: each event's HSDS listing is
//!   fingerprinted, and only a listing whose fingerprint differs from the
//!   one last proposed is queued. An event that leaves the feed is proposed
//!   for withdrawal once. A staff rejection therefore stands until the
//!   organisation changes the event.
//! - Only events that happen between today and twelve weeks ahead (the
//!   directory's horizon) are queued; others in the feed are left for now,
//!   neither queued nor withdrawn, so a calendar's past events do not fill
//!   the queue and an event that has ended is not proposed for withdrawal.
//! - A fetch that fails, or a calendar that cannot be read, changes nothing
//!   but the outcome the organisation reads. When some events cannot be
//!   read, the rest are queued but nothing is withdrawn, since an event
//!   that cannot be read has not left the feed.
//! - The clock is passed in (`now`, seconds since 1970 UTC; `today`, the UK
//!   local date). Logs carry counts and outcomes, never listings.

mod fetch;
mod store;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::NaiveDate;
use serde_json::Value;

use crate::accounts::{Account, Role};
use crate::directory::export::hsds_services;
use crate::directory::import::{self, ImportOptions, Problem, ics};
use crate::directory::model::Batch;
use crate::directory::{Horizon, MAX_OCCURRENCES_PER_SCHEDULE};
use crate::moderation::ModerationError;

pub use fetch::FetchLimits;
pub use store::Feeds;

/// How often `signpost serve` fetches every feed, in minutes, unless
/// `feeds.refresh_minutes` says otherwise.
pub const DEFAULT_REFRESH_MINUTES: u64 = 360;

/// The longest feed address accepted, in characters.
pub const MAX_URL_CHARS: usize = 2000;

/// Why a feed operation was not done, by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum FeedsError {
    /// The account may not do this: show the message, change nothing.
    #[error("{0}")]
    NotAllowed(String),
    /// The address given is not one a feed can have: show the message
    /// beside the field.
    #[error("{0}")]
    InvalidUrl(String),
    #[error(transparent)]
    Moderation(#[from] ModerationError),
    #[error("cannot reach the calendar feeds in the database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A feed's web address: http or https, with a real host, no user name or
/// password, at most [`MAX_URL_CHARS`] long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedUrl(url::Url);

impl FeedUrl {
    /// Reads an address as a person types it. A `webcal://` address (what
    /// calendar apps offer for subscribing) is the same calendar over
    /// `https://`, so it becomes that.
    pub fn parse(text: &str) -> Result<FeedUrl, FeedsError> {
        let text = text.trim();
        let not_web = || {
            FeedsError::InvalidUrl(format!(
                "\"{}\" is not a web address: give one starting https://",
                crate::directory::shorten(text, 80)
            ))
        };
        if text.is_empty() {
            return Err(FeedsError::InvalidUrl(
                "the calendar's address is empty: give one starting https://, as your \
                 calendar's sharing settings show it"
                    .to_owned(),
            ));
        }
        if text.chars().count() > MAX_URL_CHARS {
            return Err(FeedsError::InvalidUrl(format!(
                "the address is longer than {MAX_URL_CHARS} characters: give the calendar's \
                 own address, starting https://"
            )));
        }
        let mut url = url::Url::parse(text).map_err(|_| not_web())?;
        if matches!(url.scheme(), "webcal" | "webcals") {
            let rest = &text[url.scheme().len()..];
            url = url::Url::parse(&format!("https{rest}")).map_err(|_| not_web())?;
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(not_web());
        }
        match url.host() {
            Some(url::Host::Domain(domain))
                if domain.contains('.') && !domain.ends_with('.') && !domain.starts_with('.') => {}
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
            _ => {
                return Err(FeedsError::InvalidUrl(format!(
                    "\"{}\" has no real host name: give the whole address, such as \
                     https://calendar.example.org/events.ics",
                    crate::directory::shorten(text, 80)
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FeedsError::InvalidUrl(
                "leave the user name and password out of the address: the calendar must be \
                 one anyone with the link can open"
                    .to_owned(),
            ));
        }
        url.set_fragment(None);
        Ok(FeedUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub(crate) fn url(&self) -> &url::Url {
        &self.0
    }
}

impl std::fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An organisation's feed, as its profile page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub organization_id: String,
    pub url: String,
    /// When the address was given, seconds since 1970 UTC.
    pub set_at: i64,
    /// The last fetch; `None` until the first.
    pub last_fetch: Option<LastFetch>,
}

/// What happened the last time a feed was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastFetch {
    /// Seconds since 1970 UTC.
    pub at: i64,
    /// The calendar was fetched and read (some events may still have had
    /// problems; the outcome says).
    pub succeeded: bool,
    /// What happened, in words for the organisation.
    pub outcome: String,
    /// How many events the calendar held when it was last read.
    pub events: Option<i64>,
}

/// One feed's refresh, for the command line and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub organization_id: String,
    pub organization_name: String,
    pub url: String,
    pub succeeded: bool,
    /// What happened, in words for the organisation (also stored).
    pub outcome: String,
    /// Events read from the calendar.
    pub events: usize,
    /// Of those, events that are over or more than twelve weeks ahead, left
    /// for now: neither queued nor withdrawn.
    pub not_current: usize,
    /// What went into the moderation queue.
    pub queued: Queued,
}

/// Counts of what one refresh put in the moderation queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    /// New events, proposed as new listings.
    pub added: usize,
    /// Changed events, proposed as changes to their listings.
    pub changed: usize,
    /// Events gone from the feed, proposed for withdrawal (or whose waiting
    /// proposal was taken back).
    pub withdrawn: usize,
    /// Events the queue refused, each named in the outcome.
    pub refused: usize,
}

/// The organisation an account speaks for, if it may manage a feed.
fn organisation_of(account: &Account) -> Result<&str, FeedsError> {
    match &account.role {
        Role::Organisation { organization_id } if !account.disabled => Ok(organization_id),
        _ => Err(FeedsError::NotAllowed(
            "only an organisation's own account can manage its calendar feed".to_owned(),
        )),
    }
}

/// The source name a feed's records are read under: it makes each event's
/// ids, so it depends on the organisation alone, never on the address.
fn feed_source(organization_id: &str) -> String {
    format!("calendar-feed:{organization_id}")
}

/// One event series of a feed, as the listing to propose.
#[derive(Debug, Clone)]
struct EventListing {
    service_id: String,
    /// One service, as HSDS 3.0 JSON with `organization_id`.
    listing: Value,
    /// SHA-256 of `listing`, in hex.
    fingerprint: String,
    /// It happens between today and the directory's horizon (twelve weeks
    /// ahead). Only such events are queued: a calendar keeps its past
    /// events, and staff need not check what the bot would never show.
    current: bool,
}

/// A calendar read for an organisation.
#[derive(Debug, Default)]
struct CalendarEvents {
    listings: Vec<EventListing>,
    /// Events left out for a problem (not because they are cancelled).
    problems: Vec<Problem>,
}

/// Reads a fetched calendar for `organization_id` with the directory's
/// iCalendar importer and checks each schedule can be expanded. `Err` (the
/// importer's words) when the text is not a whole iCalendar file.
fn read_calendar(
    text: &str,
    organization_id: &str,
    today: NaiveDate,
) -> Result<CalendarEvents, Problem> {
    let options = ImportOptions {
        source: feed_source(organization_id),
        ..ImportOptions::default()
    };
    let parsed = import::check_schedules(ics::parse(text, &options)?, today);
    let mut batch = parsed.batch;
    // The calendar's own organisation record gives way to the real one,
    // which the listing names but never changes.
    batch.organizations.clear();
    for service in &mut batch.services {
        service.organization_id = organization_id.to_owned();
    }
    for location in &mut batch.locations {
        location.organization_id = Some(organization_id.to_owned());
    }
    let horizon = Horizon::from_today(today);
    let listings = batch
        .services
        .iter()
        .map(|service| {
            let listing = one_service(&batch, &service.id);
            let current = service.schedules.iter().any(|schedule| {
                schedule.recurrence.as_ref().is_some_and(|recurrence| {
                    recurrence
                        .occurrences(today, horizon.last, MAX_OCCURRENCES_PER_SCHEDULE)
                        .is_ok_and(|occurrences| !occurrences.is_empty())
                })
            });
            EventListing {
                service_id: service.id.clone(),
                fingerprint: fingerprint(&listing),
                listing,
                current,
            }
        })
        .collect();
    Ok(CalendarEvents {
        listings,
        problems: parsed.problems,
    })
}

/// One service of the batch, with its places, as HSDS JSON.
fn one_service(batch: &Batch, service_id: &str) -> Value {
    let links: Vec<_> = batch
        .service_at_locations
        .iter()
        .filter(|link| link.service_id == service_id)
        .cloned()
        .collect();
    let places: BTreeSet<&str> = links.iter().map(|l| l.location_id.as_str()).collect();
    let single = Batch {
        source: batch.source.clone(),
        services: batch
            .services
            .iter()
            .filter(|s| s.id == service_id)
            .cloned()
            .collect(),
        locations: batch
            .locations
            .iter()
            .filter(|l| places.contains(l.id.as_str()))
            .cloned()
            .collect(),
        service_at_locations: links,
        ..Batch::default()
    };
    match hsds_services(&single) {
        Value::Array(mut services) if services.len() == 1 => services.remove(0),
        other => other,
    }
}

/// SHA-256 of a listing's JSON text, in hex.
fn fingerprint(listing: &Value) -> String {
    crate::accounts::digest_of(&listing.to_string())
}

/// The outcome of a calendar that was read, in words for the organisation.
fn describe(
    events: usize,
    queued: &Queued,
    unchanged: usize,
    not_current: usize,
    notes: &[String],
) -> String {
    let mut text = match events {
        1 => "Read 1 event".to_owned(),
        n => format!("Read {n} events"),
    };
    if not_current > 0 {
        let _ = write!(
            text,
            " ({not_current} of them over, or not for twelve weeks yet, so left for now)"
        );
    }
    let mut parts = Vec::new();
    if queued.added > 0 {
        parts.push(format!("{} new", queued.added));
    }
    if queued.changed > 0 {
        parts.push(format!("{} changed", queued.changed));
    }
    if queued.withdrawn > 0 {
        parts.push(format!("{} gone from the calendar", queued.withdrawn));
    }
    if parts.is_empty() {
        text.push_str(": nothing new or changed since the last time");
    } else {
        let _ = write!(
            text,
            ": {} sent to staff to check before the bot shows them; {unchanged} unchanged",
            parts.join(", ")
        );
    }
    text.push('.');
    for note in notes {
        text.push(' ');
        text.push_str(note);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_addresses_must_be_http_or_https_with_a_real_host() {
        let url = FeedUrl::parse(" https://example.org/events.ics#top ").unwrap();
        assert_eq!(url.as_str(), "https://example.org/events.ics");
        let webcal = FeedUrl::parse("webcal://calendar.example.org/feed.ics").unwrap();
        assert_eq!(webcal.as_str(), "https://calendar.example.org/feed.ics");
        assert!(FeedUrl::parse("http://127.0.0.1:8080/a.ics").is_ok());

        let message = |text: &str| FeedUrl::parse(text).unwrap_err().to_string();
        assert_eq!(
            message("ftp://example.org/a.ics"),
            "\"ftp://example.org/a.ics\" is not a web address: give one starting https://"
        );
        assert!(message("example.org/a.ics").contains("not a web address"));
        assert!(message("https://localhost/a.ics").contains("no real host"));
        assert!(message("file:///etc/passwd").contains("not a web address"));
        assert!(message("https://me:secret@example.org/a.ics").contains("user name"));
        assert!(message("").contains("empty"));
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_CHARS));
        assert!(message(&long).contains("longer than"));
    }

    #[test]
    fn only_a_current_organisation_account_manages_a_feed() {
        let organisation = Account {
            id: "a".to_owned(),
            email: crate::accounts::Email::parse("org@example.org").unwrap(),
            role: Role::Organisation {
                organization_id: "ours".to_owned(),
            },
            has_password: true,
            disabled: false,
        };
        assert_eq!(organisation_of(&organisation).unwrap(), "ours");
        let disabled = Account {
            disabled: true,
            ..organisation.clone()
        };
        assert!(organisation_of(&disabled).is_err());
        let staff = Account {
            role: Role::Staff,
            ..organisation
        };
        assert!(organisation_of(&staff).is_err());
    }

    const CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
        BEGIN:VEVENT\r\nUID:walk@example.org\r\nDTSTART;TZID=Europe/London:20261203T100000\r\n\
        DTEND;TZID=Europe/London:20261203T113000\r\nRRULE:FREQ=WEEKLY;BYDAY=TH\r\n\
        SUMMARY:Walk and talk\r\nLOCATION:Greenhead Park, Huddersfield HD1 4HS\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn each_event_becomes_one_listing_of_the_organisation_with_a_stable_fingerprint() {
        let today = "2026-12-01".parse().unwrap();
        let events = read_calendar(CALENDAR, "org-1", today).unwrap();
        assert!(events.problems.is_empty());
        let [event] = events.listings.as_slice() else {
            panic!("one listing: {events:?}");
        };
        assert_eq!(event.listing["organization_id"], "org-1");
        assert_eq!(event.listing["name"], "Walk and talk");
        assert!(event.current);
        let later = read_calendar(CALENDAR, "org-1", "2027-06-01".parse().unwrap()).unwrap();
        assert!(later.listings[0].current, "a weekly event goes on");
        let before = read_calendar(CALENDAR, "org-1", "2026-06-01".parse().unwrap()).unwrap();
        assert!(!before.listings[0].current, "more than twelve weeks ahead");
        assert!(event.listing.get("organization").is_none());
        let again = read_calendar(CALENDAR, "org-1", today).unwrap();
        assert_eq!(again.listings[0].fingerprint, event.fingerprint);
        assert_eq!(again.listings[0].service_id, event.service_id);
        let other = read_calendar(CALENDAR, "org-2", today).unwrap();
        assert_ne!(other.listings[0].service_id, event.service_id);
    }
}
