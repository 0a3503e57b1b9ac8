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
use std::path::Path;

use chrono::NaiveDate;

use super::model::{Batch, Schedule};
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

/// Reads one file (or datapackage folder), detecting its format, and checks
/// every schedule can be expanded. `today` bounds the check.
pub fn read(
    path: &Path,
    options: &ImportOptions,
    today: NaiveDate,
) -> Result<(Format, Parsed), Problem> {
    let whole = |message: String| Problem {
        location: path.display().to_string(),
        record: None,
        message,
    };
    let is_datapackage_file = path.file_name().is_some_and(|n| n == "datapackage.json");
    if path.is_dir() || is_datapackage_file {
        let dir = if is_datapackage_file {
            path.parent().unwrap_or(Path::new("."))
        } else {
            path
        };
        if !dir.join("services.csv").is_file() {
            return Err(whole(
                "this folder is not an HSDS datapackage: it has no services.csv".to_owned(),
            ));
        }
        let parsed = datapackage::parse(dir, options)?;
        return Ok((Format::HsdsDatapackage, check_schedules(parsed, today)));
    }
    let bytes = std::fs::read(path).map_err(|err| whole(format!("cannot read it: {err}")))?;
    let text = String::from_utf8(bytes).map_err(|err| {
        whole(format!(
            "it is not UTF-8 text (byte {} is not): is it the right file?",
            err.utf8_error().valid_up_to()
        ))
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let start = text.trim_start();
    if start.starts_with("BEGIN:VCALENDAR") {
        let parsed = ics::parse(text, options)?;
        return Ok((Format::ICalendar, check_schedules(parsed, today)));
    }
    if start.starts_with('{') || start.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|err| Problem {
            location: format!("line {}, column {}", err.line(), err.column()),
            record: None,
            message: format!("the JSON is broken: {err}"),
        })?;
        let (format, parsed) = if oruk::looks_like_oruk_feed(&value) {
            (Format::OrukFeed, oruk::parse(&value, options)?)
        } else if hsds::looks_like_hsds(&value) {
            (Format::HsdsJson, hsds::parse(&value, options)?)
        } else {
            return Err(whole(
                "this JSON is neither Open Referral HSDS 3.0 nor an ORUK v1 feed: \
                 records need at least an id and a name"
                    .to_owned(),
            ));
        };
        return Ok((format, check_schedules(parsed, today)));
    }
    Err(whole(
        "this is not a format I can import. Give HSDS 3.0 JSON, an HSDS CSV datapackage \
         folder, an ORUK v1 feed (JSON) or an iCalendar (.ics) file"
            .to_owned(),
    ))
}

/// Expands every schedule over the occurrence horizon, so a rule that
/// cannot be expanded, or makes far too many occurrences, is caught before
/// anything is written; such services become problems.
pub fn check_schedules(mut parsed: Parsed, today: NaiveDate) -> Parsed {
    let horizon = crate::directory::Horizon::from_today(today);
    let check = |schedule: &Schedule| -> Result<(), String> {
        let Some(recurrence) = &schedule.recurrence else {
            return Ok(());
        };
        recurrence.validate().map_err(|e| e.to_string())?;
        recurrence
            .occurrences(
                horizon.first,
                horizon.last,
                crate::directory::MAX_OCCURRENCES_PER_SCHEDULE,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let mut bad: BTreeSet<String> = BTreeSet::new();
    let batch = &mut parsed.batch;
    for service in &batch.services {
        for schedule in &service.schedules {
            if let Err(message) = check(schedule) {
                parsed.problems.push(Problem {
                    location: format!("service \"{}\"", service.source_id),
                    record: Some(format!("\"{}\"", service.name)),
                    message: format!("its schedule cannot be used: {message}"),
                });
                bad.insert(service.id.clone());
            }
        }
    }
    for link in &batch.service_at_locations {
        for schedule in &link.schedules {
            if let Err(message) = check(schedule) {
                parsed.problems.push(Problem {
                    location: format!("service_at_location \"{}\"", link.source_id),
                    record: None,
                    message: format!("its schedule cannot be used: {message}"),
                });
                bad.insert(link.service_id.clone());
            }
        }
    }
    batch.services.retain(|s| !bad.contains(&s.id));
    batch
        .service_at_locations
        .retain(|l| !bad.contains(&l.service_id));
    parsed
}
