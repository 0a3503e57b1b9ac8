//! Logging with `tracing`: readable on a terminal or JSON, level from `RUST_LOG`.
//!
//! Invariant: no log field, at any level, holds what a person typed or who
//! they are. This holds by construction: message text travels only inside
//! [`crate::message::UserText`] and sessions, whose `Debug` output is
//! redacted, and no code logs a chat id or a message. The panic hook below
//! drops the panic message itself, so not even a bug can print user text.

use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Libraries whose own log lines can hold a person's messages or ids, and
/// the most they may log, whatever `RUST_LOG` says. teloxide logs whole
/// updates it cannot parse or handle (with the message text and the
/// sender); its failures that matter reach us as errors, which we log by
/// kind. The HTTP stack's debug and trace lines can show request bodies.
const QUIET_LIBRARIES: [(&str, Option<Level>); 9] = [
    ("teloxide", None),
    ("teloxide_core", None),
    ("reqwest", Some(Level::WARN)),
    ("hyper", Some(Level::WARN)),
    ("hyper_util", Some(Level::WARN)),
    ("h2", Some(Level::WARN)),
    ("axum", Some(Level::WARN)),
    ("tower_http", Some(Level::WARN)),
    ("rustls", Some(Level::WARN)),
];

/// Whether an event or span from `target` at `level` may be logged at all.
fn allowed(target: &str, level: &Level) -> bool {
    for (library, most) in QUIET_LIBRARIES {
        let ours = target
            .strip_prefix(library)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"));
        if ours {
            // `Level` orders from ERROR (smallest) to TRACE (largest).
            return most.is_some_and(|most| *level <= most);
        }
    }
    true
}

/// Sets up logging to standard error. `default` is the filter used when
/// `RUST_LOG` is not set, such as `"info"`.
pub fn init(format: LogFormat, default: &str) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // This filter cannot be loosened by RUST_LOG.
    let quiet = filter_fn(|metadata| allowed(metadata.target(), metadata.level()));
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // `try_init` fails only if logging was already set up (as in tests).
    // It also routes the `log` crate's records (teloxide's) through here.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(env).with_filter(quiet))
        .try_init();
    install_panic_hook();
}

/// Replaces the default panic output, which includes the panic message, with
/// one that gives only where it happened.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".to_owned());
        tracing::error!(%location, "internal error (panic); the message is withheld for privacy");
        eprintln!("signpost: internal error at {location}. This is a bug: please report it.");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_that_log_messages_are_kept_quiet_whatever_the_level() {
        assert!(!allowed("teloxide::dispatching::dispatcher", &Level::ERROR));
        assert!(!allowed("teloxide_core::adaptors::throttle", &Level::WARN));
        assert!(!allowed("hyper::proto::h1", &Level::TRACE));
        assert!(allowed("hyper::proto::h1", &Level::WARN));
        assert!(allowed("signpost::channel::telegram", &Level::TRACE));
        assert!(allowed("teloxidefriend", &Level::TRACE));
    }
}
