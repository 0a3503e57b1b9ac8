//! A [`Report`] written out as a table, CSV or JSON.
//!
//! Invariant: formatting only lays out what the report holds, which is
//! already safe to show; nothing here sees an exact count.

use super::counter::{DECLARED, Dimensions};
use super::report::{Report, Shown};

/// Columns laid out for a terminal: a summary of totals, then each period.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "Usage from {} to {}, by {}\n\nTotals\n",
        report.from, report.to, report.by
    );
    let mut lines = vec![cells(["event", "dimensions", "count"])];
    for total in &report.totals {
        let dimensions = match &total.dimensions {
            None => "(all)".to_owned(),
            Some(dimensions) => describe(dimensions),
        };
        lines.push(cells([&total.event, &dimensions, &total.count.to_string()]));
    }
    out.push_str(&aligned(&lines));
    out.push_str(&format!("\nBy {}\n", report.by));
    let mut lines = vec![cells([
        "period",
        "from",
        "to",
        "event",
        "dimensions",
        "count",
    ])];
    for row in &report.rows {
        lines.push(cells([
            &row.period.label,
            &row.period.first.to_string(),
            &row.period.last.to_string(),
            &row.event,
            &describe(&row.dimensions),
            &row.count.to_string(),
        ]));
    }
    out.push_str(&aligned(&lines));
    out.push_str("\nNotes\n");
    for note in &report.notes {
        out.push_str(&format!("- {note}\n"));
    }
    out
}

/// One line per figure, with a column for every dimension any counter
/// has. `section` is `event total` (all dimensions together), `total` or
/// `period`; `count` is empty where `shown` is `<8`.
pub fn csv(report: &Report) -> String {
    let names = dimension_names();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["section", "period", "from", "to", "event"];
    header.extend(names.iter().copied());
    header.extend(["count", "shown"]);
    // Writing to memory cannot fail.
    let _ = writer.write_record(&header);
    let mut write = |section: &str,
                     period: [String; 3],
                     event: &str,
                     dimensions: Option<&Dimensions>,
                     count: Shown| {
        let mut record: Vec<String> = vec![section.to_owned()];
        record.extend(period);
        record.push(event.to_owned());
        for name in &names {
            let value = dimensions.and_then(|d| d.get(name)).unwrap_or_default();
            record.push(value.to_owned());
        }
        record.push(count.number().map(|n| n.to_string()).unwrap_or_default());
        record.push(count.to_string());
        let _ = writer.write_record(&record);
    };
    let no_period = || [String::new(), String::new(), String::new()];
    for total in &report.totals {
        let section = if total.dimensions.is_some() {
            "total"
        } else {
            "event total"
        };
        write(
            section,
            no_period(),
            &total.event,
            total.dimensions.as_ref(),
            total.count,
        );
    }
    for row in &report.rows {
        let period = [
            row.period.label.clone(),
            row.period.first.to_string(),
            row.period.last.to_string(),
        ];
        write(
            "period",
            period,
            &row.event,
            Some(&row.dimensions),
            row.count,
        );
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The report as JSON, for programs and the staff dashboard.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".to_owned()) + "\n"
}

/// Every dimension name any declared counter has, sorted.
fn dimension_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = DECLARED
        .iter()
        .flat_map(|d| d.dimensions.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn describe(dimensions: &Dimensions) -> String {
    if dimensions.is_empty() {
        "-".to_owned()
    } else {
        dimensions.to_string()
    }
}

fn cells<const N: usize>(values: [&str; N]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Lines with columns padded to the widest cell, the last (the count)
/// aligned right.
fn aligned(lines: &[Vec<String>]) -> String {
    let columns = lines.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|line| line[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c + 1 == columns {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}
