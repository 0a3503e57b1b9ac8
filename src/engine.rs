//! The flow engine: one message in, the replies and the next state out.
//!
//! Invariant: the engine is pure. It does no I/O, reads no clock and uses no
//! randomness: [`handle`] and [`show_results`] take the loaded flows, a
//! [`Session`] and an input, and return a [`Turn`]. When a step needs the
//! directory, the turn ends with [`After::Search`]; the caller runs the
//! search and feeds the results back through [`show_results`]. Conversations
//! are therefore tested with transcripts alone.
//!
//! Every message goes through the same order of checks: global interrupts
//! (the crisis check) first, then commands and keywords that work from
//! anywhere, then the current step, then patterns that start a flow.

use std::collections::BTreeMap;
use std::fmt;

use crate::flow::text::{Language, LocalText};
use crate::flow::{Action, CommandName, FlowSet, SearchSpec, Step, StepRef, Target, Trigger};
use crate::message::{Inbound, OptionKey, Reply, ReplyOption, UserText};
use crate::search::{Area, Category, SearchRequest, When};

/// The most steps one message can pass through. Loading rejects loops, so
/// this only guards against a mistake in the engine itself.
const MAX_HOPS: usize = 64;

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
/// steps, options and commands, never anything a person typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ConversationStarted,
    StepReached(StepRef),
    OptionChosen { step: StepRef, index: u8 },
    CommandUsed(CommandName),
    Interrupted { interrupt: usize },
    AnswerRejected(StepRef),
    NotUnderstood,
    MessageTooLong,
    SearchMade(StepRef),
    ResultsShown { step: StepRef, count: usize },
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
    // their first message leads somewhere other than the main menu.
    let start = flows.commands.start;
    let saw_menu = turn
        .events
        .iter()
        .any(|e| matches!(e, Event::StepReached(at) if at.flow == start));
    if first_message && !saw_menu && !turn.replies.is_empty() {
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
        if text.is_too_long() {
            self.events.push(Event::MessageTooLong);
            return self.reprompt(&self.flows.messages.too_long);
        }
        let raw = text.as_str().trim();
        if raw.is_empty() {
            return Next::Wait;
        }
        // 1. Interrupts, such as the crisis check, come before anything else.
        let interrupt = self
            .flows
            .interrupts
            .iter()
            .position(|i| i.patterns.iter().any(|p| p.is_match(raw)));
        if let Some(index) = interrupt {
            self.events.push(Event::Interrupted { interrupt: index });
            let flow = self.flows.interrupts[index].flow;
            return self.interrupt_to(flow);
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
        // 5. Someone new gets the welcome; others are asked again.
        if !self.session.is_waiting() {
            return self.enter(self.flows.first_step(self.flows.commands.start));
        }
        self.events.push(Event::NotUnderstood);
        self.reprompt(&self.flows.messages.not_understood)
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
            // A button from an earlier message: show where we are now.
            Some(at) => {
                let text = self.render(&self.flows.messages.button_expired);
                self.say(text);
                self.enter(at)
            }
            // The session expired or never existed: start again, kindly.
            None => {
                let text = self.render(&self.flows.messages.button_expired);
                self.say(text);
                self.enter(self.flows.first_step(self.flows.commands.start))
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
                        self.session.resume = None;
                        self.enter(self.flows.first_step(commands.start))
                    }
                    CommandName::Urgent => self.interrupt_to(commands.urgent),
                    CommandName::Help => self.interrupt_to(commands.help),
                    CommandName::Privacy => self.interrupt_to(commands.privacy),
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

    /// Goes to `flow`, remembering where the person was so that an option
    /// with `resume = true` can take them back.
    fn interrupt_to(&mut self, flow: u16) -> Next {
        // Moving between urgent help, help and privacy keeps the place the
        // person left to come here, rather than one of those menus.
        let commands = &self.flows.commands;
        let aside = |flow: u16| {
            [commands.urgent, commands.help, commands.privacy].contains(&flow)
                || self.flows.interrupts.iter().any(|i| i.flow == flow)
        };
        if let Some(at) = self.session.waiting.or(self.session.searching)
            && !aside(at.flow)
        {
            self.session.resume = Some(at);
        }
        self.enter(self.flows.first_step(flow))
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
        let commands = &self.flows.commands;
        match option.target {
            // Choosing urgent help (or help, or privacy) from a menu is the
            // same as sending the command: the person can come back after.
            Target::Step(target)
                if target.step == 0
                    && [commands.urgent, commands.help, commands.privacy]
                        .contains(&target.flow) =>
            {
                self.interrupt_to(target.flow)
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
                    self.events.push(Event::SearchMade(at));
                    self.session.searching = Some(at);
                    return Next::Search(self.request(search));
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

    fn request(&self, spec: &SearchSpec) -> SearchRequest {
        let value = |template: &Option<crate::flow::text::Template>| {
            template
                .as_ref()
                .map(|t| t.render(|name| self.session.variables.get(name).cloned()))
                .unwrap_or_default()
        };
        SearchRequest {
            // A variable that does not hold a known category or time means
            // "any", rather than an error the person can do nothing about.
            category: Category::from_slug(value(&spec.category).trim()),
            area: Area::parse(&value(&spec.area)),
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
        }
    }

    fn render(&self, text: &LocalText) -> String {
        self.render_in(text, &self.session.language())
    }

    fn render_in(&self, text: &LocalText, language: &Language) -> String {
        text.get(language)
            .render(|name| self.session.variables.get(name).cloned())
    }

    fn render_with(&self, text: &LocalText, count: Option<&str>) -> String {
        text.get(&self.session.language()).render(|name| {
            if name == "count" {
                count.map(str::to_owned)
            } else {
                self.session.variables.get(name).cloned()
            }
        })
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
