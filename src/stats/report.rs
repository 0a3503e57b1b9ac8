//! Usage reports: stored counts grouped by period, made safe to show.
//!
//! Invariants: a [`Report`] holds no exact count, only [`Shown`] figures
//! (0 stays 0, 1 to 7 show as `<8`, the rest are rounded to the nearest 5,
//! as NHS Digital publishes small numbers), and totals are worked out from
//! the exact counts before rounding. Events declared `monthly_only`
//! (urgent help and check-ins) appear only for the whole service and whole
//! calendar months, whatever grouping is asked for. The same function
//! serves the command line and, later, the staff dashboard; formatting is
//! in [`super::format`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};

use super::StatsError;
use super::counter::{self, Dimensions};
use super::store::{StoredCount, StoredPeriod, month_start};

/// Counts from 1 to this are shown only as "fewer than 8".
const SUPPRESS_UP_TO: u64 = 7;

/// Larger counts are rounded to the nearest multiple of this.
const ROUND_TO: u64 = 5;

/// A count as it may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Zero,
    /// 1 to 7.
    FewerThanEight,
    /// 8 or more, rounded to the nearest 5.
    Rounded(u64),
}

impl Shown {
    /// The disclosure rule, applied to an exact count.
    pub fn of(exact: u64) -> Self {
        match exact {
            0 => Shown::Zero,
            1..=SUPPRESS_UP_TO => Shown::FewerThanEight,
            _ => Shown::Rounded((exact + ROUND_TO / 2) / ROUND_TO * ROUND_TO),
        }
    }

    /// The number shown, or `None` when it is suppressed.
    pub fn number(self) -> Option<u64> {
        match self {
            Shown::Zero => Some(0),
            Shown::FewerThanEight => None,
            Shown::Rounded(n) => Some(n),
        }
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Zero => f.write_str("0"),
            Shown::FewerThanEight => f.write_str("<8"),
            Shown::Rounded(n) => write!(f, "{n}"),
        }
    }
}

impl serde::Serialize for Shown {
    /// `"count": 15, "shown": "15"`, or `"count": null, "shown": "<8"`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("count", &self.number())?;
        map.serialize_entry("shown", &self.to_string())?;
        map.end()
    }
}

/// How rows are grouped in time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    Day,
    /// Weeks from Monday (ISO weeks).
    Week,
    Month,
}

impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grouping::Day => "day",
            Grouping::Week => "week",
            Grouping::Month => "month",
        })
    }
}

/// What to report on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRequest {
    from: NaiveDate,
    to: NaiveDate,
    by: Grouping,
}

/// How many days the default report covers, today included.
pub const DEFAULT_DAYS: u64 = 30;

impl ReportRequest {
    /// A report on the days `from` to `to`, both included.
    pub fn new(from: NaiveDate, to: NaiveDate, by: Grouping) -> Result<Self, StatsError> {
        if from > to {
            return Err(StatsError::BadRange { from, to });
        }
        Ok(ReportRequest { from, to, by })
    }

    /// The last [`DEFAULT_DAYS`] days, `today` included.
    pub fn last_days(today: NaiveDate, by: Grouping) -> Self {
        let from = today
            .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
            .unwrap_or(today);
        ReportRequest {
            from,
            to: today,
            by,
        }
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn by(&self) -> Grouping {
        self.by
    }

    /// The stored rows a report needs: whole months, for the events shown
    /// only by month.
    pub(crate) fn rows_needed(&self) -> (NaiveDate, NaiveDate) {
        (month_start(self.from), month_end(self.to))
    }
}

/// A length of time a row covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Period {
    pub kind: Grouping,
    /// `2026-11-24`, `2026-W48` or `2026-11`.
    pub label: String,
    /// The first and last days whose counts the row holds. A day or week
    /// is cut to the report's dates; a month of rolled-up counts, and
    /// every month of urgent help, is whole.
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// One figure for one period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub period: Period,
    pub event: String,
    pub dimensions: Dimensions,
    #[serde(flatten)]
    pub count: Shown,
}

/// One figure for the whole report. With no dimensions, it is the event's
/// total across all of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Total {
    pub event: String,
    pub dimensions: Option<Dimensions>,
    #[serde(flatten)]
    pub count: Shown,
}

/// A usage report, every figure already safe to show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Grouping,
    /// Per event: the total across all dimensions (`dimensions: None`),
    /// then one per set of dimensions. Declared order, then dimensions.
    pub totals: Vec<Total>,
    /// Per period, in declared event order, then time, then dimensions.
    pub rows: Vec<Row>,
    /// What a reader needs to know to read the figures right.
    pub notes: Vec<String>,
}

/// The disclosure rule, said once for every report.
pub const DISCLOSURE_NOTE: &str = "Counts of 1 to 7 show as <8 and larger counts are rounded to the nearest 5; totals are rounded from exact counts. Each count is of conversations: one conversation counts once a day for each thing.";

/// Why urgent help has no daily figures.
pub const MONTHLY_NOTE: &str = "Urgent help and check-ins (urgent_help_shown, check_in_shown) are shown only for the whole service and whole calendar months, whatever the grouping.";

/// Why some rows are whole months.
pub const ROLLED_UP_NOTE: &str = "Daily counts older than 90 days are kept only per month: a month row made from them counts the whole month, even beyond the report's dates.";

/// A period under construction: its place in time and exact counts.
#[derive(Default)]
struct Cell {
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
    exact: u64,
}

impl Cell {
    fn add(&mut self, first: NaiveDate, last: NaiveDate, exact: u64) {
        self.first = Some(self.first.map_or(first, |f| f.min(first)));
        self.last = Some(self.last.map_or(last, |l| l.max(last)));
        self.exact += exact;
    }
}

/// Builds the report from the stored rows (any rows outside its dates are
/// left out). Rows of events not declared are left out and noted.
pub fn build(request: &ReportRequest, stored: &[StoredCount]) -> Result<Report, StatsError> {
    let ReportRequest { from, to, by } = *request;
    let order = |event: &str| counter::DECLARED.iter().position(|d| d.event == event);
    // (event order, period kind, period start, dimensions) -> cell
    let mut cells: BTreeMap<(usize, Grouping, NaiveDate, Dimensions), Cell> = BTreeMap::new();
    let mut totals: BTreeMap<(usize, Dimensions), u64> = BTreeMap::new();
    let mut event_totals: BTreeMap<usize, u64> = BTreeMap::new();
    let mut undeclared = 0;
    let mut rolled_up = false;

    for row in stored {
        let Some(event) = order(&row.event) else {
            undeclared += 1;
            continue;
        };
        let monthly_only = counter::DECLARED[event].monthly_only;
        let dimensions = Dimensions::decode(&row.dimensions)
            .map_err(|err| StatsError::Corrupt(err.to_string()))?;
        let month = (month_start(row.start), month_end(row.start));
        let (kind, start, first, last) = match row.period {
            // Urgent help: whole months, whatever the dates asked for.
            _ if monthly_only => {
                if month.1 < from || month.0 > to {
                    continue;
                }
                (Grouping::Month, month.0, month.0, month.1)
            }
            StoredPeriod::Month => {
                if month.1 < from || month.0 > to {
                    continue;
                }
                rolled_up = true;
                (Grouping::Month, month.0, month.0, month.1)
            }
            StoredPeriod::Day => {
                if row.start < from || row.start > to {
                    continue;
                }
                let (start, end) = period_of(by, row.start);
                (by, start, start.max(from), end.min(to))
            }
        };
        // By month, a rolled-up month and its later days share one row.
        cells
            .entry((event, kind, start, dimensions.clone()))
            .or_default()
            .add(first, last, row.count);
        *totals.entry((event, dimensions)).or_insert(0) += row.count;
        *event_totals.entry(event).or_insert(0) += row.count;
    }

    // Urgent help shows every month, with 0 when there was none.
    for (event, declared) in counter::DECLARED.iter().enumerate() {
        if !declared.monthly_only {
            continue;
        }
        let mut month = month_start(from);
        while month <= to {
            cells
                .entry((event, Grouping::Month, month, Dimensions::default()))
                .or_default()
                .add(month, month_end(month), 0);
            month = month + Months::new(1);
        }
        event_totals.entry(event).or_insert(0);
        totals.entry((event, Dimensions::default())).or_insert(0);
    }

    let mut rows: Vec<Row> = cells
        .into_iter()
        .map(|((event, kind, start, dimensions), cell)| Row {
            period: Period {
                kind,
                label: label(kind, start),
                first: cell.first.unwrap_or(start),
                last: cell.last.unwrap_or(start),
            },
            event: counter::DECLARED[event].event.to_owned(),
            dimensions,
            count: Shown::of(cell.exact),
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            order(&a.event),
            a.period.first,
            a.period.kind,
            &a.dimensions,
        )
            .cmp(&(
                order(&b.event),
                b.period.first,
                b.period.kind,
                &b.dimensions,
            ))
    });

    let mut total_rows = Vec::new();
    for (&event, &exact) in &event_totals {
        let declared = &counter::DECLARED[event];
        total_rows.push(Total {
            event: declared.event.to_owned(),
            dimensions: None,
            count: Shown::of(exact),
        });
        // An event without dimensions has only its total.
        if declared.dimensions.is_empty() {
            continue;
        }
        let this_event = (event, Dimensions::default())..(event + 1, Dimensions::default());
        for ((_, dimensions), &exact) in totals.range(this_event) {
            total_rows.push(Total {
                event: declared.event.to_owned(),
                dimensions: Some(dimensions.clone()),
                count: Shown::of(exact),
            });
        }
    }

    let mut notes = vec![DISCLOSURE_NOTE.to_owned(), MONTHLY_NOTE.to_owned()];
    if rolled_up {
        notes.push(ROLLED_UP_NOTE.to_owned());
    }
    if undeclared > 0 {
        notes.push(format!(
            "{undeclared} stored row(s) of counters this version does not declare were left out."
        ));
    }
    Ok(Report {
        from,
        to,
        by,
        totals: total_rows,
        rows,
        notes,
    })
}

/// The report for one event, with its dimensions narrowed to `keep`:
/// counts that differ only in the other dimensions are added together
/// exactly, and only then shown by the disclosure rule, so "searches by
/// category" never adds up rounded or hidden figures. Events shown only
/// by month stay so.
pub fn build_narrowed(
    request: &ReportRequest,
    stored: &[StoredCount],
    event: &str,
    keep: &[&str],
) -> Result<Report, StatsError> {
    let mut narrowed = Vec::new();
    for row in stored.iter().filter(|row| row.event == event) {
        let dimensions = Dimensions::decode(&row.dimensions)
            .map_err(|err| StatsError::Corrupt(err.to_string()))?;
        let kept: BTreeMap<&str, &str> = dimensions
            .iter()
            .filter(|(name, _)| keep.contains(name))
            .collect();
        narrowed.push(StoredCount {
            dimensions: serde_json::to_string(&kept).unwrap_or_else(|_| "{}".to_owned()),
            ..row.clone()
        });
    }
    let mut report = build(request, &narrowed)?;
    report.rows.retain(|row| row.event == event);
    report.totals.retain(|total| total.event == event);
    // Over time, a period with nothing counted shows as 0 rather than
    // not at all, unless months rolled up from days are mixed in.
    let declared = counter::declared(event);
    let whole = declared.is_some_and(|d| !d.monthly_only)
        && keep.is_empty()
        && report.rows.iter().all(|row| row.period.kind == request.by);
    if whole {
        let mut day = request.from;
        while day <= request.to {
            let (start, end) = period_of(request.by, day);
            let label = label(request.by, start);
            if !report.rows.iter().any(|row| row.period.label == label) {
                report.rows.push(Row {
                    period: Period {
                        kind: request.by,
                        label,
                        first: start.max(request.from),
                        last: end.min(request.to),
                    },
                    event: event.to_owned(),
                    dimensions: Dimensions::default(),
                    count: Shown::Zero,
                });
            }
            let Some(next) = end.succ_opt() else { break };
            day = next;
        }
        report.rows.sort_by_key(|row| row.period.first);
    }
    Ok(report)
}

/// The last day of `day`'s month.
pub(crate) fn month_end(day: NaiveDate) -> NaiveDate {
    (month_start(day) + Months::new(1))
        .pred_opt()
        .unwrap_or(day)
}

/// The first and last day of the period of kind `by` holding `day`.
fn period_of(by: Grouping, day: NaiveDate) -> (NaiveDate, NaiveDate) {
    match by {
        Grouping::Day => (day, day),
        Grouping::Week => {
            let monday = day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(day);
            (
                monday,
                monday.checked_add_days(Days::new(6)).unwrap_or(monday),
            )
        }
        Grouping::Month => (month_start(day), month_end(day)),
    }
}

fn label(kind: Grouping, start: NaiveDate) -> String {
    match kind {
        Grouping::Day => start.to_string(),
        Grouping::Week => {
            let week = start.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }
        Grouping::Month => start.format("%Y-%m").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn day_row(day: &str, event: &str, dimensions: &str, count: u64) -> StoredCount {
        StoredCount {
            period: StoredPeriod::Day,
            start: date(day),
            event: event.to_owned(),
            dimensions: dimensions.to_owned(),
            count,
        }
    }

    #[test]
    fn zero_stays_zero_one_to_seven_are_hidden_and_the_rest_round_to_the_nearest_five() {
        let shown = |n: u64| Shown::of(n).to_string();
        assert_eq!(shown(0), "0");
        for n in [1, 2, 3, 7] {
            assert_eq!(shown(n), "<8", "{n}");
        }
        assert_eq!(shown(8), "10");
        assert_eq!(shown(12), "10");
        assert_eq!(shown(13), "15");
        assert_eq!(shown(22), "20");
        assert_eq!(shown(23), "25");
        assert_eq!(shown(1_002), "1000");
        assert_eq!(shown(1_003), "1005");
        assert_eq!(Shown::of(7).number(), None);
        assert_eq!(Shown::of(10).number(), Some(10));
    }

    #[test]
    fn totals_are_rounded_from_exact_counts_not_added_from_rounded_ones() {
        let channel = r#"{"channel":"console"}"#;
        let rows = [
            day_row("2026-11-23", "conversation_started", channel, 3),
            day_row("2026-11-24", "conversation_started", channel, 3),
            day_row("2026-11-25", "conversation_started", channel, 3),
            day_row(
                "2026-11-24",
                "conversation_started",
                r#"{"channel":"telegram"}"#,
                4,
            ),
        ];
        let request =
            ReportRequest::new(date("2026-11-23"), date("2026-11-25"), Grouping::Day).unwrap();
        let report = build(&request, &rows).unwrap();
        let cells: Vec<String> = report
            .rows
            .iter()
            .filter(|row| row.event == "conversation_started")
            .map(|row| row.count.to_string())
            .collect();
        assert_eq!(cells, ["<8", "<8", "<8", "<8"]);
        let totals: Vec<(Option<String>, String)> = report
            .totals
            .iter()
            .filter(|t| t.event == "conversation_started")
            .map(|t| {
                (
                    t.dimensions.as_ref().map(|d| d.to_string()),
                    t.count.to_string(),
                )
            })
            .collect();
        assert_eq!(
            totals,
            [
                (None, "15".to_owned()),
                (Some("channel=console".to_owned()), "10".to_owned()),
                (Some("channel=telegram".to_owned()), "<8".to_owned()),
            ]
        );
    }

    #[test]
    fn urgent_help_is_shown_by_whole_month_even_when_days_are_asked_for() {
        let rows = [
            day_row("2026-11-02", "urgent_help_shown", "{}", 4),
            day_row("2026-11-24", "urgent_help_shown", "{}", 5),
            day_row("2026-12-01", "check_in_shown", "{}", 9),
            day_row(
                "2026-11-24",
                "step_reached",
                r#"{"flow":"find","step":"area"}"#,
                9,
            ),
        ];
        // One day asked for, by day: urgent help still covers all November.
        let request =
            ReportRequest::new(date("2026-11-24"), date("2026-11-24"), Grouping::Day).unwrap();
        let report = build(&request, &rows).unwrap();
        let rows: Vec<(&str, Grouping, &str, NaiveDate, NaiveDate, String)> = report
            .rows
            .iter()
            .map(|row| {
                (
                    row.event.as_str(),
                    row.period.kind,
                    row.period.label.as_str(),
                    row.period.first,
                    row.period.last,
                    row.count.to_string(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "step_reached",
                    Grouping::Day,
                    "2026-11-24",
                    date("2026-11-24"),
                    date("2026-11-24"),
                    "10".into()
                ),
                (
                    "urgent_help_shown",
                    Grouping::Month,
                    "2026-11",
                    date("2026-11-01"),
                    date("2026-11-30"),
                    "10".into()
                ),
                (
                    "check_in_shown",
                    Grouping::Month,
                    "2026-11",
                    date("2026-11-01"),
                    date("2026-11-30"),
                    "0".into()
                ),
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_are_cut_to_the_dates_asked_for() {
        let dimensions = r#"{"command":"help"}"#;
        let rows = [
            day_row("2026-11-22", "command_used", dimensions, 8),
            day_row("2026-11-24", "command_used", dimensions, 5),
            day_row("2026-11-26", "command_used", dimensions, 5),
        ];
        let request =
            ReportRequest::new(date("2026-11-22"), date("2026-11-25"), Grouping::Week).unwrap();
        let report = build(&request, &rows).unwrap();
        let weeks: Vec<(&str, NaiveDate, NaiveDate, String)> = report
            .rows
            .iter()
            .filter(|row| row.event == "command_used")
            .map(|row| {
                (
                    row.period.label.as_str(),
                    row.period.first,
                    row.period.last,
                    row.count.to_string(),
                )
            })
            .collect();
        assert_eq!(
            weeks,
            [
                (
                    "2026-W47",
                    date("2026-11-22"),
                    date("2026-11-22"),
                    "10".into()
                ),
                (
                    "2026-W48",
                    date("2026-11-23"),
                    date("2026-11-25"),
                    "<8".into()
                ),
            ]
        );
    }

    #[test]
    fn a_report_cannot_end_before_it_starts() {
        let err =
            ReportRequest::new(date("2026-11-25"), date("2026-11-24"), Grouping::Day).unwrap_err();
        assert!(err.to_string().contains("2026-11-25"), "{err}");
    }

    #[test]
    fn the_default_report_is_the_last_thirty_days() {
        let request = ReportRequest::last_days(date("2026-11-30"), Grouping::Week);
        assert_eq!(
            (request.from(), request.to()),
            (date("2026-11-01"), date("2026-11-30"))
        );
    }
}
