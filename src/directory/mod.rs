//! The directory of organisations, services and events the bot points to,
//! in the shape of Open Referral HSDS 3.0.
//!
//! Invariant: this module (with the stats store) is the only one that
//! talks SQL, and it shows people only published, unexpired, active
//! services. The schema comes from the migrations in `migrations/sqlite` and
//! `migrations/postgres`, applied whenever the database is opened
//! ([`crate::database`]). Nothing
//! about the people using the bot is ever stored here.
//!
//! Layout: `model` is the records, `import` reads files into them, `store`
//! and `backend` write and read them, `recurrence` expands schedules into
//! dated occurrences, `query` ranks search results, `present` writes them as
//! cards, `export` writes HSDS JSON, `geo` reads outcode centroids.

pub mod export;
pub mod geo;
pub mod import;
pub mod model;
mod present;
pub mod query;
pub mod recurrence;
mod sample;
pub(crate) mod store;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

pub use present::card;
pub(crate) use present::shorten;
pub use query::{
    AreaMatch, Attendance, DateRange, Horizon, Listing, NextTime, PartOfDay, Place, SearchQuery,
    SearchResults, ServiceList, ServiceListQuery,
};

use crate::database::{Database, DatabaseError};
use crate::search::Area;
use model::{Batch, Organization, Skipped};
use store::dispatch;

/// The most occurrences one schedule may have within the horizon: a daily
/// event has 85; anything near this is a mistake in the rule.
pub const MAX_OCCURRENCES_PER_SCHEDULE: usize = 500;

/// How long an imported listing stays visible without being confirmed.
pub const DEFAULT_VALID_FOR_DAYS: u32 = 183;

/// What went wrong with the directory, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The database could not be opened or its schema brought up to date.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("the database failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the directory holds a record it cannot read ({0}); re-import its source")]
    Corrupt(String),
    #[error("the bundled sample directory is broken: {0}")]
    Sample(String),
    /// A proposed listing cannot be written as it is.
    #[error("{0}")]
    Listing(String),
}

/// How an import is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Publish new and changed services at once (staff importing data they
    /// trust), rather than leaving them for review.
    pub publish: bool,
    /// The local date of the import: it confirms the records and starts
    /// their validity.
    pub today: NaiveDate,
    /// Days a record stays visible after it was last confirmed.
    pub valid_for_days: u32,
}

impl WriteOptions {
    pub fn new(today: NaiveDate) -> Self {
        WriteOptions {
            publish: false,
            today,
            valid_for_days: DEFAULT_VALID_FOR_DAYS,
        }
    }
}

/// What an import did, per kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub counts: BTreeMap<&'static str, Counts>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl ImportSummary {
    /// True when the import wrote nothing new.
    pub fn changed_nothing(&self) -> bool {
        self.counts.values().all(|c| c.added == 0 && c.updated == 0)
    }
}

/// The bundled sample directory as a batch of records (published).
pub fn sample_batch() -> Result<Batch, DirectoryError> {
    sample::batch()
}

/// The directory, backed by SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct Directory {
    /// The shared database; the usage counts live in it too.
    database: Database,
}

impl Directory {
    /// Opens the database at `url` (`sqlite:` or `postgres:`), creating a
    /// SQLite file if needed, and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, DirectoryError> {
        Ok(Directory::new(Database::open(url).await?))
    }

    /// The directory in a database already opened (and so migrated).
    pub fn new(database: Database) -> Self {
        Directory { database }
    }

    /// An empty directory that lives in memory, for demos and tests.
    pub async fn in_memory() -> Result<Self, DirectoryError> {
        Directory::open("sqlite::memory:").await
    }

    /// "SQLite" or "PostgreSQL".
    pub fn backend(&self) -> &'static str {
        self.database.backend()
    }

    /// The database the directory lives in, to share its connections.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Applies any migrations not yet applied; returns how many there are in all.
    pub async fn migrate(&self) -> Result<usize, DirectoryError> {
        Ok(self.database.migrate().await?)
    }

    /// Closes every connection, waiting for work in flight.
    pub async fn close(&self) {
        self.database.close().await;
    }

    /// Writes `batch` in one transaction: all of it, or nothing.
    pub async fn write(
        &self,
        batch: &Batch,
        options: &WriteOptions,
    ) -> Result<ImportSummary, DirectoryError> {
        dispatch!(self.database.pool(), write_batch(batch, options))
    }

    /// Loads the bundled sample directory, published.
    pub async fn load_sample(&self, today: NaiveDate) -> Result<ImportSummary, DirectoryError> {
        let batch = sample::batch()?;
        let options = WriteOptions {
            publish: true,
            ..WriteOptions::new(today)
        };
        self.write(&batch, &options).await
    }

    /// Publishes every pending service from `source`.
    pub async fn publish_source(&self, source: &str) -> Result<u64, DirectoryError> {
        dispatch!(self.database.pool(), publish_source(source))
    }

    /// Expands occurrences to cover `today`'s horizon if they do not yet;
    /// returns how many were written (0 when already current).
    pub async fn refresh_occurrences(&self, today: NaiveDate) -> Result<usize, DirectoryError> {
        dispatch!(self.database.pool(), refresh_occurrences(today, false))
    }

    /// Rebuilds every occurrence for `today`'s horizon.
    pub async fn rebuild_occurrences(&self, today: NaiveDate) -> Result<usize, DirectoryError> {
        dispatch!(self.database.pool(), refresh_occurrences(today, true))
    }

    /// Loads outcode centroids under `dataset`, replacing its earlier copy.
    pub async fn import_outcodes(
        &self,
        dataset: &str,
        attribution: &str,
        rows: &[(String, f64, f64)],
    ) -> Result<usize, DirectoryError> {
        dispatch!(
            self.database.pool(),
            import_outcodes(dataset, attribution, rows)
        )
    }

    /// Finds services that match `query`, nearest and soonest first.
    pub async fn search(&self, query: &SearchQuery) -> Result<SearchResults, DirectoryError> {
        let mut query = query.clone();
        let (centre, area) = match &query.near {
            None => (None, AreaMatch::NotGiven),
            Some(Area::Outcode(code)) => {
                match dispatch!(self.database.pool(), outcode_centre(code))? {
                    Some(centre) => (Some(centre), AreaMatch::Known),
                    None => (None, AreaMatch::Unknown),
                }
            }
            Some(Area::Town(town)) => match dispatch!(self.database.pool(), town_centre(town))? {
                (true, centre) => {
                    if centre.is_none() {
                        query.town = Some(town.clone());
                    }
                    (centre, AreaMatch::Known)
                }
                (false, _) => (None, AreaMatch::Unknown),
            },
        };
        if area == AreaMatch::Unknown {
            return Ok(SearchResults {
                listings: Vec::new(),
                total: 0,
                area,
            });
        }
        let today_starts_at = query
            .today
            .and_hms_opt(0, 0, 0)
            .and_then(|midnight| {
                midnight
                    .and_local_timezone(chrono_tz::Europe::London)
                    .earliest()
            })
            .map_or(0, |start| start.timestamp());
        let (mut page, mut total) = dispatch!(
            self.database.pool(),
            search_page(&query, centre, today_starts_at)
        )?;
        if page.is_empty() && query.offset > 0 {
            // Past the last page: still say how many there are.
            let first = SearchQuery {
                offset: 0,
                limit: 1,
                ..query.clone()
            };
            total = dispatch!(
                self.database.pool(),
                search_page(&first, centre, today_starts_at)
            )?
            .1;
            page.clear();
        }
        let details = dispatch!(self.database.pool(), page_details(&page))?;
        let mut listings = Vec::with_capacity(page.len());
        for (hit, detail) in page.into_iter().zip(details) {
            let distance = centre
                .zip(hit.latitude.zip(hit.longitude))
                .map(|(from, to)| query::distance_km(from, to));
            listings.push(listing(hit.service_id, distance, detail));
        }
        Ok(SearchResults {
            listings,
            total,
            area,
        })
    }

    /// Every published, unexpired record, whole, for export.
    pub async fn published(&self, today: NaiveDate) -> Result<Batch, DirectoryError> {
        dispatch!(
            self.database.pool(),
            load_services(today, store::Selection::Published)
        )
    }

    /// A page of the services people may see, whole, in name order (or
    /// nearest first): the open data listing. Nothing about dates is asked,
    /// so paging through it gives every service once.
    pub async fn list_services(
        &self,
        query: &ServiceListQuery,
    ) -> Result<ServiceList, DirectoryError> {
        let centre = match &query.near {
            None => None,
            Some(area) => match self.centre_of(area).await? {
                Some(centre) => Some(centre),
                None => {
                    return Ok(ServiceList {
                        page: Batch::default(),
                        total: 0,
                        area: AreaMatch::Unknown,
                    });
                }
            },
        };
        let (mut ids, mut total) = dispatch!(self.database.pool(), list_page(query, centre))?;
        if ids.is_empty() && query.offset > 0 {
            // Past the last page: still say how many there are.
            let first = ServiceListQuery {
                offset: 0,
                limit: 1,
                ..query.clone()
            };
            total = dispatch!(self.database.pool(), list_page(&first, centre))?.1;
            ids.clear();
        }
        let mut page = dispatch!(
            self.database.pool(),
            load_services(query.today, store::Selection::Shown(&ids))
        )?;
        // In the list's order; a service withdrawn since the page was
        // listed is simply left out.
        let position: std::collections::HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        page.services
            .sort_by_key(|service| position.get(service.id.as_str()).copied());
        Ok(ServiceList {
            page,
            total,
            area: if query.near.is_some() {
                AreaMatch::Known
            } else {
                AreaMatch::NotGiven
            },
        })
    }

    /// One service, whole, if people may see it on `today` (published,
    /// active, unexpired); `None` otherwise, as if it did not exist.
    pub async fn shown_service(
        &self,
        id: &str,
        today: NaiveDate,
    ) -> Result<Option<Batch>, DirectoryError> {
        let ids = [id.to_owned()];
        let batch = dispatch!(
            self.database.pool(),
            load_services(today, store::Selection::Shown(&ids))
        )?;
        Ok((!batch.services.is_empty()).then_some(batch))
    }

    /// Every service of one organisation, whole, whatever its status and
    /// expiry: its own listings as it sees them in the portal.
    pub async fn services_of(
        &self,
        organization_id: &str,
        today: NaiveDate,
    ) -> Result<Batch, DirectoryError> {
        dispatch!(
            self.database.pool(),
            load_services(today, store::Selection::OfOrganisation(organization_id))
        )
    }

    /// Confirms that an organisation's published service still runs, so it
    /// stays in the directory for [`DEFAULT_VALID_FOR_DAYS`] from `today`;
    /// false when the organisation has no such published, active service.
    pub async fn confirm_service(
        &self,
        organization_id: &str,
        service_id: &str,
        today: NaiveDate,
    ) -> Result<bool, DirectoryError> {
        dispatch!(
            self.database.pool(),
            confirm_service(organization_id, service_id, today, DEFAULT_VALID_FOR_DAYS)
        )
    }

    /// An organisation's record, if the directory has it.
    pub async fn organisation(&self, id: &str) -> Result<Option<Organization>, DirectoryError> {
        dispatch!(self.database.pool(), organization(id))
    }

    /// Writes an organisation's profile as it edited it, filed under
    /// `source` from now on.
    pub async fn update_organisation(
        &self,
        source: &str,
        organisation: &Organization,
    ) -> Result<(), DirectoryError> {
        dispatch!(
            self.database.pool(),
            update_organization(source, organisation)
        )
    }

    /// The centre of a postcode's outcode, when the directory can place it:
    /// from the outcode centroids, else the middle of its places there.
    pub async fn outcode_centre(
        &self,
        outcode: &str,
    ) -> Result<Option<(f64, f64)>, DirectoryError> {
        self.centre_of(&Area::Outcode(outcode.to_uppercase())).await
    }

    /// The centre of an outcode or a town, when the directory can place it.
    async fn centre_of(&self, area: &Area) -> Result<Option<(f64, f64)>, DirectoryError> {
        match area {
            Area::Outcode(code) => dispatch!(self.database.pool(), outcode_centre(code)),
            Area::Town(town) => Ok(dispatch!(self.database.pool(), town_centre(town))?.1),
        }
    }

    /// How many records of each kind the directory holds.
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, i64>, DirectoryError> {
        dispatch!(self.database.pool(), counts())
    }
}

/// Puts a ranked candidate and its details together as a card's content.
fn listing(service_id: String, distance_km: Option<f64>, detail: query::PageDetail) -> Listing {
    let next = detail.next.map(|next| {
        let start = (!next.all_day)
            .then(|| {
                NaiveTime::from_num_seconds_from_midnight_opt(next.local_minute as u32 * 60, 0)
            })
            .flatten();
        let end = match (next.ends_at, start) {
            (Some(ends_at), Some(start)) => DateTime::<Utc>::from_timestamp(ends_at, 0)
                .map(|end| end.with_timezone(&chrono_tz::Europe::London))
                .filter(|end| end.date_naive() == next.local_date)
                .map(|end| end.time())
                .filter(|end| *end > start),
            _ => None,
        };
        let _ = next.starts_at;
        NextTime {
            date: next.local_date,
            start,
            end,
        }
    });
    let mut pattern = None;
    let mut availability = None;
    for (description, recurrence) in &detail.schedules {
        let summary = recurrence
            .as_deref()
            .and_then(|r| serde_json::from_str::<recurrence::Recurrence>(r).ok())
            // A one-off event's next date says it all.
            .filter(|r| !r.rules.is_empty() || !r.extra_dates.is_empty())
            .and_then(|r| r.summary());
        if pattern.is_none() {
            pattern = summary;
        }
        if availability.is_none() && recurrence.is_none() {
            availability = description.clone().filter(|d| !d.trim().is_empty());
        }
    }
    let place = detail
        .place
        .map(|(name, step_free, address, town, postcode)| Place {
            name,
            address,
            town,
            postcode,
            step_free,
        });
    Listing {
        service_id,
        title: detail.name,
        description: detail.description,
        organisation: detail.organization,
        place,
        distance_km,
        online: detail.online,
        next,
        pattern,
        availability,
        cost: detail.fees_description,
        free: detail.free,
        phones: detail.phones,
        email: detail.email,
        url: detail.url,
        how_to_join: detail.application_process,
        welcome: detail.welcome,
    }
}
