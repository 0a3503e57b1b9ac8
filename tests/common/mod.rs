//! Shared test helpers: a fresh database per test, on SQLite or PostgreSQL.
//!
//! PostgreSQL tests run when `SIGNPOST_TEST_POSTGRES_URL` names a server
//! (such as postgres://postgres@127.0.0.1:5432/postgres) and say they were
//! skipped otherwise. Each test gets its own database, dropped afterwards.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use signpost::directory::Directory;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty, migrated database; removed when dropped.
pub struct TestDatabase {
    pub url: String,
    _folder: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDatabase {
    /// `None` (after saying so) when the backend is not available here.
    pub async fn new(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let folder = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}", folder.path().join("test.db").display());
                Some(TestDatabase {
                    url,
                    _folder: Some(folder),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let Ok(server) = std::env::var("SIGNPOST_TEST_POSTGRES_URL") else {
                    eprintln!("skipped: SIGNPOST_TEST_POSTGRES_URL is not set");
                    return None;
                };
                let name = format!(
                    "signpost_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                let admin = admin_connection(&server).await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("creating a test database");
                admin.close().await;
                let url = replace_database(&server, &name);
                Some(TestDatabase {
                    url,
                    _folder: None,
                    postgres: Some((server, name)),
                })
            }
        }
    }

    pub async fn directory(&self) -> Directory {
        Directory::open(&self.url)
            .await
            .expect("the database opens and migrates")
    }
}

async fn admin_connection(server: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(server)
        .await
        .expect("SIGNPOST_TEST_POSTGRES_URL should name a running PostgreSQL server")
}

/// The same server URL with another database name.
fn replace_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let without_path = match base.find("://").map(|i| i + 3) {
        Some(start) => match base[start..].find('/') {
            Some(slash) => &base[..start + slash],
            None => base,
        },
        None => base,
    };
    format!("{without_path}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let admin = admin_connection(&server).await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            });
        })
        .join();
    }
}

/// Writes each test twice, once per backend: `backend_tests! { async fn
/// name(db: TestDatabase) { ... } }` makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident: TestDatabase) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($db: $crate::common::TestDatabase) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(db) = $crate::common::TestDatabase::new($crate::common::Backend::Sqlite).await {
                        run(db).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::common::TestDatabase::new($crate::common::Backend::Postgres).await {
                        run(db).await;
                    }
                }
            }
        )*
    };
}

/// The shared data folder beside the project, if it is there.
pub fn shared_data(path: &str) -> Option<std::path::PathBuf> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(path);
    if full.exists() {
        Some(full)
    } else {
        eprintln!("skipped: ../shared/data/{path} is absent");
        None
    }
}

/// Disables every account of an organisation in the database at `url`, as
/// staff would by hand (the portal has no page for it).
pub async fn disable_accounts_of(url: &str, organization_id: &str) {
    let sql = "UPDATE account SET disabled_at = 1 WHERE organization_id = $1";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("the database");
        sqlx::query(sql)
            .bind(organization_id)
            .execute(&pool)
            .await
            .expect("disabled");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("the database");
        sqlx::query(sql)
            .bind(organization_id)
            .execute(&pool)
            .await
            .expect("disabled");
        pool.close().await;
    }
}

/// Every row of `table` in the database at `url`, as text, one row a line:
/// for checking what is stored, whatever the columns' types.
pub async fn table_text(url: &str, table: &str) -> String {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("the database");
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(table)
            .fetch_all(&pool)
            .await
            .expect("the table's columns");
        assert!(!columns.is_empty(), "no table {table}");
        let row = columns
            .iter()
            .map(|c| format!("coalesce(CAST(\"{c}\" AS TEXT), '')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {row} FROM \"{table}\""
        )))
        .fetch_all(&pool)
        .await
        .expect("the rows");
        pool.close().await;
        rows.join("\n")
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("the database");
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" t"
        )))
        .fetch_all(&pool)
        .await
        .expect("the rows");
        pool.close().await;
        rows.join("\n")
    }
}

/// Waits for a `signpost serve` or `signpost web` started with
/// `http.bind` port 0 to log where its web portal listens, and returns
/// that base URL (`http://127.0.0.1:PORT`). Fails if the program exits
/// first, or after 60 seconds.
pub async fn wait_for_web_portal(log: &std::path::Path, child: &mut std::process::Child) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let logged = std::fs::read_to_string(log).unwrap_or_default();
        if let Some((_, rest)) = logged.split_once("web portal listening on ") {
            let url: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '"')
                .collect();
            return url;
        }
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            panic!("signpost exited ({status:?}) before its web portal listened:\n{logged}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the web portal did not start within 60 seconds:\n{logged}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Waits up to 10 seconds for a child to exit, and returns how it did.
pub async fn wait_for_exit(
    child: &mut std::process::Child,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not stop within 10 seconds of SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
