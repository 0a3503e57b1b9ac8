//! What each command does, for the thin binary in `main.rs`.
//!
//! Output meant for a person goes to standard output; logs go to standard
//! error. Errors come back to `main`, which prints them once.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use tokio::io::BufReader;

use crate::bot::Bot;
use crate::channel::console::{self, Console};
use crate::config::Settings;
use crate::directory::Directory;
use crate::feeds::Feeds;
use crate::flow::{self, FlowSet};
use crate::stats::{self, Channel, Grouping, ReportRequest, Tally};

/// Today's date in the UK, where the services are.
pub fn today_in_uk() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
}

/// Loads the flows, logging any warnings; errors stop start-up.
pub fn load_flows(dir: &Path) -> anyhow::Result<FlowSet> {
    let (flows, warnings) = flow::load_dir(dir)?;
    for warning in warnings.iter() {
        tracing::warn!("{warning}");
    }
    Ok(flows)
}

/// Loads the flows for a conversation, with what they say about the
/// settings (how long a quiet conversation is kept) made true.
fn load_flows_for_talking(settings: &Settings) -> anyhow::Result<FlowSet> {
    let mut flows = load_flows(&settings.flows.dir)?;
    flows.set_idle_minutes(settings.session.idle_minutes);
    Ok(flows)
}

/// `signpost chat`: a conversation in the terminal.
pub async fn chat(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    let flows = load_flows_for_talking(settings)?;
    let today = settings.chat.date.unwrap_or_else(today_in_uk);
    let directory = if demo {
        let directory = Directory::in_memory().await?;
        directory
            .load_sample(today)
            .await
            .context("loading the sample directory")?;
        directory
    } else {
        Directory::open(&settings.database.url).await?
    };
    directory
        .refresh_occurrences(today)
        .await
        .context("bringing event dates up to date")?;
    let idle = std::time::Duration::from_secs(settings.session.idle_minutes * 60);
    // A date given for a repeatable conversation is the day its counts are
    // filed under too; otherwise they go under today's UTC day.
    let tally = match settings.chat.date {
        Some(date) => Tally::new(move || date),
        None => Tally::utc(),
    };
    let store = stats::Store::new(directory.database().clone());
    let bot = Bot::new(Arc::new(flows), directory, tally.clone(), Channel::Console);
    let console = Console::new(bot, today, idle);
    if demo {
        println!("(Demo: the directory holds made-up sample data, not real services.)\n");
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("Type a message and press Enter. Send /stop or press Ctrl-D to finish.\n");
    }
    let result = console::run(
        console,
        BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
    )
    .await;
    stats::flush(&tally, &store).await;
    match result {
        // Whoever reads the output has stopped (as `| head` does): that is
        // the end of the conversation, not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("reading the conversation from standard input or writing it out"),
    }
}

/// Opens the web portal's listening socket, so that a port in use stops
/// start-up with a clear message rather than failing later.
async fn listen(settings: &Settings) -> anyhow::Result<tokio::net::TcpListener> {
    let bind = settings.http.bind;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!(
            "cannot listen on {bind} for the web portal: set http.bind (SIGNPOST_HTTP__BIND) to a free address and port"
        )
    })?;
    let address = listener
        .local_addr()
        .context("reading the web portal's address")?;
    tracing::info!("web portal listening on http://{address}");
    Ok(listener)
}

/// What the web portal's handlers share.
fn web_state(directory: Directory, settings: &Settings) -> crate::web::AppState {
    crate::web::AppState {
        accounts: crate::accounts::Accounts::new(directory.database().clone()),
        moderation: crate::moderation::Moderation::new(directory.database().clone()),
        feeds: calendar_feeds(directory.database(), settings),
        directory,
        today: Arc::new(today_in_uk),
        https: settings.http.https,
        limiter: Arc::new(crate::accounts::LoginLimiter::new()),
        now: Arc::new(|| chrono::Utc::now().timestamp()),
    }
}

/// `signpost web`: runs only the web portal (pages and open data) until
/// SIGTERM or Ctrl-C; no Telegram token is needed.
pub async fn web(settings: &Settings) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let listener = listen(settings).await?;
    let fetching = keep_feeds_fresh(directory.database(), settings);
    let result = crate::web::serve(
        listener,
        web_state(directory.clone(), settings),
        shutdown_signal(),
    )
    .await;
    if let Some(fetching) = fetching {
        fetching.abort();
    }
    directory.close().await;
    result.context("serving the web portal")?;
    tracing::info!("stopped");
    Ok(())
}

/// `signpost serve`: runs the bot on Telegram, and the web portal beside
/// it, until SIGTERM or Ctrl-C.
pub async fn serve(settings: &Settings) -> anyhow::Result<()> {
    use crate::channel::telegram;

    let Some(token) = settings.telegram.token.clone() else {
        anyhow::bail!(
            "there is nothing to serve: set SIGNPOST_TELEGRAM__TOKEN to your bot's token from BotFather (see \"Running on Telegram\" in the README), or run `signpost web` for the web portal alone"
        );
    };
    let flows = load_flows_for_talking(settings)?;
    let directory = Directory::open(&settings.database.url).await?;
    directory
        .refresh_occurrences(today_in_uk())
        .await
        .context("bringing event dates up to date")?;
    let listener = listen(settings).await?;
    let refresher = tokio::spawn(keep_dates_current(directory.clone()));
    let fetching = keep_feeds_fresh(directory.database(), settings);

    let parse = |key: &str, value: &str| {
        url::Url::parse(value).with_context(|| format!("{key} is not a URL"))
    };
    let api_url = match &settings.telegram.api_url {
        Some(url) => Some(parse("telegram.api_url", url)?),
        None => None,
    };
    let webhook = match &settings.telegram.webhook_url {
        Some(url) => Some(telegram::Webhook {
            url: parse("telegram.webhook_url", url)?,
            listen: settings.telegram.webhook_listen,
        }),
        None => None,
    };
    let options = telegram::Options {
        token,
        api_url,
        webhook,
        limits: if settings.telegram.throttle {
            teloxide::adaptors::throttle::Limits::default()
        } else {
            telegram::UNTHROTTLED
        },
        idle: std::time::Duration::from_secs(settings.session.idle_minutes * 60),
        today: Arc::new(today_in_uk),
    };
    let tally = Tally::utc();
    let (stop_counting, stopped) = tokio::sync::oneshot::channel::<()>();
    let counting = tokio::spawn(stats::keep_counts(
        tally.clone(),
        stats::Store::new(directory.database().clone()),
        std::time::Duration::from_secs(settings.stats.flush_seconds),
        async {
            let _ = stopped.await;
        },
    ));
    let bot = Bot::new(Arc::new(flows), directory.clone(), tally, Channel::Telegram);
    // The web portal stops when the bot does, however the bot stopped: on
    // the signal (after the replies in flight), or on an error.
    let (stop_web, web_stopped) = tokio::sync::watch::channel(false);
    let web = tokio::spawn(crate::web::serve(
        listener,
        web_state(directory.clone(), settings),
        async move {
            let mut web_stopped = web_stopped;
            let _ = web_stopped.wait_for(|stop| *stop).await;
        },
    ));
    let result = telegram::run(options, bot, shutdown_signal()).await;
    let _ = stop_web.send(true);
    match web.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "the web portal failed"),
        Err(err) => tracing::error!(error = %err, "the web portal stopped unexpectedly"),
    }
    refresher.abort();
    if let Some(fetching) = fetching {
        fetching.abort();
    }
    // The last counts are written before the database closes.
    let _ = stop_counting.send(());
    let _ = counting.await;
    directory.close().await;
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM (as systemd sends) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Rolls event dates forward once an hour, so that "this week" stays true
/// on a bot that runs for months. Refreshing is cheap when nothing changed.
async fn keep_dates_current(directory: Directory) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60 * 60));
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(err) = directory.refresh_occurrences(today_in_uk()).await {
            tracing::error!(error = %err, "could not bring event dates up to date");
        }
    }
}

/// The organisations' calendar feeds, fetched within the settings' limits.
pub fn calendar_feeds(database: &crate::database::Database, settings: &Settings) -> Feeds {
    let limits = crate::feeds::FetchLimits {
        local_addresses: settings.feeds.local_addresses,
        ..crate::feeds::FetchLimits::default()
    };
    Feeds::with_limits(database.clone(), limits)
}

/// Starts fetching every calendar feed a minute from now and then every
/// `feeds.refresh_minutes`, unless that is 0. Abort the task to stop it: a
/// fetch cut short changes nothing more than what it already queued.
fn keep_feeds_fresh(
    database: &crate::database::Database,
    settings: &Settings,
) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = settings.feeds.refresh_minutes;
    if minutes == 0 {
        return None;
    }
    let feeds = calendar_feeds(database, settings);
    let every = std::time::Duration::from_secs(minutes * 60);
    Some(tokio::spawn(async move {
        let start = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut ticks = tokio::time::interval_at(start, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = chrono::Utc::now().timestamp();
            if let Err(err) = feeds.refresh(today_in_uk(), now).await {
                tracing::error!(error = %err, "could not refresh the calendar feeds");
            }
        }
    }))
}

/// `signpost feeds refresh`: fetches every calendar feed now, printing a
/// line per feed; false if any could not be used.
pub async fn feeds_refresh(settings: &Settings) -> anyhow::Result<bool> {
    let directory = Directory::open(&settings.database.url).await?;
    let feeds = calendar_feeds(directory.database(), settings);
    let refreshed = feeds
        .refresh(today_in_uk(), chrono::Utc::now().timestamp())
        .await;
    directory.close().await;
    let refreshed = refreshed.context("refreshing the calendar feeds")?;
    let mut text = String::new();
    if refreshed.is_empty() {
        text.push_str("No organisation has given a calendar feed yet.\n");
    }
    for feed in &refreshed {
        // The host only: an address may be a secret link to the calendar.
        let host = url::Url::parse(&feed.url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        text.push_str(&format!(
            "{} (a calendar at {host}): {}\n",
            feed.organization_name, feed.outcome
        ));
    }
    write_out(&text)?;
    Ok(refreshed.iter().all(|feed| feed.succeeded))
}

/// `signpost flows check`: prints every problem; true if there are no errors.
pub fn check_flows(dir: &Path) -> bool {
    let (flows, diagnostics) = flow::check_dir(dir);
    print!("{diagnostics}");
    let errors = diagnostics.errors();
    let warnings = diagnostics.warnings();
    match flows {
        Some(flows) => {
            let steps: usize = flows.steps().count();
            let summary = format!(
                "{}: {} flows and {steps} steps are ready",
                dir.display(),
                flows.flows().count()
            );
            if warnings == 0 {
                println!("{summary}, with no problems.");
            } else {
                println!("{summary}, with {warnings} warning(s) worth a look.");
            }
        }
        None => println!(
            "{}: {errors} error(s) and {warnings} warning(s). Fix the errors, then run this check again.",
            dir.display()
        ),
    }
    errors == 0
}

/// `signpost migrate`: brings the database schema up to date.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let migrations = directory.migrate().await?;
    println!("The database is up to date ({migrations} migration(s) applied in all).");
    Ok(())
}

/// `signpost directory load-sample`: loads the bundled sample directory.
pub async fn load_sample(settings: &Settings) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let loaded = directory.load_sample(today_in_uk()).await?;
    print!("{}", describe_import(&loaded));
    println!(
        "Loaded the sample directory. It is made-up data for trying Signpost out: \
         remove it before real use."
    );
    Ok(())
}

/// "services: 3 added, 1 updated, 40 unchanged", one line per kind, then
/// each skipped record with its reason.
pub fn describe_import(summary: &crate::directory::ImportSummary) -> String {
    let mut text = String::new();
    for (kind, counts) in &summary.counts {
        text.push_str(&format!(
            "  {kind}: {} added, {} updated, {} unchanged\n",
            counts.added, counts.updated, counts.unchanged
        ));
    }
    for skipped in &summary.skipped {
        text.push_str(&format!(
            "  skipped {}: {}\n",
            skipped.record, skipped.reason
        ));
    }
    text
}

/// The attribution ONS postcode data asks for, the default for `geo import`.
pub const ONS_ATTRIBUTION: &str = "Contains OS data © Crown copyright and database right 2025; \
Contains Royal Mail data © Royal Mail copyright and database right 2025; \
Source: Office for National Statistics licensed under the Open Government Licence v.3.0";

/// `signpost directory import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Files to import, or HSDS datapackage folders.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
    /// The name to file the records under [default: each file's name without
    /// its extension]. Import the same data under the same name to update it.
    #[arg(long)]
    pub source: Option<String>,
    /// Give every service in the files this category (repeat for more):
    /// befriending, social-groups, peer-support, bereavement, carers,
    /// mental-wellbeing, older-people, young-people, lgbtq, phone-online,
    /// volunteering, physical-activity.
    #[arg(long = "category", value_name = "CATEGORY", value_parser = parse_category)]
    pub categories: Vec<crate::search::Category>,
    /// Import the valid records of a partly invalid file, listing the rest.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Publish new and changed services at once instead of leaving them for
    /// review.
    #[arg(long)]
    pub publish: bool,
    /// Treat this day as today [default: today in the UK].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
}

fn parse_category(text: &str) -> Result<crate::search::Category, String> {
    crate::search::Category::from_slug(text).ok_or_else(|| {
        format!(
            "unknown category; use one of {}",
            crate::search::Category::all_slugs()
        )
    })
}

/// `signpost directory import`: returns false if any file was refused.
pub async fn import(settings: &Settings, args: &ImportArgs) -> anyhow::Result<bool> {
    use crate::directory::import::{self, ImportOptions};
    let directory = Directory::open(&settings.database.url).await?;
    let today = args.date.unwrap_or_else(today_in_uk);
    let mut all_good = true;
    for path in &args.files {
        let source = match &args.source {
            Some(source) => source.clone(),
            None => source_name(path),
        };
        let options = ImportOptions {
            source: source.clone(),
            categories: args.categories.iter().copied().collect(),
        };
        println!("{}:", path.display());
        let (format, mut parsed) = match import::read(path, &options, today) {
            Ok(read) => read,
            Err(problem) => {
                println!("  refused: {problem}\n  Nothing was imported from this file.");
                all_good = false;
                continue;
            }
        };
        println!("  format: {} (source \"{source}\")", format.describe());
        if !parsed.problems.is_empty() {
            if !args.skip_invalid {
                for problem in &parsed.problems {
                    println!("  problem: {problem}");
                }
                println!(
                    "  refused: {} problem(s). Nothing was imported from this file. \
                     Mend the file, or give --skip-invalid to import the rest.",
                    parsed.problems.len()
                );
                all_good = false;
                continue;
            }
            for problem in std::mem::take(&mut parsed.problems) {
                parsed.batch.skipped.push(crate::directory::model::Skipped {
                    record: problem
                        .record
                        .clone()
                        .unwrap_or_else(|| problem.location.clone()),
                    reason: format!("{} ({})", problem.message, problem.location),
                });
            }
        }
        let options = crate::directory::WriteOptions {
            publish: args.publish,
            ..crate::directory::WriteOptions::new(today)
        };
        let summary = directory
            .write(&parsed.batch, &options)
            .await
            .with_context(|| format!("importing {}", path.display()))?;
        print!("{}", describe_import(&summary));
        if summary.changed_nothing() {
            println!("  Nothing changed: the directory already held all of it.");
        } else if !args.publish {
            println!(
                "  New and changed services wait for review. \
                 Publish them with: signpost directory publish --source {source}"
            );
        }
    }
    directory.close().await;
    Ok(all_good)
}

/// A file's name without its extension, as a source name.
fn source_name(path: &Path) -> String {
    let path = if path.file_name().is_some_and(|n| n == "datapackage.json") {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty() && s != ".")
        .unwrap_or_else(|| "import".to_owned())
}

/// Formats `directory export` can write.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// A JSON list of HSDS 3.0 services with everything nested.
    HsdsJson,
}

/// `signpost directory export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "hsds-json")]
    pub format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// `signpost directory export`: the published, unexpired directory.
pub async fn export(settings: &Settings, args: &ExportArgs) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let batch = directory.published(today_in_uk()).await?;
    let ExportFormat::HsdsJson = args.format;
    let json = crate::directory::export::hsds_services(&batch);
    let text = serde_json::to_string_pretty(&json)?;
    match &args.output {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
        None => write_out(&(text + "\n"))?,
    }
    Ok(())
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// How `directory search` writes results.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SearchFormat {
    /// Cards, as the bot shows them.
    Text,
    /// One JSON object with the results and the total.
    Json,
}

/// `signpost directory search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Near the first half of a postcode (HD1) or a town (Batley).
    #[arg(long, value_name = "OUTCODE|TOWN")]
    pub near: Option<String>,
    /// How far from --near to look [default: 10].
    #[arg(long, value_name = "N")]
    pub radius_km: Option<f64>,
    /// Only these categories (repeat for more).
    #[arg(long = "category", value_name = "CATEGORY", value_parser = parse_category)]
    pub categories: Vec<crate::search::Category>,
    /// When: today, tomorrow, this-week, this-weekend, any, evenings,
    /// daytime, or dates as 2026-12-01..2026-12-07; combine with commas
    /// (this-week,evenings).
    #[arg(long, value_name = "WHEN", default_value = "any")]
    pub when: String,
    /// Only free activities.
    #[arg(long)]
    pub free: bool,
    /// Only phone and online services.
    #[arg(long, conflicts_with = "in_person")]
    pub online: bool,
    /// Only activities at a place.
    #[arg(long)]
    pub in_person: bool,
    /// Only places with step-free access.
    #[arg(long)]
    pub step_free: bool,
    /// Words to look for in names and descriptions.
    #[arg(long, value_name = "WORDS")]
    pub text: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: SearchFormat,
    /// Results per page.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Which page, from 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub page: u16,
    /// Treat this day as today [default: today in the UK].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<NaiveDate>,
}

/// `signpost directory search`.
pub async fn search(settings: &Settings, args: &SearchArgs) -> anyhow::Result<()> {
    use crate::directory::{AreaMatch, Attendance, SearchQuery};
    let today = args.date.unwrap_or_else(today_in_uk);
    let mut query = SearchQuery::new(today);
    (query.dates, query.part_of_day) =
        crate::directory::query::parse_when(&args.when, today).map_err(anyhow::Error::msg)?;
    query.categories = args.categories.iter().copied().collect();
    if let Some(near) = &args.near {
        query.near = Some(
            crate::search::Area::parse(near)
                .ok_or_else(|| anyhow::anyhow!("--near needs an outcode such as HD1 or a town"))?,
        );
    }
    if let Some(radius) = args.radius_km {
        anyhow::ensure!(
            radius > 0.0 && radius <= 1000.0,
            "--radius-km must be more than 0 and at most 1000"
        );
        query.radius_km = radius;
    }
    query.free_only = args.free;
    query.step_free_only = args.step_free;
    query.attendance = match (args.online, args.in_person) {
        (true, _) => Attendance::Online,
        (_, true) => Attendance::InPerson,
        _ => Attendance::Any,
    };
    query.text = args.text.clone().filter(|t| !t.trim().is_empty());
    query.limit = usize::from(args.limit);
    query.offset = usize::from(args.page - 1) * query.limit;
    if args.date.is_none() {
        query.not_before = Some(chrono::Utc::now());
    }

    let directory = Directory::open(&settings.database.url).await?;
    directory.refresh_occurrences(today).await?;
    let found = directory.search(&query).await?;
    directory.close().await;
    let text = match args.format {
        SearchFormat::Json => {
            let listings: Vec<serde_json::Value> = found
                .listings
                .iter()
                .map(crate::directory::query::listing_json)
                .collect();
            let json = serde_json::json!({
                "total": found.total,
                "page": args.page,
                "area_known": found.area != AreaMatch::Unknown,
                "results": listings,
            });
            serde_json::to_string_pretty(&json)? + "\n"
        }
        SearchFormat::Text => {
            let mut text = String::new();
            if found.area == AreaMatch::Unknown {
                text.push_str(
                    "I don't know that place. Try the first half of a postcode, such as HD1, \
                     or a town name.\n",
                );
            } else if found.total == 0 {
                text.push_str("Nothing matches. Try a wider area, any day, or fewer filters.\n");
            } else {
                let first = query.offset + 1;
                let last = query.offset + found.listings.len();
                text.push_str(&format!(
                    "{} found; showing {first} to {last}.\n",
                    found.total
                ));
                for listing in &found.listings {
                    text.push('\n');
                    text.push_str(&crate::directory::card(listing, today));
                    text.push('\n');
                }
            }
            text
        }
    };
    write_out(&text)
}

/// `signpost directory publish`.
pub async fn publish(settings: &Settings, source: &str) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let published = directory.publish_source(source).await?;
    println!("Published {published} service(s) from \"{source}\".");
    Ok(())
}

/// `signpost directory refresh`.
pub async fn refresh(settings: &Settings) -> anyhow::Result<()> {
    let directory = Directory::open(&settings.database.url).await?;
    let written = directory.rebuild_occurrences(today_in_uk()).await?;
    println!("Rebuilt {written} occurrence(s), twelve weeks ahead.");
    Ok(())
}

/// `signpost geo import`.
pub async fn geo_import(
    settings: &Settings,
    file: &Path,
    dataset: Option<String>,
    attribution: &str,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = crate::directory::geo::parse_outcodes(&text)
        .map_err(|err| anyhow::anyhow!("{}: {err}. Nothing was imported.", file.display()))?;
    let dataset = dataset.unwrap_or_else(|| source_name(file));
    let directory = Directory::open(&settings.database.url).await?;
    let loaded = directory
        .import_outcodes(&dataset, attribution, &rows)
        .await?;
    println!("Loaded {loaded} outcode centres as \"{dataset}\".\nAttribution: {attribution}");
    Ok(())
}

/// `signpost safety eval`: the crisis detector's figures on a labelled file;
/// true if every target is met. Missed rows' texts are printed only when
/// asked for, and only to standard output, for the operator.
pub fn safety_eval(settings: &Settings, file: &Path, show_misses: bool) -> anyhow::Result<bool> {
    use crate::safety::{Evaluation, read_tsv};
    let flows = load_flows(&settings.flows.dir)?;
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = read_tsv(reader).with_context(|| format!("reading {}", file.display()))?;
    let evaluation = Evaluation::run(&flows.safety().detector, &rows);
    let mut out = format!(
        "{}: {} rows; support lines last checked {}\n\n",
        file.display(),
        rows.len(),
        flows.safety().resources.last_checked()
    );
    out.push_str(&evaluation.table());
    if show_misses {
        out.push_str(&format!("\nmisses ({}):\n", evaluation.misses.len()));
        for miss in &evaluation.misses {
            let got = miss.got.map_or("nothing", |tier| tier.as_str());
            let rules = if miss.rules.is_empty() {
                String::new()
            } else {
                format!(" ({})", miss.rules.join(", "))
            };
            out.push_str(&format!(
                "{}\t{} got {got}{rules}\t{}\n",
                miss.id,
                miss.label.as_str(),
                miss.text
            ));
        }
    } else if !evaluation.misses.is_empty() {
        out.push_str(&format!(
            "\n{} row(s) missed; add --misses to list them.\n",
            evaluation.misses.len()
        ));
    }
    write_out(&out)?;
    Ok(evaluation.meets_targets())
}

/// How `signpost stats` writes its report.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatsFormat {
    /// Columns for reading in a terminal.
    Table,
    /// One line per figure, a column per dimension, for spreadsheets.
    Csv,
    /// The whole report as one JSON object, for programs.
    Json,
}

/// `signpost stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// The first day to report on [default: 29 days before --to].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<NaiveDate>,
    /// The last day to report on [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<NaiveDate>,
    /// Group the counts by day, week (from Monday) or month. Urgent help
    /// and check-ins are always shown by whole month.
    #[arg(long, value_enum, default_value = "week")]
    pub by: Grouping,
    #[arg(long, value_enum, default_value = "table")]
    pub format: StatsFormat,
}

/// `signpost stats`: the usage report, every figure made safe to share.
pub async fn stats_report(settings: &Settings, args: &StatsArgs) -> anyhow::Result<()> {
    let today = chrono::Utc::now().date_naive();
    let request = match (args.from, args.to) {
        (None, to) => ReportRequest::last_days(to.unwrap_or(today), args.by),
        (Some(from), to) => ReportRequest::new(from, to.unwrap_or(today), args.by)?,
    };
    let store = stats::Store::open(&settings.database.url).await?;
    let report = store.report(&request).await?;
    let text = match args.format {
        StatsFormat::Table => stats::format::table(&report),
        StatsFormat::Csv => stats::format::csv(&report),
        StatsFormat::Json => stats::format::json(&report),
    };
    write_out(&text)
}

/// `signpost stats rollup`: folds daily counts older than 90 days into
/// monthly ones.
pub async fn stats_rollup(settings: &Settings, date: Option<NaiveDate>) -> anyhow::Result<()> {
    let today = date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let store = stats::Store::open(&settings.database.url).await?;
    let rolled = store.roll_up(today).await?;
    println!(
        "Rolled {} daily count(s) from before {} into monthly counts.",
        rolled.days_rolled_up, rolled.before
    );
    Ok(())
}

/// `signpost staff add`: a staff account, and the link that sets its
/// password, printed for the operator to pass on.
pub async fn staff_add(settings: &Settings, email: &str, base_url: &str) -> anyhow::Result<()> {
    use crate::accounts::{Accounts, Email};
    let email = Email::parse(email)?;
    let base = url::Url::parse(base_url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .with_context(|| {
            format!("--base-url {base_url:?} is not a web address: give one like https://signpost.example.org")
        })?;
    let accounts = Accounts::open(&settings.database.url).await?;
    let invitation = accounts
        .add_staff(&email, chrono::Utc::now().timestamp())
        .await?;
    println!(
        "Staff account for {email} is ready. Send them this link to set their password; \
         it works once, for {} hours:\n{}",
        crate::accounts::LINK_HOURS,
        invitation.link(base.as_str())
    );
    Ok(())
}
