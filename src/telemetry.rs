//! Logging with `tracing`: readable on a terminal or JSON, level from `RUST_LOG`.
//!
//! Invariant: no log field, at any level, holds what a person typed or who
//! they are. This holds by construction: message text travels only inside
//! [`crate::message::UserText`] and sessions, whose `Debug` output is
//! redacted, and no code logs a chat id or a message. The panic hook below
//! drops the panic message itself, so not even a bug can print user text.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Sets up logging to standard error. `default` is the filter used when
/// `RUST_LOG` is not set, such as `"info"`.
pub fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only if logging was already set up (as in tests).
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
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
