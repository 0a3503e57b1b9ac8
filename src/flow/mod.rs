//! Conversation flows: the checked, loaded form of the TOML files in `flows/`.
//!
//! Invariant: a [`FlowSet`] only exists once every file has parsed and every
//! check has passed (see [`load`]). Every step and flow reference inside it
//! resolves, every pattern has compiled, and no chain of steps loops without
//! waiting for the person, so the engine can follow references without
//! checking them again. It always holds the crisis check (`safety/`), and
//! every step with options offers urgent help.

pub(crate) mod load;
pub mod text;

use std::collections::HashMap;

use regex::Regex;

pub(crate) use load::normalise_word;
pub use load::{Diagnostic, Diagnostics, GLOBAL_FILE, LoadError, Severity, check_dir, load_dir};
use text::LocalText;

/// Where a step lives: which flow, which step. Only valid for the [`FlowSet`]
/// it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepRef {
    pub(crate) flow: u16,
    pub(crate) step: u16,
}

/// The most options a step may offer: channels such as Telegram show them as
/// buttons, and more than this stops being a choice.
pub const MAX_OPTIONS: usize = 10;

/// The longest option label, in characters, that fits on a phone button.
pub const MAX_LABEL_CHARS: usize = 24;

/// The six commands that work from anywhere in every conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandName {
    Start,
    Urgent,
    Help,
    Privacy,
    Stop,
    Forget,
}

impl CommandName {
    pub const ALL: [CommandName; 6] = [
        CommandName::Start,
        CommandName::Urgent,
        CommandName::Help,
        CommandName::Privacy,
        CommandName::Stop,
        CommandName::Forget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommandName::Start => "start",
            CommandName::Urgent => "urgent",
            CommandName::Help => "help",
            CommandName::Privacy => "privacy",
            CommandName::Stop => "stop",
            CommandName::Forget => "forget",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        CommandName::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// All the flows, commands and standard messages, checked and ready to run.
#[derive(Debug)]
pub struct FlowSet {
    pub(crate) flows: Vec<Flow>,
    /// Whole-message words (commands and keywords, normalised) and what they do.
    pub(crate) words: HashMap<String, Trigger>,
    /// Where the safety responses start (`[safety]` in global.toml).
    pub(crate) safety_flows: SafetyFlows,
    /// Patterns that start a flow when the current step cannot use a message.
    pub(crate) start_patterns: Vec<(Regex, u16)>,
    pub(crate) commands: Commands,
    pub(crate) messages: Messages,
    /// The crisis detector and support lines, from `safety/`.
    pub(crate) safety: crate::safety::Safety,
    /// The areas the flows themselves name: every value an option sets for
    /// a variable a search's area uses, and every fixed search area. Sorted,
    /// without repeats. Usage counts may name these, never a typed area.
    pub(crate) listed_areas: Vec<String>,
    /// How long a quiet conversation is kept, in words ("30 minutes"), for
    /// the `{forget_after}` placeholder: what the privacy text promises
    /// follows the setting that makes it true.
    pub(crate) forget_after: String,
}

/// Placeholders filled from the bot's settings rather than from a
/// conversation.
pub const SETTINGS_PLACEHOLDERS: [&str; 1] = ["forget_after"];

/// Minutes in plain words: "1 minute", "45 minutes", "2 hours".
fn minutes_in_words(minutes: u64) -> String {
    match minutes {
        1 => "1 minute".to_owned(),
        60 => "1 hour".to_owned(),
        m if m % 60 == 0 => format!("{} hours", m / 60),
        m => format!("{m} minutes"),
    }
}

/// One of the areas written in the flows (see [`FlowSet::listed_area`]).
/// Only valid for the [`FlowSet`] it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListedArea(u16);

/// What each global command does.
#[derive(Debug)]
pub(crate) struct Commands {
    pub(crate) start: u16,
    pub(crate) urgent: u16,
    pub(crate) help: u16,
    pub(crate) privacy: u16,
    pub(crate) stop: LocalText,
    pub(crate) forget: LocalText,
}

/// What a whole-message word leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Command(CommandName),
    Flow(u16),
}

/// Where each safety response starts. The crisis check itself always runs;
/// these only say which fixed words answer it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SafetyFlows {
    /// A clear crisis: the urgent help message, support lines first.
    pub(crate) crisis: StepRef,
    /// A crisis again soon after: a shorter message, not the same block.
    pub(crate) crisis_again: StepRef,
    /// A possible risk: "are you thinking about ending your life?"
    pub(crate) check_in: StepRef,
    /// A possible risk from someone else: "are you safe right now?"
    pub(crate) check_in_danger: StepRef,
    /// A check-in again soon after any safety response.
    pub(crate) check_in_again: StepRef,
}

impl SafetyFlows {
    /// Whether `flow` is one of the safety responses' flows.
    pub(crate) fn contains_flow(&self, flow: u16) -> bool {
        [
            self.crisis,
            self.crisis_again,
            self.check_in,
            self.check_in_danger,
            self.check_in_again,
        ]
        .iter()
        .any(|at| at.flow == flow)
    }
}

/// The bot's standard replies.
#[derive(Debug)]
pub(crate) struct Messages {
    pub(crate) not_understood: LocalText,
    pub(crate) too_long: LocalText,
    pub(crate) search_failed: LocalText,
    /// Said when a search names a place the directory does not know.
    pub(crate) unknown_area: LocalText,
    /// Said before the first reply when a conversation starts somewhere
    /// other than the main menu.
    pub(crate) introduction: LocalText,
    /// Said when someone sends a sticker, photo, voice note, file or contact.
    pub(crate) not_text: LocalText,
    /// Said when someone shares a location, which the bot does not use.
    pub(crate) location: LocalText,
    /// Said before showing where the conversation is when a button from an
    /// earlier message (or an earlier, forgotten conversation) is pressed.
    pub(crate) button_expired: LocalText,
    /// Said once in a group when a command is addressed to the bot there.
    pub(crate) group_notice: LocalText,
    /// The label of the button under `group_notice` that opens a private chat.
    pub(crate) group_button: LocalText,
    /// Said when someone writes after a safety response and the message is
    /// not one of its options: kind, never "I didn't understand".
    pub(crate) still_here: LocalText,
}

#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) steps: Vec<Step>,
}

#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) id: String,
    pub(crate) say: Option<LocalText>,
    pub(crate) options: Vec<Choice>,
    pub(crate) action: Action,
}

/// What a step does after saying its words.
#[derive(Debug)]
pub(crate) enum Action {
    /// Wait for the person to choose one of the options.
    Choose,
    /// Wait for a typed answer (or one of the options).
    Capture { capture: Capture, next: StepRef },
    /// Ask the caller to search the directory, then show the results.
    Search {
        search: SearchSpec,
        if_none: StepRef,
    },
    /// Carry straight on to another step.
    Next(StepRef),
    /// End the conversation.
    End,
}

#[derive(Debug)]
pub(crate) struct Choice {
    pub(crate) label: LocalText,
    /// Variables to set when chosen, in the order written.
    pub(crate) set: Vec<(String, String)>,
    pub(crate) target: Target,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Step(StepRef),
    /// Back to where the person was before an interruption.
    Resume,
    /// The same as sending a command, such as "forget".
    Command(CommandName),
}

#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) into: String,
    pub(crate) pattern: Regex,
    pub(crate) retry: LocalText,
}

/// A search whose filters are filled in from the conversation's variables.
#[derive(Debug)]
pub(crate) struct SearchSpec {
    pub(crate) category: Option<text::Template>,
    pub(crate) area: Option<text::Template>,
    pub(crate) when: Option<text::Template>,
    pub(crate) include_online: bool,
    /// A number of kilometres, or empty for the directory's default.
    pub(crate) radius_km: Option<text::Template>,
    /// include, only or exclude; empty leaves `include_online` to decide.
    pub(crate) online: Option<text::Template>,
    pub(crate) limit: u8,
}

impl FlowSet {
    /// Says, wherever a flow writes `{forget_after}`, that a quiet
    /// conversation is forgotten after `minutes` (30 unless set).
    pub fn set_idle_minutes(&mut self, minutes: u64) {
        self.forget_after = minutes_in_words(minutes);
    }

    /// The value of a placeholder filled from the settings.
    pub(crate) fn setting(&self, name: &str) -> Option<String> {
        (name == "forget_after").then(|| self.forget_after.clone())
    }

    pub(crate) fn step(&self, at: StepRef) -> &Step {
        &self.flows[usize::from(at.flow)].steps[usize::from(at.step)]
    }

    pub(crate) fn first_step(&self, flow: u16) -> StepRef {
        StepRef { flow, step: 0 }
    }

    /// The flow and step ids of a step, for reports and tests.
    pub fn step_name(&self, at: StepRef) -> (&str, &str) {
        let flow = &self.flows[usize::from(at.flow)];
        (&flow.id, &flow.steps[usize::from(at.step)].id)
    }

    /// Every step, with how many options it offers, in file order.
    pub fn steps(&self) -> impl Iterator<Item = (StepRef, usize)> + '_ {
        self.flows.iter().enumerate().flat_map(|(f, flow)| {
            flow.steps.iter().enumerate().map(move |(s, step)| {
                let at = StepRef {
                    flow: f as u16,
                    step: s as u16,
                };
                (at, step.options.len())
            })
        })
    }

    /// The English label of option `index` of a step, for reports and tests.
    pub fn option_label(&self, at: StepRef, index: usize) -> Option<String> {
        let option = self.step(at).options.get(index)?;
        Some(
            option
                .label
                .get(&text::Language::english())
                .render(|_| None),
        )
    }

    /// The ids and titles of the flows, in load order.
    pub fn flows(&self) -> impl Iterator<Item = (&str, &str)> {
        self.flows.iter().map(|f| (f.id.as_str(), f.title.as_str()))
    }

    /// What the bot says, once, to a command addressed to it in a group.
    pub fn group_notice(&self) -> String {
        self.messages
            .group_notice
            .get(&text::Language::english())
            .render(|_| None)
    }

    /// The label of the button under [`FlowSet::group_notice`].
    pub fn group_button(&self) -> String {
        self.messages
            .group_button
            .get(&text::Language::english())
            .render(|_| None)
    }

    /// The crisis detector and support lines loaded with these flows.
    pub fn safety(&self) -> &crate::safety::Safety {
        &self.safety
    }

    /// The area a flow author wrote, such as "Huddersfield".
    pub fn listed_area(&self, area: ListedArea) -> &str {
        &self.listed_areas[usize::from(area.0)]
    }

    /// Whether `value` is exactly one of the areas written in the flows.
    pub(crate) fn find_listed_area(&self, value: &str) -> Option<ListedArea> {
        let index = self
            .listed_areas
            .binary_search_by(|listed| listed.as_str().cmp(value))
            .ok()?;
        u16::try_from(index).ok().map(ListedArea)
    }

    /// Whether `flow` is urgent help or one of the safety responses, whose
    /// use is counted only service-wide, by month.
    pub(crate) fn is_urgent_or_safety(&self, flow: u16) -> bool {
        flow == self.commands.urgent || self.safety_flows.contains_flow(flow)
    }
}

/// The areas written in `flows` (see [`FlowSet::listed_areas`]).
pub(crate) fn listed_areas(flows: &[Flow]) -> Vec<String> {
    let searches = flows
        .iter()
        .flat_map(|flow| &flow.steps)
        .filter_map(|step| match &step.action {
            Action::Search { search, .. } => search.area.as_ref(),
            _ => None,
        });
    let mut fixed = Vec::new();
    let mut variables = std::collections::BTreeSet::new();
    for area in searches {
        let mut uses = area.variables().peekable();
        if uses.peek().is_none() {
            fixed.push(area.render(|_| None).trim().to_owned());
        }
        variables.extend(uses.map(str::to_owned));
    }
    let set_by_options = flows
        .iter()
        .flat_map(|flow| &flow.steps)
        .flat_map(|step| &step.options)
        .flat_map(|option| &option.set)
        .filter(|(name, _)| variables.contains(name))
        .map(|(_, value)| value.trim().to_owned());
    let mut listed: Vec<String> = fixed
        .into_iter()
        .chain(set_by_options)
        .filter(|value| !value.is_empty())
        .collect();
    listed.sort();
    listed.dedup();
    // A flow set with more than 65,536 areas would need a wider index;
    // the rest are then counted as typed, which names nothing.
    listed.truncate(usize::from(u16::MAX) + 1);
    listed
}

#[cfg(test)]
mod tests {
    use super::minutes_in_words;

    #[test]
    fn minutes_are_said_in_plain_words() {
        assert_eq!(minutes_in_words(1), "1 minute");
        assert_eq!(minutes_in_words(30), "30 minutes");
        assert_eq!(minutes_in_words(60), "1 hour");
        assert_eq!(minutes_in_words(90), "90 minutes");
        assert_eq!(minutes_in_words(180), "3 hours");
    }
}
