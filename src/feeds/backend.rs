// The calendar feeds' SQL, included twice by `store.rs`: once with `Db` set
// to SQLite and once to PostgreSQL. Every value is a bound parameter.

use std::collections::HashMap;

use crate::feeds::{Feed, FeedsError, LastFetch};

type Pool = sqlx::Pool<Db>;
type Result<T> = std::result::Result<T, FeedsError>;

/// Organisation id, address, set at, fetched at, result, outcome, events.
type FeedRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn feed_from(row: FeedRow) -> Feed {
    let (organization_id, url, set_at, fetched_at, result, outcome, events) = row;
    Feed {
        organization_id,
        url,
        set_at,
        last_fetch: fetched_at.map(|at| LastFetch {
            at,
            succeeded: result.as_deref() == Some("read"),
            outcome: outcome.unwrap_or_default(),
            events,
        }),
    }
}

/// Gives an organisation's feed its address (forgetting the last fetch if
/// the address changed), or takes it away, and records it, in one
/// transaction.
pub async fn set_feed(
    pool: &Pool,
    organization_id: &str,
    url: Option<&str>,
    by: &str,
    now: i64,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let (action, detail) = match url {
        Some(url) => {
            sqlx::query(
                "INSERT INTO calendar_feed (organization_id, url, set_by, set_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (organization_id) DO UPDATE SET
                    url = excluded.url, set_by = excluded.set_by, set_at = excluded.set_at,
                    fetched_at = CASE WHEN calendar_feed.url = excluded.url
                        THEN calendar_feed.fetched_at END,
                    fetch_result = CASE WHEN calendar_feed.url = excluded.url
                        THEN calendar_feed.fetch_result END,
                    outcome = CASE WHEN calendar_feed.url = excluded.url
                        THEN calendar_feed.outcome END,
                    event_count = CASE WHEN calendar_feed.url = excluded.url
                        THEN calendar_feed.event_count END",
            )
            .bind(organization_id)
            .bind(url)
            .bind(by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // Only the host: a calendar's address may be a secret link
            // (such as Google's "secret address"), and staff read the log.
            let host = url::Url::parse(url)
                .ok()
                .and_then(|url| url.host_str().map(|host| format!("a calendar at {host}")));
            ("calendar feed set", host)
        }
        None => {
            sqlx::query("DELETE FROM calendar_feed WHERE organization_id = $1")
                .bind(organization_id)
                .execute(&mut *tx)
                .await?;
            ("calendar feed removed", None)
        }
    };
    sqlx::query(
        "INSERT INTO audit_event (at, account_id, action, subject, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(by)
    .bind(action)
    .bind(format!("organization:{organization_id}"))
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn feed(pool: &Pool, organization_id: &str) -> Result<Option<Feed>> {
    let row: Option<FeedRow> = sqlx::query_as(
        "SELECT organization_id, url, set_at, fetched_at, fetch_result, outcome, event_count
         FROM calendar_feed WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(feed_from))
}

/// Every feed of an organisation that still has a current account:
/// organisation id and name, and address, by organisation name.
pub async fn feeds(pool: &Pool) -> Result<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT f.organization_id, o.name, f.url
         FROM calendar_feed f JOIN organization o ON o.id = f.organization_id
         WHERE EXISTS (SELECT 1 FROM account a WHERE a.organization_id = f.organization_id
            AND a.disabled_at IS NULL)
         ORDER BY o.name, f.organization_id",
    )
    .fetch_all(pool)
    .await?)
}

/// The fingerprint last proposed for each of an organisation's feed events,
/// by service id.
pub async fn fingerprints(pool: &Pool, organization_id: &str) -> Result<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT service_id, fingerprint FROM calendar_feed_event WHERE organization_id = $1",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// A service's organisation and HSDS status, if it is in the directory.
pub async fn service_state(pool: &Pool, service_id: &str) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT organization_id, status FROM service WHERE id = $1")
            .bind(service_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Remembers what was last proposed for a feed event.
pub async fn remember(
    pool: &Pool,
    organization_id: &str,
    service_id: &str,
    fingerprint: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO calendar_feed_event (organization_id, service_id, fingerprint, proposed_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id, service_id) DO UPDATE SET
            fingerprint = excluded.fingerprint, proposed_at = excluded.proposed_at",
    )
    .bind(organization_id)
    .bind(service_id)
    .bind(fingerprint)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a feed event that has left the feed.
pub async fn forget(pool: &Pool, organization_id: &str, service_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM calendar_feed_event WHERE organization_id = $1 AND service_id = $2")
        .bind(organization_id)
        .bind(service_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records how a fetch went, unless the feed's address changed meanwhile;
/// a failed fetch keeps the count of events last read.
pub async fn record_fetch(
    pool: &Pool,
    organization_id: &str,
    url: &str,
    now: i64,
    succeeded: bool,
    outcome: &str,
    events: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE calendar_feed SET fetched_at = $1, fetch_result = $2, outcome = $3,
            event_count = COALESCE($4, event_count)
         WHERE organization_id = $5 AND url = $6",
    )
    .bind(now)
    .bind(if succeeded { "read" } else { "failed" })
    .bind(outcome)
    .bind(events)
    .bind(organization_id)
    .bind(url)
    .execute(pool)
    .await?;
    Ok(())
}
