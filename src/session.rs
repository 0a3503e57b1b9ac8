//! Conversations in memory, forgotten after a quiet spell.
//!
//! Invariant: sessions are never written anywhere. A session not touched for
//! the idle time is gone: the next message starts afresh. The clock is passed
//! in, so expiry is tested without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::bot::Session;

/// The default idle time after which a conversation is forgotten.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(DEFAULT_IDLE_MINUTES * 60);

/// The same, in minutes, as the `session.idle_minutes` setting gives it.
pub const DEFAULT_IDLE_MINUTES: u64 = 30;

/// Sessions keyed by a channel's conversation key (such as a chat id). A
/// channel that keeps more per conversation than the bot's [`Session`]
/// (such as the message ids `/forget` deletes) stores its own `S`.
pub struct Sessions<K, S = Session> {
    idle: Duration,
    live: HashMap<K, (S, Instant)>,
}

impl<K: Hash + Eq, S: Default> Sessions<K, S> {
    pub fn new(idle: Duration) -> Self {
        Sessions {
            idle,
            live: HashMap::new(),
        }
    }

    /// Takes the session for `key` out of the store, or a new one if there
    /// is none or it has been idle too long. Put it back with [`Sessions::put`].
    pub fn take(&mut self, key: &K, now: Instant) -> S {
        match self.live.remove(key) {
            Some((session, last_seen)) if now.saturating_duration_since(last_seen) < self.idle => {
                session
            }
            _ => S::default(),
        }
    }

    /// The live session for `key`, without taking it out.
    pub fn peek(&self, key: &K, now: Instant) -> Option<&S> {
        self.live
            .get(key)
            .filter(|(_, last_seen)| now.saturating_duration_since(*last_seen) < self.idle)
            .map(|(session, _)| session)
    }

    pub fn put(&mut self, key: K, session: S, now: Instant) {
        self.live.insert(key, (session, now));
    }

    /// Forgets one conversation at once.
    pub fn remove(&mut self, key: &K) {
        self.live.remove(key);
    }

    /// Forgets every conversation that has been idle too long; returns how
    /// many were forgotten.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.live.len();
        let idle = self.idle;
        self.live
            .retain(|_, (_, last_seen)| now.saturating_duration_since(*last_seen) < idle);
        before - self.live.len()
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::Session;

    #[test]
    fn a_session_idle_for_too_long_is_forgotten() {
        let start = Instant::now();
        let mut sessions: Sessions<i32> = Sessions::new(Duration::from_secs(60));
        sessions.put(1, Session::default(), start);
        sessions.put(2, Session::default(), start + Duration::from_secs(30));
        assert_eq!(sessions.expire(start + Duration::from_secs(61)), 1);
        assert_eq!(sessions.len(), 1);
        sessions.remove(&2);
        assert!(sessions.is_empty());
    }

    #[test]
    fn taking_an_expired_session_gives_a_fresh_one_and_drops_the_old() {
        let start = Instant::now();
        let mut sessions: Sessions<&str> = Sessions::new(Duration::from_secs(60));
        sessions.put("chat", Session::default(), start);
        assert!(sessions.peek(&"chat", start).is_some());
        assert!(
            sessions
                .peek(&"chat", start + Duration::from_secs(60))
                .is_none()
        );
        let taken = sessions.take(&"chat", start + Duration::from_secs(120));
        assert!(!taken.is_waiting());
        assert!(sessions.is_empty());
        sessions.put("chat", taken, start);
        let _ = sessions.take(&"chat", start + Duration::from_secs(59));
        assert!(
            sessions.is_empty(),
            "take removes the session until it is put back"
        );
    }
}
