//! The bot: runs the engine for one message and carries out what it asks.
//!
//! Channels hand a session and a message to [`Bot::respond`] and get back the
//! replies to send and what to do with the session. The engine decides; this
//! module only performs its effects (directory searches) and feeds the
//! results back, so every channel behaves the same. It is also the one
//! place usage is counted ([`crate::stats`]), so every channel counts the
//! same way.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::directory::{AreaMatch, Directory, SearchQuery, card};
use crate::engine::{self, After, Event};
use crate::flow::FlowSet;
use crate::message::{Inbound, OptionKey, Reply};
use crate::stats::{self, Channel, Counted, Tally};

/// A search step whose results are empty leads to its `if_none` step, which
/// may search again. Loading rules out loops; this bounds a message anyway.
const MAX_SEARCHES_PER_MESSAGE: usize = 8;

/// Everything needed to answer people: the flows and the directory, and
/// where usage is counted.
#[derive(Clone, Debug)]
pub struct Bot {
    flows: Arc<FlowSet>,
    directory: Directory,
    /// The counts not yet written, shared with whatever writes them.
    tally: Tally,
    /// The channel this bot answers on, a dimension of some counts.
    channel: Channel,
}

/// What the bot keeps for one conversation between messages: the engine's
/// session, and what this conversation has already counted. Channels keep
/// it in memory only ([`crate::session::Sessions`]), and it dies with the
/// conversation.
#[derive(Debug, Default)]
pub struct Session {
    engine: engine::Session,
    counted: Counted,
}

impl Session {
    fn new(engine: engine::Session) -> Self {
        Session {
            engine,
            counted: Counted::default(),
        }
    }

    /// Whether the conversation is in the middle of something.
    pub fn is_waiting(&self) -> bool {
        self.engine.is_waiting()
    }

    /// Whether a button with this key belongs to the options shown last.
    pub fn accepts(&self, key: OptionKey) -> bool {
        self.engine.accepts(key)
    }
}

/// What to do with a conversation after a message.
#[derive(Debug)]
pub enum Outcome {
    /// Keep this session for the next message.
    Continue(Session),
    /// The conversation ended: drop the session.
    Ended,
    /// The person asked to be forgotten: drop the session and delete what
    /// the channel allows.
    Forgotten,
}

/// The bot's answer to one message.
#[derive(Debug)]
pub struct Response {
    pub replies: Vec<Reply>,
    pub events: Vec<Event>,
    pub outcome: Outcome,
}

impl Bot {
    /// A bot answering on `channel`, counting usage into `tally`.
    pub fn new(flows: Arc<FlowSet>, directory: Directory, tally: Tally, channel: Channel) -> Self {
        Bot {
            flows,
            directory,
            tally,
            channel,
        }
    }

    pub fn flows(&self) -> &FlowSet {
        &self.flows
    }

    /// Answers one message and counts what happened. `today` is the local
    /// UK date, for "today" and "this week" searches.
    pub async fn respond(&self, session: Session, inbound: Inbound, today: NaiveDate) -> Response {
        let Session {
            engine: session,
            mut counted,
        } = session;
        let mut response = self.run(session, inbound, today).await;
        let counters = stats::counters_for(&self.flows, self.channel, &response.events);
        self.tally.record(&mut counted, counters);
        if let Outcome::Continue(session) = &mut response.outcome {
            session.counted = counted;
        }
        response
    }

    /// Runs the engine and its searches for one message.
    async fn run(&self, session: engine::Session, inbound: Inbound, today: NaiveDate) -> Response {
        let turn = engine::handle(&self.flows, session, inbound);
        let mut replies = turn.replies;
        let mut events = turn.events;
        let mut after = turn.after;
        let mut searches = 0;
        loop {
            let outcome = match after {
                After::Search(session, request) if searches < MAX_SEARCHES_PER_MESSAGE => {
                    searches += 1;
                    let query = SearchQuery::from_request(&request, today);
                    let next = match self.directory.search(&query).await {
                        Ok(found) if found.area == AreaMatch::Unknown => {
                            engine::area_unknown(&self.flows, session)
                        }
                        Ok(found) => {
                            let cards = found.listings.iter().map(|l| card(l, today)).collect();
                            engine::show_results(&self.flows, session, cards)
                        }
                        Err(err) => {
                            // The error names no person and no message: safe to log.
                            tracing::error!(error = %err, "directory search failed");
                            engine::search_failed(&self.flows, session)
                        }
                    };
                    replies.extend(next.replies);
                    events.extend(next.events);
                    after = next.after;
                    continue;
                }
                After::Search(session, _) => {
                    tracing::error!("a message led to too many searches; stopping");
                    Outcome::Continue(Session::new(session))
                }
                After::Wait(session) => Outcome::Continue(Session::new(session)),
                After::Ended => Outcome::Ended,
                After::Forgotten => Outcome::Forgotten,
            };
            return Response {
                replies,
                events,
                outcome,
            };
        }
    }
}
