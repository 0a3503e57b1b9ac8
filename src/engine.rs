//! The flow engine: one message in, the replies and the next state out.
//!
//! Invariant: the engine is pure. It does no I/O, reads no clock and uses no
//! randomness: [`handle`] and [`show_results`] take the loaded flows, a
//! [`Session`] and an input, and return a [`Turn`]. When a step needs the
//! directory, the turn ends with [`After::Search`]; the caller runs the
//! search and feeds the results back through [`show_results`]. Conversations
//! are therefore tested with transcripts alone.
//!
//! Every message goes through the same order of checks: the crisis check
//! first ([`crate::safety`], on every typed message, whatever step is
//! waiting), then commands and keywords that work from anywhere, then the
//! current step, then patterns that start a flow.
//!
//! Safety responses are fixed steps in the flows (named by `[safety]` in
//! `global.toml`); the engine only chooses which one, fills in the support
//! lines in the order that fits the disclosure, and avoids saying the same
//! block twice in a row: a crisis or check-in that comes again within
//! [`REPEAT_WITHIN_MESSAGES`] gets the shorter "again" step instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::flow::text::{Language, LocalText};
use crate::flow::{
    Action, CommandName, FlowSet, ListedArea, SearchSpec, Step, StepRef, Target, Trigger,
};
use crate::message::{Inbound, OptionKey, Reply, ReplyOption, UserText};
use crate::safety::{Assessment, Concern, Tier};
use crate::search::{Area, Category, SearchRequest, When};

/// The most steps one message can pass through. Loading rejects loops, so
/// this only guards against a mistake in the engine itself.
const MAX_HOPS: usize = 64;

/// A crisis or check-in within this many typed messages of the last one
/// gets the shorter "again" reply rather than the same block repeated.
pub const REPEAT_WITHIN_MESSAGES: u32 = 10;

/// This many check-ins, each soon after the last, are answered as a
/// crisis: signs of risk that keep coming add up, and the same gentle
/// question or reminder is never looped.
pub const CHECK_INS_MAKE_A_CRISIS: u32 = 3;

/// One conversation's state. It lives in memory only and is dropped when
/// the conversation ends, is forgotten or goes quiet.
#[derive(Clone, Default)]
pub struct Session {
    /// The step waiting for an answer, if any.
    waiting: Option<StepRef>,
    /// The search step whose results the caller is fetching, if any.
    searching: Option<StepRef>,
    /// Answers captured and values set by options. They may hold what a
    /// person typed, so they are never logged.
    variables: BTreeMap<String, String>,
    /// Where to go back to after an urgent-help or crisis interruption.
    resume: Option<StepRef>,
    language: Option<Language>,
    /// How many sets of options have been shown; see [`OptionKey::turn`].
    turn: u32,
    /// Whether this conversation has had a message yet.
    started: bool,
    /// What safety responses in this conversation were about (a child,
    /// abuse, an older person), to show the most relevant support lines
    /// first. It says what someone disclosed, so `Debug` never shows it.
    concerns: BTreeSet<Concern>,
    /// How many typed messages this conversation has had: the engine's
    /// clock for "soon after", since it reads no real one.
    messages: u32,
    /// The message count when the crisis response and the check-in were
    /// last shown.
    last_crisis: Option<u32>,
    last_check_in: Option<u32>,
    /// How many check-ins in a row came soon after each other.
    check_ins_in_a_row: u32,
}

impl Session {
    /// A session that answers in `language` where the flows have it.
    pub fn with_language(language: Language) -> Self {
        Session {
            language: Some(language),
            ..Session::default()
        }
    }

    fn language(&self) -> Language {
        self.language.clone().unwrap_or_else(Language::english)
    }

    /// Whether the conversation is in the middle of something (used to
    /// tell a restart after expiry from a fresh start).
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some() || self.searching.is_some()
    }

    /// Whether a button with this key belongs to the options shown last, so
    /// pressing it chooses an option rather than being out of date.
    pub fn accepts(&self, key: OptionKey) -> bool {
        self.waiting.is_some() && key.turn == self.turn
    }
}

impl fmt::Debug for Session {
    // Variables can hold what a person typed: show only how many there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("waiting", &self.waiting)
            .field("searching", &self.searching)
            .field("variables", &self.variables.len())
            .field("resume", &self.resume)
            .field("turn", &self.turn)
            .finish()
    }
}

/// What happened in a turn, for usage counts and for tests. Events name
/// steps, options and commands, never anything a person typed. The safety
/// events say only that a response was given, not why, so service-wide
/// counts can be kept without anything about the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ConversationStarted,
    StepReached(StepRef),
    OptionChosen {
        step: StepRef,
        index: u8,
    },
    CommandUsed(CommandName),
    /// The crisis check found a clear crisis and the crisis response was
    /// given; `repeat` when it was the shorter one, because it came again.
    CrisisResponse {
        repeat: bool,
    },
    /// The crisis check found a possible risk and asked gently.
    CheckIn {
        repeat: bool,
    },
    AnswerRejected(StepRef),
    NotUnderstood,
    MessageTooLong,
    /// A search was asked for: what kind, and where the area came from,
    /// never the area a person typed.
    SearchMade {
        step: StepRef,
        category: Option<Category>,
        when: When,
        area: AreaGiven,
    },
    ResultsShown {
        step: StepRef,
        count: usize,
    },
}

/// Where a search's area came from, for usage counts. It never holds
/// what a person typed: only that they typed something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AreaGiven {
    /// No area: anywhere.
    NotGiven,
    /// One of the areas written in the flows (the value an option sets),
    /// whether chosen or typed the same; [`FlowSet::listed_area`] names it.
    Listed(ListedArea),
    /// Something else the person typed: a town or the first half of a
    /// postcode.
    Typed,
}

/// What the caller does after a turn.
#[derive(Debug)]
pub enum After {
    /// Keep the session and wait for the next message.
    Wait(Session),
    /// Search the directory, then call [`show_results`] with this session.
    Search(Session, SearchRequest),
    /// The conversation has ended: drop the session.
    Ended,
    /// The person asked to be forgotten: drop the session, and delete
    /// whatever the channel lets the bot delete.
    Forgotten,
}

/// The result of one message.
#[derive(Debug)]
pub struct Turn {
    pub replies: Vec<Reply>,
    pub events: Vec<Event>,
    pub after: After,
}

/// Handles one message from a person.
pub fn handle(flows: &FlowSet, session: Session, inbound: Inbound) -> Turn {
    let mut turn = TurnBuilder::new(flows, session);
    if !turn.session.started {
        turn.session.started = true;
        turn.events.push(Event::ConversationStarted);
    }
    let first_message = turn.events.first() == Some(&Event::ConversationStarted);
    let after = match inbound {
        Inbound::Text(text) => turn.text(&text),
        Inbound::Choice(key) => turn.choice(key),
        Inbound::Location => turn.unreadable(&flows.messages.location),
        Inbound::NotText => turn.unreadable(&flows.messages.not_text),
    };
    // Everyone hears first that this is an automated service, even when
    // their first message leads somewhere other than the main menu. Safety
    // responses say so themselves, and nothing should come before them.
    let start = flows.commands.start;
    let saw_menu_or_safety = turn.events.iter().any(|e| {
        matches!(e, Event::StepReached(at) if at.flow == start)
            || matches!(e, Event::CrisisResponse { .. } | Event::CheckIn { .. })
    });
    if first_message && !saw_menu_or_safety && !turn.replies.is_empty() {
        let introduction = turn.render(&flows.messages.introduction);
        turn.replies.insert(
            0,
            Reply {
                text: introduction,
                options: Vec::new(),
            },
        );
    }
    turn.finish(after)
}

/// Shows the results of the search a turn asked for. `cards` are the results
/// already written out as text, best first.
pub fn show_results(flows: &FlowSet, session: Session, cards: Vec<String>) -> Turn {
    let mut turn = TurnBuilder::new(flows, session);
    let Some(at) = turn.session.searching.take() else {
        // Nothing was being searched for: nothing to show.
        return turn.finish(Next::Wait);
    };
    let count = cards.len();
    turn.events.push(Event::ResultsShown { step: at, count });
    let step = flows.step(at);
    let after = match &step.action {
        Action::Search { if_none, .. } if count == 0 => turn.enter(*if_none),
        _ => {
            let count_text = count.to_string();
            if let Some(say) = &step.say {
                let intro = turn.render_with(say, Some(&count_text));
                turn.say(intro);
            }
            let last = cards.len() - 1;
            for (i, card) in cards.into_iter().enumerate() {
                if i == last {
                    turn.say_with_options(card, step);
                } else {
                    turn.say(card);
                }
            }
            turn.session.waiting = Some(at);
            Next::Wait
        }
    };
    turn.finish(after)
}

/// Says the place searched for is not one the directory knows, then goes
/// on as if nothing was found, so the person can widen or change the search.
pub fn area_unknown(flows: &FlowSet, session: Session) -> Turn {
    let mut turn = TurnBuilder::new(flows, session);
    let Some(at) = turn.session.searching.take() else {
        return turn.finish(Next::Wait);
    };
    turn.events.push(Event::ResultsShown { step: at, count: 0 });
    let text = turn.render(&flows.messages.unknown_area);
    turn.say(text);
    let after = match &flows.step(at).action {
        Action::Search { if_none, .. } => turn.enter(*if_none),
        _ => Next::Wait,
    };
    turn.finish(after)
}

/// Says sorry when the directory could not be searched, and goes back to
/// the main menu so the person is never left without options.
pub fn search_failed(flows: &FlowSet, session: Session) -> Turn {
    let mut turn = TurnBuilder::new(flows, session);
    turn.session.searching = None;
    let text = turn.render(&flows.messages.search_failed);
    turn.say(text);
    let after = turn.enter(flows.first_step(flows.commands.start));
    turn.finish(after)
}

/// What a turn ends with, before the session is handed back.
enum Next {
    Wait,
    Search(SearchRequest),
    Ended,
    Forgotten,
}

struct TurnBuilder<'a> {
    flows: &'a FlowSet,
    session: Session,
    replies: Vec<Reply>,
    events: Vec<Event>,
}

impl<'a> TurnBuilder<'a> {
    fn new(flows: &'a FlowSet, session: Session) -> Self {
        TurnBuilder {
            flows,
            session,
            replies: Vec::new(),
            events: Vec::new(),
        }
    }

    fn finish(self, next: Next) -> Turn {
        let after = match next {
            Next::Wait => After::Wait(self.session),
            Next::Search(request) => After::Search(self.session, request),
            Next::Ended => After::Ended,
            Next::Forgotten => After::Forgotten,
        };
        Turn {
            replies: self.replies,
            events: self.events,
            after,
        }
    }

    fn text(&mut self, text: &UserText) -> Next {
        let raw = text.as_str().trim();
        if raw.is_empty() {
            return Next::Wait;
        }
        self.session.messages = self.session.messages.saturating_add(1);
        // 1. Safety comes first: every message is checked for crisis before
        // anything else, even one too long to handle otherwise and even
        // while a question waits for a typed answer.
        let assessment = self.flows.safety.detector.assess(raw);
        if let Some(tier) = assessment.tier {
            return self.safety_response(tier, &assessment);
        }
        if text.is_too_long() {
            self.events.push(Event::MessageTooLong);
            return self.reprompt(&self.flows.messages.too_long);
        }
        // 2. Commands and keywords work from anywhere.
        let word = crate::flow::normalise_word(raw);
        if let Some(&trigger) = self.flows.words.get(&word) {
            return self.trigger(trigger);
        }
        // 3. The step that is waiting for an answer.
        if let Some(at) = self.session.waiting {
            let step = self.flows.step(at);
            if let Some(index) = self.match_option(step, &word) {
                return self.choose(at, index);
            }
            // After a step aside (urgent help, a check-in, help), typing an
            // option of the step they left carries on there. Numbers are
            // left out: they belong to the options on screen.
            if self.is_aside(at.flow)
                && let Some(back) = self.session.resume
                && word.trim_end_matches('.').parse::<usize>().is_err()
                && let Some(index) = self.match_option(self.flows.step(back), &word)
            {
                self.session.resume = None;
                return self.choose(back, index);
            }
            if let Action::Capture { capture, next } = &step.action {
                if capture.pattern.is_match(raw) {
                    // Never keep a full postcode, even in memory: keep its
                    // first half, which is all a search needs.
                    let value = Area::outcode_of_postcode(raw).unwrap_or_else(|| raw.to_owned());
                    self.session.variables.insert(capture.into.clone(), value);
                    return self.enter(*next);
                }
                self.events.push(Event::AnswerRejected(at));
                return self.reprompt(&capture.retry);
            }
        }
        // 4. Patterns that start a flow.
        if let Some(&(_, flow)) = self
            .flows
            .start_patterns
            .iter()
            .find(|(pattern, _)| pattern.is_match(raw))
        {
            return self.enter(self.flows.first_step(flow));
        }
        // 5. Someone new gets the welcome; others are asked again. After a
        // safety response, someone who keeps talking is answered kindly,
        // never with "I didn't understand".
        if !self.session.is_waiting() {
            return self.enter(self.flows.first_step(self.flows.commands.start));
        }
        self.events.push(Event::NotUnderstood);
        let after_safety = self.session.waiting.is_some_and(|at| {
            at.flow == self.flows.commands.urgent || self.flows.safety_flows.contains_flow(at.flow)
        });
        if after_safety {
            return self.reprompt(&self.flows.messages.still_here);
        }
        self.reprompt(&self.flows.messages.not_understood)
    }

    /// Answers a message the crisis check flagged: the crisis response or a
    /// gentle check-in, or the shorter "again" step if one was given soon
    /// before. The person's place is kept so they can carry on after.
    fn safety_response(&mut self, tier: Tier, assessment: &Assessment) -> Next {
        let now = self.session.messages;
        let recent = |last: Option<u32>| {
            last.is_some_and(|m| now.saturating_sub(m) <= REPEAT_WITHIN_MESSAGES)
        };
        self.session
            .concerns
            .extend(assessment.concerns.iter().copied());
        let mut tier = tier;
        if tier == Tier::CheckIn {
            self.session.check_ins_in_a_row = if recent(self.session.last_check_in) {
                self.session.check_ins_in_a_row.saturating_add(1)
            } else {
                1
            };
            self.session.last_check_in = Some(now);
            if self.session.check_ins_in_a_row >= CHECK_INS_MAKE_A_CRISIS {
                tier = Tier::Crisis;
            }
        }
        let safety = self.flows.safety_flows;
        let at = match tier {
            Tier::Crisis => {
                let repeat = recent(self.session.last_crisis);
                self.events.push(Event::CrisisResponse { repeat });
                if repeat {
                    self.session.last_crisis = Some(now);
                    safety.crisis_again
                } else {
                    safety.crisis
                }
            }
            Tier::CheckIn => {
                let repeat =
                    self.session.check_ins_in_a_row > 1 || recent(self.session.last_crisis);
                self.events.push(Event::CheckIn { repeat });
                match (repeat, assessment.danger_from_others) {
                    (true, _) => safety.check_in_again,
                    (false, true) => safety.check_in_danger,
                    (false, false) => safety.check_in,
                }
            }
        };
        self.interrupt_to(at)
    }

    fn choice(&mut self, key: OptionKey) -> Next {
        match self.session.waiting {
            Some(at) if key.turn == self.session.turn => {
                let options = self.flows.step(at).options.len();
                if usize::from(key.index) < options {
                    self.choose(at, usize::from(key.index))
                } else {
                    self.enter(at)
                }
            }
            // A button from an earlier message shows where we are now; one
            // from a conversation that expired (or never was) starts again.
            waiting => {
                let text = self.render(&self.flows.messages.button_expired);
                self.say(text);
                self.enter(
                    waiting.unwrap_or_else(|| self.flows.first_step(self.flows.commands.start)),
                )
            }
        }
    }

    /// Something the bot cannot read: says so, then shows the options of
    /// the step that is waiting, or the main menu.
    fn unreadable(&mut self, message: &LocalText) -> Next {
        if self.session.waiting.is_some() {
            return self.reprompt(message);
        }
        let text = self.render(message);
        self.say(text);
        self.enter(self.flows.first_step(self.flows.commands.start))
    }

    fn trigger(&mut self, trigger: Trigger) -> Next {
        let commands = &self.flows.commands;
        match trigger {
            Trigger::Flow(flow) => self.enter(self.flows.first_step(flow)),
            Trigger::Command(name) => {
                self.events.push(Event::CommandUsed(name));
                match name {
                    CommandName::Start => {
                        self.session.variables.clear();
                        self.session.concerns.clear();
                        self.session.resume = None;
                        self.enter(self.flows.first_step(commands.start))
                    }
                    CommandName::Urgent => {
                        self.interrupt_to(self.flows.first_step(commands.urgent))
                    }
                    CommandName::Help => self.interrupt_to(self.flows.first_step(commands.help)),
                    CommandName::Privacy => {
                        self.interrupt_to(self.flows.first_step(commands.privacy))
                    }
                    CommandName::Stop => {
                        let text = self.render(&commands.stop);
                        self.say(text);
                        Next::Ended
                    }
                    CommandName::Forget => {
                        let text = self.render(&commands.forget);
                        self.say(text);
                        Next::Forgotten
                    }
                }
            }
        }
    }

    /// Whether `flow` is a step aside from the conversation (urgent help,
    /// help, privacy or a safety response), after which people carry on.
    fn is_aside(&self, flow: u16) -> bool {
        let commands = &self.flows.commands;
        [commands.urgent, commands.help, commands.privacy].contains(&flow)
            || self.flows.safety_flows.contains_flow(flow)
    }

    /// Goes to `at`, remembering where the person was so that an option
    /// with `resume = true` can take them back.
    fn interrupt_to(&mut self, at: StepRef) -> Next {
        // Moving between urgent help, help, privacy and the safety
        // responses keeps the place the person left to come here, rather
        // than one of those steps.
        if let Some(here) = self.session.waiting.or(self.session.searching)
            && !self.is_aside(here.flow)
        {
            self.session.resume = Some(here);
        }
        self.enter(at)
    }

    fn match_option(&self, step: &Step, word: &str) -> Option<usize> {
        let number = word.trim_end_matches('.');
        if let Ok(n) = number.parse::<usize>() {
            return (1..=step.options.len()).contains(&n).then(|| n - 1);
        }
        // A label typed in any of its languages chooses the option.
        step.options.iter().position(|option| {
            option.label.versions().any(|(_, label)| {
                let label = label.render(|name| self.session.variables.get(name).cloned());
                crate::flow::normalise_word(&label) == word
            })
        })
    }

    fn choose(&mut self, at: StepRef, index: usize) -> Next {
        self.events.push(Event::OptionChosen {
            step: at,
            index: index as u8,
        });
        let option = &self.flows.step(at).options[index];
        for (name, value) in &option.set {
            self.session.variables.insert(name.clone(), value.clone());
        }
        match option.target {
            // Choosing urgent help (or help, or privacy) from a menu is the
            // same as sending the command: the person can come back after.
            Target::Step(target) if target.step == 0 && self.is_aside(target.flow) => {
                self.interrupt_to(target)
            }
            Target::Step(target) => self.enter(target),
            Target::Command(name) => self.trigger(Trigger::Command(name)),
            Target::Resume => {
                let back = self
                    .session
                    .resume
                    .take()
                    .unwrap_or_else(|| self.flows.first_step(self.flows.commands.start));
                self.enter(back)
            }
        }
    }

    /// Runs steps from `at` until one waits, searches or ends.
    fn enter(&mut self, mut at: StepRef) -> Next {
        self.session.waiting = None;
        self.session.searching = None;
        for _ in 0..MAX_HOPS {
            if at.flow == self.flows.commands.start {
                // Back at the main menu, there is nothing to carry on with.
                self.session.resume = None;
            }
            if at == self.flows.safety_flows.crisis {
                // However they got here, a crisis message soon after gets
                // the shorter reply rather than this whole block again.
                self.session.last_crisis = Some(self.session.messages);
            }
            self.events.push(Event::StepReached(at));
            let step = self.flows.step(at);
            match &step.action {
                Action::Choose | Action::Capture { .. } => {
                    let text = step.say.as_ref().map(|say| self.render(say));
                    self.say_with_options(text.unwrap_or_default(), step);
                    self.session.waiting = Some(at);
                    return Next::Wait;
                }
                Action::Search { search, .. } => {
                    let (request, area) = self.request(search);
                    self.events.push(Event::SearchMade {
                        step: at,
                        category: request.category,
                        when: request.when,
                        area,
                    });
                    self.session.searching = Some(at);
                    return Next::Search(request);
                }
                Action::Next(next) => {
                    if let Some(say) = &step.say {
                        let text = self.render(say);
                        self.say(text);
                    }
                    at = *next;
                }
                Action::End => {
                    if let Some(say) = &step.say {
                        let text = self.render(say);
                        self.say(text);
                    }
                    return Next::Ended;
                }
            }
        }
        Next::Ended
    }

    /// Says `text`, then shows the waiting step's options again.
    fn reprompt(&mut self, text: &LocalText) -> Next {
        let text = self.render(text);
        match self.session.waiting {
            Some(at) => {
                let step = self.flows.step(at);
                self.say_with_options(text, step);
            }
            None => self.say(text),
        }
        Next::Wait
    }

    /// The search a step asks for, and where its area came from.
    fn request(&self, spec: &SearchSpec) -> (SearchRequest, AreaGiven) {
        let value = |template: &Option<crate::flow::text::Template>| {
            template
                .as_ref()
                .map(|t| t.render(|name| self.session.variables.get(name).cloned()))
                .unwrap_or_default()
        };
        let area = value(&spec.area);
        let area_given = if area.trim().is_empty() {
            AreaGiven::NotGiven
        } else {
            self.flows
                .find_listed_area(area.trim())
                .map_or(AreaGiven::Typed, AreaGiven::Listed)
        };
        let request = SearchRequest {
            // A variable that does not hold a known category or time means
            // "any", rather than an error the person can do nothing about.
            category: Category::from_slug(value(&spec.category).trim()),
            area: Area::parse(&area),
            when: When::from_slug(value(&spec.when).trim()).unwrap_or(When::Any),
            include_online: match value(&spec.online).trim() {
                "include" | "only" => true,
                "exclude" => false,
                _ => spec.include_online,
            },
            online_only: value(&spec.online).trim() == "only",
            radius_km: value(&spec.radius_km).trim().parse().ok(),
            limit: spec.limit,
            page: 0,
        };
        (request, area_given)
    }

    fn render(&self, text: &LocalText) -> String {
        self.render_in(text, &self.session.language())
    }

    fn render_in(&self, text: &LocalText, language: &Language) -> String {
        text.get(language).render(|name| self.lookup(name))
    }

    fn render_with(&self, text: &LocalText, count: Option<&str>) -> String {
        text.get(&self.session.language()).render(|name| {
            if name == "count" {
                count.map(str::to_owned)
            } else {
                self.lookup(name)
            }
        })
    }

    /// A placeholder's value: the support lines from `safety/resources.toml`
    /// (most relevant first), a setting (such as `forget_after`), or a
    /// variable of the conversation.
    fn lookup(&self, name: &str) -> Option<String> {
        self.flows
            .safety
            .resources
            .placeholder(name, &self.session.concerns)
            .or_else(|| self.flows.setting(name))
            .or_else(|| self.session.variables.get(name).cloned())
    }

    fn say(&mut self, text: String) {
        self.replies.push(Reply {
            text,
            options: Vec::new(),
        });
    }

    fn say_with_options(&mut self, text: String, step: &Step) {
        let options = if step.options.is_empty() {
            Vec::new()
        } else {
            // Sets are numbered from 1: turn 0 is never current, see
            // `OptionKey::UNKNOWN`.
            self.session.turn = self.session.turn.wrapping_add(1).max(1);
            let language = self.session.language();
            step.options
                .iter()
                .enumerate()
                .map(|(index, option)| ReplyOption {
                    label: self.render_in(&option.label, &language),
                    key: OptionKey {
                        turn: self.session.turn,
                        index: index as u8,
                    },
                })
                .collect()
        };
        self.replies.push(Reply { text, options });
    }
}
