//! Measuring the detector on a labelled file, for `signpost safety eval`.
//!
//! Invariant: evaluation only reads the file it is given and returns
//! figures; it logs nothing. The texts of missed rows are returned to the
//! operator who asked for them and are never written anywhere else.

use std::fmt;
use std::io::Read;

use super::{Detector, Tier};

/// What a labelled row should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// The crisis response.
    Crisis,
    /// At least a check-in.
    CheckIn,
    /// Not the crisis response.
    NoCrisis,
}

impl Label {
    pub const ALL: [Label; 3] = [Label::Crisis, Label::CheckIn, Label::NoCrisis];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Crisis => "crisis",
            Label::CheckIn => "check_in",
            Label::NoCrisis => "no_crisis",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Label::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The tier a row with this label should get exactly.
    pub fn tier(self) -> Option<Tier> {
        match self {
            Label::Crisis => Some(Tier::Crisis),
            Label::CheckIn => Some(Tier::CheckIn),
            Label::NoCrisis => None,
        }
    }
}

/// One row of an evaluation file.
#[derive(Clone)]
pub struct EvalRow {
    /// The row's `item_id`, or its line number when there is none.
    pub id: String,
    pub label: Label,
    pub text: String,
    /// Any other columns by name (such as `first` in the phrases file).
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for EvalRow {
    // Rows can hold real people's words: keep them out of test output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvalRow({}, {})", self.id, self.label.as_str())
    }
}

/// An evaluation file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(
        "the file has no `{0}` column: it needs a header line with `label` and `text` columns, separated by tabs"
    )]
    MissingColumn(&'static str),
    #[error("line {line}: label \"{label}\" is not one I know: use crisis, check_in or no_crisis")]
    UnknownLabel { line: u64, label: String },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
}

/// Reads a tab-separated file with a header naming at least `label` and
/// `text` (and usually `item_id`). Fields may be quoted with `"`.
pub fn read_tsv(reader: impl Read) -> Result<Vec<EvalRow>, EvalError> {
    let mut tsv = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .flexible(false)
        .from_reader(reader);
    let malformed = |err: csv::Error| EvalError::Malformed {
        line: err.position().map_or(0, |p| p.line()),
        message: err.to_string(),
    };
    let headers = tsv.headers().map_err(malformed)?.clone();
    let column = |name: &'static str| headers.iter().position(|h| h.trim() == name);
    let label_at = column("label").ok_or(EvalError::MissingColumn("label"))?;
    let text_at = column("text").ok_or(EvalError::MissingColumn("text"))?;
    let id_at = column("item_id");
    let mut rows = Vec::new();
    for record in tsv.records() {
        let record = record.map_err(malformed)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |at: usize| record.get(at).unwrap_or("").to_owned();
        let label_name = field(label_at);
        let label = Label::from_name(label_name.trim()).ok_or(EvalError::UnknownLabel {
            line,
            label: label_name,
        })?;
        let extra = headers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != label_at && *i != text_at && Some(*i) != id_at)
            .map(|(i, name)| (name.to_owned(), field(i)))
            .collect();
        rows.push(EvalRow {
            id: id_at.map_or_else(|| format!("line {line}"), field),
            label,
            text: field(text_at),
            extra,
        });
    }
    Ok(rows)
}

/// How the rows with one label fared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelCounts {
    pub rows: usize,
    pub crisis: usize,
    pub check_in: usize,
    pub nothing: usize,
}

impl LabelCounts {
    fn percent(part: usize, whole: usize) -> f64 {
        if whole == 0 {
            0.0
        } else {
            100.0 * part as f64 / whole as f64
        }
    }

    /// Crisis rows that got the crisis response, check-in rows that got at
    /// least a check-in, or no-crisis rows that did not get the crisis
    /// response, in percent.
    pub fn recall(&self, label: Label) -> f64 {
        let good = match label {
            Label::Crisis => self.crisis,
            Label::CheckIn => self.crisis + self.check_in,
            Label::NoCrisis => self.check_in + self.nothing,
        };
        Self::percent(good, self.rows)
    }

    /// Rows that got the crisis response, in percent: for no-crisis rows,
    /// the false-positive rate.
    pub fn crisis_rate(&self) -> f64 {
        Self::percent(self.crisis, self.rows)
    }
}

/// A row that did not get what its label asks for.
#[derive(Clone)]
pub struct Miss {
    pub id: String,
    pub label: Label,
    pub got: Option<Tier>,
    /// The ids of the rules behind what it got.
    pub rules: Vec<String>,
    pub text: String,
}

/// The outcome of running the detector over labelled rows.
#[derive(Clone, Default)]
pub struct Evaluation {
    /// Per label, in [`Label::ALL`] order.
    pub counts: [LabelCounts; 3],
    pub misses: Vec<Miss>,
}

/// The targets of issue 6: every crisis row gets the crisis response, at
/// least 95% of check-in rows get at least a check-in, at most 5% of
/// no-crisis rows get the crisis response.
pub const CHECK_IN_TARGET_PERCENT: f64 = 95.0;
pub const FALSE_POSITIVE_LIMIT_PERCENT: f64 = 5.0;

impl Evaluation {
    /// Runs `detector` over `rows`.
    pub fn run(detector: &Detector, rows: &[EvalRow]) -> Self {
        let mut evaluation = Evaluation::default();
        for row in rows {
            let assessment = detector.assess(&row.text);
            let got = assessment.tier;
            let counts = &mut evaluation.counts[row.label as usize];
            counts.rows += 1;
            match got {
                Some(Tier::Crisis) => counts.crisis += 1,
                Some(Tier::CheckIn) => counts.check_in += 1,
                None => counts.nothing += 1,
            }
            let missed = match row.label {
                Label::Crisis => got != Some(Tier::Crisis),
                Label::CheckIn => got.is_none(),
                Label::NoCrisis => got == Some(Tier::Crisis),
            };
            if missed {
                evaluation.misses.push(Miss {
                    id: row.id.clone(),
                    label: row.label,
                    got,
                    rules: assessment.rules.into_iter().collect(),
                    text: row.text.clone(),
                });
            }
        }
        evaluation
    }

    pub fn of(&self, label: Label) -> &LabelCounts {
        &self.counts[label as usize]
    }

    /// Whether each target is met, in [`Label::ALL`] order. A label with
    /// no rows meets its target: there is nothing to miss.
    fn targets(&self) -> [bool; 3] {
        let crisis = self.of(Label::Crisis);
        let check_in = self.of(Label::CheckIn);
        let no_crisis = self.of(Label::NoCrisis);
        [
            crisis.crisis == crisis.rows,
            check_in.rows == 0 || check_in.recall(Label::CheckIn) >= CHECK_IN_TARGET_PERCENT,
            no_crisis.crisis_rate() <= FALSE_POSITIVE_LIMIT_PERCENT,
        ]
    }

    /// Whether the three targets are met.
    pub fn meets_targets(&self) -> bool {
        self.targets().iter().all(|&met| met)
    }

    /// The figures as a short table, then whether each target is met.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<10} {:>5} {:>7} {:>9} {:>8} {:>8} {:>12}\n",
            "label", "rows", "crisis", "check-in", "nothing", "recall", "crisis rate"
        ));
        for label in Label::ALL {
            let counts = self.of(label);
            out.push_str(&format!(
                "{:<10} {:>5} {:>7} {:>9} {:>8} {:>7.1}% {:>11.1}%\n",
                label.as_str(),
                counts.rows,
                counts.crisis,
                counts.check_in,
                counts.nothing,
                counts.recall(label),
                counts.crisis_rate()
            ));
        }
        let met = |ok: bool| if ok { "met" } else { "NOT MET" };
        let [crisis_met, check_in_met, false_positives_met] = self.targets();
        let crisis = self.of(Label::Crisis);
        let check_in = self.of(Label::CheckIn).recall(Label::CheckIn);
        let false_positives = self.of(Label::NoCrisis).crisis_rate();
        out.push_str(
            "\nrecall: crisis rows given the crisis response, check_in rows given at least\n\
             a check-in, no_crisis rows not given the crisis response.\n\ntargets:\n",
        );
        out.push_str(&format!(
            "  every crisis row gets the crisis response: {}/{} ({})\n",
            crisis.crisis,
            crisis.rows,
            met(crisis_met)
        ));
        out.push_str(&format!(
            "  at least {CHECK_IN_TARGET_PERCENT:.0}% of check_in rows get at least a check-in: {check_in:.1}% ({})\n",
            met(check_in_met)
        ));
        out.push_str(&format!(
            "  at most {FALSE_POSITIVE_LIMIT_PERCENT:.0}% of no_crisis rows get the crisis response: {false_positives:.1}% ({})\n",
            met(false_positives_met)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_with_their_id_label_text_and_other_columns() {
        let tsv = "item_id\tlabel\tfirst\ttext\nA1\tcrisis\tchildline\t\"quoted \"\"words\"\"\"\nA2\tno_crisis\t\tplain\n";
        let rows = read_tsv(tsv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].id, "A1");
        assert_eq!(rows[0].label, Label::Crisis);
        assert_eq!(rows[0].text, "quoted \"words\"");
        assert_eq!(
            rows[0].extra,
            vec![("first".to_owned(), "childline".to_owned())]
        );
        assert_eq!(rows[1].label, Label::NoCrisis);
    }

    #[test]
    fn a_file_that_cannot_be_evaluated_says_why_and_where() {
        let cases = [
            ("label\ttext\nurgent\thi\n", "line 2: label \"urgent\""),
            ("item_id\ttext\nA1\thi\n", "no `label` column"),
            ("label\tnotes\ncrisis\thi\n", "no `text` column"),
            ("label\ttext\ncrisis\thi\textra\n", "line 2:"),
        ];
        for (tsv, expected) in cases {
            let err = read_tsv(tsv.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{tsv:?}: {err}");
        }
    }

    #[test]
    fn a_label_with_no_rows_meets_its_target() {
        let evaluation = Evaluation::default();
        assert!(evaluation.meets_targets());
        assert!(!evaluation.table().contains("NOT MET"));
    }
}
