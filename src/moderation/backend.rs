// The moderation queue's SQL, included twice by `store.rs`: once with `Db`
// set to SQLite and once to PostgreSQL, and `directory_sql` to the
// directory's SQL for the same backend. Every value is a bound parameter.

use chrono::NaiveDate;

use super::{NewChange, Proposer};
use crate::directory::model::Batch;
use crate::moderation::{Change, ChangeKind, ChangeOrigin, ChangeStatus, ModerationError};

type Pool = sqlx::Pool<Db>;
type Tx<'a> = sqlx::Transaction<'a, Db>;
type Result<T> = std::result::Result<T, ModerationError>;

/// Id, organisation id and name, service id and name, kind, status,
/// submitted at, decided at, reason, origin.
type ChangeRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
);

const CHANGE_COLUMNS: &str = "SELECT c.id, c.organization_id, o.name, c.service_id,
        c.service_name, c.kind, c.status, c.submitted_at, c.decided_at, c.reason, c.origin
     FROM listing_change c JOIN organization o ON o.id = c.organization_id";

fn change_from(row: ChangeRow) -> Result<Change> {
    let (id, organization_id, organization_name, service_id, service_name, kind, status, ..) =
        row.clone();
    let corrupt = |what: &str| {
        ModerationError::Invalid(format!(
            "listing change {id} has an unknown {what}; the database was changed by hand"
        ))
    };
    Ok(Change {
        id,
        organization_id,
        organization_name,
        service_id,
        service_name,
        kind: ChangeKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        status: ChangeStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        origin: ChangeOrigin::parse(&row.10).ok_or_else(|| corrupt("origin"))?,
        submitted_at: row.7,
        decided_at: row.8,
        reason: row.9,
    })
}

/// The organisation a service belongs to, and its name.
pub async fn service_owner(pool: &Pool, service_id: &str) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT organization_id, name FROM service WHERE id = $1")
            .bind(service_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The service a place (service_at_location) belongs to.
pub async fn place_owner(pool: &Pool, link_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT service_id FROM service_at_location WHERE id = $1")
            .bind(link_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Supersedes the organisation's waiting changes to the same service, adds
/// this one and records it: in one transaction. Returns the change's number.
pub async fn submit(pool: &Pool, change: &NewChange<'_>, now: i64) -> Result<i64> {
    let by = change.by.account_id();
    let origin = change.by.origin();
    let mut tx = pool.begin().await?;
    if origin == ChangeOrigin::CalendarFeed {
        // A calendar feed never replaces what a person sent.
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM listing_change
             WHERE organization_id = $1 AND service_id = $2 AND status = 'waiting'
                AND origin <> 'feed'",
        )
        .bind(change.organization_id)
        .bind(change.service_id)
        .fetch_one(&mut *tx)
        .await?;
        if others > 0 {
            return Err(ModerationError::Invalid(
                "a change sent from the portal or the API is waiting for staff, so the \
                 calendar's version waits until staff have decided it"
                    .to_owned(),
            ));
        }
    }
    let superseded: Vec<i64> = sqlx::query_scalar(
        "UPDATE listing_change SET status = 'superseded', decided_at = $1
         WHERE organization_id = $2 AND service_id = $3 AND status = 'waiting'
         RETURNING id",
    )
    .bind(now)
    .bind(change.organization_id)
    .bind(change.service_id)
    .fetch_all(&mut *tx)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO listing_change (organization_id, service_id, service_name, kind, proposal,
            submitted_by, submitted_at, origin)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(change.organization_id)
    .bind(change.service_id)
    .bind(change.service_name)
    .bind(change.kind.as_str())
    .bind(&change.proposal)
    .bind(by)
    .bind(now)
    .bind(origin.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let mut detail = format!(
        "change {id}: {} \"{}\"",
        change.kind.as_str(),
        change.service_name
    );
    if !superseded.is_empty() {
        let numbers: Vec<String> = superseded.iter().map(i64::to_string).collect();
        detail.push_str(&format!(", superseding change {}", numbers.join(", ")));
    }
    if let Some(token) = change.by.token_name() {
        detail.push_str(&format!(", through the API token \"{token}\""));
    }
    let action = match change.by {
        Proposer::CalendarFeed => "listing change submitted by the calendar feed",
        Proposer::Submitter(_) => "listing change submitted",
    };
    audit(&mut tx, now, by, action, change.service_id, &detail).await?;
    tx.commit().await?;
    Ok(id)
}

/// Supersedes an organisation's waiting changes to a service whose event
/// has left its calendar feed, and records it, in one transaction.
pub async fn withdraw_waiting(
    pool: &Pool,
    organization_id: &str,
    service_id: &str,
    now: i64,
) -> Result<Vec<i64>> {
    let mut tx = pool.begin().await?;
    let superseded: Vec<i64> = sqlx::query_scalar(
        "UPDATE listing_change SET status = 'superseded', decided_at = $1
         WHERE organization_id = $2 AND service_id = $3 AND status = 'waiting'
            AND origin = 'feed'
         RETURNING id",
    )
    .bind(now)
    .bind(organization_id)
    .bind(service_id)
    .fetch_all(&mut *tx)
    .await?;
    for id in &superseded {
        let detail = format!("change {id}: the event has left the calendar feed");
        audit(
            &mut tx,
            now,
            None,
            "listing change superseded by the calendar feed",
            service_id,
            &detail,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(superseded)
}

pub async fn queue(pool: &Pool) -> Result<Vec<Change>> {
    let rows: Vec<ChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CHANGE_COLUMNS} WHERE c.status = 'waiting' ORDER BY c.submitted_at, c.id"
    )))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(change_from).collect()
}

pub async fn changes_for(pool: &Pool, organization_id: &str) -> Result<Vec<Change>> {
    let rows: Vec<ChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CHANGE_COLUMNS} WHERE c.organization_id = $1
         ORDER BY c.submitted_at DESC, c.id DESC"
    )))
    .bind(organization_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(change_from).collect()
}

/// A change and its proposed listing (HSDS JSON text; none to withdraw).
pub async fn change(pool: &Pool, id: i64) -> Result<Option<(Change, Option<String>)>> {
    let row: Option<ChangeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{CHANGE_COLUMNS} WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let proposal: Option<String> =
        sqlx::query_scalar("SELECT proposal FROM listing_change WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    Ok(Some((change_from(row)?, proposal)))
}

/// Marks a waiting change decided, in `tx`; refuses one already decided
/// (including by someone else a moment ago).
async fn decide(
    tx: &mut Tx<'_>,
    id: i64,
    status: ChangeStatus,
    reason: Option<&str>,
    by: &str,
    now: i64,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE listing_change SET status = $1, decided_by = $2, decided_at = $3, reason = $4
         WHERE id = $5 AND status = 'waiting'",
    )
    .bind(status.as_str())
    .bind(by)
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT status FROM listing_change WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    Err(match found.as_deref().and_then(ChangeStatus::parse) {
        Some(status) => ModerationError::AlreadyDecided { id, status },
        None => ModerationError::UnknownChange { id },
    })
}

/// Approves a change: its status, the directory and the audit event, in one
/// transaction.
pub async fn approve(
    pool: &Pool,
    change: &Change,
    batch: Option<&Batch>,
    by: &str,
    today: NaiveDate,
    now: i64,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    decide(&mut tx, change.id, ChangeStatus::Approved, None, by, now).await?;
    // The service may have changed hands since the change was proposed.
    let owner: Option<String> =
        sqlx::query_scalar("SELECT organization_id FROM service WHERE id = $1")
            .bind(&change.service_id)
            .fetch_optional(&mut *tx)
            .await?;
    match (&owner, change.kind) {
        (Some(owner), _) if *owner != change.organization_id => {
            return Err(ModerationError::NotAllowed(format!(
                "the service {} now belongs to another organisation",
                change.service_id
            )));
        }
        (None, ChangeKind::Edit | ChangeKind::Withdraw) => {
            return Err(ModerationError::UnknownService {
                id: change.service_id.clone(),
            });
        }
        _ => {}
    }
    match batch {
        Some(batch) => directory_sql::publish_listing(&mut tx, batch, today).await?,
        None => {
            directory_sql::withdraw_service(&mut tx, &change.service_id).await?;
        }
    }
    let detail = format!(
        "change {}: {} \"{}\"",
        change.id,
        change.kind.as_str(),
        change.service_name
    );
    audit(
        &mut tx,
        now,
        Some(by),
        "listing change approved",
        &change.service_id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Rejects a waiting change with its reason, and records it, in one
/// transaction.
pub async fn reject(pool: &Pool, id: i64, reason: &str, by: &str, now: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    decide(&mut tx, id, ChangeStatus::Rejected, Some(reason), by, now).await?;
    let service_id: String =
        sqlx::query_scalar("SELECT service_id FROM listing_change WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let detail = format!("change {id}: {reason}");
    audit(
        &mut tx,
        now,
        Some(by),
        "listing change rejected",
        &service_id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The audit event for a change to a service (subject `service:ID`), by an
/// account, or by none: through the API (its detail names the token) or
/// from the calendar feed.
async fn audit(
    tx: &mut Tx<'_>,
    now: i64,
    by: Option<&str>,
    action: &str,
    service_id: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_event (at, account_id, action, subject, detail)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(by)
    .bind(action)
    .bind(format!("service:{service_id}"))
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
