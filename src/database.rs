//! The one database behind Signpost: SQLite or PostgreSQL, chosen by URL.
//!
//! It holds the directory, the usage counts, the portal's accounts and the
//! moderation queue. This module only connects and applies the schema (the
//! migrations in `migrations/sqlite` and `migrations/postgres`); the SQL
//! that reads and writes lives with its owner, in [`crate::directory`],
//! [`crate::stats`], [`crate::accounts`] and [`crate::moderation`].
//!
//! Invariant: a [`Database`] is always migrated: [`Database::open`] applies
//! every migration before handing it out, so the directory and the stats
//! store can share one connection pool and trust the schema.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Why the database could not be opened, by what the operator does next.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(
        "database URL is not one I can use: {reason}. Use sqlite://signpost.db or postgres://user@host/database"
    )]
    BadUrl { reason: String },
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was open but does not answer now.
    #[error("the database does not answer: {0}")]
    Unavailable(#[source] sqlx::Error),
}

/// A migrated connection pool, cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Database {
    pool: Pool,
}

/// Calls `sqlite::$function(pool, args...)` or `postgres::$function(...)`,
/// whichever backend `$store.database` uses. For stores whose SQL is
/// written once in a `backend.rs` included twice, as modules `sqlite` and
/// `postgres` beside the caller (the paths resolve where it is called).
macro_rules! dispatch {
    ($store:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $store.database.pool() {
            $crate::database::Pool::Sqlite(pool) => sqlite::$function(pool, $($arg),*).await,
            $crate::database::Pool::Postgres(pool) => postgres::$function(pool, $($arg),*).await,
        }
    };
}
pub(crate) use dispatch;

/// A connection pool to one of the two backends. Only the modules that own
/// SQL (the directory, the stats store, accounts and moderation) look inside.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    /// Opens the database at `url` (`sqlite:` or `postgres:`), creating a
    /// SQLite file if needed, and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, DatabaseError> {
        let database = Database {
            pool: Pool::connect(url).await?,
        };
        database.migrate().await?;
        Ok(database)
    }

    /// Applies any migrations not yet applied; returns how many there are in all.
    pub async fn migrate(&self) -> Result<usize, DatabaseError> {
        match &self.pool {
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

    /// "SQLite" or "PostgreSQL".
    pub fn backend(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "SQLite",
            Pool::Postgres(_) => "PostgreSQL",
        }
    }

    /// Asks the database a trivial question, to tell whether it answers
    /// (for health checks).
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        let answered = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        };
        answered.map_err(DatabaseError::Unavailable)
    }

    /// Closes every connection, waiting for work in flight.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Pool {
    /// Connects to the database at `url`, creating a SQLite file if needed.
    async fn connect(url: &str) -> Result<Pool, DatabaseError> {
        let bad_url = |reason: String| DatabaseError::BadUrl { reason };
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|e| bad_url(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(DatabaseError::Open)?;
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
        // so an in-memory one must keep exactly one connection open.
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
        .map_err(DatabaseError::Open)?;
        Ok(Pool::Sqlite(pool))
    }
}
