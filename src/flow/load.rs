//! Reading flow files and checking them, with every problem tied to its line.
//!
//! Loading happens in three passes: parse every file (TOML syntax, unknown
//! keys, types), index every flow and step id, then resolve and check each
//! step. The crisis patterns and support lines in `safety/` are read and
//! checked alongside (`crate::safety`), and the whole set is checked for
//! urgent help being one tap away everywhere. Problems are collected rather
//! than returned one at a time, so that `signpost flows check` can show a
//! person everything to fix at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::text::{Language, LocalText, Template};
use super::{
    Action, Capture, Choice, CommandName, Commands, Flow, FlowSet, MAX_LABEL_CHARS, MAX_OPTIONS,
    Messages, SafetyFlows, SearchSpec, Step, StepRef, Target, Trigger,
};
use crate::search::{Category, When};

/// The file in a flow folder that holds the global commands and messages.
pub const GLOBAL_FILE: &str = "global.toml";

/// The most results a search step may show at once.
/// The furthest a flow may search from a place.
const MAX_RADIUS_KM: u16 = 200;

/// What a search's `online` may say: also phone and online services, only
/// them, or only activities at a place.
const ONLINE_CHOICES: [&str; 3] = ["include", "only", "exclude"];

const MAX_LIMIT: i64 = 10;

/// How serious a problem is: errors stop the bot from starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub path: PathBuf,
    /// Line and column, both counted from 1; `None` when the problem is the
    /// file as a whole (it is missing or cannot be read).
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {severity}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {severity}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found, in file and line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn errors(&self) -> usize {
        self.0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.0.len() - self.errors()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// The flows could not be loaded; the diagnostics say why and where.
#[derive(Debug, thiserror::Error)]
#[error(
    "the flows in {dir} have {errors} error(s):\n{diagnostics}run `signpost flows check {dir}` after fixing them",
    errors = diagnostics.errors()
)]
pub struct LoadError {
    pub dir: String,
    pub diagnostics: Diagnostics,
}

/// Loads and checks every flow in `dir`. Warnings come back with the flows.
pub fn load_dir(dir: &Path) -> Result<(FlowSet, Diagnostics), LoadError> {
    match check_dir(dir) {
        (Some(flows), diagnostics) => Ok((flows, diagnostics)),
        (None, diagnostics) => Err(LoadError {
            dir: dir.display().to_string(),
            diagnostics,
        }),
    }
}

/// Checks every flow in `dir`, returning the flows only if there were no errors.
pub fn check_dir(dir: &Path) -> (Option<FlowSet>, Diagnostics) {
    let mut loader = Loader::default();
    let flows = loader.load(dir);
    let mut diagnostics = loader.diagnostics;
    diagnostics
        .sort_by(|a, b| (&a.path, a.position, a.severity).cmp(&(&b.path, b.position, b.severity)));
    diagnostics.dedup();
    let diagnostics = Diagnostics(diagnostics);
    let flows = if diagnostics.errors() == 0 {
        flows
    } else {
        None
    };
    (flows, diagnostics)
}

// ---------------------------------------------------------------------------
// The files as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlowFile {
    flow: RawFlowHeader,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlowHeader {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    start: RawStart,
    /// Read only to refuse it: the crisis check cannot be turned off.
    crisis_check: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStart {
    #[serde(default)]
    commands: Vec<Spanned<String>>,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    say: Option<Spanned<RawText>>,
    options: Option<Spanned<Vec<Spanned<RawOption>>>>,
    capture: Option<Spanned<RawCapture>>,
    search: Option<Spanned<RawSearch>>,
    if_none: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    flow: Option<Spanned<String>>,
    end: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    label: Spanned<RawText>,
    #[serde(default)]
    set: BTreeMap<Spanned<String>, String>,
    go: Option<Spanned<String>>,
    flow: Option<Spanned<String>>,
    resume: Option<Spanned<bool>>,
    command: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    into: Spanned<String>,
    pattern: Spanned<String>,
    retry: Spanned<RawText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    category: Option<Spanned<String>>,
    area: Option<Spanned<String>>,
    when: Option<Spanned<String>>,
    #[serde(default)]
    include_online: bool,
    radius_km: Option<Spanned<String>>,
    online: Option<Spanned<String>>,
    limit: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    commands: RawCommands,
    safety: RawSafetyFlows,
    /// No longer used; reported with advice, since older folders have it.
    interrupt: Option<Spanned<toml::Value>>,
    messages: RawMessages,
}

/// Where the safety responses start. There is deliberately no setting to
/// turn the crisis check off.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafetyFlows {
    crisis: Spanned<String>,
    crisis_again: Spanned<String>,
    check_in: Spanned<String>,
    check_in_danger: Spanned<String>,
    check_in_again: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    start: RawFlowCommand,
    urgent: RawFlowCommand,
    help: RawFlowCommand,
    privacy: RawFlowCommand,
    stop: RawSayCommand,
    forget: RawSayCommand,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlowCommand {
    words: Vec<Spanned<String>>,
    flow: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSayCommand {
    words: Vec<Spanned<String>>,
    say: Spanned<RawText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessages {
    not_understood: Spanned<RawText>,
    too_long: Spanned<RawText>,
    search_failed: Spanned<RawText>,
    unknown_area: Spanned<RawText>,
    introduction: Spanned<RawText>,
    not_text: Spanned<RawText>,
    location: Spanned<RawText>,
    button_expired: Spanned<RawText>,
    group_notice: Spanned<RawText>,
    group_button: Spanned<RawText>,
    still_here: Spanned<RawText>,
}

/// Text as written: a plain string, or a table of language code to string.
enum RawText {
    Plain(String),
    ByLanguage(Vec<(String, String)>),
}

impl<'de> Deserialize<'de> for RawText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = RawText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text, or a table of language code to text such as { en = \"Hello\" }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawText, E> {
                Ok(RawText::Plain(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawText, A::Error> {
                let mut versions = Vec::new();
                while let Some((language, text)) = map.next_entry::<String, String>()? {
                    versions.push((language, text));
                }
                Ok(RawText::ByLanguage(versions))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

// ---------------------------------------------------------------------------
// Positions.

/// A file's text, kept to turn byte offsets into lines and columns.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn position(&self, offset: usize) -> (usize, usize) {
        line_and_column(&self.text, offset)
    }
}

/// The line and column (both from 1) of a byte offset into a file's text.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Which file a span belongs to.
type FileIndex = usize;

#[derive(Clone, Copy)]
struct At {
    file: FileIndex,
    offset: usize,
}

fn at(file: FileIndex, span: Range<usize>) -> At {
    At {
        file,
        offset: span.start,
    }
}

// ---------------------------------------------------------------------------
// The loader.

#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    diagnostics: Vec<Diagnostic>,
    /// Every language that any text uses, besides English.
    languages: BTreeSet<Language>,
    /// Texts, for the check that every language is complete: where each is
    /// and which languages it has.
    texts: Vec<(At, String, BTreeSet<Language>)>,
    /// Every flow's start patterns, compiled once while resolving flows.
    start_patterns: Vec<(Regex, u16)>,
}

/// A flow file that parsed, with its position in `Loader::sources`.
struct ParsedFlow {
    file: FileIndex,
    raw: RawFlowFile,
}

impl Loader {
    fn report(&mut self, severity: Severity, at: At, message: String) {
        let source = &self.sources[at.file];
        self.diagnostics.push(Diagnostic {
            severity,
            path: source.path.clone(),
            position: Some(source.position(at.offset)),
            message,
        });
    }

    /// The name of a file within the flow folder, for messages that point
    /// from one file to another.
    fn file_name(&self, file: FileIndex) -> String {
        let path = &self.sources[file].path;
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    fn error(&mut self, at: At, message: String) {
        self.report(Severity::Error, at, message);
    }

    fn warning(&mut self, at: At, message: String) {
        self.report(Severity::Warning, at, message);
    }

    fn file_error(&mut self, path: PathBuf, message: String) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            path,
            position: None,
            message,
        });
    }

    /// Reads a file, reporting a problem if it cannot be read.
    fn read(&mut self, path: PathBuf) -> Option<FileIndex> {
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    self.sources.push(Source { path, text });
                    Some(self.sources.len() - 1)
                }
                Err(_) => {
                    self.file_error(path, "the file is not UTF-8 text: save it as UTF-8".into());
                    None
                }
            },
            Err(err) => {
                self.file_error(path, format!("cannot read the file: {err}"));
                None
            }
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(&mut self, file: FileIndex) -> Option<T> {
        match toml::from_str::<T>(&self.sources[file].text) {
            Ok(value) => Some(value),
            Err(err) => {
                let offset = err.span().map_or(0, |span| span.start);
                let message = explain_toml_error(err.message());
                self.error(At { file, offset }, message);
                None
            }
        }
    }

    fn load(&mut self, dir: &Path) -> Option<FlowSet> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.file_error(
                    dir.to_path_buf(),
                    format!("cannot read the flow folder: {err}"),
                );
                return None;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();

        let global_path = dir.join(GLOBAL_FILE);
        let mut global = None;
        let mut parsed = Vec::new();
        for path in paths {
            let is_global = path.file_name().is_some_and(|name| name == GLOBAL_FILE);
            let Some(file) = self.read(path) else {
                continue;
            };
            if is_global {
                global = self.parse::<RawGlobal>(file).map(|raw| (file, raw));
            } else if let Some(raw) = self.parse::<RawFlowFile>(file) {
                parsed.push(ParsedFlow { file, raw });
            }
        }
        if !global_path.exists() {
            self.file_error(
                global_path,
                "this file is missing: every flow folder needs a global.toml with the commands and standard messages (see flows/README.md)".into(),
            );
        }

        let index = self.index(&parsed);
        let mut flows = Vec::with_capacity(parsed.len());
        for (flow_number, flow) in parsed.iter().enumerate() {
            flows.push(self.resolve_flow(&index, flow_number as u16, flow));
        }
        let (file, raw_global) = global?;
        let global = self.resolve_global(&index, file, raw_global, &parsed);

        // The crisis patterns and support lines: checked with the flows, so
        // a flow set never runs without them.
        let safety =
            crate::safety::load(&dir.join(crate::safety::SAFETY_DIR), &mut self.diagnostics);
        self.check_variables(&parsed, &flows, safety.as_ref().map(|s| &s.resources));
        // What is reachable is only known once every reference resolves.
        if self.count_errors() == 0 {
            self.check_reachable(&parsed, &flows, global.as_ref());
        }
        self.check_loops(&parsed, &flows);
        self.check_languages();

        let (commands, safety_flows, messages, mut words, start_patterns) = global?;
        self.check_urgent_help_offered(&parsed, &flows, commands.urgent);
        // Which flow /help starts is only certain once every id is unique.
        if self.count_errors() == 0 {
            self.check_help_offers_urgent_help_first(&parsed, &flows, &commands);
        }
        for (flow_number, flow) in parsed.iter().enumerate() {
            for word in flow
                .raw
                .flow
                .start
                .commands
                .iter()
                .chain(&flow.raw.flow.start.keywords)
            {
                let key = normalise_word(word.get_ref());
                words
                    .entry(key)
                    .or_insert(Trigger::Flow(flow_number as u16));
            }
        }
        let flows = flows.into_iter().collect::<Option<Vec<Flow>>>()?;
        let listed_areas = super::listed_areas(&flows);
        Some(FlowSet {
            listed_areas,
            forget_after: super::minutes_in_words(crate::session::DEFAULT_IDLE_MINUTES),
            safety: safety?,
            flows,
            words,
            safety_flows,
            start_patterns,
            commands,
            messages,
        })
    }

    /// Indexes flow ids and step ids, reporting duplicates.
    fn index(&mut self, parsed: &[ParsedFlow]) -> Index {
        let mut index = Index::default();
        for (flow_number, flow) in parsed.iter().enumerate() {
            let id = &flow.raw.flow.id;
            let id_at = at(flow.file, id.span());
            self.check_id(id_at, "flow", id.get_ref());
            if let Some(setting) = &flow.raw.flow.crisis_check {
                let setting_at = at(flow.file, setting.span());
                if setting.get_ref().as_bool() == Some(true) {
                    self.warning(
                        setting_at,
                        format!("flow \"{}\" sets crisis_check = true, which does nothing: every message is always checked for crisis first. Remove the line", id.get_ref()),
                    );
                } else {
                    self.error(
                        setting_at,
                        format!("flow \"{}\" tries to turn the crisis check off, but it cannot be: every message is checked for crisis first, in every flow and step. Remove crisis_check", id.get_ref()),
                    );
                }
            }
            if let Some(&(first_file, _)) = index.flows.get(id.get_ref()) {
                let first = self.file_name(first_file);
                self.error(
                    id_at,
                    format!(
                        "flow \"{}\" is also the id of the flow in {first}: give each flow its own id",
                        id.get_ref()
                    ),
                );
            } else {
                index
                    .flows
                    .insert(id.get_ref().clone(), (flow.file, flow_number as u16));
            }
            let mut steps = HashMap::new();
            if flow.raw.step.is_empty() {
                self.error(
                    id_at,
                    format!(
                        "flow \"{}\" has no steps: add at least one [[step]]",
                        id.get_ref()
                    ),
                );
            }
            for (step_number, step) in flow.raw.step.iter().enumerate() {
                let step_id = &step.get_ref().id;
                let step_at = at(flow.file, step_id.span());
                self.check_id(step_at, "step", step_id.get_ref());
                if steps
                    .insert(step_id.get_ref().clone(), step_number as u16)
                    .is_some()
                {
                    self.error(
                        step_at,
                        format!(
                            "step \"{}\" appears twice in flow \"{}\": give each step its own id",
                            step_id.get_ref(),
                            id.get_ref()
                        ),
                    );
                }
            }
            index.steps.push(steps);
        }
        index
    }

    fn check_id(&mut self, at: At, what: &str, id: &str) {
        let ok = !id.is_empty()
            && id.len() <= 40
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            self.error(
                at,
                format!(
                    "{what} id \"{id}\" is not allowed: use 1 to 40 lowercase letters, digits, - and _"
                ),
            );
        }
    }

    fn resolve_flow(&mut self, index: &Index, flow_number: u16, flow: &ParsedFlow) -> Option<Flow> {
        let file = flow.file;
        for pattern in &flow.raw.flow.start.patterns {
            if let Some(regex) = self.compile(file, pattern, false) {
                self.start_patterns.push((regex, flow_number));
            }
        }
        let mut steps = Vec::with_capacity(flow.raw.step.len());
        let mut ok = true;
        for step in &flow.raw.step {
            match self.resolve_step(index, flow_number, file, step) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then(|| Flow {
            id: flow.raw.flow.id.get_ref().clone(),
            title: flow.raw.flow.title.clone(),
            steps,
        })
    }

    fn resolve_step(
        &mut self,
        index: &Index,
        flow_number: u16,
        file: FileIndex,
        spanned: &Spanned<RawStep>,
    ) -> Option<Step> {
        let raw = spanned.get_ref();
        let id = raw.id.get_ref();
        let step_at = at(file, raw.id.span());
        let errors_before = self.count_errors();
        let say = raw
            .say
            .as_ref()
            .map(|say| self.text(file, say, &format!("step \"{id}\"")));

        let options = match &raw.options {
            Some(options) => {
                if options.get_ref().is_empty() {
                    self.error(
                        at(file, options.span()),
                        format!("step \"{id}\" has an empty options list: add options or remove the line"),
                    );
                }
                if options.get_ref().len() > MAX_OPTIONS {
                    self.error(
                        at(file, options.span()),
                        format!(
                            "step \"{id}\" has {} options, but at most {MAX_OPTIONS} fit on a screen: split them over two steps",
                            options.get_ref().len()
                        ),
                    );
                }
                options
                    .get_ref()
                    .iter()
                    .filter_map(|option| self.resolve_option(index, flow_number, file, id, option))
                    .collect()
            }
            None => Vec::new(),
        };

        let end = raw.end.as_ref().is_some_and(|end| *end.get_ref());
        let step_target = |loader: &mut Self, target: &Spanned<String>, what: &str| {
            loader.resolve_step_ref(index, flow_number, file, id, target, what)
        };
        let flow_target = |loader: &mut Self, target: &Spanned<String>| {
            loader.resolve_flow_ref(index, file, &format!("step \"{id}\""), target)
        };

        // Which of the exclusive actions this step names.
        let mut actions = Vec::new();
        if raw.capture.is_some() {
            actions.push("capture");
        }
        if raw.search.is_some() {
            actions.push("search");
        }
        if raw.next.is_some() && raw.capture.is_none() {
            actions.push("next");
        }
        if raw.flow.is_some() {
            actions.push("flow");
        }
        if end {
            actions.push("end");
        }
        if actions.len() > 1 {
            self.error(
                step_at,
                format!(
                    "step \"{id}\" has both {} and {}: a step does one thing, so move one of them to a step of its own",
                    actions[0], actions[1]
                ),
            );
            return None;
        }
        let waits = matches!(actions.first(), None | Some(&"capture") | Some(&"search"));
        let asks = raw.options.is_some() || raw.capture.is_some();
        if asks && raw.say.is_none() && raw.search.is_none() {
            self.error(
                step_at,
                format!("step \"{id}\" waits for an answer but says nothing: add say = \"...\" with the question"),
            );
        }
        if !options.is_empty() && !waits {
            self.error(
                step_at,
                format!(
                    "step \"{id}\" has options and also {}: options need a step that waits for an answer, so remove one",
                    actions[0]
                ),
            );
        }
        if raw.if_none.is_some() && raw.search.is_none() {
            self.error(
                step_at,
                format!("step \"{id}\" has if_none but no search: if_none says where to go when a search finds nothing"),
            );
        }

        let action = match actions.first().copied() {
            Some("capture") => {
                let capture = raw.capture.as_ref()?;
                let parsed_capture = self.resolve_capture(file, id, capture);
                let next = match &raw.next {
                    Some(next) => step_target(self, next, "goes next"),
                    None => {
                        self.error(
                            at(file, capture.span()),
                            format!("step \"{id}\" asks a question but has no next: add next = \"step-id\" to say where to go after the answer"),
                        );
                        None
                    }
                };
                Action::Capture {
                    capture: parsed_capture?,
                    next: next?,
                }
            }
            Some("search") => {
                let search = raw.search.as_ref()?;
                let spec = self.resolve_search(file, id, search);
                let if_none = match &raw.if_none {
                    Some(target) => step_target(self, target, "goes (if_none)"),
                    None => {
                        self.error(
                            at(file, search.span()),
                            format!("step \"{id}\" searches but has no if_none: add if_none = \"step-id\" to say where to go when nothing matches"),
                        );
                        None
                    }
                };
                if options.is_empty() && raw.options.is_none() {
                    self.error(
                        step_at,
                        format!("step \"{id}\" shows search results but offers no options afterwards: add options such as the main menu and urgent help"),
                    );
                }
                Action::Search {
                    search: spec?,
                    if_none: if_none?,
                }
            }
            Some("next") => Action::Next(step_target(self, raw.next.as_ref()?, "goes next")?),
            Some("flow") => Action::Next(flow_target(self, raw.flow.as_ref()?)?),
            Some("end") => Action::End,
            _ => {
                if raw.options.is_none() {
                    self.error(
                        step_at,
                        format!("step \"{id}\" has nowhere to go: add options, capture, search, next, flow or end = true"),
                    );
                }
                Action::Choose
            }
        };
        (self.count_errors() == errors_before).then(|| Step {
            id: id.clone(),
            say,
            options,
            action,
        })
    }

    fn count_errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn resolve_option(
        &mut self,
        index: &Index,
        flow_number: u16,
        file: FileIndex,
        step_id: &str,
        spanned: &Spanned<RawOption>,
    ) -> Option<Choice> {
        let raw = spanned.get_ref();
        let option_at = at(file, spanned.span());
        let label = self.text(
            file,
            &raw.label,
            &format!("an option of step \"{step_id}\""),
        );
        let english = label.get(&Language::english()).render(|_| None);
        for (language, template) in label.versions() {
            let shown = template.render(|name| Some(format!("{{{name}}}")));
            let chars = shown.chars().count();
            if chars > MAX_LABEL_CHARS {
                let language = language.map_or(String::new(), |l| format!(" ({l})"));
                self.error(
                    at(file, raw.label.span()),
                    format!(
                        "option \"{shown}\"{language} of step \"{step_id}\" is {chars} characters long, but buttons fit at most {MAX_LABEL_CHARS}: shorten it"
                    ),
                );
            }
            if shown.trim().is_empty() {
                self.error(
                    at(file, raw.label.span()),
                    format!("an option of step \"{step_id}\" has an empty label: write what the button should say"),
                );
            }
        }
        let mut set = Vec::with_capacity(raw.set.len());
        for (name, value) in &raw.set {
            if self.check_variable_name(at(file, name.span()), name.get_ref(), step_id) {
                set.push((name.get_ref().clone(), value.clone()));
            }
        }
        let resume = raw.resume.as_ref().is_some_and(|r| *r.get_ref());
        let targets = [
            raw.go.is_some(),
            raw.flow.is_some(),
            resume,
            raw.command.is_some(),
        ];
        let target = match targets.iter().filter(|&&t| t).count() {
            0 => {
                self.error(
                    option_at,
                    format!("option \"{english}\" of step \"{step_id}\" goes nowhere: add go = \"step-id\", flow = \"flow-id\", resume = true or command = \"name\""),
                );
                None
            }
            1 => {
                if let Some(go) = &raw.go {
                    self.resolve_step_ref(
                        index,
                        flow_number,
                        file,
                        step_id,
                        go,
                        "has an option that goes",
                    )
                    .map(Target::Step)
                } else if let Some(flow) = &raw.flow {
                    self.resolve_flow_ref(
                        index,
                        file,
                        &format!("option \"{english}\" of step \"{step_id}\""),
                        flow,
                    )
                    .map(Target::Step)
                } else if let Some(command) = &raw.command {
                    let found = CommandName::from_name(command.get_ref());
                    if found.is_none() {
                        let names: Vec<&str> =
                            CommandName::ALL.iter().map(|c| c.as_str()).collect();
                        self.error(
                            at(file, command.span()),
                            format!(
                                "option \"{english}\" of step \"{step_id}\" runs unknown command \"{}\": use one of {}",
                                command.get_ref(),
                                names.join(", ")
                            ),
                        );
                    }
                    found.map(Target::Command)
                } else {
                    Some(Target::Resume)
                }
            }
            _ => {
                self.error(
                    option_at,
                    format!("option \"{english}\" of step \"{step_id}\" has more than one of go, flow, resume and command: keep just one"),
                );
                None
            }
        };
        Some(Choice {
            label,
            set,
            target: target?,
        })
    }

    fn resolve_step_ref(
        &mut self,
        index: &Index,
        flow_number: u16,
        file: FileIndex,
        step_id: &str,
        target: &Spanned<String>,
        what: &str,
    ) -> Option<StepRef> {
        let steps = &index.steps[usize::from(flow_number)];
        match steps.get(target.get_ref()) {
            Some(&step) => Some(StepRef {
                flow: flow_number,
                step,
            }),
            None => {
                let suggestion = closest(target.get_ref(), steps.keys())
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                let from = format!("step \"{step_id}\" {what}");
                self.error(
                    at(file, target.span()),
                    format!(
                        "{from} to unknown step \"{}\"{suggestion}: steps can only go to steps in the same file; use flow = \"flow-id\" for another flow",
                        target.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn resolve_flow_ref(
        &mut self,
        index: &Index,
        file: FileIndex,
        whose: &str,
        target: &Spanned<String>,
    ) -> Option<StepRef> {
        match index.flows.get(target.get_ref()) {
            Some(&(_, flow)) => Some(StepRef { flow, step: 0 }),
            None => {
                let suggestion = closest(target.get_ref(), index.flows.keys())
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                self.error(
                    at(file, target.span()),
                    format!(
                        "{whose} goes to unknown flow \"{}\"{suggestion}",
                        target.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn check_variable_name(&mut self, at: At, name: &str, step_id: &str) -> bool {
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.error(
                at,
                format!("step \"{step_id}\" names a variable \"{name}\": use letters, digits and _ only, starting with a letter"),
            );
        } else if name == "count" {
            self.error(
                at,
                format!("step \"{step_id}\" sets a variable called count, but {{count}} is filled in by searches: choose another name"),
            );
            return false;
        } else if crate::safety::PLACEHOLDERS.contains(&name) || name.ends_with("_number") {
            self.error(
                at,
                format!("step \"{step_id}\" names a variable {name}, but names like {{{name}}} are kept for support lines from safety/resources.toml: choose another name"),
            );
            return false;
        }
        ok
    }

    fn resolve_capture(
        &mut self,
        file: FileIndex,
        step_id: &str,
        spanned: &Spanned<RawCapture>,
    ) -> Option<Capture> {
        let raw = spanned.get_ref();
        let name_ok =
            self.check_variable_name(at(file, raw.into.span()), raw.into.get_ref(), step_id);
        let pattern = self.compile(file, &raw.pattern, true);
        let retry = self.text(
            file,
            &raw.retry,
            &format!("the retry of step \"{step_id}\""),
        );
        name_ok.then_some(())?;
        Some(Capture {
            into: raw.into.get_ref().clone(),
            pattern: pattern?,
            retry,
        })
    }

    fn resolve_search(
        &mut self,
        file: FileIndex,
        step_id: &str,
        spanned: &Spanned<RawSearch>,
    ) -> Option<SearchSpec> {
        let raw = spanned.get_ref();
        let mut ok = true;
        let mut template = |loader: &mut Self,
                            value: &Option<Spanned<String>>,
                            check: &dyn Fn(&str) -> bool,
                            allowed: &str,
                            filter: &str| {
            let value = value.as_ref()?;
            match Template::parse(value.get_ref()) {
                Ok(template) => {
                    if template.variables().next().is_none() {
                        let literal = value.get_ref();
                        if !literal.is_empty() && !check(literal) {
                            loader.error(
                                at(file, value.span()),
                                format!("step \"{step_id}\" searches for {filter} \"{literal}\", which is not one I know: use one of {allowed}"),
                            );
                            ok = false;
                        }
                    }
                    Some(template)
                }
                Err(err) => {
                    loader.error(
                        At {
                            file,
                            offset: value.span().start + 1 + err.offset,
                        },
                        format!("step \"{step_id}\" has a broken {filter}: {}", err.message),
                    );
                    ok = false;
                    None
                }
            }
        };
        let category = template(
            self,
            &raw.category,
            &|s| Category::from_slug(s).is_some(),
            &Category::all_slugs(),
            "category",
        );
        let area = template(self, &raw.area, &|_| true, "", "area");
        let when = template(
            self,
            &raw.when,
            &|s| When::from_slug(s).is_some(),
            &When::all_slugs(),
            "when",
        );
        let radius_km = template(
            self,
            &raw.radius_km,
            &|s| {
                s.parse::<u16>()
                    .is_ok_and(|km| (1..=MAX_RADIUS_KM).contains(&km))
            },
            &format!("a whole number of kilometres from 1 to {MAX_RADIUS_KM}"),
            "radius_km",
        );
        let online = template(
            self,
            &raw.online,
            &|s| ONLINE_CHOICES.contains(&s),
            &ONLINE_CHOICES.join(", "),
            "online",
        );
        let limit = match &raw.limit {
            Some(limit) if !(1..=MAX_LIMIT).contains(limit.get_ref()) => {
                self.error(
                    at(file, limit.span()),
                    format!(
                        "step \"{step_id}\" has limit = {}: show between 1 and {MAX_LIMIT} results",
                        limit.get_ref()
                    ),
                );
                ok = false;
                5
            }
            Some(limit) => *limit.get_ref() as u8,
            None => 5,
        };
        ok.then_some(SearchSpec {
            category,
            area,
            when,
            include_online: raw.include_online,
            radius_km,
            online,
            limit,
        })
    }

    /// Compiles a pattern; patterns ignore capitals. Capture patterns must
    /// match the whole answer.
    fn compile(
        &mut self,
        file: FileIndex,
        pattern: &Spanned<String>,
        whole: bool,
    ) -> Option<Regex> {
        let source = if whole {
            format!("^(?:{})$", pattern.get_ref())
        } else {
            pattern.get_ref().clone()
        };
        match RegexBuilder::new(&source)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            Ok(regex) => Some(regex),
            Err(err) => {
                let detail = explain_regex_error(err);
                self.error(
                    at(file, pattern.span()),
                    format!(
                        "pattern '{}' is not a valid regular expression: {detail}",
                        pattern.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// Turns written text into [`LocalText`], checking languages and placeholders.
    fn text(&mut self, file: FileIndex, raw: &Spanned<RawText>, whose: &str) -> LocalText {
        let text_at = at(file, raw.span());
        let parse = |loader: &mut Self, source: &str| match Template::parse(source) {
            Ok(template) => template,
            Err(err) => {
                loader.error(
                    text_at,
                    format!("{whose} has a broken placeholder: {}", err.message),
                );
                Template::literal(source)
            }
        };
        match raw.get_ref() {
            RawText::Plain(text) => {
                // Plain text is English only: it lacks every other language.
                self.texts
                    .push((text_at, whose.to_owned(), BTreeSet::new()));
                LocalText::new(parse(self, text), BTreeMap::new())
            }
            RawText::ByLanguage(versions) => {
                let mut english = None;
                let mut translations = BTreeMap::new();
                for (code, text) in versions {
                    let template = parse(self, text);
                    match Language::parse(code) {
                        Some(language) if language == Language::english() => english = Some(template),
                        Some(language) => {
                            translations.insert(language, template);
                        }
                        None => self.error(
                            text_at,
                            format!("{whose} has a version in \"{code}\", which is not a language code: use codes such as en or cy"),
                        ),
                    }
                }
                let english = english.unwrap_or_else(|| {
                    self.error(
                        text_at,
                        format!("{whose} has no English version: add en = \"...\""),
                    );
                    Template::literal("")
                });
                let languages: BTreeSet<Language> = translations.keys().cloned().collect();
                self.languages.extend(languages.iter().cloned());
                self.texts.push((text_at, whose.to_owned(), languages));
                LocalText::new(english, translations)
            }
        }
    }

    fn resolve_global(
        &mut self,
        index: &Index,
        file: FileIndex,
        raw: RawGlobal,
        parsed: &[ParsedFlow],
    ) -> Option<GlobalParts> {
        let errors_before = self.count_errors();
        let mut words: HashMap<String, Trigger> = HashMap::new();
        // Where each word was first defined, to report clashes.
        let mut defined: HashMap<String, At> = HashMap::new();
        let commands = &raw.commands;
        let flow_commands = [
            (CommandName::Start, &commands.start),
            (CommandName::Urgent, &commands.urgent),
            (CommandName::Help, &commands.help),
            (CommandName::Privacy, &commands.privacy),
        ];
        let mut flows = HashMap::new();
        for (name, command) in flow_commands {
            let whose = format!("the {} command", name.as_str());
            if let Some(target) = self.resolve_flow_ref(index, file, &whose, &command.flow) {
                flows.insert(name, target.flow);
            }
            self.add_words(
                &mut words,
                &mut defined,
                file,
                &command.words,
                Trigger::Command(name),
                &whose,
            );
        }
        let stop = self.text(file, &commands.stop.say, "the stop command");
        let forget = self.text(file, &commands.forget.say, "the forget command");
        for (name, command) in [
            (CommandName::Stop, &commands.stop),
            (CommandName::Forget, &commands.forget),
        ] {
            let whose = format!("the {} command", name.as_str());
            self.add_words(
                &mut words,
                &mut defined,
                file,
                &command.words,
                Trigger::Command(name),
                &whose,
            );
        }
        for name in CommandName::ALL {
            let slash = format!("/{}", name.as_str());
            let has_slash = words.get(&slash) == Some(&Trigger::Command(name));
            if !has_slash && name != CommandName::Start {
                self.error(
                    At { file, offset: 0 },
                    format!("the {0} command has no {slash} in its words: add \"{slash}\" so it works on every channel", name.as_str()),
                );
            }
        }
        if words.get("/start") != Some(&Trigger::Command(CommandName::Start)) {
            self.error(
                At { file, offset: 0 },
                "the start command has no /start in its words: add \"/start\", the first thing Telegram sends".into(),
            );
        }
        for (flow_number, flow) in parsed.iter().enumerate() {
            let whose = format!("flow \"{}\"", flow.raw.flow.id.get_ref());
            let start = &flow.raw.flow.start;
            self.add_words(
                &mut words,
                &mut defined,
                flow.file,
                &start.commands,
                Trigger::Flow(flow_number as u16),
                &whose,
            );
            for keyword in &start.keywords {
                if keyword.get_ref().starts_with('/') {
                    self.error(
                        at(flow.file, keyword.span()),
                        format!("{whose} has a keyword \"{}\" that starts with /: move it to start.commands", keyword.get_ref()),
                    );
                }
            }
            self.add_words(
                &mut words,
                &mut defined,
                flow.file,
                &start.keywords,
                Trigger::Flow(flow_number as u16),
                &whose,
            );
        }

        if let Some(interrupt) = &raw.interrupt {
            self.error(
                at(file, interrupt.span()),
                "[[interrupt]] is no longer used: the crisis check now reads safety/en.toml, and [safety] says where its responses start (see flows/README.md)".into(),
            );
        }
        let safety = self.resolve_safety_flows(index, file, &raw.safety);

        let messages = Messages {
            not_understood: self.text(
                file,
                &raw.messages.not_understood,
                "the not_understood message",
            ),
            too_long: self.text(file, &raw.messages.too_long, "the too_long message"),
            search_failed: self.text(
                file,
                &raw.messages.search_failed,
                "the search_failed message",
            ),
            unknown_area: self.text(file, &raw.messages.unknown_area, "the unknown_area message"),
            introduction: self.text(file, &raw.messages.introduction, "the introduction message"),
            not_text: self.text(file, &raw.messages.not_text, "the not_text message"),
            location: self.text(file, &raw.messages.location, "the location message"),
            button_expired: self.text(
                file,
                &raw.messages.button_expired,
                "the button_expired message",
            ),
            group_notice: self.text(file, &raw.messages.group_notice, "the group_notice message"),
            group_button: self.text(file, &raw.messages.group_button, "the group_button message"),
            still_here: self.text(file, &raw.messages.still_here, "the still_here message"),
        };

        let start_patterns = std::mem::take(&mut self.start_patterns);

        if self.count_errors() != errors_before {
            return None;
        }
        let commands = Commands {
            start: *flows.get(&CommandName::Start)?,
            urgent: *flows.get(&CommandName::Urgent)?,
            help: *flows.get(&CommandName::Help)?,
            privacy: *flows.get(&CommandName::Privacy)?,
            stop,
            forget,
        };
        Some((commands, safety?, messages, words, start_patterns))
    }

    /// Resolves `[safety]`: the flows and steps where safety responses start.
    fn resolve_safety_flows(
        &mut self,
        index: &Index,
        file: FileIndex,
        raw: &RawSafetyFlows,
    ) -> Option<SafetyFlows> {
        let flow = |loader: &mut Self, key: &str, target: &Spanned<String>| {
            loader.resolve_flow_ref(index, file, &format!("[safety] {key}"), target)
        };
        let crisis = flow(self, "crisis", &raw.crisis);
        let check_in = flow(self, "check_in", &raw.check_in);
        let check_in_danger = flow(self, "check_in_danger", &raw.check_in_danger);
        let again = |loader: &mut Self,
                     key: &str,
                     flow: Option<StepRef>,
                     target: &Spanned<String>| {
            let flow = flow?;
            let steps = &index.steps[usize::from(flow.flow)];
            match steps.get(target.get_ref()) {
                Some(&step) => Some(StepRef {
                    flow: flow.flow,
                    step,
                }),
                None => {
                    let suggestion = closest(target.get_ref(), steps.keys())
                        .map(|s| format!(" (did you mean \"{s}\"?)"))
                        .unwrap_or_default();
                    loader.error(
                        at(file, target.span()),
                        format!("[safety] {key} names step \"{}\", which is not in that flow{suggestion}: name a step of the flow it goes with", target.get_ref()),
                    );
                    None
                }
            }
        };
        let crisis_again = again(self, "crisis_again", crisis, &raw.crisis_again);
        let check_in_again = again(self, "check_in_again", check_in, &raw.check_in_again);
        Some(SafetyFlows {
            crisis: crisis?,
            crisis_again: crisis_again?,
            check_in: check_in?,
            check_in_danger: check_in_danger?,
            check_in_again: check_in_again?,
        })
    }

    fn add_words(
        &mut self,
        words: &mut HashMap<String, Trigger>,
        defined: &mut HashMap<String, At>,
        file: FileIndex,
        list: &[Spanned<String>],
        trigger: Trigger,
        whose: &str,
    ) {
        for word in list {
            let word_at = at(file, word.span());
            let key = normalise_word(word.get_ref());
            if key.is_empty() {
                self.error(word_at, format!("{whose} has an empty word: remove it"));
                continue;
            }
            if let Some(command) = word.get_ref().trim().strip_prefix('/') {
                let ok = (1..=32).contains(&command.len())
                    && command
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    self.error(
                        word_at,
                        format!("command \"{}\" of {whose} is not allowed: after the / use 1 to 32 lowercase letters, digits and _", word.get_ref()),
                    );
                    continue;
                }
            }
            match words.get(&key) {
                Some(existing) if *existing == trigger => {}
                Some(_) => {
                    let first = defined[&key];
                    let (line, _) = self.sources[first.file].position(first.offset);
                    let first_path = self.file_name(first.file);
                    self.error(
                        word_at,
                        format!("\"{}\" of {whose} is already used at {first_path}:{line}: each word can start only one thing", word.get_ref()),
                    );
                }
                None => {
                    words.insert(key.clone(), trigger);
                    defined.insert(key, word_at);
                }
            }
        }
    }

    /// Every `{placeholder}` must name a variable that some step captures or sets.
    fn check_variables<'a>(
        &mut self,
        parsed: &[ParsedFlow],
        flows: &'a [Option<Flow>],
        resources: Option<&crate::safety::Resources>,
    ) {
        // Support-line placeholders are filled from safety/resources.toml;
        // when that file has problems of its own, do not add to them here.
        let support_line = |name: &str| match resources {
            Some(resources) => resources.is_placeholder(name),
            None => crate::safety::PLACEHOLDERS.contains(&name) || name.ends_with("_number"),
        };
        let mut known: BTreeSet<String> = super::SETTINGS_PLACEHOLDERS
            .iter()
            .map(|name| name.to_string())
            .collect();
        for flow in flows.iter().flatten() {
            for step in &flow.steps {
                for option in &step.options {
                    known.extend(option.set.iter().map(|(name, _)| name.clone()));
                }
                if let Action::Capture { capture, .. } = &step.action {
                    known.insert(capture.into.clone());
                }
            }
        }
        for (flow, parsed) in flows.iter().zip(parsed) {
            let Some(flow) = flow else { continue };
            for (step, raw) in flow.steps.iter().zip(&parsed.raw.step) {
                let step_at = at(parsed.file, raw.get_ref().id.span());
                let is_search = matches!(step.action, Action::Search { .. });
                let mut used: Vec<&str> = Vec::new();
                let mut add_text = |text: &'a LocalText| {
                    for (_, template) in text.versions() {
                        used.extend(template.variables());
                    }
                };
                if let Some(say) = &step.say {
                    add_text(say);
                }
                for option in &step.options {
                    add_text(&option.label);
                }
                if let Action::Capture { capture, .. } = &step.action {
                    add_text(&capture.retry);
                }
                if let Action::Search { search, .. } = &step.action {
                    for template in [
                        &search.category,
                        &search.area,
                        &search.when,
                        &search.radius_km,
                        &search.online,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        used.extend(template.variables());
                    }
                }
                let mut reported = BTreeSet::new();
                for name in used {
                    if (name == "count" && is_search) || support_line(name) {
                        continue;
                    }
                    if !known.contains(name) && reported.insert(name.to_owned()) {
                        let hint = if name == "count" {
                            " ({count} works only in the say of a search step)".to_owned()
                        } else {
                            closest(name, known.iter())
                                .map(|s| format!(" (did you mean {{{s}}}?)"))
                                .unwrap_or_default()
                        };
                        self.error(
                            step_at,
                            format!("step \"{}\" uses {{{name}}}, but no step captures or sets a variable called {name}{hint}", step.id),
                        );
                    }
                }
            }
        }
    }

    /// Warns about steps and flows that nothing leads to.
    fn check_reachable(
        &mut self,
        parsed: &[ParsedFlow],
        flows: &[Option<Flow>],
        global: Option<&GlobalParts>,
    ) {
        if flows.iter().any(Option::is_none) {
            return;
        }
        let flows: Vec<&Flow> = flows.iter().flatten().collect();
        let mut flow_roots = BTreeSet::new();
        if let Some((commands, safety, _, _, start_patterns)) = global {
            flow_roots.extend([
                commands.start,
                commands.urgent,
                commands.help,
                commands.privacy,
            ]);
            flow_roots.extend([
                safety.crisis.flow,
                safety.check_in.flow,
                safety.check_in_danger.flow,
            ]);
            flow_roots.extend(start_patterns.iter().map(|(_, flow)| *flow));
        }
        for (flow_number, flow) in parsed.iter().enumerate() {
            let start = &flow.raw.flow.start;
            if !start.commands.is_empty() || !start.keywords.is_empty() {
                flow_roots.insert(flow_number as u16);
            }
        }
        let mut seen: BTreeSet<StepRef> = BTreeSet::new();
        let mut stack: Vec<StepRef> = flow_roots
            .iter()
            .map(|&flow| StepRef { flow, step: 0 })
            .collect();
        if let Some((_, safety, _, _, _)) = global {
            // Said when a crisis or check-in comes again soon.
            stack.extend([safety.crisis_again, safety.check_in_again]);
        }
        while let Some(at_step) = stack.pop() {
            if !seen.insert(at_step) {
                continue;
            }
            let step = &flows[usize::from(at_step.flow)].steps[usize::from(at_step.step)];
            for option in &step.options {
                if let Target::Step(target) = option.target {
                    stack.push(target);
                }
            }
            match &step.action {
                Action::Capture { next, .. } | Action::Next(next) => stack.push(*next),
                Action::Search { if_none, .. } => stack.push(*if_none),
                Action::Choose | Action::End => {}
            }
        }
        for (flow_number, (flow, raw)) in flows.iter().zip(parsed).enumerate() {
            let flow_reached = seen.iter().any(|s| usize::from(s.flow) == flow_number);
            if !flow_reached {
                self.warning(
                    at(raw.file, raw.raw.flow.id.span()),
                    format!("flow \"{}\" is never reached: no command, keyword, pattern or other flow leads to it", flow.id),
                );
                continue;
            }
            for (step_number, (step, raw_step)) in flow.steps.iter().zip(&raw.raw.step).enumerate()
            {
                let here = StepRef {
                    flow: flow_number as u16,
                    step: step_number as u16,
                };
                if !seen.contains(&here) {
                    self.warning(
                        at(raw.file, raw_step.get_ref().id.span()),
                        format!(
                            "step \"{}\" is never reached: no option, next or if_none leads to it",
                            step.id
                        ),
                    );
                }
            }
        }
    }

    /// Every step that offers options must offer urgent help among them,
    /// so help is always one tap away. Steps of the urgent help flow itself
    /// are what those options lead to.
    fn check_urgent_help_offered(
        &mut self,
        parsed: &[ParsedFlow],
        flows: &[Option<Flow>],
        urgent: u16,
    ) {
        let urgent_help = StepRef {
            flow: urgent,
            step: 0,
        };
        let urgent_id = parsed
            .get(usize::from(urgent))
            .map_or("urgent".to_owned(), |f| f.raw.flow.id.get_ref().clone());
        for (flow_number, (flow, raw)) in flows.iter().zip(parsed).enumerate() {
            let Some(flow) = flow else { continue };
            if flow_number == usize::from(urgent) {
                continue;
            }
            for (step, raw_step) in flow.steps.iter().zip(&raw.raw.step) {
                let offers_help = step
                    .options
                    .iter()
                    .any(|o| matches!(o.target, Target::Step(t) if t == urgent_help));
                if !step.options.is_empty() && !offers_help {
                    self.error(
                        at(raw.file, raw_step.get_ref().id.span()),
                        format!("step \"{}\" offers options but none of them leads to urgent help: add {{ label = \"I need urgent help\", flow = \"{urgent_id}\" }} so help is always one tap away", step.id),
                    );
                }
            }
        }
    }

    /// `/help` must offer urgent help first: someone asking for help may
    /// need it now.
    fn check_help_offers_urgent_help_first(
        &mut self,
        parsed: &[ParsedFlow],
        flows: &[Option<Flow>],
        commands: &Commands,
    ) {
        let help = usize::from(commands.help);
        let (Some(Some(flow)), Some(raw)) = (flows.get(help), parsed.get(help)) else {
            return;
        };
        let (Some(step), Some(raw_step)) = (flow.steps.first(), raw.raw.step.first()) else {
            return;
        };
        let urgent_help = StepRef {
            flow: commands.urgent,
            step: 0,
        };
        let first_is_urgent = step
            .options
            .first()
            .is_some_and(|o| matches!(o.target, Target::Step(t) if t == urgent_help));
        if !first_is_urgent {
            let urgent_id = parsed
                .get(usize::from(commands.urgent))
                .map_or("urgent".to_owned(), |f| f.raw.flow.id.get_ref().clone());
            self.error(
                at(raw.file, raw_step.get_ref().id.span()),
                format!("step \"{}\" is where /help starts, so its first option must be urgent help: put {{ label = \"I need urgent help\", flow = \"{urgent_id}\" }} first", step.id),
            );
        }
    }

    /// Steps that move on without waiting must not go round in a circle.
    fn check_loops(&mut self, parsed: &[ParsedFlow], flows: &[Option<Flow>]) {
        if flows.iter().any(Option::is_none) {
            return;
        }
        let flows: Vec<&Flow> = flows.iter().flatten().collect();
        // A search that finds nothing moves on to its if_none step without
        // waiting, so those edges count too.
        let next_of =
            |at: StepRef| match flows[usize::from(at.flow)].steps[usize::from(at.step)].action {
                Action::Next(next) => Some(next),
                Action::Search { if_none, .. } => Some(if_none),
                _ => None,
            };
        let mut reported = BTreeSet::new();
        for (flow_number, flow) in flows.iter().enumerate() {
            for step_number in 0..flow.steps.len() {
                let start = StepRef {
                    flow: flow_number as u16,
                    step: step_number as u16,
                };
                let mut path = vec![start];
                let mut current = start;
                while let Some(next) = next_of(current) {
                    if let Some(position) = path.iter().position(|&s| s == next) {
                        let cycle = &path[position..];
                        let smallest = *cycle.iter().min().unwrap_or(&next);
                        if smallest == start && reported.insert(smallest) {
                            let names: Vec<String> = cycle
                                .iter()
                                .chain(std::iter::once(&next))
                                .map(|s| {
                                    format!(
                                        "\"{}\"",
                                        flows[usize::from(s.flow)].steps[usize::from(s.step)].id
                                    )
                                })
                                .collect();
                            let raw = &parsed[flow_number];
                            self.error(
                                at(raw.file, raw.raw.step[step_number].get_ref().id.span()),
                                format!("steps {} go round in a loop without waiting for an answer: give one of them options or a question", names.join(" -> ")),
                            );
                        }
                        break;
                    }
                    path.push(next);
                    current = next;
                }
            }
        }
    }

    /// Warns about texts that lack a language used elsewhere.
    fn check_languages(&mut self) {
        let texts = std::mem::take(&mut self.texts);
        for (text_at, whose, languages) in &texts {
            let missing: Vec<&str> = self
                .languages
                .iter()
                .filter(|l| !languages.contains(*l))
                .map(Language::as_str)
                .collect();
            if !missing.is_empty() {
                self.warning(
                    *text_at,
                    format!("{whose} has no {} version", missing.join(", ")),
                );
            }
        }
    }
}

type GlobalParts = (
    Commands,
    SafetyFlows,
    Messages,
    HashMap<String, Trigger>,
    Vec<(Regex, u16)>,
);

#[derive(Default)]
struct Index {
    /// Flow id -> (file, flow number).
    flows: HashMap<String, (FileIndex, u16)>,
    /// For each flow number, step id -> step number.
    steps: Vec<HashMap<String, u16>>,
}

/// The form in which whole-message words are compared: lower case, single
/// spaces, no surrounding punctuation, and `/cmd@botname` cut to `/cmd`.
pub(crate) fn normalise_word(text: &str) -> String {
    // Phone keyboards send curly quotes: compare them as straight ones.
    let lowered = text
        .to_lowercase()
        .replace(['\u{2018}', '\u{2019}'], "'")
        .replace(['\u{201c}', '\u{201d}'], "\"");
    let trimmed = lowered.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | ',' | '!' | '?' | '"' | '\'')
    });
    if trimmed.starts_with('/') {
        let command = trimmed.split_whitespace().next().unwrap_or("");
        return command.split('@').next().unwrap_or("").to_owned();
    }
    trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The part of a regex error a person can act on.
pub(crate) fn explain_regex_error(err: regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find(|line| line.starts_with("error:"))
            .map(|line| line.trim_start_matches("error: ").to_owned())
            .unwrap_or(text),
        regex::Error::CompiledTooBig(_) => "the pattern is too big".to_owned(),
        other => other.to_string(),
    }
}

/// Makes serde's messages read as advice.
pub(crate) fn explain_toml_error(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = expected.trim_start_matches("one of ");
        return format!("unknown key {field}: the keys allowed here are {expected}");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("{rest} is missing from this table: add it (see flows/README.md)");
    }
    message.to_owned()
}

/// The candidate closest to `word`, if it is close enough to be a typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_compared_without_case_punctuation_or_bot_name() {
        assert_eq!(normalise_word("  Main   Menu! "), "main menu");
        assert_eq!(normalise_word("/START@SignpostBot please"), "/start");
        assert_eq!(normalise_word("/menu"), "/menu");
        assert_eq!(
            normalise_word("I\u{2019}ve lost someone"),
            "i've lost someone"
        );
    }

    #[test]
    fn typos_are_matched_to_the_nearest_name() {
        let names = ["interest".to_owned(), "area".to_owned()];
        assert_eq!(closest("intrest", names.iter()), Some(&names[0]));
        assert_eq!(closest("aera", names.iter()), Some(&names[1]));
        assert_eq!(closest("weather", names.iter()), None);
    }

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let source = Source {
            path: "x.toml".into(),
            text: "a = 1\nbé = \"x\"\n".into(),
        };
        assert_eq!(source.position(0), (1, 1));
        assert_eq!(source.position(6), (2, 1));
        assert_eq!(source.position(11), (2, 5));
    }
}
