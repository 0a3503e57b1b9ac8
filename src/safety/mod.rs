//! Crisis safety: deciding whether a message needs the crisis response or a
//! gentle check-in, and which support lines to show first.
//!
//! The patterns are data, in `flows/safety/<language>.toml`, and the phone
//! numbers are in `flows/safety/resources.toml`; `load.rs` reads and checks
//! them once, with the flows. This module never writes a reply itself: the
//! wording of every safety response is fixed text in the flows, and this
//! module only decides which one applies and which numbers come first.
//!
//! Invariant: detection is pure and total. [`Detector::assess`] does no I/O,
//! keeps nothing, cannot fail or panic whatever text it is given, and runs
//! before any flow logic on every message (see `engine.rs`). Its
//! [`Assessment`] carries no text, only a tier and what the message was
//! about, so it can be passed around without exposing what was typed.
//!
//! # How a message is assessed
//!
//! 1. The text is normalised (`normalise.rs`): lower case, apostrophes
//!    dropped, punctuation and emoji turned into spaces, repeated letters
//!    squeezed, text-speak and misspellings replaced.
//! 2. Idioms ("killing time", "bored to death") are masked out.
//! 3. A crisis rule matching the masked text means a crisis. A crisis rule
//!    that matched only inside an idiom is lowered to a check-in: an idiom
//!    can soften a crisis match, never silence it.
//! 4. Two or more different check-in rules matching different words mean a
//!    crisis: several signs of risk together are taken as seriously as one
//!    clear one. One check-in rule means a check-in.
//! 5. Context rules (an older person, a child) and each rule's `about` say
//!    which support lines to show first.

mod eval;
mod load;
mod normalise;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

use regex::{Regex, RegexSet};

pub use eval::{EvalError, EvalRow, Evaluation, Label, LabelCounts, Miss, read_tsv};
pub(crate) use load::load;
pub use load::{RESOURCES_FILE, SAFETY_DIR};
use normalise::{Spellings, normalise};

/// How serious a message looks. A message that matches nothing has no tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Possible risk: ask gently, with options.
    CheckIn,
    /// Clear risk: show the crisis response at once.
    Crisis,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::CheckIn => "check_in",
            Tier::Crisis => "crisis",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Tier::CheckIn, Tier::Crisis]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// What a disclosure is about, when that changes which lines come first.
/// Listed in the order their lines are shown when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Concern {
    /// A child or young person (Childline first).
    Child,
    /// Abuse, violence or threats from someone (the abuse helpline first).
    Abuse,
    /// An older person (The Silver Line first).
    Older,
}

impl Concern {
    pub const ALL: [Concern; 3] = [Concern::Child, Concern::Abuse, Concern::Older];

    pub fn as_str(self) -> &'static str {
        match self {
            Concern::Child => "child",
            Concern::Abuse => "abuse",
            Concern::Older => "older",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Concern::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// What a message needs. It names no words from the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    pub tier: Option<Tier>,
    /// What the message is about, for ordering the support lines.
    pub concerns: BTreeSet<Concern>,
    /// The risk seems to come from someone else (abuse, threats), so a
    /// check-in asks "are you safe?" rather than about ending one's life.
    pub danger_from_others: bool,
    /// The ids of the rules behind the tier, for evaluation reports. Rule
    /// ids are names from the pattern files, never words from the message.
    pub rules: BTreeSet<String>,
}

/// One rule: patterns that put a message in a tier.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) tier: Tier,
    pub(crate) about: Option<Concern>,
    /// Whether this check-in rule counts towards two signs making a
    /// crisis. Rules that only notice a word ("suicide" in a question about
    /// a film) do not.
    pub(crate) adds_up: bool,
    pub(crate) patterns: Vec<Regex>,
}

/// A phrase that says what a message is about (an older person, a child),
/// without being a risk in itself.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) about: Concern,
    pub(crate) patterns: Vec<Regex>,
}

/// The patterns of one language.
#[derive(Debug, Default)]
pub(crate) struct LanguagePatterns {
    pub(crate) spellings: Spellings,
    pub(crate) rules: Vec<Rule>,
    pub(crate) idioms: Vec<Regex>,
    pub(crate) contexts: Vec<Context>,
    /// Every rule pattern in one set, to pass over a message once: most
    /// messages match nothing and need no closer look. `None` if the set
    /// could not be built, which only makes the check slower.
    pub(crate) any_rule: Option<RegexSet>,
    /// Every idiom pattern in one set, likewise.
    pub(crate) any_idiom: Option<RegexSet>,
}

/// The tiered crisis detector, compiled once from the pattern files.
#[derive(Debug)]
pub struct Detector {
    /// English first; a message is checked against every language, since
    /// people mix them.
    pub(crate) languages: Vec<LanguagePatterns>,
}

/// A rule that matched, and where, in one normalised form.
struct Hit<'a> {
    rule: &'a Rule,
    span: Range<usize>,
    /// Matched only inside an idiom.
    lowered: bool,
}

impl Detector {
    /// Decides what a message needs. Pure, and total over any text.
    pub fn assess(&self, text: &str) -> Assessment {
        let mut best = Assessment::default();
        for language in &self.languages {
            for form in normalise(text, &language.spellings) {
                let assessment = language.assess_form(&form);
                if assessment.tier > best.tier {
                    best.tier = assessment.tier;
                    best.danger_from_others = assessment.danger_from_others;
                    best.rules = assessment.rules;
                } else if assessment.tier == best.tier {
                    best.danger_from_others |= assessment.danger_from_others;
                    best.rules.extend(assessment.rules);
                }
                best.concerns.extend(assessment.concerns);
            }
        }
        if best.tier.is_none() {
            // Context alone (someone mentions their age) is nobody's business.
            best.concerns.clear();
        }
        best
    }
}

impl LanguagePatterns {
    fn assess_form(&self, form: &str) -> Assessment {
        let has_idiom = self.any_idiom.as_ref().is_none_or(|set| set.is_match(form));
        let masked = if has_idiom {
            self.mask_idioms(form)
        } else {
            form.to_owned()
        };
        // Masking can only remove matches or join words around an idiom,
        // so a message neither form of which matches any rule needs nothing.
        if let Some(any_rule) = &self.any_rule
            && !any_rule.is_match(form)
            && (!has_idiom || !any_rule.is_match(&masked))
        {
            return Assessment::default();
        }
        let mut hits: Vec<Hit<'_>> = Vec::new();
        for rule in &self.rules {
            if let Some(span) = first_match(&rule.patterns, &masked) {
                hits.push(Hit {
                    rule,
                    span,
                    lowered: false,
                });
            } else if rule.tier == Tier::Crisis
                && let Some(span) = first_match(&rule.patterns, form)
            {
                hits.push(Hit {
                    rule,
                    span,
                    lowered: true,
                });
            }
        }
        let crisis: Vec<&Hit<'_>> = hits
            .iter()
            .filter(|h| h.rule.tier == Tier::Crisis && !h.lowered)
            .collect();
        let signs: Vec<&Hit<'_>> = hits
            .iter()
            .filter(|h| h.rule.tier == Tier::CheckIn && h.rule.adds_up)
            .collect();
        let separate_signs = signs.iter().enumerate().any(|(i, a)| {
            signs[i + 1..]
                .iter()
                .any(|b| a.span.end <= b.span.start || b.span.end <= a.span.start)
        });
        let (tier, counted): (Option<Tier>, Vec<&Hit<'_>>) = if !crisis.is_empty() {
            (Some(Tier::Crisis), crisis)
        } else if separate_signs {
            (Some(Tier::Crisis), signs)
        } else if !hits.is_empty() {
            (Some(Tier::CheckIn), hits.iter().collect())
        } else {
            (None, Vec::new())
        };
        let mut concerns: BTreeSet<Concern> = counted.iter().filter_map(|h| h.rule.about).collect();
        let danger_from_others = concerns.contains(&Concern::Abuse);
        for context in &self.contexts {
            if first_match(&context.patterns, &masked).is_some() {
                concerns.insert(context.about);
            }
        }
        Assessment {
            tier,
            concerns,
            danger_from_others,
            rules: counted.iter().map(|h| h.rule.id.clone()).collect(),
        }
    }

    /// The form with every idiom replaced by spaces, keeping positions.
    fn mask_idioms(&self, form: &str) -> String {
        let mut masked = form.as_bytes().to_vec();
        for idiom in &self.idioms {
            for found in idiom.find_iter(form) {
                masked[found.range()].fill(b' ');
            }
        }
        // Only whole characters were replaced, by one-byte spaces.
        String::from_utf8(masked).unwrap_or_else(|_| form.to_owned())
    }
}

fn first_match(patterns: &[Regex], text: &str) -> Option<Range<usize>> {
    patterns
        .iter()
        .find_map(|p| p.find(text))
        .map(|m| m.range())
}

/// One support line, as written in `resources.toml`.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub(crate) id: String,
    /// The numbers to call or text; the first is `{<id>_number}` in flows.
    pub(crate) numbers: Vec<String>,
    /// The line shown in a list of support, which contains every number.
    pub(crate) line: String,
    /// Disclosures for which this line comes first.
    pub(crate) first_for: BTreeSet<Concern>,
}

/// The support lines and the emergency line, from `resources.toml`.
#[derive(Debug, Clone)]
pub struct Resources {
    /// When someone last checked every number, as written (YYYY-MM-DD).
    pub(crate) last_checked: String,
    pub(crate) emergency: String,
    pub(crate) lines: Vec<Resource>,
}

/// The names flows can use as `{placeholders}` for support lines, besides
/// `{<id>_number}` for each resource.
pub const PLACEHOLDERS: [&str; 4] = [
    "emergency",
    "help_lines",
    "top_help_lines",
    "first_help_line",
];

/// How many lines `{top_help_lines}` shows.
const TOP_LINES: usize = 2;

impl Resources {
    /// When the numbers were last checked (YYYY-MM-DD).
    pub fn last_checked(&self) -> &str {
        &self.last_checked
    }

    /// The lines in the order to show them for these concerns: the lines
    /// for the most pressing concern first, then the rest in file order.
    pub fn ordered(&self, concerns: &BTreeSet<Concern>) -> Vec<&str> {
        let rank = |resource: &Resource| {
            Concern::ALL
                .iter()
                .position(|c| concerns.contains(c) && resource.first_for.contains(c))
                .unwrap_or(Concern::ALL.len())
        };
        let mut lines: Vec<&Resource> = self.lines.iter().collect();
        // A stable sort keeps file order within each rank.
        lines.sort_by_key(|r| rank(r));
        lines.into_iter().map(|r| r.line.as_str()).collect()
    }

    /// The line of the resource with this id, if there is one.
    pub fn line_of(&self, id: &str) -> Option<&str> {
        self.lines
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.line.as_str())
    }

    /// The value of a support-line placeholder, or `None` if `name` is not
    /// one.
    pub fn placeholder(&self, name: &str, concerns: &BTreeSet<Concern>) -> Option<String> {
        match name {
            "emergency" => Some(self.emergency.clone()),
            "help_lines" => Some(bullets(&self.ordered(concerns))),
            "top_help_lines" => {
                let lines = self.ordered(concerns);
                Some(bullets(&lines[..lines.len().min(TOP_LINES)]))
            }
            "first_help_line" => self.ordered(concerns).first().map(|l| (*l).to_owned()),
            _ => {
                let id = name.strip_suffix("_number")?;
                self.lines
                    .iter()
                    .find(|r| r.id == id)
                    .and_then(|r| r.numbers.first().cloned())
            }
        }
    }

    /// Whether `name` is a placeholder these resources fill in.
    pub fn is_placeholder(&self, name: &str) -> bool {
        self.placeholder(name, &BTreeSet::new()).is_some()
    }
}

/// Lines as a list, one "- " line each.
fn bullets(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| format!("- {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Everything the engine needs for safety: the detector and the lines.
pub struct Safety {
    pub detector: Detector,
    pub resources: Resources,
}

impl fmt::Debug for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: usize = self.detector.languages.iter().map(|l| l.rules.len()).sum();
        f.debug_struct("Safety")
            .field("languages", &self.detector.languages.len())
            .field("rules", &rules)
            .field("resources", &self.resources.lines.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERNS: &str = r#"
[[rule]]
id = "die"
tier = "crisis"
patterns = ['\bwant to die\b']

[[rule]]
id = "hit"
tier = "crisis"
about = "abuse"
patterns = ['\bhits me\b']

[[rule]]
id = "cant-go-on"
tier = "check_in"
patterns = ['\bcant go on\b']

[[rule]]
id = "burden"
tier = "check_in"
patterns = ['\bim a burden\b']

[[rule]]
id = "mention"
tier = "check_in"
adds_up = false
patterns = ['\bsuicid\w*']

[[idiom]]
id = "not-wanting"
patterns = ['\bdont want to die\b', '\bkilling time\b']

[[context]]
id = "older"
about = "older"
patterns = ['\bpension\b']
"#;

    const RESOURCES: &str = r#"
last_checked = 2026-12-02
[emergency]
numbers = ["999"]
line = "Call 999."
[[resource]]
id = "general"
numbers = ["1"]
line = "General: 1."
[[resource]]
id = "older"
numbers = ["2"]
line = "Older: 2."
first_for = ["older"]
[[resource]]
id = "abuse"
numbers = ["3"]
line = "Abuse: 3."
first_for = ["abuse", "child"]
"#;

    fn safety() -> Safety {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("en.toml"), PATTERNS).unwrap();
        std::fs::write(dir.path().join("resources.toml"), RESOURCES).unwrap();
        let mut diagnostics = Vec::new();
        let safety = load(dir.path(), &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        safety.unwrap()
    }

    #[test]
    fn tiers_idioms_and_signs_that_add_up_decide_the_response() {
        use Tier::{CheckIn, Crisis};
        let cases: [(&str, Option<Tier>); 10] = [
            ("I WANT TO DIEEE", Some(Crisis)),
            ("I don't want to die", Some(CheckIn)),
            ("I don't want to die, but I want to die", Some(Crisis)),
            ("just killing time", None),
            ("I can't go on", Some(CheckIn)),
            ("I can't go on. I'm a burden", Some(Crisis)),
            ("I can't go on, I can't go on", Some(CheckIn)),
            ("suicide? I can't go on", Some(CheckIn)),
            ("he hits me", Some(Crisis)),
            ("on my pension", None),
        ];
        let safety = safety();
        for (text, tier) in cases {
            assert_eq!(safety.detector.assess(text).tier, tier, "{text:?}");
        }
    }

    #[test]
    fn what_a_disclosure_is_about_puts_its_lines_first() {
        let safety = safety();
        let abuse = safety.detector.assess("he hits me");
        assert!(abuse.danger_from_others);
        assert_eq!(safety.resources.ordered(&abuse.concerns)[0], "Abuse: 3.");
        let older = safety.detector.assess("on my pension and I want to die");
        assert_eq!(safety.resources.ordered(&older.concerns)[0], "Older: 2.");
        let both = safety.detector.assess("on my pension and he hits me");
        assert_eq!(safety.resources.ordered(&both.concerns)[0], "Abuse: 3.");
        assert!(safety.detector.assess("on my pension").concerns.is_empty());
        let general = safety.resources.ordered(&BTreeSet::new());
        assert_eq!(general, ["General: 1.", "Older: 2.", "Abuse: 3."]);
    }

    #[test]
    fn support_line_placeholders_fill_in_from_the_resources() {
        let resources = safety().resources;
        let none = BTreeSet::new();
        let older = BTreeSet::from([Concern::Older]);
        assert_eq!(
            resources.placeholder("emergency", &none).unwrap(),
            "Call 999."
        );
        assert_eq!(resources.placeholder("older_number", &none).unwrap(), "2");
        assert_eq!(
            resources.placeholder("top_help_lines", &older).unwrap(),
            "- Older: 2.\n- General: 1."
        );
        assert_eq!(
            resources.placeholder("first_help_line", &older).unwrap(),
            "Older: 2."
        );
        assert!(resources.placeholder("area", &none).is_none());
        assert!(resources.placeholder("missing_number", &none).is_none());
    }
}
