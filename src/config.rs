//! Settings, in layers: built-in defaults, then a TOML file, then the
//! environment, then the command line.
//!
//! The file is the one given with `--config`, or `signpost.toml` in the
//! working directory if there is one. Environment variables are named
//! `SIGNPOST_<SECTION>__<KEY>`, such as `SIGNPOST_DATABASE__URL`.
//!
//! Invariant: secrets (see [`SECRET_KEYS`]) come only from the environment;
//! a file that contains one is refused, and they are held as
//! [`SecretString`] so they never show in `Debug` output.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use serde::Deserialize;

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "signpost.toml";

/// The prefix of every environment variable Signpost reads.
const ENV_PREFIX: &str = "SIGNPOST_";

/// Settings that are secrets, as `section.key`: only the environment may set them.
pub const SECRET_KEYS: &[&str] = &["telegram.token"];

/// Every setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub flows: FlowSettings,
    pub session: SessionSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub chat: ChatSettings,
    #[serde(default)]
    pub telegram: TelegramSettings,
    #[serde(default)]
    pub stats: StatsSettings,
    #[serde(default)]
    pub http: HttpSettings,
    #[serde(default)]
    pub feeds: FeedsSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Where the directory lives, such as `sqlite://signpost.db`.
    pub url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSettings {
    /// The folder holding `global.toml` and the flow files.
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Minutes of quiet after which a conversation is forgotten.
    pub idle_minutes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    /// Fixes "today" for reproducible console transcripts.
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The bot token from BotFather; a secret. `signpost serve` runs the
    /// Telegram channel only when it is set.
    pub token: Option<SecretString>,
    /// The Bot API's base URL, for tests and self-hosted Bot API servers.
    pub api_url: Option<String>,
    /// Where Telegram should send updates (an https URL). Without it the
    /// bot asks Telegram for updates itself (long polling).
    pub webhook_url: Option<String>,
    /// The address the webhook server listens on, behind a reverse proxy
    /// that terminates TLS.
    pub webhook_listen: SocketAddr,
    /// Keep within Telegram's rate limits. Only benchmarks turn it off.
    pub throttle: bool,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            token: None,
            api_url: None,
            webhook_url: None,
            webhook_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            throttle: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsSettings {
    /// How often the usage counts kept in memory are written to the
    /// database, in seconds. They are written at shutdown too; a crash
    /// loses at most this long's counts.
    pub flush_seconds: u64,
}

impl Default for StatsSettings {
    fn default() -> Self {
        StatsSettings {
            flush_seconds: crate::stats::DEFAULT_FLUSH_SECONDS,
        }
    }
}

/// The web portal (`signpost serve` and `signpost web`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// The address and port the web server listens on. Port 0 asks the
    /// system for a free port (tests).
    #[serde(deserialize_with = "socket_address")]
    pub bind: SocketAddr,
    /// People reach the portal over HTTPS (through a reverse proxy that
    /// terminates TLS): browsers are then told to use HTTPS only
    /// (Strict-Transport-Security). Leave it off for plain-HTTP testing,
    /// or browsers would refuse the site over HTTP for a year.
    pub https: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            https: false,
        }
    }
}

/// Organisations' calendar feeds (`signpost serve` and `signpost web`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedsSettings {
    /// How often every feed is fetched, in minutes; 0 turns fetching off
    /// (`signpost feeds refresh` still fetches on demand). The first fetch
    /// is a minute after start-up.
    pub refresh_minutes: u64,
    /// Fetch feeds from loopback, private and link-local addresses too, for
    /// a calendar server on the operator's own network. Off, an address an
    /// organisation gives cannot make Signpost read its own network.
    pub local_addresses: bool,
}

impl Default for FeedsSettings {
    fn default() -> Self {
        FeedsSettings {
            refresh_minutes: crate::feeds::DEFAULT_REFRESH_MINUTES,
            local_addresses: false,
        }
    }
}

/// The shortest time between fetches of every feed, in minutes, when
/// fetching is on: calendar servers should not be asked more often.
pub const MIN_FEED_REFRESH_MINUTES: u64 = 15;

/// An address and port, with a message that says what one looks like.
fn socket_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    let value = String::deserialize(deserializer)?;
    value.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "\"{value}\" is not an address and port: give one such as 127.0.0.1:8080 or [::1]:8080"
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        match value.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(serde::de::Error::custom(format!(
                "\"{other}\" is not a log format: use text or json"
            ))),
        }
    }
}

/// Values given on the command line, which win over everything else.
#[derive(Debug, Default)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub flows_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub chat_date: Option<NaiveDate>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error(
        "{key} is a secret, so it cannot be set in {path}: remove it there and set the environment variable {env} instead"
    )]
    SecretInFile {
        key: String,
        path: String,
        env: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the settings from every layer.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Settings::load_from(file, &vars, overrides)
    }

    /// Loads the settings with `vars` standing in for the environment.
    pub fn load_from(
        file: Option<&Path>,
        vars: &HashMap<String, String>,
        overrides: Overrides,
    ) -> Result<Settings, ConfigError> {
        let invalid = |err: config::ConfigError| ConfigError::Invalid(err.to_string());
        let mut builder = Config::builder()
            .set_default("database.url", "sqlite://signpost.db")
            .and_then(|b| b.set_default("flows.dir", "flows"))
            .and_then(|b| {
                b.set_default("session.idle_minutes", crate::session::DEFAULT_IDLE_MINUTES)
            })
            .and_then(|b| b.set_default("log.format", "text"))
            .map_err(invalid)?;

        let default_file = Path::new(DEFAULT_FILE);
        let file = match file {
            Some(path) => Some(path),
            None if default_file.is_file() => Some(default_file),
            None => None,
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
                path: path.display().to_string(),
                reason: err.to_string(),
            })?;
            check_no_secrets(path, &text)?;
            builder = builder.add_source(File::from_str(&text, FileFormat::Toml));
        }

        // Only SIGNPOST_<SECTION>__<KEY> variables are settings; others with
        // the prefix (such as SIGNPOST_TEST_POSTGRES_URL) belong to tools.
        let settings_vars: config::Map<String, String> = vars
            .iter()
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                rest.contains("__").then(|| (name.clone(), value.clone()))
            })
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("SIGNPOST")
                .prefix_separator("_")
                .separator("__")
                .source(Some(settings_vars)),
        );

        let set = |builder: config::ConfigBuilder<config::builder::DefaultState>,
                   key: &str,
                   value: Option<String>| match value {
            Some(value) => builder.set_override(key, value).map_err(invalid),
            None => Ok(builder),
        };
        builder = set(builder, "database.url", overrides.database_url)?;
        builder = set(
            builder,
            "flows.dir",
            overrides.flows_dir.map(|d| d.display().to_string()),
        )?;
        builder = set(
            builder,
            "log.format",
            overrides.log_format.map(|f| match f {
                LogFormat::Text => "text".to_owned(),
                LogFormat::Json => "json".to_owned(),
            }),
        )?;
        builder = set(
            builder,
            "chat.date",
            overrides.chat_date.map(|d| d.to_string()),
        )?;

        let config = builder.build().map_err(invalid)?;
        let settings: Settings = config.try_deserialize().map_err(|err| {
            let message = err.to_string();
            // serde's wording, made to say what to do.
            let message = message.replace("unknown field", "unknown setting");
            ConfigError::Invalid(message)
        })?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !(1..=24 * 60).contains(&self.session.idle_minutes) {
            return Err(ConfigError::Invalid(format!(
                "session.idle_minutes is {}, but it must be between 1 and 1440 (a day)",
                self.session.idle_minutes
            )));
        }
        for (key, value) in [
            ("telegram.api_url", &self.telegram.api_url),
            ("telegram.webhook_url", &self.telegram.webhook_url),
        ] {
            if let Some(value) = value
                && let Err(err) = url::Url::parse(value)
            {
                return Err(ConfigError::Invalid(format!(
                    "{key} is not a URL ({err}): give a full URL such as https://example.org/telegram"
                )));
            }
        }
        if let Some(url) = &self.telegram.webhook_url
            && !url.starts_with("https://")
        {
            return Err(ConfigError::Invalid(
                "telegram.webhook_url must start with https://, because Telegram only sends updates over HTTPS".into(),
            ));
        }
        if !(1..=60 * 60).contains(&self.stats.flush_seconds) {
            return Err(ConfigError::Invalid(format!(
                "stats.flush_seconds is {}, but it must be between 1 and 3600 (an hour)",
                self.stats.flush_seconds
            )));
        }
        if self.telegram.webhook_url.is_some() && self.telegram.webhook_listen == self.http.bind {
            return Err(ConfigError::Invalid(format!(
                "http.bind and telegram.webhook_listen are both {}: give the web portal and the Telegram webhook different ports",
                self.http.bind
            )));
        }
        let minutes = self.feeds.refresh_minutes;
        if minutes != 0 && !(MIN_FEED_REFRESH_MINUTES..=7 * 24 * 60).contains(&minutes) {
            return Err(ConfigError::Invalid(format!(
                "feeds.refresh_minutes is {minutes}, but it must be 0 (off) or between \
                 {MIN_FEED_REFRESH_MINUTES} and 10080 (a week)"
            )));
        }
        if self.database.url.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "database.url is empty: give a URL such as sqlite://signpost.db".into(),
            ));
        }
        Ok(())
    }
}

/// Refuses a configuration file that holds a secret.
fn check_no_secrets(path: &Path, text: &str) -> Result<(), ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::File {
        path: path.display().to_string(),
        reason: err.to_string().trim().to_owned(),
    })?;
    for key in SECRET_KEYS {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let present = table
            .get(section)
            .and_then(|s| s.as_table())
            .is_some_and(|s| s.contains_key(name));
        if present {
            return Err(ConfigError::SecretInFile {
                key: (*key).to_owned(),
                path: path.display().to_string(),
                env: format!(
                    "{ENV_PREFIX}{}__{}",
                    section.to_uppercase(),
                    name.to_uppercase()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_then_file_then_environment_then_command_line() {
        let settings = Settings::load_from(None, &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(settings.database.url, "sqlite://signpost.db");
        assert_eq!(settings.session.idle_minutes, 30);

        let toml = file("[database]\nurl = \"sqlite://file.db\"\n[session]\nidle_minutes = 10\n");
        let env = vars(&[("SIGNPOST_SESSION__IDLE_MINUTES", "20")]);
        let settings = Settings::load_from(Some(toml.path()), &env, Overrides::default()).unwrap();
        assert_eq!(settings.database.url, "sqlite://file.db");
        assert_eq!(settings.session.idle_minutes, 20);

        let overrides = Overrides {
            database_url: Some("sqlite::memory:".into()),
            ..Overrides::default()
        };
        let settings = Settings::load_from(Some(toml.path()), &env, overrides).unwrap();
        assert_eq!(settings.database.url, "sqlite::memory:");
    }

    #[test]
    fn an_invalid_value_names_the_key_and_what_is_expected() {
        let env = vars(&[("SIGNPOST_SESSION__IDLE_MINUTES", "soon")]);
        let err = Settings::load_from(None, &env, Overrides::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("session.idle_minutes"), "{message}");

        let env = vars(&[("SIGNPOST_LOG__FORMAT", "xml")]);
        let message = Settings::load_from(None, &env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("log.format") && message.contains("json"),
            "{message}"
        );

        let env = vars(&[("SIGNPOST_SESSION__IDLE_MINUTES", "0")]);
        let message = Settings::load_from(None, &env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("between 1 and 1440"), "{message}");
    }

    #[test]
    fn unknown_settings_in_a_file_are_refused() {
        let toml = file("[databse]\nurl = \"x\"\n");
        let message = Settings::load_from(Some(toml.path()), &vars(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("databse"), "{message}");
    }

    #[test]
    fn secrets_come_only_from_the_environment() {
        let toml = file("[telegram]\ntoken = \"123:abc\"\n");
        let message = Settings::load_from(Some(toml.path()), &vars(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("SIGNPOST_TELEGRAM__TOKEN"), "{message}");
        assert!(!message.contains("123:abc"), "{message}");

        let env = vars(&[("SIGNPOST_TELEGRAM__TOKEN", "123:abc")]);
        let settings = Settings::load_from(None, &env, Overrides::default()).unwrap();
        let token = settings.telegram.token.as_ref().unwrap();
        assert_eq!(token.expose_secret(), "123:abc");
        assert!(!format!("{settings:?}").contains("123:abc"));
    }

    #[test]
    fn telegram_settings_come_from_the_environment_and_urls_are_checked() {
        let env = vars(&[
            ("SIGNPOST_TELEGRAM__API_URL", "http://127.0.0.1:8081/"),
            (
                "SIGNPOST_TELEGRAM__WEBHOOK_URL",
                "https://bot.example.org/telegram",
            ),
            ("SIGNPOST_TELEGRAM__WEBHOOK_LISTEN", "127.0.0.1:9000"),
            ("SIGNPOST_TELEGRAM__THROTTLE", "false"),
        ]);
        let settings = Settings::load_from(None, &env, Overrides::default()).unwrap();
        assert_eq!(
            settings.telegram.api_url.as_deref(),
            Some("http://127.0.0.1:8081/")
        );
        assert_eq!(settings.telegram.webhook_listen.port(), 9000);
        assert!(!settings.telegram.throttle);

        let defaults = Settings::load_from(None, &vars(&[]), Overrides::default()).unwrap();
        assert!(defaults.telegram.throttle);
        assert_eq!(
            defaults.telegram.webhook_listen.to_string(),
            "127.0.0.1:8443"
        );

        let env = vars(&[("SIGNPOST_TELEGRAM__WEBHOOK_URL", "http://bot.example.org/")]);
        let message = Settings::load_from(None, &env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("https://"), "{message}");
        let env = vars(&[("SIGNPOST_TELEGRAM__API_URL", "not a url")]);
        let message = Settings::load_from(None, &env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("telegram.api_url is not a URL"),
            "{message}"
        );
    }

    #[test]
    fn usage_counts_are_written_every_five_minutes_unless_set_otherwise() {
        let defaults = Settings::load_from(None, &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(defaults.stats.flush_seconds, 300);

        let toml = file("[stats]\nflush_seconds = 60\n");
        let settings =
            Settings::load_from(Some(toml.path()), &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(settings.stats.flush_seconds, 60);

        for bad in ["0", "3601"] {
            let env = vars(&[("SIGNPOST_STATS__FLUSH_SECONDS", bad)]);
            let message = Settings::load_from(None, &env, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("stats.flush_seconds") && message.contains("3600"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_web_portal_listens_on_localhost_8080_unless_set_otherwise() {
        let defaults = Settings::load_from(None, &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(defaults.http.bind.to_string(), "127.0.0.1:8080");
        assert!(!defaults.http.https);

        let env = vars(&[
            ("SIGNPOST_HTTP__BIND", "0.0.0.0:9090"),
            ("SIGNPOST_HTTP__HTTPS", "true"),
        ]);
        let settings = Settings::load_from(None, &env, Overrides::default()).unwrap();
        assert_eq!(settings.http.bind.to_string(), "0.0.0.0:9090");
        assert!(settings.http.https);

        let toml = file("[http]\nbind = \"[::1]:8081\"\n");
        let settings =
            Settings::load_from(Some(toml.path()), &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(settings.http.bind.to_string(), "[::1]:8081");
    }

    #[test]
    fn a_bind_address_without_a_port_is_refused_with_an_example() {
        for bad in ["localhost", "8080", "127.0.0.1"] {
            let env = vars(&[("SIGNPOST_HTTP__BIND", bad)]);
            let message = Settings::load_from(None, &env, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("http.bind") && message.contains("127.0.0.1:8080"),
                "{message}"
            );
        }
        let env = vars(&[
            ("SIGNPOST_HTTP__BIND", "127.0.0.1:8443"),
            (
                "SIGNPOST_TELEGRAM__WEBHOOK_URL",
                "https://bot.example.org/telegram",
            ),
        ]);
        let message = Settings::load_from(None, &env, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("different ports"), "{message}");
    }

    #[test]
    fn calendar_feeds_are_fetched_every_six_hours_unless_set_otherwise() {
        let defaults = Settings::load_from(None, &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(defaults.feeds.refresh_minutes, 360);
        assert!(!defaults.feeds.local_addresses);

        let toml = file("[feeds]\nrefresh_minutes = 0\n");
        let settings =
            Settings::load_from(Some(toml.path()), &vars(&[]), Overrides::default()).unwrap();
        assert_eq!(settings.feeds.refresh_minutes, 0);

        for bad in ["5", "10081"] {
            let env = vars(&[("SIGNPOST_FEEDS__REFRESH_MINUTES", bad)]);
            let message = Settings::load_from(None, &env, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("feeds.refresh_minutes") && message.contains("0 (off)"),
                "{message}"
            );
        }
    }

    #[test]
    fn other_signpost_variables_are_not_settings() {
        let env = vars(&[
            ("SIGNPOST_TEST_POSTGRES_URL", "postgres://x"),
            ("SIGNPOST_CHAT__DATE", "2026-11-24"),
        ]);
        let settings = Settings::load_from(None, &env, Overrides::default()).unwrap();
        assert_eq!(settings.chat.date, "2026-11-24".parse().ok());
    }
}
