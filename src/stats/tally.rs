//! Counts in memory, until they are written.
//!
//! Invariants: recording never waits for the database (it takes a plain
//! mutex for a moment, never across an await); each conversation adds at
//! most one to each (day, counter, dimensions), because its [`Counted`]
//! remembers what it already gave; and counts leave memory only once a
//! transaction holding them has committed, so a failed or cancelled flush
//! keeps them for the next try.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::NaiveDate;

use super::StatsError;
use super::counter::Counter;
use super::store::Store;

/// What one conversation has already counted: hashes of (day, event,
/// dimensions), never the values. It lives in memory with the session and
/// dies with it. Its size is bounded by the counters the flows can give.
#[derive(Clone, Default)]
pub struct Counted {
    seen: HashSet<u64>,
}

impl Counted {
    /// True the first time this conversation offers `key`.
    fn first_time(&mut self, key: &Key) -> bool {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        self.seen.insert(hasher.finish())
    }
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counted({})", self.seen.len())
    }
}

/// One daily counter: the UTC day, the declared event, its dimensions in
/// their canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub day: NaiveDate,
    pub event: &'static str,
    pub dimensions: String,
}

/// The counts not yet written, shared by every conversation and channel.
/// Cheap to clone: clones share the same counts.
#[derive(Clone)]
pub struct Tally {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<HashMap<Key, u64>>,
    /// Today's day for counting (UTC in service), passed in so tests and
    /// scripted console runs choose it.
    today: Box<dyn Fn() -> NaiveDate + Send + Sync>,
    /// One flush at a time: two at once would both write the same counts.
    flushing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tally({} pending)", self.pending().len())
    }
}

impl Tally {
    /// A tally that files counts under the day `today` returns.
    pub fn new(today: impl Fn() -> NaiveDate + Send + Sync + 'static) -> Self {
        Tally {
            shared: Arc::new(Shared {
                pending: Mutex::new(HashMap::new()),
                today: Box::new(today),
                flushing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A tally that files counts under the current UTC day.
    pub fn utc() -> Self {
        Tally::new(|| chrono::Utc::now().date_naive())
    }

    /// The day counts are filed under now.
    pub fn today(&self) -> NaiveDate {
        (self.shared.today)()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, u64>> {
        // A panic while the lock was held leaves whole counts: carry on.
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds one to each counter this conversation has not yet counted
    /// today.
    pub fn record(&self, counted: &mut Counted, counters: impl IntoIterator<Item = Counter>) {
        let day = self.today();
        let fresh: Vec<Key> = counters
            .into_iter()
            .map(|counter| Key {
                day,
                event: counter.event(),
                dimensions: counter.dimensions().encode(),
            })
            .filter(|key| counted.first_time(key))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let mut pending = self.lock();
        for key in fresh {
            *pending.entry(key).or_insert(0) += 1;
        }
    }

    /// The counts not yet written, sorted.
    pub fn pending(&self) -> Vec<(Key, u64)> {
        let mut pending: Vec<(Key, u64)> = self
            .lock()
            .iter()
            .map(|(key, count)| (key.clone(), *count))
            .collect();
        pending.sort();
        pending
    }

    /// Writes the pending counts to `store` in one transaction, adding to
    /// what is there; returns how many rows were written. On failure the
    /// counts stay here for the next flush, and nothing was written.
    pub async fn flush(&self, store: &Store) -> Result<usize, StatsError> {
        let _one_at_a_time = self.shared.flushing.lock().await;
        // Counts recorded while the transaction runs stay pending; only
        // what was written is taken away, and only after it committed.
        let written = self.pending();
        if written.is_empty() {
            return Ok(0);
        }
        store.add(&written).await?;
        let mut pending = self.lock();
        for (key, count) in &written {
            if let Some(left) = pending.get_mut(key) {
                *left = left.saturating_sub(*count);
                if *left == 0 {
                    pending.remove(key);
                }
            }
        }
        Ok(written.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Channel;

    fn started() -> Counter {
        Counter::ConversationStarted {
            channel: Channel::Console,
        }
    }

    #[test]
    fn a_conversation_counts_each_thing_once_a_day() {
        let day = Arc::new(Mutex::new("2026-11-24".parse::<NaiveDate>().unwrap()));
        let today = Arc::clone(&day);
        let tally = Tally::new(move || *today.lock().unwrap());
        let mut first = Counted::default();
        let mut second = Counted::default();
        tally.record(&mut first, [started(), started()]);
        tally.record(&mut first, [started()]);
        tally.record(&mut second, [started()]);
        assert_eq!(tally.pending().len(), 1);
        assert_eq!(tally.pending()[0].1, 2);

        *day.lock().unwrap() = "2026-11-25".parse().unwrap();
        tally.record(&mut first, [started()]);
        let pending = tally.pending();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            (pending[1].0.day.to_string(), pending[1].1),
            ("2026-11-25".into(), 1)
        );
    }

    #[test]
    fn what_a_conversation_counted_shows_no_values() {
        let tally = Tally::utc();
        let mut counted = Counted::default();
        tally.record(
            &mut counted,
            [Counter::StepReached {
                flow: "find".into(),
                step: "area".into(),
            }],
        );
        assert_eq!(format!("{counted:?}"), "Counted(1)");
    }
}
