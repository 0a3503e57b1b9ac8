//! The declared counters, and how a turn's engine events become them.
//!
//! Invariant: [`DECLARED`] is the whole list of what can be counted, and
//! [`Counter`] can only build those, with values from closed sets (channel,
//! command, category, time, result band) or written in the flows (flow,
//! step and area ids), never from what a person typed.

use std::collections::BTreeMap;
use std::fmt;

use crate::engine::{AreaGiven, Event};
use crate::flow::{CommandName, FlowSet, StepRef, Target};
use crate::search::{Category, When};

/// The channel a conversation came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Telegram,
    Console,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Console => "console",
        }
    }
}

/// One declared counter and what it means, for reports and `PRIVACY.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The name stored in the database: stable, lowercase snake case.
    pub event: &'static str,
    /// The names of its dimensions, sorted.
    pub dimensions: &'static [&'static str],
    /// What one count means.
    pub meaning: &'static str,
    /// Shown only for the whole service and whole calendar months, never
    /// by day, week or area: how often urgent help was needed.
    pub monthly_only: bool,
}

/// Every counter there is. Nothing else is ever stored.
pub const DECLARED: &[Declared] = &[
    Declared {
        event: "conversation_started",
        dimensions: &["channel"],
        meaning: "a conversation began",
        monthly_only: false,
    },
    Declared {
        event: "step_reached",
        dimensions: &["flow", "step"],
        meaning: "a conversation reached a step of a flow",
        monthly_only: false,
    },
    Declared {
        event: "option_chosen",
        dimensions: &["flow", "option", "step"],
        meaning: "an option was chosen at a step (option: its position, from 1)",
        monthly_only: false,
    },
    Declared {
        event: "command_used",
        dimensions: &["command"],
        meaning: "a command such as /help was used (/urgent counts as urgent help instead)",
        monthly_only: false,
    },
    Declared {
        event: "search_made",
        dimensions: &["area", "category", "when"],
        meaning: "the directory was searched",
        monthly_only: false,
    },
    Declared {
        event: "results_shown",
        dimensions: &["flow", "results", "step"],
        meaning: "a search step showed results (results: 0, 1-3 or 4+)",
        monthly_only: false,
    },
    Declared {
        event: "no_results",
        dimensions: &["area", "category", "when"],
        meaning: "a search found nothing: where the gaps are",
        monthly_only: false,
    },
    Declared {
        event: "urgent_help_shown",
        dimensions: &[],
        meaning: "urgent help was shown (the crisis response, /urgent or the urgent help menu)",
        monthly_only: true,
    },
    Declared {
        event: "check_in_shown",
        dimensions: &[],
        meaning: "the crisis check asked gently whether the person was safe",
        monthly_only: true,
    },
    Declared {
        event: "forget_used",
        dimensions: &["channel"],
        meaning: "a person asked to be forgotten",
        monthly_only: false,
    },
];

/// The declaration of `event`, if it is one.
pub fn declared(event: &str) -> Option<&'static Declared> {
    DECLARED.iter().find(|d| d.event == event)
}

/// How many results a search showed, in bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultsBand {
    None,
    OneToThree,
    FourOrMore,
}

impl ResultsBand {
    pub fn of(count: usize) -> Self {
        match count {
            0 => ResultsBand::None,
            1..=3 => ResultsBand::OneToThree,
            _ => ResultsBand::FourOrMore,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResultsBand::None => "0",
            ResultsBand::OneToThree => "1-3",
            ResultsBand::FourOrMore => "4+",
        }
    }
}

/// The coarse area of a search: an area the flows name, or only whether
/// the person gave one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CoarseArea {
    NotGiven,
    /// The value a flow author wrote, such as "Huddersfield".
    Listed(String),
    /// Whatever the person typed; the words are not kept.
    Typed,
}

impl CoarseArea {
    fn of(area: AreaGiven, flows: &FlowSet) -> Self {
        match area {
            AreaGiven::NotGiven => CoarseArea::NotGiven,
            AreaGiven::Listed(listed) => CoarseArea::Listed(flows.listed_area(listed).to_owned()),
            AreaGiven::Typed => CoarseArea::Typed,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            CoarseArea::NotGiven => "not given",
            CoarseArea::Listed(area) => area,
            CoarseArea::Typed => "typed",
        }
    }
}

/// What a search was for, as counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchKind {
    pub category: Option<Category>,
    pub area: CoarseArea,
    pub when: When,
}

/// One count of a declared counter, with its dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Counter {
    ConversationStarted {
        channel: Channel,
    },
    StepReached {
        flow: String,
        step: String,
    },
    OptionChosen {
        flow: String,
        step: String,
        /// The option's position, from 1, as the console numbers it.
        /// Labels can be reworded; positions are what the flow file shows.
        option: u8,
    },
    CommandUsed {
        command: CommandName,
    },
    SearchMade(SearchKind),
    ResultsShown {
        flow: String,
        step: String,
        results: ResultsBand,
    },
    NoResults(SearchKind),
    UrgentHelpShown,
    CheckInShown,
    ForgetUsed {
        channel: Channel,
    },
}

impl Counter {
    /// The declared name, as stored.
    pub fn event(&self) -> &'static str {
        match self {
            Counter::ConversationStarted { .. } => "conversation_started",
            Counter::StepReached { .. } => "step_reached",
            Counter::OptionChosen { .. } => "option_chosen",
            Counter::CommandUsed { .. } => "command_used",
            Counter::SearchMade(_) => "search_made",
            Counter::ResultsShown { .. } => "results_shown",
            Counter::NoResults(_) => "no_results",
            Counter::UrgentHelpShown => "urgent_help_shown",
            Counter::CheckInShown => "check_in_shown",
            Counter::ForgetUsed { .. } => "forget_used",
        }
    }

    /// The dimensions, as names and values.
    pub fn dimensions(&self) -> Dimensions {
        let pairs: Vec<(&str, String)> = match self {
            Counter::ConversationStarted { channel } | Counter::ForgetUsed { channel } => {
                vec![("channel", channel.as_str().to_owned())]
            }
            Counter::StepReached { flow, step } => {
                vec![("flow", flow.clone()), ("step", step.clone())]
            }
            Counter::OptionChosen { flow, step, option } => vec![
                ("flow", flow.clone()),
                ("step", step.clone()),
                ("option", option.to_string()),
            ],
            Counter::CommandUsed { command } => vec![("command", command.as_str().to_owned())],
            Counter::SearchMade(search) | Counter::NoResults(search) => vec![
                (
                    "category",
                    search.category.map_or("any", Category::slug).to_owned(),
                ),
                ("area", search.area.as_str().to_owned()),
                ("when", search.when.slug().to_owned()),
            ],
            Counter::ResultsShown {
                flow,
                step,
                results,
            } => vec![
                ("flow", flow.clone()),
                ("step", step.clone()),
                ("results", results.as_str().to_owned()),
            ],
            Counter::UrgentHelpShown | Counter::CheckInShown => Vec::new(),
        };
        Dimensions(
            pairs
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }
}

/// A counter's dimensions: names and values, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dimensions(BTreeMap<String, String>);

/// Stored dimensions that are not the canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored usage dimensions are not a JSON object of strings")]
pub struct BadDimensions;

impl Dimensions {
    /// The canonical text stored in the database: a JSON object with its
    /// keys sorted and no spaces, so equal dimensions are equal text and
    /// any value (quotes, commas, equals signs) is escaped by JSON's rules.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn decode(text: &str) -> Result<Self, BadDimensions> {
        serde_json::from_str(text)
            .map(Dimensions)
            .map_err(|_| BadDimensions)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Dimensions {
    /// `area=typed category=any when=today`, for tables.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Dimensions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The counters for one turn's events, in order.
///
/// Steps, options and commands of urgent help and the safety responses are
/// not counted as themselves: they would show by day how often someone
/// needed urgent help. They count as `urgent_help_shown` or
/// `check_in_shown`, which reports show only for whole months.
pub fn counters_for(flows: &FlowSet, channel: Channel, events: &[Event]) -> Vec<Counter> {
    let names = |at: StepRef| {
        let (flow, step) = flows.step_name(at);
        (flow.to_owned(), step.to_owned())
    };
    let safety = flows.safety_flows;
    let mut counters = Vec::new();
    // The search a `ResultsShown` answers: the last one made before it.
    let mut last_search: Option<SearchKind> = None;
    for event in events {
        match *event {
            Event::ConversationStarted => {
                counters.push(Counter::ConversationStarted { channel });
            }
            Event::StepReached(at) => {
                if at == safety.check_in
                    || at == safety.check_in_danger
                    || at == safety.check_in_again
                {
                    counters.push(Counter::CheckInShown);
                } else if at.flow == flows.commands.urgent
                    || at == safety.crisis
                    || at == safety.crisis_again
                {
                    counters.push(Counter::UrgentHelpShown);
                } else if !flows.is_urgent_or_safety(at.flow) {
                    let (flow, step) = names(at);
                    counters.push(Counter::StepReached { flow, step });
                }
            }
            Event::OptionChosen { step: at, index } => {
                let leads_to_urgent_help =
                    flows.step(at).options.get(usize::from(index)).is_some_and(
                        |option| match option.target {
                            Target::Step(to) => flows.is_urgent_or_safety(to.flow),
                            Target::Command(command) => command == CommandName::Urgent,
                            Target::Resume => false,
                        },
                    );
                if !flows.is_urgent_or_safety(at.flow) && !leads_to_urgent_help {
                    let (flow, step) = names(at);
                    counters.push(Counter::OptionChosen {
                        flow,
                        step,
                        option: index.saturating_add(1),
                    });
                }
            }
            Event::CommandUsed(CommandName::Urgent) => {}
            Event::CommandUsed(command) => {
                counters.push(Counter::CommandUsed { command });
                if command == CommandName::Forget {
                    counters.push(Counter::ForgetUsed { channel });
                }
            }
            Event::CrisisResponse { .. } => counters.push(Counter::UrgentHelpShown),
            Event::CheckIn { .. } => counters.push(Counter::CheckInShown),
            Event::SearchMade {
                category,
                when,
                area,
                ..
            } => {
                let search = SearchKind {
                    category,
                    area: CoarseArea::of(area, flows),
                    when,
                };
                counters.push(Counter::SearchMade(search.clone()));
                last_search = Some(search);
            }
            Event::ResultsShown { step: at, count } => {
                if !flows.is_urgent_or_safety(at.flow) {
                    let (flow, step) = names(at);
                    counters.push(Counter::ResultsShown {
                        flow,
                        step,
                        results: ResultsBand::of(count),
                    });
                }
                if count == 0
                    && let Some(search) = last_search.clone()
                {
                    counters.push(Counter::NoResults(search));
                }
            }
            Event::AnswerRejected(_) | Event::NotUnderstood | Event::MessageTooLong => {}
        }
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind_of_counter() -> Vec<Counter> {
        let search = SearchKind {
            category: Some(Category::Carers),
            area: CoarseArea::Listed("Batley".into()),
            when: When::Today,
        };
        vec![
            Counter::ConversationStarted {
                channel: Channel::Console,
            },
            Counter::StepReached {
                flow: "find".into(),
                step: "area".into(),
            },
            Counter::OptionChosen {
                flow: "find".into(),
                step: "area".into(),
                option: 1,
            },
            Counter::CommandUsed {
                command: CommandName::Help,
            },
            Counter::SearchMade(search.clone()),
            Counter::ResultsShown {
                flow: "find".into(),
                step: "results".into(),
                results: ResultsBand::of(5),
            },
            Counter::NoResults(search),
            Counter::UrgentHelpShown,
            Counter::CheckInShown,
            Counter::ForgetUsed {
                channel: Channel::Telegram,
            },
        ]
    }

    #[test]
    fn every_counter_is_declared_with_the_dimensions_it_has() {
        let counters = every_kind_of_counter();
        assert_eq!(counters.len(), DECLARED.len());
        for counter in counters {
            let declared = declared(counter.event())
                .unwrap_or_else(|| panic!("{} is not declared", counter.event()));
            let dimensions = counter.dimensions();
            let names: Vec<&str> = dimensions.iter().map(|(name, _)| name).collect();
            assert_eq!(names, declared.dimensions, "{}", counter.event());
        }
    }

    #[test]
    fn dimensions_encode_as_sorted_json_and_decode_back() {
        let counter = Counter::NoResults(SearchKind {
            category: None,
            area: CoarseArea::Listed("Holme \"Valley\", =;".into()),
            when: When::ThisWeek,
        });
        let text = counter.dimensions().encode();
        assert_eq!(
            text,
            r#"{"area":"Holme \"Valley\", =;","category":"any","when":"this-week"}"#
        );
        assert_eq!(Dimensions::decode(&text), Ok(counter.dimensions()));
        assert_eq!(Counter::UrgentHelpShown.dimensions().encode(), "{}");
        assert_eq!(Dimensions::decode("[1]"), Err(BadDimensions));
    }

    #[test]
    fn results_fall_into_three_bands() {
        let bands: Vec<&str> = [0, 1, 3, 4, 10]
            .map(|n| ResultsBand::of(n).as_str())
            .to_vec();
        assert_eq!(bands, ["0", "1-3", "1-3", "4+", "4+"]);
    }
}
