//! Sending requests to Telegram, retrying what is worth retrying.
//!
//! Invariant: what is logged about a failed request is a fixed description
//! of its kind. Telegram's error texts and teloxide's error values can quote
//! a chat id, a response body or part of a message, so they are never
//! logged as they are.

use std::future::Future;
use std::time::Duration;

use teloxide::{ApiError, RequestError};

/// How many times a request that failed for a passing reason (a network
/// error or a server error) is tried again.
const MAX_RETRIES: u32 = 5;

/// How many times Telegram may ask us to wait ("retry after") before we give
/// up on one request; throttled requests are also retried by the throttle.
const MAX_WAITS: u32 = 10;

/// The first pause after a passing failure; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest pause between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Sends a request made by `send`, trying again after a network error, a
/// server error or a "retry after" answer, with a pause that grows each
/// time. A request Telegram refused for good (such as to a chat that
/// blocked the bot) is not tried again.
///
/// A request whose connection broke after Telegram received it may be sent
/// twice; the alternative, giving up, could lose a reply. A reply that
/// arrives twice is the lesser harm for a support service.
pub async fn with_retries<T, F, Fut>(what: &'static str, mut send: F) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut retries = 0;
    let mut waits = 0;
    loop {
        let error = match send().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let pause = match &error {
            RequestError::RetryAfter(seconds) if waits < MAX_WAITS => {
                waits += 1;
                seconds.duration().max(Duration::from_millis(50))
            }
            error if is_passing(error) && retries < MAX_RETRIES => {
                let pause = FIRST_BACKOFF
                    .saturating_mul(1 << retries.min(6))
                    .min(MAX_BACKOFF);
                retries += 1;
                pause
            }
            _ => return Err(error),
        };
        tracing::warn!(
            request = what,
            problem = describe(&error),
            retry_in_ms = pause.as_millis() as u64,
            "a Telegram request failed; trying again"
        );
        tokio::time::sleep(pause).await;
    }
}

/// Whether a failure may go away if the request is sent again.
fn is_passing(error: &RequestError) -> bool {
    match error {
        RequestError::Network(_) | RequestError::Io(_) => true,
        // Telegram's 5xx answers (and any error this teloxide version does
        // not know) arrive as `Unknown`.
        RequestError::Api(ApiError::Unknown(_)) => true,
        _ => false,
    }
}

/// A description of a failure that is safe to log: it names the kind of
/// problem and never repeats a payload.
pub fn describe(error: &RequestError) -> String {
    match error {
        RequestError::Api(ApiError::Unknown(_)) => {
            "a server error or an error this version does not know".to_owned()
        }
        RequestError::Api(ApiError::InvalidToken) => {
            "the bot token was refused (check SIGNPOST_TELEGRAM__TOKEN)".to_owned()
        }
        RequestError::Api(api) => {
            // Known API errors are fixed texts from Telegram ("Forbidden:
            // bot was blocked by the user") that hold no data of their own.
            format!("Telegram refused it: {api}")
        }
        RequestError::MigrateToChatId(_) => "the group became a supergroup".to_owned(),
        RequestError::RetryAfter(seconds) => {
            format!(
                "too many requests: Telegram asked to wait {} s",
                seconds.seconds()
            )
        }
        RequestError::Network(network) if network.is_timeout() => "a network timeout".to_owned(),
        RequestError::Network(network) if network.is_connect() => {
            "Telegram could not be reached".to_owned()
        }
        RequestError::Network(_) => "a network error".to_owned(),
        RequestError::InvalidJson { .. } => "an answer that was not valid JSON".to_owned(),
        RequestError::Io(_) => "an input/output error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use teloxide::types::Seconds;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passing_failures_are_retried_until_the_request_goes_through() {
        let tries = AtomicU32::new(0);
        let result = with_retries("test", || async {
            match tries.fetch_add(1, Ordering::SeqCst) {
                0 => Err(RequestError::Api(ApiError::Unknown(
                    "Internal Server Error".into(),
                ))),
                1 => Err(RequestError::RetryAfter(Seconds::from_seconds(3))),
                _ => Ok("sent"),
            }
        })
        .await;
        assert_eq!(result.unwrap(), "sent");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_refused_for_good_is_not_retried() {
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = with_retries("test", || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(RequestError::Api(ApiError::BotBlocked))
        })
        .await;
        assert!(matches!(
            result,
            Err(RequestError::Api(ApiError::BotBlocked))
        ));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_a_bound() {
        let tries = AtomicU32::new(0);
        let result: Result<(), _> = with_retries("test", || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(RequestError::Api(ApiError::Unknown("Bad Gateway".into())))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), MAX_RETRIES + 1);
    }

    #[test]
    fn descriptions_never_repeat_a_payload() {
        let raw = RequestError::InvalidJson {
            source: std::sync::Arc::new(serde_json::from_str::<u8>("x").unwrap_err()),
            raw: "{\"text\":\"I live in Marsden\"}".into(),
        };
        assert!(!describe(&raw).contains("Marsden"));
        let unknown = RequestError::Api(ApiError::Unknown("chat 424242 said Marsden".into()));
        assert!(!describe(&unknown).contains("Marsden"));
        let migrated = RequestError::MigrateToChatId(teloxide::types::ChatId(-100_424_242));
        assert!(!describe(&migrated).contains("424242"));
    }
}
