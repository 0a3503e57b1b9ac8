// The usage counts' SQL, included twice by `store.rs`: once with `Db` set
// to SQLite and once to PostgreSQL. See the invariant there.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::stats::StatsError;
use crate::stats::store::{StoredCount, StoredPeriod, month_start};
use crate::stats::tally::Key;

type Pool = sqlx::Pool<Db>;
type Result<T> = std::result::Result<T, StatsError>;

/// Adds the counts to the daily rows in one transaction.
pub async fn add(pool: &Pool, counts: &[(Key, u64)]) -> Result<()> {
    let mut tx = pool.begin().await?;
    for (key, count) in counts {
        upsert(&mut tx, "day", key.day, key.event, &key.dimensions, *count).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Adds `count` to a row, creating it if needed.
async fn upsert(
    tx: &mut sqlx::Transaction<'_, Db>,
    period: &str,
    start: NaiveDate,
    event: &str,
    dimensions: &str,
    count: u64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_count (period, period_start, event, dimensions, count)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (period, period_start, event, dimensions)
         DO UPDATE SET count = usage_count.count + excluded.count",
    )
    .bind(period)
    .bind(start)
    .bind(event)
    .bind(dimensions)
    .bind(i64::try_from(count).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every row whose period overlaps `from..=to`: the days in it, and the
/// months that begin in it or contain `from`.
pub async fn rows(pool: &Pool, from: NaiveDate, to: NaiveDate) -> Result<Vec<StoredCount>> {
    let rows: Vec<(String, NaiveDate, String, String, i64)> = sqlx::query_as(
        "SELECT period, period_start, event, dimensions, count FROM usage_count
         WHERE (period = 'day' AND period_start >= $1 AND period_start <= $2)
            OR (period = 'month' AND period_start >= $3 AND period_start <= $2)
         ORDER BY period_start, period, event, dimensions",
    )
    .bind(from)
    .bind(to)
    .bind(month_start(from))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(period, start, event, dimensions, count)| {
            let period = match period.as_str() {
                "day" => StoredPeriod::Day,
                "month" => StoredPeriod::Month,
                other => return Err(StatsError::Corrupt(format!("a period of \"{other}\""))),
            };
            let count = u64::try_from(count)
                .map_err(|_| StatsError::Corrupt("a negative count".to_owned()))?;
            Ok(StoredCount {
                period,
                start,
                event,
                dimensions,
                count,
            })
        })
        .collect()
}

/// Rolls the daily rows before `before` into monthly rows and deletes
/// them, in one transaction; returns how many daily rows went.
pub async fn roll_up(pool: &Pool, before: NaiveDate) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let days: Vec<(NaiveDate, String, String, i64)> = sqlx::query_as(
        "SELECT period_start, event, dimensions, count FROM usage_count
         WHERE period = 'day' AND period_start < $1",
    )
    .bind(before)
    .fetch_all(&mut *tx)
    .await?;
    let mut months: BTreeMap<(NaiveDate, String, String), u64> = BTreeMap::new();
    for (day, event, dimensions, count) in days {
        *months
            .entry((month_start(day), event, dimensions))
            .or_insert(0) += u64::try_from(count).unwrap_or(0);
    }
    for ((month, event, dimensions), count) in &months {
        upsert(&mut tx, "month", *month, event, dimensions, *count).await?;
    }
    let deleted = sqlx::query("DELETE FROM usage_count WHERE period = 'day' AND period_start < $1")
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
