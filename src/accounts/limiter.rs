//! Slowing down password guessing: after five failed sign-ins for one
//! email address within 15 minutes, that address cannot sign in until the
//! oldest of those failures is 15 minutes old.
//!
//! Invariant: kept in memory only, keyed by a digest of the address, and
//! bounded: at most [`MAX_TRACKED`] addresses, the stalest dropped first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Failures allowed within [`WINDOW_SECONDS`].
pub const MAX_FAILURES: usize = 5;
/// How long a failure counts against an address.
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// How many addresses are tracked at once.
pub const MAX_TRACKED: usize = 10_000;

/// Failed sign-ins per address, shared by every request.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl LoginLimiter {
    pub fn new() -> Self {
        LoginLimiter::default()
    }

    /// `Err(seconds)` to wait when `key` may not try now.
    pub fn check(&self, key: &str, now: i64) -> Result<(), i64> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = failures.get_mut(&super::digest_of(key)) else {
            return Ok(());
        };
        while times.front().is_some_and(|t| now - t >= WINDOW_SECONDS) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= MAX_FAILURES => Err(WINDOW_SECONDS - (now - oldest)),
            _ => Ok(()),
        }
    }

    /// Notes a failed sign-in for `key`.
    pub fn failed(&self, key: &str, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, times| times.back().is_some_and(|t| now - t < WINDOW_SECONDS));
            if failures.len() >= MAX_TRACKED {
                let stalest = failures
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(key, _)| key.clone());
                if let Some(stalest) = stalest {
                    failures.remove(&stalest);
                }
            }
        }
        let times = failures.entry(super::digest_of(key)).or_default();
        times.push_back(now);
        if times.len() > MAX_FAILURES {
            times.pop_front();
        }
    }

    /// Forgets `key`'s failures after a good sign-in.
    pub fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&super::digest_of(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_an_address_for_the_rest_of_the_window() {
        let limiter = LoginLimiter::new();
        for minute in 0..5 {
            assert!(limiter.check("a@b.org", minute * 60).is_ok());
            limiter.failed("a@b.org", minute * 60);
        }
        assert_eq!(limiter.check("a@b.org", 5 * 60), Err(10 * 60));
        assert!(
            limiter.check("other@b.org", 5 * 60).is_ok(),
            "others are not affected"
        );
        // Once the first failure is 15 minutes old, one more try is allowed.
        assert!(limiter.check("a@b.org", 15 * 60).is_ok());
        limiter.failed("a@b.org", 15 * 60);
        assert!(limiter.check("a@b.org", 15 * 60 + 1).is_err());
    }

    #[test]
    fn a_good_sign_in_clears_the_failures() {
        let limiter = LoginLimiter::new();
        for _ in 0..5 {
            limiter.failed("a@b.org", 0);
        }
        assert!(limiter.check("a@b.org", 1).is_err());
        limiter.succeeded("a@b.org");
        assert!(limiter.check("a@b.org", 1).is_ok());
    }

    #[test]
    fn the_number_of_addresses_tracked_is_bounded() {
        let limiter = LoginLimiter::new();
        for n in 0..MAX_TRACKED + 10 {
            limiter.failed(&format!("{n}@b.org"), n as i64);
        }
        assert!(limiter.failures.lock().unwrap().len() <= MAX_TRACKED);
    }
}
