//! The database behind the directory: SQLite or PostgreSQL, chosen by URL.
//!
//! Invariant: each operation is written once, in `backend.rs`, and compiled
//! for both backends (the file is included twice, with a different `Db`), so
//! the two cannot drift apart unnoticed. Where the SQL itself must differ
//! (full-text search), the `POSTGRES` constant picks the text. Placeholders
//! are `$1`, `$2`, ..., which both accept. `cargo fmt` does not reach an
//! included file: run `rustfmt --edition 2024 src/directory/backend.rs`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::DirectoryError;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A connection pool to one of the two backends.
#[derive(Clone, Debug)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Calls `$module::$function(pool, args...)` on whichever backend `$pool`
/// is: the same code, compiled once per backend (see `backend.rs`).
macro_rules! dispatch {
    ($pool:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $pool {
            $crate::directory::store::Pool::Sqlite(pool) => {
                $crate::directory::store::sqlite::$function(pool, $($arg),*).await
            }
            $crate::directory::store::Pool::Postgres(pool) => {
                $crate::directory::store::postgres::$function(pool, $($arg),*).await
            }
        }
    };
}
pub(super) use dispatch;

/// The directory's SQL for SQLite.
pub(super) mod sqlite {
    type Db = sqlx::Sqlite;
    const POSTGRES: bool = false;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
pub(super) mod postgres {
    type Db = sqlx::Postgres;
    const POSTGRES: bool = true;
    include!("backend.rs");
}

impl Pool {
    /// Connects to the database at `url`, creating a SQLite file if needed.
    pub(super) async fn connect(url: &str) -> Result<Pool, DirectoryError> {
        let bad_url = |reason: String| DirectoryError::BadUrl { reason };
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|e| bad_url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(DirectoryError::Open)?;
            return Ok(Pool::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(bad_url(
                "it should start with sqlite: or postgres:".to_owned(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| bad_url(e.to_string()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // 64 MiB of page cache per connection (SQLite's default is 2
            // MiB): a national directory's search indexes stay in memory.
            .pragma("cache_size", "-65536");
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
                .connect_with(
                    options
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal),
                )
                .await
        }
        .map_err(DirectoryError::Open)?;
        Ok(Pool::Sqlite(pool))
    }

    /// Applies any migrations not yet applied; returns how many there are.
    pub(super) async fn migrate(&self) -> Result<usize, DirectoryError> {
        match self {
            Pool::Sqlite(pool) => {
                SQLITE_MIGRATOR.run(pool).await?;
                Ok(SQLITE_MIGRATOR.iter().count())
            }
            Pool::Postgres(pool) => {
                POSTGRES_MIGRATOR.run(pool).await?;
                Ok(POSTGRES_MIGRATOR.iter().count())
            }
        }
    }

    pub(super) fn backend(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "SQLite",
            Pool::Postgres(_) => "PostgreSQL",
        }
    }

    pub(super) async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// A stable 64-bit FNV-1a hash, as hex: a record's fingerprint, so an
/// unchanged record is recognised on re-import. (The standard library's
/// hasher may change between Rust releases; this never does.)
pub(super) fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_tell_records_apart() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint(b"{\"a\":1}"), fingerprint(b"{\"a\":2}"));
    }
}
