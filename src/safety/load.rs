//! Reading and checking the safety files in `flows/safety/`.
//!
//! Invariant: a [`Safety`] is built only when every pattern file and the
//! resources file parsed and passed every check; problems are reported like
//! the flow loader's, as `path:line:column: severity: message`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::normalise::{MAX_SPELLING_WORDS, Spellings};
use super::{
    Concern, Context, Detector, LanguagePatterns, Resource, Resources, Rule, Safety, Tier,
};
use crate::flow::load::{explain_regex_error, explain_toml_error, line_and_column};
use crate::flow::text::Language;
use crate::flow::{Diagnostic, Severity};

/// The folder inside a flow folder that holds the safety files.
pub const SAFETY_DIR: &str = "safety";

/// The file of support lines inside [`SAFETY_DIR`].
pub const RESOURCES_FILE: &str = "resources.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatterns {
    #[serde(default)]
    spellings: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    idiom: Vec<RawIdiom>,
    #[serde(default)]
    context: Vec<RawContext>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    tier: Spanned<String>,
    about: Option<Spanned<String>>,
    adds_up: Option<bool>,
    patterns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdiom {
    id: Spanned<String>,
    patterns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    id: Spanned<String>,
    about: Spanned<String>,
    patterns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    last_checked: Spanned<toml::value::Datetime>,
    emergency: RawEmergency,
    #[serde(default)]
    resource: Vec<RawResource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmergency {
    numbers: Vec<Spanned<String>>,
    line: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Spanned<String>,
    numbers: Vec<Spanned<String>>,
    line: Spanned<String>,
    #[serde(default)]
    first_for: Vec<Spanned<String>>,
}

/// Reports problems in one file.
struct FileReport<'a> {
    path: PathBuf,
    text: String,
    diagnostics: &'a mut Vec<Diagnostic>,
    errors: usize,
}

impl FileReport<'_> {
    fn report(&mut self, severity: Severity, offset: usize, message: String) {
        if severity == Severity::Error {
            self.errors += 1;
        }
        self.diagnostics.push(Diagnostic {
            severity,
            path: self.path.clone(),
            position: Some(line_and_column(&self.text, offset)),
            message,
        });
    }

    fn error(&mut self, offset: usize, message: String) {
        self.report(Severity::Error, offset, message);
    }

    fn parse<T: for<'de> Deserialize<'de>>(&mut self) -> Option<T> {
        match toml::from_str::<T>(&self.text) {
            Ok(value) => Some(value),
            Err(err) => {
                let offset = err.span().map_or(0, |span| span.start);
                self.error(offset, explain_toml_error(err.message()));
                None
            }
        }
    }

    fn check_id(&mut self, id: &Spanned<String>, seen: &mut BTreeSet<String>, what: &str) {
        let name = id.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.error(
                id.span().start,
                format!("{what} id \"{name}\" is not allowed: use 1 to 40 lowercase letters, digits, - and _"),
            );
        } else if !seen.insert(name.clone()) {
            self.error(
                id.span().start,
                format!("id \"{name}\" is used twice in this file: give each its own id"),
            );
        }
    }

    /// Compiles the patterns of one entry, reporting each bad one.
    fn patterns(
        &mut self,
        id: &Spanned<String>,
        what: &str,
        patterns: &[Spanned<String>],
    ) -> Vec<Regex> {
        if patterns.is_empty() {
            self.error(
                id.span().start,
                format!(
                    "{what} \"{}\" has no patterns: add at least one",
                    id.get_ref()
                ),
            );
        }
        patterns.iter().filter_map(|p| self.pattern(p)).collect()
    }

    fn pattern(&mut self, pattern: &Spanned<String>) -> Option<Regex> {
        let source = pattern.get_ref();
        let at = pattern.span().start;
        if let Some(problem) = unmatchable(source) {
            self.error(at, format!("pattern '{source}' can never match: {problem}"));
            return None;
        }
        match RegexBuilder::new(source).size_limit(1 << 20).build() {
            Ok(regex) if regex.is_match("") => {
                self.error(
                    at,
                    format!("pattern '{source}' matches an empty message, so it would match every message: make it need at least one word"),
                );
                None
            }
            Ok(regex) => Some(regex),
            Err(err) => {
                self.error(
                    at,
                    format!(
                        "pattern '{source}' is not a valid regular expression: {}",
                        explain_regex_error(err)
                    ),
                );
                None
            }
        }
    }
}

/// Why a pattern could never match normalised text, if it could not.
fn unmatchable(pattern: &str) -> Option<&'static str> {
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c.is_uppercase() {
            return Some("messages are lower-cased before matching, so write it in lower case");
        } else if matches!(
            c,
            '\'' | '"' | '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}'
        ) {
            return Some(
                "apostrophes and quotes are removed before matching, so write cant, not can't",
            );
        }
    }
    None
}

/// Words as spellings must be written: lower-case letters and digits,
/// separated by single spaces.
fn plain_words(text: &str, max: usize) -> bool {
    let words: Vec<&str> = text.split(' ').collect();
    !text.is_empty()
        && words.len() <= max
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_lowercase() || c.is_ascii_digit()))
}

/// Loads and checks `dir` (a flow folder's `safety/`), adding any problems
/// to `diagnostics`. Returns the safety rules only if there were no errors.
pub(crate) fn load(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<Safety> {
    let file_error = |diagnostics: &mut Vec<Diagnostic>, path: PathBuf, message: String| {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            path,
            position: None,
            message,
        });
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            file_error(
                diagnostics,
                dir.to_path_buf(),
                format!(
                    "cannot read the safety folder ({err}): every flow folder needs safety/en.toml with the crisis patterns and safety/resources.toml with the support lines (see flows/README.md)"
                ),
            );
            return None;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();

    let mut ok = true;
    let mut resources = None;
    let mut english = None;
    let mut others = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                file_error(diagnostics, path, format!("cannot read the file: {err}"));
                ok = false;
                continue;
            }
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut report = FileReport {
            path: path.clone(),
            text,
            diagnostics,
            errors: 0,
        };
        if path.file_name().is_some_and(|n| n == RESOURCES_FILE) {
            resources = load_resources(&mut report);
        } else if let Some(language) = Language::parse(&name) {
            let patterns = load_patterns(&mut report);
            if language == Language::english() {
                english = patterns;
            } else if let Some(patterns) = patterns {
                others.push(patterns);
            }
        } else {
            report.error(
                0,
                format!("\"{name}\" is not a language code: name pattern files after their language, like en.toml or cy.toml, and keep the support lines in {RESOURCES_FILE}"),
            );
        }
        ok &= report.errors == 0;
    }
    if english.is_none() && !dir.join("en.toml").exists() {
        file_error(
            diagnostics,
            dir.join("en.toml"),
            "this file is missing: the English crisis patterns are required (see flows/README.md)"
                .into(),
        );
        ok = false;
    }
    if resources.is_none() && !dir.join(RESOURCES_FILE).exists() {
        file_error(
            diagnostics,
            dir.join(RESOURCES_FILE),
            "this file is missing: the support lines shown in a crisis are required (see flows/README.md)".into(),
        );
        ok = false;
    }
    let mut languages = vec![english?];
    languages.extend(others);
    let resources = resources?;
    ok.then_some(Safety {
        detector: Detector { languages },
        resources,
    })
}

fn load_patterns(report: &mut FileReport<'_>) -> Option<LanguagePatterns> {
    let raw: RawPatterns = report.parse()?;
    let mut patterns = LanguagePatterns::default();
    let mut spellings = Spellings::default();
    for (from, to) in &raw.spellings {
        let from_ok = plain_words(from.get_ref(), MAX_SPELLING_WORDS);
        if !from_ok {
            report.error(
                from.span().start,
                format!("spelling \"{}\" cannot be matched: write 1 to {MAX_SPELLING_WORDS} lower-case words, without apostrophes or other marks", from.get_ref()),
            );
        }
        if !plain_words(to.get_ref(), usize::MAX) {
            report.error(
                to.span().start,
                format!("spelling \"{}\" should become \"{}\", but that is not plain words: write lower-case words separated by single spaces", from.get_ref(), to.get_ref()),
            );
        } else if from_ok {
            spellings.insert(from.get_ref(), to.get_ref());
        }
    }
    patterns.spellings = spellings;

    let mut ids = BTreeSet::new();
    for rule in &raw.rule {
        report.check_id(&rule.id, &mut ids, "rule");
        let tier = Tier::from_name(rule.tier.get_ref());
        if tier.is_none() {
            report.error(
                rule.tier.span().start,
                format!(
                    "rule \"{}\" has an unknown tier \"{}\": use crisis or check_in",
                    rule.id.get_ref(),
                    rule.tier.get_ref()
                ),
            );
        }
        let about = rule
            .about
            .as_ref()
            .and_then(|about| concern(report, "about", about));
        let compiled = report.patterns(&rule.id, "rule", &rule.patterns);
        if let Some(tier) = tier {
            patterns.rules.push(Rule {
                id: rule.id.get_ref().clone(),
                tier,
                about,
                adds_up: rule.adds_up.unwrap_or(true),
                patterns: compiled,
            });
        }
    }
    for idiom in &raw.idiom {
        report.check_id(&idiom.id, &mut ids, "idiom");
        let compiled = report.patterns(&idiom.id, "idiom", &idiom.patterns);
        patterns.idioms.extend(compiled);
    }
    for context in &raw.context {
        report.check_id(&context.id, &mut ids, "context");
        let about = concern(report, "about", &context.about);
        let compiled = report.patterns(&context.id, "context", &context.patterns);
        if let Some(about) = about {
            patterns.contexts.push(Context {
                about,
                patterns: compiled,
            });
        }
    }
    if raw.rule.iter().all(|r| r.tier.get_ref() != "crisis") {
        report.error(
            0,
            "this file has no crisis rules: add at least one [[rule]] with tier = \"crisis\""
                .into(),
        );
    }
    let sources = |regexes: &mut dyn Iterator<Item = &Regex>| -> Option<RegexSet> {
        let sources: Vec<&str> = regexes.map(Regex::as_str).collect();
        RegexSetBuilder::new(sources)
            .size_limit(1 << 24)
            .build()
            .ok()
    };
    patterns.any_rule = sources(&mut patterns.rules.iter().flat_map(|r| r.patterns.iter()));
    patterns.any_idiom = sources(&mut patterns.idioms.iter());
    (report.errors == 0).then_some(patterns)
}

fn concern(report: &mut FileReport<'_>, key: &str, about: &Spanned<String>) -> Option<Concern> {
    let concern = Concern::from_name(about.get_ref());
    if concern.is_none() {
        report.error(
            about.span().start,
            format!(
                "{key} \"{}\" is not one I know: use abuse, child or older",
                about.get_ref()
            ),
        );
    }
    concern
}

fn load_resources(report: &mut FileReport<'_>) -> Option<Resources> {
    let raw: RawResources = report.parse()?;
    let checked = raw.last_checked.get_ref();
    if checked.date.is_none() || checked.time.is_some() {
        report.error(
            raw.last_checked.span().start,
            "last_checked must be the date the numbers were last checked, like 2026-12-02".into(),
        );
    }
    let numbers_in_line = |report: &mut FileReport<'_>,
                           whose: &str,
                           numbers: &[Spanned<String>],
                           line: &Spanned<String>| {
        if numbers.is_empty() {
            report.error(
                line.span().start,
                format!("{whose} has no numbers: add numbers = [\"...\"]"),
            );
        }
        for number in numbers {
            if !line.get_ref().contains(number.get_ref().as_str()) {
                report.error(
                    number.span().start,
                    format!("the line of {whose} does not contain its number \"{}\": write the number in the line exactly as in numbers, so they cannot drift apart", number.get_ref()),
                );
            }
        }
    };
    numbers_in_line(
        report,
        "[emergency]",
        &raw.emergency.numbers,
        &raw.emergency.line,
    );
    let mut ids = BTreeSet::new();
    let mut lines = Vec::new();
    for resource in &raw.resource {
        let id = resource.id.get_ref();
        let ok = !id.is_empty()
            && id.len() <= 32
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            report.error(
                resource.id.span().start,
                format!("resource id \"{id}\" is not allowed: use 1 to 32 lowercase letters, digits and _, starting with a letter (flows use it as {{{id}_number}})"),
            );
        } else if !ids.insert(id.clone()) {
            report.error(
                resource.id.span().start,
                format!("resource \"{id}\" appears twice: give each its own id"),
            );
        }
        numbers_in_line(
            report,
            &format!("resource \"{id}\""),
            &resource.numbers,
            &resource.line,
        );
        let first_for = resource
            .first_for
            .iter()
            .filter_map(|about| concern(report, "first_for", about))
            .collect();
        lines.push(Resource {
            id: id.clone(),
            numbers: resource
                .numbers
                .iter()
                .map(|n| n.get_ref().clone())
                .collect(),
            line: resource.line.get_ref().clone(),
            first_for,
        });
    }
    if lines.is_empty() {
        report.error(
            0,
            "there are no support lines: add at least one [[resource]]".into(),
        );
    }
    for concern in Concern::ALL {
        if !lines.iter().any(|r| r.first_for.contains(&concern)) {
            report.report(
                Severity::Warning,
                0,
                format!("no resource has first_for = [\"{}\"], so nothing comes first when a disclosure is about that", concern.as_str()),
            );
        }
    }
    (report.errors == 0).then(|| Resources {
        last_checked: checked.to_string(),
        emergency: raw.emergency.line.get_ref().clone(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_that_cannot_match_normalised_text_are_explained() {
        assert!(unmatchable(r"\bcan't\b").is_some());
        assert!(unmatchable(r"\bI\b").is_some());
        assert!(unmatchable(r"\bi\s+\w+\b\S").is_none());
        assert!(unmatchable(r"\bself ?harm").is_none());
    }

    #[test]
    fn spellings_are_plain_lower_case_words() {
        assert!(plain_words("do not", 3));
        assert!(plain_words("kms", 3));
        assert!(!plain_words("can't", 3));
        assert!(!plain_words("a  b", 3));
        assert!(!plain_words("a b c d", 3));
        assert!(!plain_words("", 3));
    }
}
