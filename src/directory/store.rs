//! The directory's SQL, on SQLite or PostgreSQL (the connection itself is
//! [`crate::database`]).
//!
//! Invariant: each operation is written once, in `backend.rs`, and compiled
//! for both backends (the file is included twice, with a different `Db`), so
//! the two cannot drift apart unnoticed. Where the SQL itself must differ
//! (full-text search), the `POSTGRES` constant picks the text. Placeholders
//! are `$1`, `$2`, ..., which both accept. `cargo fmt` does not reach an
//! included file: run `rustfmt --edition 2024 src/directory/backend.rs`.

/// Calls `$module::$function(pool, args...)` on whichever backend `$pool`
/// is: the same code, compiled once per backend (see `backend.rs`).
macro_rules! dispatch {
    ($pool:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $pool {
            $crate::database::Pool::Sqlite(pool) => {
                $crate::directory::store::sqlite::$function(pool, $($arg),*).await
            }
            $crate::database::Pool::Postgres(pool) => {
                $crate::directory::store::postgres::$function(pool, $($arg),*).await
            }
        }
    };
}
pub(super) use dispatch;

/// The directory's SQL for SQLite.
pub(crate) mod sqlite {
    type Db = sqlx::Sqlite;
    const POSTGRES: bool = false;
    include!("backend.rs");
}

/// The same SQL, compiled for PostgreSQL.
pub(crate) mod postgres {
    type Db = sqlx::Postgres;
    const POSTGRES: bool = true;
    include!("backend.rs");
}

/// Which services `load_services` reads, whole.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Selection<'a> {
    /// Every published, unexpired service, whatever its HSDS status: an
    /// export, which says the status.
    Published,
    /// Those of these services that people may see (published, active,
    /// unexpired), reading only their records.
    Shown(&'a [String]),
    /// Every service of this organization, whatever its moderation or HSDS
    /// status or expiry: what the organisation itself sees through its API.
    OfOrganization(&'a str),
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
