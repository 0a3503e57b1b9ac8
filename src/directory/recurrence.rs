//! When a schedule happens: the full iCalendar rule and its exceptions, and
//! the dated occurrences expanded from it.
//!
//! Invariant: expansion is bounded. However a rule is written (no end, every
//! minute, a date that never comes), expanding it between two dates gives at
//! most the cap it is given, or an error saying why; it never runs away.
//! Times are local wall-clock times in the schedule's IANA time zone, turned
//! into UTC instants per occurrence, so daylight saving is handled per date.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// A schedule's rule, as iCalendar (RFC 5545) expresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// The IANA time zone the times are in, such as `Europe/London`.
    pub timezone: String,
    /// The first occurrence, in local time (DTSTART).
    pub start: NaiveDateTime,
    /// An all-day event: `start` is midnight and the time means nothing.
    #[serde(default)]
    pub all_day: bool,
    /// How long each occurrence lasts, if known (DTEND - DTSTART or DURATION).
    pub duration_minutes: Option<u32>,
    /// RRULE values, without the `RRULE:` prefix, such as
    /// `FREQ=MONTHLY;BYDAY=-1FR`. Empty for a one-off or an RDATE-only series.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Extra dates (RDATE), local time.
    #[serde(default)]
    pub extra_dates: Vec<NaiveDateTime>,
    /// Dates left out (EXDATE), local time.
    #[serde(default)]
    pub excluded_dates: Vec<NaiveDateTime>,
    /// Single instances moved or cancelled (RECURRENCE-ID).
    #[serde(default)]
    pub changed: Vec<ChangedInstance>,
}

/// One instance of a series that was moved or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedInstance {
    /// The instance's original start (RECURRENCE-ID), local time.
    pub original_start: NaiveDateTime,
    /// Where it moved to, local time; `None` when it was cancelled.
    pub start: Option<NaiveDateTime>,
    pub duration_minutes: Option<u32>,
}

/// One dated occurrence of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The local date and start time, in the schedule's time zone.
    pub local_date: NaiveDate,
    pub local_start: NaiveTime,
    pub all_day: bool,
}

/// Why a rule could not be expanded, in words for the person importing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    #[error("unknown time zone \"{0}\"")]
    UnknownTimeZone(String),
    #[error("the rule \"{rule}\" is not valid: {reason}")]
    BadRule { rule: String, reason: String },
    #[error("the rule makes more than {cap} occurrences in the period")]
    TooMany { cap: usize },
}
