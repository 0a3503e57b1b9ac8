//! When a schedule happens: the full iCalendar rule and its exceptions, and
//! the dated occurrences expanded from it.
//!
//! Invariant: expansion is bounded. However a rule is written (no end, every
//! minute, a date that never comes), expanding it between two dates gives at
//! most the cap it is given, or an error saying why; it never runs away.
//! Times are local wall-clock times in the schedule's IANA time zone, turned
//! into UTC instants per occurrence, so daylight saving is handled per date.

use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Unvalidated};
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
    #[error("the rule makes more than {cap} occurrences in twelve weeks: check its frequency")]
    TooMany { cap: usize },
    /// The rule is so dense, or starts so long ago, that reaching the period
    /// would mean stepping through more than `limit` earlier occurrences.
    #[error(
        "the rule makes more than {limit} occurrences before the period even starts: \
         check its start (DTSTART) and how often it repeats"
    )]
    TooManyBefore { limit: usize },
}

/// How many occurrences before the period expansion steps through before
/// giving up: a daily rule may start about 270 years back, an hourly one
/// about 11.
const MAX_OCCURRENCES_BEFORE_PERIOD: usize = 100_000;

impl Recurrence {
    /// Checks the rule without expanding it: the time zone is known and
    /// every RRULE parses and is valid for the start, as the `rrule` crate
    /// sees it.
    pub fn validate(&self) -> Result<(), RecurrenceError> {
        let zone = self.zone()?;
        let start = local_instant(zone, self.start);
        for rule in &self.rules {
            validated_rule(rule, zone, self.start, start)?;
        }
        Ok(())
    }

    /// Every occurrence whose local start date is in `from..=to`, sorted by
    /// start, at most `cap` of them ([`RecurrenceError::TooMany`] beyond).
    ///
    /// DTSTART is always an occurrence, as RFC 5545 says, and RDATEs add
    /// more; EXDATEs and the original starts of changed instances take
    /// theirs away; moved instances come back at their new start, whether or
    /// not the original was in the period.
    pub fn occurrences(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        cap: usize,
    ) -> Result<Vec<Occurrence>, RecurrenceError> {
        let zone = self.zone()?;
        if from > to {
            return Ok(Vec::new());
        }
        let rrule_zone = rrule::Tz::Tz(zone);
        let start = local_instant(zone, self.start).with_timezone(&rrule_zone);
        let mut set = RRuleSet::new(start).limit().rdate(start);
        for rule in &self.rules {
            if let Some(rule) = validated_rule(rule, zone, self.start, start)? {
                set = set.rrule(rule);
            }
        }
        for extra in &self.extra_dates {
            set = set.rdate(local_instant(zone, *extra).with_timezone(&rrule_zone));
        }
        let removed = self
            .excluded_dates
            .iter()
            .chain(self.changed.iter().map(|changed| &changed.original_start));
        for excluded in removed {
            set = set.exdate(local_instant(zone, *excluded).with_timezone(&rrule_zone));
        }

        let mut found: Vec<Occurrence> = Vec::new();
        let mut before_period = 0;
        // The `rrule` iterator is limited (`limit()` above): a rule that
        // finds nothing for a long stretch ends it rather than spinning. We
        // walk it by hand, rather than with `after(..).before(..).all(..)`,
        // so the steps before the period are bounded too.
        for instant in &set {
            let local_date = instant.date_naive();
            if local_date < from {
                before_period += 1;
                if before_period > MAX_OCCURRENCES_BEFORE_PERIOD {
                    return Err(RecurrenceError::TooManyBefore {
                        limit: MAX_OCCURRENCES_BEFORE_PERIOD,
                    });
                }
                continue;
            }
            if local_date > to {
                break;
            }
            let starts_at = instant.with_timezone(&Utc);
            // DTSTART is also an RDATE, and an RDATE may repeat a rule's date.
            if found.last().is_some_and(|last| last.starts_at == starts_at) {
                continue;
            }
            found.push(self.occurrence(zone, starts_at, self.duration_minutes));
            if found.len() > cap {
                return Err(RecurrenceError::TooMany { cap });
            }
        }
        for changed in &self.changed {
            let Some(moved_to) = changed.start else {
                continue;
            };
            let starts_at = local_instant(zone, moved_to).with_timezone(&Utc);
            let local_date = starts_at.with_timezone(&zone).date_naive();
            if (from..=to).contains(&local_date) {
                let duration = changed.duration_minutes.or(self.duration_minutes);
                found.push(self.occurrence(zone, starts_at, duration));
            }
        }
        found.sort();
        found.dedup_by_key(|occurrence| occurrence.starts_at);
        if found.len() > cap {
            return Err(RecurrenceError::TooMany { cap });
        }
        Ok(found)
    }

    /// A short plain-English summary for people, British style: "Every
    /// Tuesday, 10am to 12pm", "Every other Monday, 6:30pm", "Last Friday of
    /// the month, 7pm", "Saturday 5 December, 11am" (a one-off), "Every
    /// day". `None` when the rule is too complex to say briefly (several
    /// rules, extra dates, hourly rules, ...); the dated occurrences still
    /// tell people when.
    pub fn summary(&self) -> Option<String> {
        let days = match self.rules.as_slice() {
            [] if self.extra_dates.is_empty() => return Some(self.one_off_summary()),
            [rule] if self.extra_dates.is_empty() => self.rule_days(rule)?,
            _ => return None,
        };
        match self.time_summary() {
            Some(time) => Some(format!("{days}, {time}")),
            None => Some(days),
        }
    }

    /// "Saturday 5 December, 11am to 1pm", "Monday 25 December".
    fn one_off_summary(&self) -> String {
        let date = self.start.date();
        let day = format!("{} {}", weekday_name(date.weekday()), date.format("%-d %B"));
        let lasts_days = self
            .duration_minutes
            .filter(|minutes| self.all_day && *minutes > MINUTES_PER_DAY)
            .map(|minutes| minutes.div_ceil(MINUTES_PER_DAY));
        if let Some(days) = lasts_days {
            let last = date + chrono::Days::new(u64::from(days - 1));
            return format!(
                "{day} to {} {}",
                weekday_name(last.weekday()),
                last.format("%-d %B")
            );
        }
        match self.time_summary() {
            Some(time) => format!("{day}, {time}"),
            None => day,
        }
    }

    /// The days a single rule says, such as "Every other Monday" or "Last
    /// Friday of the month".
    fn rule_days(&self, rule: &str) -> Option<String> {
        let zone = self.zone().ok()?;
        let parsed = RRule::<Unvalidated>::from_str(&normalise_until(rule, zone).ok()?).ok()?;
        let unsaid = !parsed.get_by_hour().is_empty()
            || !parsed.get_by_minute().is_empty()
            || !parsed.get_by_second().is_empty()
            || !parsed.get_by_year_day().is_empty()
            || !parsed.get_by_week_no().is_empty();
        if unsaid {
            return None;
        }
        let interval = parsed.get_interval();
        let weekdays = parsed.get_by_weekday();
        let month_days = parsed.get_by_month_day();
        let set_positions = parsed.get_by_set_pos();
        let months = parsed.get_by_month();
        match parsed.get_freq() {
            Frequency::Daily if weekdays.is_empty() => {
                if !month_days.is_empty() || !set_positions.is_empty() || !months.is_empty() {
                    return None;
                }
                Some(match interval {
                    1 => "Every day".to_owned(),
                    2 => "Every other day".to_owned(),
                    n => format!("Every {n} days"),
                })
            }
            Frequency::Daily | Frequency::Weekly => {
                if !month_days.is_empty() || !set_positions.is_empty() || !months.is_empty() {
                    return None;
                }
                let daily = parsed.get_freq() == Frequency::Daily;
                let days = if weekdays.is_empty() {
                    vec![self.start.weekday()]
                } else {
                    every_weekdays(weekdays)?
                };
                let days = weekday_list(&days);
                match (interval, daily) {
                    (1, _) => Some(format!("Every {days}")),
                    (2, false) => Some(format!("Every other {days}")),
                    (n, false) => Some(format!("Every {n} weeks on {days}")),
                    _ => None,
                }
            }
            Frequency::Monthly => {
                if interval != 1 || !months.is_empty() {
                    return None;
                }
                match (weekdays, month_days, set_positions) {
                    ([], [], []) => Some(format!(
                        "The {} of every month",
                        ordinal_number(self.start.day())
                    )),
                    ([], [day], []) if *day > 0 => Some(format!(
                        "The {} of every month",
                        ordinal_number(day.unsigned_abs().into())
                    )),
                    ([], [-1], []) => Some("The last day of every month".to_owned()),
                    ([NWeekday::Nth(n, weekday)], [], []) => nth_weekday_of_month(*n, *weekday),
                    ([NWeekday::Every(weekday)], [], [position]) => {
                        nth_weekday_of_month(i16::try_from(*position).ok()?, *weekday)
                    }
                    _ => None,
                }
            }
            Frequency::Yearly => {
                let month_matches = match months {
                    [] => true,
                    [month] => u32::from(*month) == self.start.month(),
                    _ => false,
                };
                let day_matches = match month_days {
                    [] => true,
                    [day] => i64::from(*day) == i64::from(self.start.day()),
                    _ => false,
                };
                if interval != 1
                    || !weekdays.is_empty()
                    || !set_positions.is_empty()
                    || !month_matches
                    || !day_matches
                {
                    return None;
                }
                Some(format!("Every year on {}", self.start.format("%-d %B")))
            }
            _ => None,
        }
    }

    /// "10am to 12pm", "6:30pm", or `None` for an all-day event.
    fn time_summary(&self) -> Option<String> {
        if self.all_day {
            return None;
        }
        let start = self.start.time();
        let end = self
            .duration_minutes
            .filter(|minutes| *minutes > 0)
            .map(|minutes| self.start + Duration::minutes(i64::from(minutes)))
            // An evening that ends after midnight still reads well; one that
            // runs for days does not.
            .filter(|end| *end - self.start < Duration::hours(24));
        Some(match end {
            Some(end) => format!("{} to {}", clock_time(start), clock_time(end.time())),
            None => clock_time(start),
        })
    }

    /// The schedule's time zone.
    fn zone(&self) -> Result<chrono_tz::Tz, RecurrenceError> {
        chrono_tz::Tz::from_str(&self.timezone)
            .map_err(|_| RecurrenceError::UnknownTimeZone(self.timezone.clone()))
    }

    /// One occurrence starting at `starts_at`.
    fn occurrence(
        &self,
        zone: chrono_tz::Tz,
        starts_at: DateTime<Utc>,
        duration_minutes: Option<u32>,
    ) -> Occurrence {
        let local = starts_at.with_timezone(&zone);
        let ends_at = duration_minutes.map(|minutes| {
            if self.all_day && minutes % MINUTES_PER_DAY == 0 {
                // Whole days end at local midnight, even across a change of
                // clocks, when a day is 23 or 25 hours long.
                let days = u64::from(minutes / MINUTES_PER_DAY);
                let end_date = local.date_naive() + chrono::Days::new(days);
                local_instant(zone, end_date.and_time(NaiveTime::MIN)).with_timezone(&Utc)
            } else {
                starts_at + Duration::minutes(i64::from(minutes))
            }
        });
        Occurrence {
            starts_at,
            ends_at,
            local_date: local.date_naive(),
            local_start: local.time(),
            all_day: self.all_day,
        }
    }
}

/// Minutes in a day of 24 hours.
pub(crate) const MINUTES_PER_DAY: u32 = 24 * 60;

/// "10am", "6:30pm", "12pm" (midday), "12am" (midnight).
fn clock_time(time: NaiveTime) -> String {
    let (pm, hour) = time.hour12();
    let suffix = if pm { "pm" } else { "am" };
    match time.minute() {
        0 => format!("{hour}{suffix}"),
        minute => format!("{hour}:{minute:02}{suffix}"),
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// The weekdays of a BYDAY without positions (`MO,WE`), or `None` when one
/// has a position (`2MO`), which a weekly rule cannot say briefly.
fn every_weekdays(days: &[NWeekday]) -> Option<Vec<Weekday>> {
    let mut weekdays: Vec<Weekday> = days
        .iter()
        .map(|day| match day {
            NWeekday::Every(weekday) => Some(*weekday),
            NWeekday::Nth(..) => None,
        })
        .collect::<Option<_>>()?;
    weekdays.sort_by_key(Weekday::num_days_from_monday);
    weekdays.dedup();
    Some(weekdays)
}

/// "Tuesday", "Monday and Thursday", "Monday, Tuesday and Wednesday",
/// "weekday" (Monday to Friday), "day" (all seven).
fn weekday_list(days: &[Weekday]) -> String {
    use Weekday::*;
    match days {
        [Mon, Tue, Wed, Thu, Fri] => return "weekday".to_owned(),
        [Mon, Tue, Wed, Thu, Fri, Sat, Sun] => return "day".to_owned(),
        _ => {}
    }
    let names: Vec<&str> = days.iter().map(|day| weekday_name(*day)).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// "First Tuesday of the month", "Last Friday of the month".
fn nth_weekday_of_month(n: i16, day: Weekday) -> Option<String> {
    let position = match n {
        1 => "First",
        2 => "Second",
        3 => "Third",
        4 => "Fourth",
        5 => "Fifth",
        -1 => "Last",
        -2 => "Second to last",
        _ => return None,
    };
    Some(format!("{position} {} of the month", weekday_name(day)))
}

/// "1st", "2nd", "3rd", "11th", "22nd".
fn ordinal_number(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The instant a local wall-clock time means in `zone`. An ambiguous time
/// (clocks going back) is the earlier of the two; a time that does not exist
/// (clocks going forward) is counted from local midnight, so 01:30 on the
/// day clocks go forward at 01:00 is 02:30 summer time. That is what the
/// `rrule` crate does for the dates it generates, so EXDATEs and moved
/// instances match them.
pub(crate) fn local_instant(zone: chrono_tz::Tz, local: NaiveDateTime) -> DateTime<chrono_tz::Tz> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) => instant,
        LocalResult::Ambiguous(earlier, later) => earlier.min(later),
        LocalResult::None => {
            let midnight = local.date().and_time(NaiveTime::MIN);
            let since_midnight = local - midnight;
            zone.from_local_datetime(&midnight)
                .earliest()
                .map(|midnight| midnight + since_midnight)
                // Midnight itself fell in the gap (a few zones change at
                // midnight): an hour later exists.
                .or_else(|| {
                    zone.from_local_datetime(&(local + Duration::hours(1)))
                        .earliest()
                })
                .unwrap_or_else(|| zone.from_utc_datetime(&local))
        }
    }
}

/// One RRULE, parsed and validated by the `rrule` crate for this start.
///
/// Two repairs first, both for what real calendars write: an UNTIL without
/// `Z` (a local time or a bare date, which RFC 5545 allows for all-day
/// events) is turned into UTC in the schedule's zone, a bare date meaning
/// the end of that day; and when the start falls in a daylight-saving gap,
/// the intended wall-clock time is written into the rule, because the crate
/// would otherwise repeat the shifted time on every date.
///
/// `None` for a rule that ends before it starts: it adds no dates (the
/// crate would call it invalid, but calendars that trimmed a series write
/// exactly that).
fn validated_rule<Z: TimeZone>(
    rule: &str,
    zone: chrono_tz::Tz,
    local_start: NaiveDateTime,
    start: DateTime<Z>,
) -> Result<Option<RRule>, RecurrenceError> {
    let bad = |reason: String| RecurrenceError::BadRule {
        rule: rule.to_owned(),
        reason,
    };
    let start = start.with_timezone(&rrule::Tz::Tz(zone));
    let normalised = normalise_until(rule, zone).map_err(bad)?;
    let mut parsed = RRule::<Unvalidated>::from_str(&normalised)
        .map_err(|err| bad(trim_reason(&err.to_string())))?;
    if parsed.get_until().is_some_and(|until| *until < start) {
        return Ok(None);
    }
    let shifted = start.naive_local() != local_start;
    if shifted && parsed.get_freq() <= Frequency::Daily {
        let time = local_start.time();
        if parsed.get_by_hour().is_empty() {
            parsed = parsed.by_hour(vec![clock_u8(time.hour())]);
        }
        if parsed.get_by_minute().is_empty() {
            parsed = parsed.by_minute(vec![clock_u8(time.minute())]);
        }
        if parsed.get_by_second().is_empty() {
            parsed = parsed.by_second(vec![clock_u8(time.second())]);
        }
    }
    parsed.validate(start).map(Some).map_err(|err| match err {
        rrule::RRuleError::ParserError(err) => bad(trim_reason(&err.to_string())),
        rrule::RRuleError::ValidationError(err) => bad(trim_reason(&err.to_string())),
        rrule::RRuleError::IterError(reason) => bad(trim_reason(&reason)),
    })
}

/// A clock field (hour, minute, second: all below 60) as the `u8` the
/// `rrule` crate takes.
fn clock_u8(value: u32) -> u8 {
    u8::try_from(value).unwrap_or(0)
}

/// An `rrule` crate message in our style: no full stop at the end.
fn trim_reason(reason: &str) -> String {
    reason.trim().trim_end_matches('.').to_owned()
}

/// The rule with any UNTIL that has no `Z` rewritten as UTC, read as local
/// time in `zone` (a bare date as the last second of that day). An
/// `RRULE:` prefix is dropped too.
fn normalise_until(rule: &str, zone: chrono_tz::Tz) -> Result<String, String> {
    let rule = rule.trim();
    let rule = match rule.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => &rule[6..],
        _ => rule,
    };
    let parts: Vec<String> = rule
        .split(';')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let Some((name, value)) = part.split_once('=') else {
                return Ok(part.to_owned());
            };
            if !name.trim().eq_ignore_ascii_case("UNTIL") || value.trim().ends_with(['Z', 'z']) {
                return Ok(part.to_owned());
            }
            let value = value.trim();
            let local = if value.len() == 8 {
                NaiveDate::parse_from_str(value, "%Y%m%d")
                    .ok()
                    .and_then(|date| date.and_hms_opt(23, 59, 59))
            } else {
                NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").ok()
            }
            .ok_or_else(|| {
                format!("UNTIL \"{value}\" is not a date (YYYYMMDD) or a date and time (YYYYMMDDTHHMMSSZ)")
            })?;
            let utc = local_instant(zone, local).with_timezone(&Utc);
            Ok(format!("UNTIL={}", utc.format("%Y%m%dT%H%M%SZ")))
        })
        .collect::<Result<_, String>>()?;
    Ok(parts.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("test date and time")
    }

    fn london(start: &str, rules: &[&str]) -> Recurrence {
        Recurrence {
            timezone: "Europe/London".to_owned(),
            start: local(start),
            all_day: false,
            duration_minutes: Some(120),
            rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
            extra_dates: Vec::new(),
            excluded_dates: Vec::new(),
            changed: Vec::new(),
        }
    }

    /// Occurrences as RFC 3339 UTC instants, easy to read in a failure.
    fn starts(recurrence: &Recurrence, from: &str, to: &str) -> Vec<String> {
        recurrence
            .occurrences(date(from), date(to), 500)
            .expect("expands")
            .iter()
            .map(|o| o.starts_at.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    #[test]
    fn weekly_event_keeps_its_local_time_across_the_end_of_summer_time() {
        let tuesday = london("2026-10-06 10:00", &["FREQ=WEEKLY;BYDAY=TU"]);
        assert_eq!(
            starts(&tuesday, "2026-10-01", "2026-11-05"),
            [
                "2026-10-06T09:00Z",
                "2026-10-13T09:00Z",
                "2026-10-20T09:00Z",
                // Clocks went back on Sunday 25 October.
                "2026-10-27T10:00Z",
                "2026-11-03T10:00Z",
            ]
        );
        let occurrences = tuesday
            .occurrences(date("2026-10-27"), date("2026-10-27"), 10)
            .expect("expands");
        assert_eq!(occurrences.len(), 1);
        assert_eq!(occurrences[0].local_date, date("2026-10-27"));
        assert_eq!(
            occurrences[0].local_start,
            NaiveTime::from_hms_opt(10, 0, 0).unwrap()
        );
        assert_eq!(
            occurrences[0]
                .ends_at
                .map(|t| t.format("%H:%MZ").to_string()),
            Some("12:00Z".to_owned())
        );
    }

    #[test]
    fn last_friday_of_the_month_comes_from_a_negative_byday() {
        let karaoke = london("2026-01-30 19:00", &["FREQ=MONTHLY;BYDAY=-1FR"]);
        assert_eq!(
            starts(&karaoke, "2026-01-01", "2026-05-31"),
            [
                "2026-01-30T19:00Z",
                "2026-02-27T19:00Z",
                "2026-03-27T19:00Z",
                "2026-04-24T18:00Z",
                "2026-05-29T18:00Z",
            ]
        );
    }

    #[test]
    fn excluded_dates_are_left_out() {
        let mut tuesday = london("2026-03-03 10:00", &["FREQ=WEEKLY"]);
        tuesday.excluded_dates = vec![local("2026-03-10 10:00")];
        assert_eq!(
            starts(&tuesday, "2026-03-01", "2026-03-20"),
            ["2026-03-03T10:00Z", "2026-03-17T10:00Z"]
        );
    }

    #[test]
    fn a_moved_instance_leaves_its_date_and_appears_at_its_new_one() {
        let mut tuesday = london("2026-03-03 10:00", &["FREQ=WEEKLY"]);
        tuesday.changed = vec![
            // Moved within the period, to a Thursday afternoon for one hour.
            ChangedInstance {
                original_start: local("2026-03-10 10:00"),
                start: Some(local("2026-03-12 14:00")),
                duration_minutes: Some(60),
            },
            // Moved out of the period.
            ChangedInstance {
                original_start: local("2026-03-17 10:00"),
                start: Some(local("2026-04-30 10:00")),
                duration_minutes: None,
            },
            // Moved into the period from outside it.
            ChangedInstance {
                original_start: local("2026-05-05 10:00"),
                start: Some(local("2026-03-19 10:00")),
                duration_minutes: None,
            },
            ChangedInstance {
                original_start: local("2026-03-24 10:00"),
                start: None,
                duration_minutes: None,
            },
        ];
        let occurrences = tuesday
            .occurrences(date("2026-03-01"), date("2026-03-31"), 50)
            .expect("expands");
        let seen: Vec<(String, Option<String>)> = occurrences
            .iter()
            .map(|o| {
                (
                    o.starts_at.format("%m-%d %H:%M").to_string(),
                    o.ends_at.map(|t| t.format("%H:%M").to_string()),
                )
            })
            .collect();
        let expected = [
            ("03-03 10:00", "12:00"),
            ("03-12 14:00", "15:00"),
            ("03-19 10:00", "12:00"),
            // 31 March is in summer time.
            ("03-31 09:00", "11:00"),
        ];
        let expected: Vec<(String, Option<String>)> = expected
            .iter()
            .map(|(start, end)| ((*start).to_owned(), Some((*end).to_owned())))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_series_of_dates_without_a_rule_is_its_start_and_extra_dates() {
        let mut news = london("2026-01-03 19:00", &[]);
        news.extra_dates = vec![
            local("2026-01-31 19:00"),
            // The start repeated, as real files do: counted once.
            local("2026-01-03 19:00"),
            local("2026-03-07 19:00"),
        ];
        news.excluded_dates = vec![local("2026-03-07 19:00")];
        assert_eq!(
            starts(&news, "2026-01-01", "2026-12-31"),
            ["2026-01-03T19:00Z", "2026-01-31T19:00Z"]
        );
        assert_eq!(
            starts(&news, "2026-01-04", "2026-12-31"),
            ["2026-01-31T19:00Z"]
        );
    }

    #[test]
    fn a_rule_that_never_ends_is_cut_off_at_the_cap() {
        let every_minute = london("2026-03-03 10:00", &["FREQ=MINUTELY"]);
        assert_eq!(
            every_minute.occurrences(date("2026-03-01"), date("2026-03-31"), 500),
            Err(RecurrenceError::TooMany { cap: 500 })
        );
        let since_long_ago = london("1990-01-01 10:00", &["FREQ=MINUTELY"]);
        assert_eq!(
            since_long_ago.occurrences(date("2026-03-01"), date("2026-03-31"), 500),
            Err(RecurrenceError::TooManyBefore {
                limit: MAX_OCCURRENCES_BEFORE_PERIOD
            })
        );
        let daily_since_1900 = london("1900-01-01 10:00", &["FREQ=DAILY"]);
        assert_eq!(
            daily_since_1900
                .occurrences(date("2026-03-01"), date("2026-03-07"), 500)
                .map(|o| o.len()),
            Ok(7)
        );
    }

    #[test]
    fn a_rule_with_no_dates_in_the_period_gives_none() {
        let ended = london("2026-01-06 10:00", &["FREQ=WEEKLY;COUNT=3"]);
        assert_eq!(
            starts(&ended, "2026-03-01", "2026-12-31"),
            Vec::<String>::new()
        );
        // 30 February never comes; only the start itself is an occurrence.
        let never = london("2026-01-06 10:00", &["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"]);
        assert_eq!(
            starts(&never, "2026-01-07", "2030-12-31"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_invalid_rule_is_refused_with_the_reason() {
        for rule in [
            "FREQ=FORTNIGHTLY",
            "FREQ=WEEKLY;BYDAY=XX",
            "BYDAY=MO",
            "FREQ=MONTHLY;BYMONTHDAY=40",
        ] {
            let bad = london("2026-03-03 10:00", &[rule]);
            let Err(RecurrenceError::BadRule {
                rule: named,
                reason,
            }) = bad.validate()
            else {
                panic!("{rule} should be refused");
            };
            assert_eq!(named, rule);
            assert!(!reason.is_empty() && !reason.ends_with('.'), "{reason}");
            assert!(
                bad.occurrences(date("2026-03-01"), date("2026-03-31"), 10)
                    .is_err()
            );
        }
        let mut unknown_zone = london("2026-03-03 10:00", &["FREQ=WEEKLY"]);
        unknown_zone.timezone = "Europe/Huddersfield".to_owned();
        assert_eq!(
            unknown_zone.validate(),
            Err(RecurrenceError::UnknownTimeZone(
                "Europe/Huddersfield".to_owned()
            ))
        );
    }

    #[test]
    fn until_may_be_a_local_date_or_time_as_real_calendars_write_it() {
        for rule in [
            "FREQ=WEEKLY;UNTIL=20260317",
            "FREQ=WEEKLY;UNTIL=20260317T100000",
            "FREQ=WEEKLY;UNTIL=20260317T100000Z",
            "RRULE:FREQ=WEEKLY;UNTIL=20260317T235959Z",
        ] {
            let tuesday = london("2026-03-03 10:00", &[rule]);
            assert_eq!(tuesday.validate(), Ok(()), "{rule}");
            assert_eq!(
                starts(&tuesday, "2026-03-01", "2026-04-30").len(),
                3,
                "{rule}"
            );
        }
        // Ending before it starts: only the start itself.
        let backwards = london("2026-03-03 10:00", &["FREQ=WEEKLY;UNTIL=20250101"]);
        assert_eq!(backwards.validate(), Ok(()));
        assert_eq!(
            starts(&backwards, "2026-01-01", "2026-12-31"),
            ["2026-03-03T10:00Z"]
        );
    }

    #[test]
    fn times_missing_or_doubled_by_a_change_of_clocks_take_the_earliest_sensible_instant() {
        // Clocks went forward at 01:00 on 29 March 2026: 01:30 never
        // happened, so it is counted from midnight (02:30 summer time).
        let night = london("2026-03-29 01:30", &["FREQ=WEEKLY"]);
        assert_eq!(
            starts(&night, "2026-03-22", "2026-04-05"),
            ["2026-03-29T01:30Z", "2026-04-05T00:30Z"]
        );
        // Clocks went back at 02:00 on 25 October 2026: 01:30 happened twice.
        let twice = london("2026-10-25 01:30", &[]);
        assert_eq!(
            starts(&twice, "2026-10-25", "2026-10-25"),
            ["2026-10-25T00:30Z"]
        );
    }

    #[test]
    fn all_day_events_last_whole_local_days() {
        let bank_holiday = Recurrence {
            all_day: true,
            duration_minutes: Some(MINUTES_PER_DAY),
            ..london("2026-10-25 00:00", &[])
        };
        let occurrences = bank_holiday
            .occurrences(date("2026-10-01"), date("2026-10-31"), 10)
            .expect("expands");
        assert_eq!(occurrences.len(), 1);
        let day = occurrences[0];
        assert!(day.all_day);
        assert_eq!(day.local_date, date("2026-10-25"));
        assert_eq!(day.starts_at.to_rfc3339(), "2026-10-24T23:00:00+00:00");
        // A 25-hour day: it ends at local midnight, not 24 hours later.
        assert_eq!(
            day.ends_at.map(|t| t.to_rfc3339()),
            Some("2026-10-26T00:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn several_rules_are_merged_in_order() {
        let both = london(
            "2023-01-12 10:00",
            &[
                "FREQ=WEEKLY;BYDAY=TH;COUNT=3",
                "FREQ=MONTHLY;BYDAY=2MO;COUNT=2",
            ],
        );
        assert_eq!(
            starts(&both, "2023-01-01", "2023-03-31"),
            [
                "2023-01-12T10:00Z",
                "2023-01-19T10:00Z",
                "2023-01-26T10:00Z",
                "2023-02-13T10:00Z",
                "2023-03-13T10:00Z",
            ]
        );
    }

    /// Start, rules, duration in minutes, and the summary expected.
    type SummaryCase<'a> = (&'a str, &'a [&'a str], Option<u32>, Option<&'a str>);

    #[test]
    fn summaries_read_as_people_say_them() {
        let cases: &[SummaryCase] = &[
            (
                "2026-03-03 10:00",
                &["FREQ=WEEKLY;BYDAY=TU"],
                Some(120),
                Some("Every Tuesday, 10am to 12pm"),
            ),
            (
                "2026-03-03 10:00",
                &["FREQ=WEEKLY"],
                None,
                Some("Every Tuesday, 10am"),
            ),
            (
                "2026-03-02 18:30",
                &["FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"],
                None,
                Some("Every other Monday, 6:30pm"),
            ),
            (
                "2026-03-02 18:30",
                &["FREQ=WEEKLY;INTERVAL=3;BYDAY=MO"],
                None,
                Some("Every 3 weeks on Monday, 6:30pm"),
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
                Some(30),
                Some("Every weekday, 9am to 9:30am"),
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=WEEKLY;BYDAY=TH,MO"],
                None,
                Some("Every Monday and Thursday, 9am"),
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=WEEKLY;BYDAY=MO,WE,FR"],
                None,
                Some("Every Monday, Wednesday and Friday, 9am"),
            ),
            (
                "2026-01-30 19:00",
                &["FREQ=MONTHLY;BYDAY=-1FR"],
                None,
                Some("Last Friday of the month, 7pm"),
            ),
            (
                "2026-03-03 14:00",
                &["FREQ=MONTHLY;BYDAY=1TU"],
                Some(120),
                Some("First Tuesday of the month, 2pm to 4pm"),
            ),
            (
                "2026-03-03 14:00",
                &["FREQ=MONTHLY;BYDAY=TU;BYSETPOS=3"],
                None,
                Some("Third Tuesday of the month, 2pm"),
            ),
            (
                "2026-03-15 12:00",
                &["FREQ=MONTHLY"],
                None,
                Some("The 15th of every month, 12pm"),
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=DAILY"],
                None,
                Some("Every day, 9am"),
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=DAILY;INTERVAL=2"],
                None,
                Some("Every other day, 9am"),
            ),
            (
                "2026-03-02 21:00",
                &["FREQ=DAILY"],
                Some(240),
                Some("Every day, 9pm to 1am"),
            ),
            (
                "2026-12-05 11:00",
                &[],
                Some(90),
                Some("Saturday 5 December, 11am to 12:30pm"),
            ),
            (
                "2026-12-05 11:00",
                &[],
                None,
                Some("Saturday 5 December, 11am"),
            ),
            (
                "2026-12-24 12:00",
                &["FREQ=YEARLY"],
                None,
                Some("Every year on 24 December, 12pm"),
            ),
            ("2026-03-02 09:00", &["FREQ=HOURLY;INTERVAL=2"], None, None),
            (
                "2026-03-02 09:00",
                &["FREQ=WEEKLY", "FREQ=MONTHLY"],
                None,
                None,
            ),
            (
                "2026-03-02 09:00",
                &["FREQ=MONTHLY;INTERVAL=2;BYDAY=1MO"],
                None,
                None,
            ),
            ("2026-03-02 09:00", &["FREQ=NEVER"], None, None),
        ];
        for (start, rules, duration, expected) in cases {
            let recurrence = Recurrence {
                duration_minutes: *duration,
                ..london(start, rules)
            };
            assert_eq!(recurrence.summary().as_deref(), *expected, "{rules:?}");
        }
        let all_day = Recurrence {
            all_day: true,
            duration_minutes: Some(MINUTES_PER_DAY),
            ..london("2026-12-25 00:00", &[])
        };
        assert_eq!(all_day.summary().as_deref(), Some("Friday 25 December"));
        let weekend = Recurrence {
            all_day: true,
            duration_minutes: Some(2 * MINUTES_PER_DAY),
            ..london("2026-12-05 00:00", &[])
        };
        assert_eq!(
            weekend.summary().as_deref(),
            Some("Saturday 5 December to Sunday 6 December")
        );
        let every_monday_all_day = Recurrence {
            all_day: true,
            ..london("2026-03-02 00:00", &["FREQ=WEEKLY"])
        };
        assert_eq!(
            every_monday_all_day.summary().as_deref(),
            Some("Every Monday")
        );
        let mut with_extra_dates = london("2026-03-02 09:00", &[]);
        with_extra_dates.extra_dates = vec![local("2026-04-02 09:00")];
        assert_eq!(with_extra_dates.summary(), None);
    }
}
