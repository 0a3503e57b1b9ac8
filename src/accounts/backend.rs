// The accounts' SQL, included twice by `store.rs`: once with `Db` set to
// SQLite and once to PostgreSQL. Every value is a bound parameter.

use crate::accounts::{Account, AccountsError, AuditEvent, Email, Role};

type Pool = sqlx::Pool<Db>;
type Result<T> = std::result::Result<T, AccountsError>;

type AccountRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// An account and its stored password hash, from a row.
fn account(
    (id, email, role, organization_id, hash, disabled_at): AccountRow,
) -> (Account, Option<String>) {
    let role = match organization_id {
        Some(organization_id) if role == "organisation" => Role::Organisation { organization_id },
        _ => Role::Staff,
    };
    let account = Account {
        id,
        email: Email(email),
        role,
        has_password: hash.is_some(),
        disabled: disabled_at.is_some(),
    };
    (account, hash)
}

const ACCOUNT_COLUMNS: &str =
    "SELECT id, email, role, organization_id, password_hash, disabled_at FROM account";

pub async fn by_email(pool: &Pool, email: &str) -> Result<Option<(Account, Option<String>)>> {
    let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ACCOUNT_COLUMNS} WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(account))
}

pub async fn by_id(pool: &Pool, id: &str) -> Result<Option<Account>> {
    let row: Option<AccountRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ACCOUNT_COLUMNS} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| account(row).0))
}

pub async fn organization_exists(pool: &Pool, id: &str) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM organization WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Creates the account if `email` has none, then gives it a new setup link
/// (any earlier unused link stops working), and records it: in one
/// transaction. Returns the account's id, or `None` if the email already
/// has an account with a password, or one of another kind.
#[allow(clippy::too_many_arguments)]
pub async fn invite(
    pool: &Pool,
    new_id: &str,
    email: &str,
    role: &str,
    organization_id: Option<&str>,
    link_digest: &str,
    now: i64,
    expires_at: i64,
    by: Option<&str>,
) -> Result<Option<String>> {
    let mut tx = pool.begin().await?;
    let existing: Option<(String, Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, password_hash, role, organization_id FROM account WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    let (id, action) = match existing {
        // Set up already, or someone else: not this invitation's to change.
        Some((_, Some(_), _, _)) => return Ok(None),
        Some((_, None, ref given_role, ref given_organization))
            if given_role != role || given_organization.as_deref() != organization_id =>
        {
            return Ok(None);
        }
        Some((id, None, _, _)) => (id, "setup link issued again"),
        None => {
            sqlx::query(
                "INSERT INTO account (id, email, role, organization_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(new_id)
            .bind(email)
            .bind(role)
            .bind(organization_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            (new_id.to_owned(), "account created")
        }
    };
    sqlx::query("UPDATE account_link SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO account_link (token_hash, account_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(link_digest)
    .bind(&id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    let subject = format!("account:{id}");
    insert_audit(
        &mut tx,
        now,
        by,
        action,
        &subject,
        Some(&format!("{role} {email}")),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Uses a setup link to set a password, in one transaction. Returns the
/// account's id, or `None` if the link is unknown, used or expired.
pub async fn redeem(
    pool: &Pool,
    link_digest: &str,
    hash: &str,
    now: i64,
) -> Result<Option<String>> {
    let mut tx = pool.begin().await?;
    let account_id: Option<String> = sqlx::query_scalar(
        "UPDATE account_link SET used_at = $1
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING account_id",
    )
    .bind(now)
    .bind(link_digest)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(account_id) = account_id else {
        return Ok(None);
    };
    sqlx::query("UPDATE account SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(&account_id)
        .execute(&mut *tx)
        .await?;
    let subject = format!("account:{account_id}");
    insert_audit(
        &mut tx,
        now,
        Some(&account_id),
        "password set",
        &subject,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(account_id))
}

pub async fn insert_session(
    pool: &Pool,
    digest: &str,
    account_id: &str,
    expires_at: i64,
) -> Result<()> {
    // Sign-ins that have ended are cleared as new ones begin.
    sqlx::query("DELETE FROM web_session WHERE expires_at <= $1")
        .bind(expires_at - crate::accounts::SESSION_HOURS * 3600)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO web_session (token_hash, account_id, expires_at) VALUES ($1, $2, $3)")
        .bind(digest)
        .bind(account_id)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn session_account(pool: &Pool, digest: &str, now: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT account_id FROM web_session WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(digest)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

pub async fn delete_session(pool: &Pool, digest: &str) -> Result<()> {
    sqlx::query("DELETE FROM web_session WHERE token_hash = $1")
        .bind(digest)
        .execute(pool)
        .await?;
    Ok(())
}

pub async fn insert_api_token(
    pool: &Pool,
    digest: &str,
    organization_id: &str,
    name: &str,
    now: i64,
    by: &str,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO api_token (token_hash, organization_id, name, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(digest)
    .bind(organization_id)
    .bind(name)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let subject = format!("organization:{organization_id}");
    insert_audit(
        &mut tx,
        now,
        Some(by),
        "API token created",
        &subject,
        Some(name),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes an organisation's live tokens called `name`; how many.
pub async fn revoke_api_token(
    pool: &Pool,
    organization_id: &str,
    name: &str,
    now: i64,
    by: &str,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query(
        "UPDATE api_token SET revoked_at = $1
         WHERE organization_id = $2 AND name = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(organization_id)
    .bind(name)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if revoked > 0 {
        let subject = format!("organization:{organization_id}");
        insert_audit(
            &mut tx,
            now,
            Some(by),
            "API token revoked",
            &subject,
            Some(name),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// A live token's organisation and name: not revoked, and its organisation
/// still has an account that is not disabled.
pub async fn api_token_organization(pool: &Pool, digest: &str) -> Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT t.organization_id, t.name FROM api_token t
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL
            AND EXISTS (SELECT 1 FROM account a WHERE a.organization_id = t.organization_id
                AND a.disabled_at IS NULL)",
    )
    .bind(digest)
    .fetch_optional(pool)
    .await?)
}

/// An organisation's tokens: name, created, revoked (if it was).
pub async fn api_tokens(
    pool: &Pool,
    organization_id: &str,
) -> Result<Vec<(String, i64, Option<i64>)>> {
    Ok(sqlx::query_as(
        "SELECT name, created_at, revoked_at FROM api_token
         WHERE organization_id = $1 ORDER BY created_at, name",
    )
    .bind(organization_id)
    .fetch_all(pool)
    .await?)
}

pub async fn record(
    pool: &Pool,
    now: i64,
    by: Option<&str>,
    action: &str,
    subject: &str,
    detail: Option<&str>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    insert_audit(&mut tx, now, by, action, subject, detail).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_audit(
    tx: &mut sqlx::Transaction<'_, Db>,
    now: i64,
    by: Option<&str>,
    action: &str,
    subject: &str,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_event (at, account_id, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(by)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest `limit` audit events, newest first; only those about
/// `subject` when given.
pub async fn audit(pool: &Pool, subject: Option<&str>, limit: i64) -> Result<Vec<AuditEvent>> {
    // At, by whom, action, subject, detail.
    type AuditRow = (i64, Option<String>, String, String, Option<String>);
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT e.at, a.email, e.action, e.subject, e.detail
         FROM audit_event e LEFT JOIN account a ON a.id = e.account_id
         WHERE $1 IS NULL OR e.subject = $1
         ORDER BY e.id DESC LIMIT $2",
    )
    .bind(subject)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, by, action, subject, detail)| AuditEvent {
            at,
            by,
            action,
            subject,
            detail,
        })
        .collect())
}

/// The account a setup link would set a password for, if it works now.
pub async fn link_account(pool: &Pool, digest: &str, now: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT account_id FROM account_link
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(digest)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}
