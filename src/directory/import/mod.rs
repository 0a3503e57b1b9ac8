//! Reading files of organisations, services and events into a [`Batch`].
//!
//! Formats: HSDS 3.0 JSON (one object or a list), the HSDS tabular CSV
//! datapackage, ORUK v1 feed dumps as councils publish them, and iCalendar.
//! The format is detected from the content, not trusted from the name.
//!
//! Invariant: parsing is pure and all-or-nothing. A parser returns every
//! problem it found, each naming the record and where it is in the file;
//! the caller decides whether to refuse the file (the default) or to skip
//! those records (`--skip-invalid`). Nothing here touches the database.

use std::collections::BTreeSet;

use super::model::Batch;
use crate::search::Category;

/// The kinds of file we can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    HsdsJson,
    HsdsDatapackage,
    OrukFeed,
    ICalendar,
}

impl Format {
    /// How the format is named to the person importing.
    pub fn describe(self) -> &'static str {
        match self {
            Format::HsdsJson => "Open Referral HSDS 3.0 JSON",
            Format::HsdsDatapackage => "Open Referral HSDS tabular datapackage (CSV)",
            Format::OrukFeed => "Open Referral UK v1 service feed",
            Format::ICalendar => "iCalendar",
        }
    }
}

/// What the person importing chose.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The name records are filed under, such as `kirklees-events`; importing
    /// again under the same name updates rather than duplicates.
    pub source: String,
    /// Categories given to every service in the file, on top of any the
    /// importer works out from taxonomy terms.
    pub categories: BTreeSet<Category>,
}

/// One thing wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as the person would find it: `line 40`, `services.csv row 4`,
    /// `[12]` (the 13th item of a JSON list).
    pub location: String,
    /// Which record, when known: `service "ac14…" ("Community Counselling")`.
    pub record: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.record {
            Some(record) => write!(f, "{}: {record}: {}", self.location, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// A parser's answer for a file it could read at all: the good records, and
/// the problems with the rest (already left out of `batch`).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub batch: Batch,
    pub problems: Vec<Problem>,
}

pub mod datapackage;
pub mod hsds;
pub mod html;
pub mod ics;
pub mod oruk;
pub mod taxonomy;
