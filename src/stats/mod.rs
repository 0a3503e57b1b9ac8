//! Usage statistics: service-wide counts of declared events, and reports
//! on them that are safe to share.
//!
//! ```text
//!  Bot::respond ─events─▶ counter::counters_for ─Counter─▶ Tally::record (memory,
//!      (per conversation: Counted, hashes only)                once a day each)
//!  keep_counts (every stats.flush_seconds, and at shutdown) ─▶ Tally::flush ─▶ Store::add
//!      (one transaction)   and daily ─▶ Store::roll_up (days older than 90 ─▶ months)
//!  signpost stats ─▶ Store::report ─▶ report::build (disclosure rule) ─▶ format
//! ```
//!
//! Invariants:
//! - Only the counters in [`counter::DECLARED`] are stored, as (UTC day,
//!   event, dimensions) → count. No identifier, name, language, location,
//!   message text or typed area is ever stored or logged, and nothing finer
//!   than a day: there are no per-event rows and no timestamps.
//! - A conversation adds at most one to each (day, event, dimensions).
//! - Recording never waits for the database; counts are written in one
//!   transaction, and stay in memory until it has committed.
//! - Reports never show an exact count (see [`report`]), and show urgent
//!   help only for the whole service, by calendar month.
//!
//! Layout: `counter` declares the counters and turns engine events into
//! them, `tally` buffers them, `store` and `backend` keep them (the SQL,
//! written once for both backends), `report` builds reports and `format`
//! writes them out.

pub mod counter;
pub mod format;
pub mod report;
mod store;
mod tally;

use std::future::Future;
use std::time::Duration;

use chrono::NaiveDate;

pub use counter::{Channel, Counter, DECLARED, Declared, Dimensions, counters_for};
pub use report::{Grouping, Report, ReportRequest, Shown};
pub use store::{KEEP_DAYS, RollUp, Store, StoredCount, StoredPeriod};
pub use tally::{Counted, Key, Tally};

use crate::database::DatabaseError;

/// What went wrong with the usage counts, by what the caller can do.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The database could not be opened or its schema brought up to date.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("the database failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the usage counts hold a row I cannot read ({0}); it was not written by Signpost")]
    Corrupt(String),
    #[error("the report would start on {from}, after it ends on {to}: give the earlier date first")]
    BadRange { from: NaiveDate, to: NaiveDate },
}

/// How often counts are written by default, in seconds.
pub const DEFAULT_FLUSH_SECONDS: u64 = 300;

/// Writes the counts every `every` and once more when `stop` completes,
/// and rolls old days up into months once a day (from the tally's day).
/// A failure is logged as one fixed line, without values, and the counts
/// wait in memory for the next try.
pub async fn keep_counts(
    tally: Tally,
    store: Store,
    every: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: nothing has been counted yet.
    ticks.tick().await;
    let mut rolled_up_on = None;
    tokio::pin!(stop);
    loop {
        let today = tally.today();
        if rolled_up_on != Some(today) {
            match store.roll_up(today).await {
                Ok(_) => rolled_up_on = Some(today),
                Err(_) => tracing::error!("could not roll up old usage counts; trying again later"),
            }
        }
        tokio::select! {
            _ = ticks.tick() => flush(&tally, &store).await,
            () = &mut stop => break,
        }
    }
    flush(&tally, &store).await;
}

/// Writes the pending counts, logging a failure as one fixed line.
pub async fn flush(tally: &Tally, store: &Store) {
    if tally.flush(store).await.is_err() {
        // The error could quote what was being written: keep it out.
        tracing::error!(
            "could not write the usage counts; keeping them in memory for the next try"
        );
    }
}
