//! The directory of organisations, places and activities the bot points to.
//!
//! Invariant: this module (with the stats store, later) is the only one that
//! talks SQL. The schema comes from the migrations in `migrations/sqlite`,
//! applied whenever the directory is opened. Nothing about the people using
//! the bot is ever stored here.

pub mod export;
pub mod import;
pub mod model;
mod present;
pub mod recurrence;
mod sample;

use std::str::FromStr;
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use present::card;
pub use sample::SampleSummary;

use crate::search::{Area, DateWindow, SearchRequest};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// What went wrong with the directory, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "database URL is not one I can use: {reason}. Use a SQLite URL such as sqlite://signpost.db"
    )]
    BadUrl { reason: String },
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the database failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the bundled sample directory is broken: {0}")]
    Sample(String),
}

/// The directory, backed by SQLite.
#[derive(Clone, Debug)]
pub struct Directory {
    pool: SqlitePool,
}

/// When an activity happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Weekly {
        weekday: Weekday,
        start: NaiveTime,
        end: Option<NaiveTime>,
    },
    Once {
        date: NaiveDate,
        start: NaiveTime,
        end: Option<NaiveTime>,
    },
    /// Available most of the time, such as a phone line; the text says when.
    Ongoing { availability: String },
}

/// Where an activity happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub name: String,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub area: String,
    pub step_free: Option<bool>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub title: String,
    pub description: Option<String>,
    pub organisation: String,
    /// `None` for phone and online services.
    pub place: Option<Place>,
    pub schedule: Schedule,
    /// The next date it happens within the searched window, if dated.
    pub next_date: Option<NaiveDate>,
    pub cost: Option<String>,
    pub free: bool,
    pub contact: Option<String>,
    pub how_to_join: Option<String>,
}

impl Directory {
    /// Opens (creating if needed) the SQLite database at `url` and brings
    /// its schema up to date.
    pub async fn open(url: &str) -> Result<Self, DirectoryError> {
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            return Err(DirectoryError::BadUrl {
                reason: "PostgreSQL is not supported yet".into(),
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| DirectoryError::BadUrl {
                reason: err.to_string(),
            })?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Every connection to an in-memory database is a separate database,
        // so an in-memory directory must keep exactly one connection open.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.journal_mode(SqliteJournalMode::Wal))
                .await
        }
        .map_err(DirectoryError::Open)?;
        let directory = Directory { pool };
        directory.migrate().await?;
        Ok(directory)
    }

    /// An empty directory that lives in memory, for demos and tests.
    pub async fn in_memory() -> Result<Self, DirectoryError> {
        Directory::open("sqlite::memory:").await
    }

    /// Applies any migrations not yet applied; returns how many there are in all.
    pub async fn migrate(&self) -> Result<usize, DirectoryError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(MIGRATOR.iter().count())
    }

    /// Loads the bundled sample directory, replacing any earlier copy of it.
    pub async fn load_sample(&self) -> Result<SampleSummary, DirectoryError> {
        sample::load(&self.pool).await
    }

    /// Finds activities that match `request`, soonest first, as seen from
    /// `today` (a local UK date).
    pub async fn search(
        &self,
        request: &SearchRequest,
        today: NaiveDate,
    ) -> Result<Vec<Listing>, DirectoryError> {
        let (outcode, town) = match &request.area {
            Some(Area::Outcode(code)) => (Some(code.as_str()), None),
            Some(Area::Town(name)) => (None, Some(name.as_str())),
            None => (None, None),
        };
        let rows: Vec<ListingRow> = sqlx::query_as(
            "SELECT a.title, a.description, a.schedule_kind, a.weekday, a.on_date,
                    a.start_time, a.end_time, a.availability, a.cost, a.free,
                    a.contact, a.how_to_join, o.name AS organisation,
                    p.name AS place_name, p.address, p.postcode, p.area, p.step_free
             FROM activity a
             JOIN organisation o ON o.id = a.organisation_id
             LEFT JOIN place p ON p.id = a.place_id
             WHERE (?1 IS NULL OR EXISTS (
                        SELECT 1 FROM activity_category c
                        WHERE c.activity_id = a.id AND c.category = ?1))
               AND ((p.id IS NOT NULL
                     AND (?2 IS NULL OR p.outcode = ?2)
                     AND (?3 IS NULL OR lower(p.area) = ?3))
                    OR (p.id IS NULL AND ?4))
             ORDER BY a.id",
        )
        .bind(request.category.map(|c| c.slug()))
        .bind(outcode)
        .bind(town)
        .bind(request.include_online)
        .fetch_all(&self.pool)
        .await?;

        let window = request.when.window(today);
        let mut found: Vec<Listing> = rows
            .into_iter()
            .filter_map(ListingRow::into_listing)
            .filter_map(|mut listing| {
                listing.next_date = next_date(&listing.schedule, window, today)?;
                Some(listing)
            })
            .collect();
        // Soonest first. Ongoing services (phone lines, befriending schemes)
        // can be reached today, so they count as today, before today's
        // timed sessions. In-person before remote when the time is the same.
        let window_start = window.first.max(today);
        found.sort_by_key(|l| {
            (
                l.next_date.unwrap_or(window_start),
                start_time(&l.schedule),
                l.place.is_none(),
                l.title.clone(),
            )
        });
        found.truncate(usize::from(request.limit));
        Ok(found)
    }

    /// How many organisations, places and activities the directory holds.
    pub async fn counts(&self) -> Result<SampleSummary, DirectoryError> {
        let (organisations, places, activities): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM organisation), (SELECT count(*) FROM place),
                    (SELECT count(*) FROM activity)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(SampleSummary {
            organisations: organisations as usize,
            places: places as usize,
            activities: activities as usize,
        })
    }
}

fn start_time(schedule: &Schedule) -> Option<NaiveTime> {
    match schedule {
        Schedule::Weekly { start, .. } | Schedule::Once { start, .. } => Some(*start),
        Schedule::Ongoing { .. } => None,
    }
}

/// When an activity next happens within `window`: `Some(None)` for ongoing
/// services (always available), `None` if it does not happen in the window.
fn next_date(
    schedule: &Schedule,
    window: DateWindow,
    today: NaiveDate,
) -> Option<Option<NaiveDate>> {
    let first = window.first.max(today);
    match schedule {
        Schedule::Ongoing { .. } => Some(None),
        Schedule::Once { date, .. } => {
            let in_window = *date >= first && window.last.is_none_or(|last| *date <= last);
            in_window.then_some(Some(*date))
        }
        Schedule::Weekly { weekday, .. } => {
            let ahead =
                (7 + weekday.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
            let date = first.checked_add_days(chrono::Days::new(u64::from(ahead)))?;
            let in_window = window.last.is_none_or(|last| date <= last);
            in_window.then_some(Some(date))
        }
    }
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    title: String,
    description: Option<String>,
    schedule_kind: String,
    weekday: Option<i64>,
    on_date: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    availability: Option<String>,
    cost: Option<String>,
    free: bool,
    contact: Option<String>,
    how_to_join: Option<String>,
    organisation: String,
    place_name: Option<String>,
    address: Option<String>,
    postcode: Option<String>,
    area: Option<String>,
    step_free: Option<bool>,
}

impl ListingRow {
    /// Turns a row into a listing; rows the schema should have refused are
    /// skipped with a warning rather than shown half-right.
    fn into_listing(self) -> Option<Listing> {
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok())
        };
        let schedule = match self.schedule_kind.as_str() {
            "weekly" => Schedule::Weekly {
                weekday: Weekday::try_from(u8::try_from(self.weekday? - 1).ok()?).ok()?,
                start: time(&self.start_time)?,
                end: time(&self.end_time),
            },
            "once" => Schedule::Once {
                date: self.on_date.as_deref()?.parse().ok()?,
                start: time(&self.start_time)?,
                end: time(&self.end_time),
            },
            "ongoing" => Schedule::Ongoing {
                availability: self.availability.clone().unwrap_or_default(),
            },
            other => {
                tracing::warn!(
                    schedule_kind = other,
                    "skipping an activity with an unknown schedule"
                );
                return None;
            }
        };
        let place = match (self.place_name, self.area) {
            (Some(name), Some(area)) => Some(Place {
                name,
                address: self.address,
                postcode: self.postcode,
                area,
                step_free: self.step_free,
            }),
            _ => None,
        };
        Some(Listing {
            title: self.title,
            description: self.description,
            organisation: self.organisation,
            place,
            schedule,
            next_date: None,
            cost: self.cost,
            free: self.free,
            contact: self.contact,
            how_to_join: self.how_to_join,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::When;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn weekly(weekday: Weekday) -> Schedule {
        Schedule::Weekly {
            weekday,
            start: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            end: None,
        }
    }

    #[test]
    fn weekly_activities_fall_on_their_next_weekday_in_the_window() {
        let tuesday = date("2026-11-24");
        let window = When::ThisWeek.window(tuesday);
        assert_eq!(
            next_date(&weekly(Weekday::Tue), window, tuesday),
            Some(Some(tuesday))
        );
        assert_eq!(
            next_date(&weekly(Weekday::Mon), window, tuesday),
            Some(Some(date("2026-11-30")))
        );
        let today = When::Today.window(tuesday);
        assert_eq!(next_date(&weekly(Weekday::Wed), today, tuesday), None);
        let weekend = When::ThisWeekend.window(tuesday);
        assert_eq!(
            next_date(&weekly(Weekday::Sun), weekend, tuesday),
            Some(Some(date("2026-11-29")))
        );
    }

    #[test]
    fn one_off_events_show_only_inside_the_window_and_never_in_the_past() {
        let today = date("2026-11-24");
        let once = |d| Schedule::Once {
            date: date(d),
            start: NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
            end: None,
        };
        assert_eq!(
            next_date(&once("2026-11-23"), When::Any.window(today), today),
            None
        );
        assert_eq!(
            next_date(&once("2027-01-23"), When::Any.window(today), today),
            Some(Some(date("2027-01-23")))
        );
        assert_eq!(
            next_date(&once("2026-12-05"), When::ThisWeek.window(today), today),
            None
        );
    }
}
