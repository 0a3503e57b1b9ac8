//! Where the usage counts are kept: the `usage_count` table, in the same
//! database as the directory.
//!
//! Invariant: as for the directory, each operation is written once, in
//! `backend.rs`, and compiled for both backends. Rows hold only a period
//! (a day, or a month once days are rolled up), a declared event, its
//! dimensions and a count. `cargo fmt` does not reach an included file:
//! run `rustfmt --edition 2024 src/stats/backend.rs`.

use chrono::{Datelike, Days, NaiveDate};

use super::StatsError;
use super::report::{Report, ReportRequest};
use super::tally::Key;
use crate::database::{Database, dispatch};

/// Daily counts older than this many days are kept only per month.
pub const KEEP_DAYS: u64 = 90;

/// The usage counts' SQL for SQLite.
mod sqlite {
    type Db = sqlx::Sqlite;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
mod postgres {
    type Db = sqlx::Postgres;
    include!("backend.rs");
}

/// Whether a stored row counts a day or a whole month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredPeriod {
    Day,
    Month,
}

/// One row of `usage_count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCount {
    pub period: StoredPeriod,
    /// The day, or the first day of the month.
    pub start: NaiveDate,
    pub event: String,
    /// Canonical JSON, see [`super::Dimensions::encode`].
    pub dimensions: String,
    pub count: u64,
}

/// What a roll-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollUp {
    /// Daily rows before this day were rolled up.
    pub before: NaiveDate,
    /// How many daily rows were folded into months and deleted.
    pub days_rolled_up: u64,
}

/// The usage counts in the database.
#[derive(Debug, Clone)]
pub struct Store {
    database: Database,
}

impl Store {
    /// The counts in a database already opened (and so migrated).
    pub fn new(database: Database) -> Self {
        Store { database }
    }

    /// Opens the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StatsError> {
        Ok(Store::new(Database::open(url).await?))
    }

    /// Adds counts to the daily rows, in one transaction.
    pub(crate) async fn add(&self, counts: &[(Key, u64)]) -> Result<(), StatsError> {
        dispatch!(self, add(counts))
    }

    /// Every row whose period overlaps `from..=to`: daily rows in it, and
    /// monthly rows for the months it touches.
    pub async fn rows(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<StoredCount>, StatsError> {
        dispatch!(self, rows(from, to))
    }

    /// Folds daily rows more than [`KEEP_DAYS`] before `today` into monthly
    /// rows, and deletes them, in one transaction. Running it again the
    /// same day changes nothing.
    pub async fn roll_up(&self, today: NaiveDate) -> Result<RollUp, StatsError> {
        let before = today
            .checked_sub_days(Days::new(KEEP_DAYS))
            .unwrap_or(today);
        let days_rolled_up = dispatch!(self, roll_up(before))?;
        Ok(RollUp {
            before,
            days_rolled_up,
        })
    }

    /// The report for `request`, with every figure already made safe to
    /// show (see [`super::report`]).
    pub async fn report(&self, request: &ReportRequest) -> Result<Report, StatsError> {
        let (from, to) = request.rows_needed();
        let rows = self.rows(from, to).await?;
        super::report::build(request, &rows)
    }

    /// The report on one event with its dimensions narrowed to `keep`,
    /// every figure made safe to show after narrowing (see
    /// [`super::report::build_narrowed`]).
    pub async fn report_narrowed(
        &self,
        request: &ReportRequest,
        event: &str,
        keep: &[&str],
    ) -> Result<Report, StatsError> {
        let (from, to) = request.rows_needed();
        let rows = self.rows(from, to).await?;
        super::report::build_narrowed(request, &rows, event, keep)
    }
}

/// The first day of `day`'s month.
pub(crate) fn month_start(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}
