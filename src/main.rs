//! The `signpost` command: parses the command line and hands over to the
//! library (see `signpost::app`).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use signpost::config::{LogFormat, Overrides, Settings};

/// Signpost helps people who feel lonely find local support, anonymously.
///
/// Settings come from built-in defaults, then signpost.toml (or --config),
/// then SIGNPOST_<SECTION>__<KEY> environment variables, then these options.
#[derive(Parser)]
#[command(name = "signpost", version, propagate_version = true)]
struct Cli {
    /// Read settings from this TOML file instead of ./signpost.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The directory database, such as sqlite://signpost.db [setting: database.url].
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,

    /// The folder of conversation flows [setting: flows.dir; default: flows].
    #[arg(long, global = true, value_name = "DIR")]
    flows: Option<PathBuf>,

    /// How to write logs to standard error [setting: log.format]. RUST_LOG sets the level.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to the bot in this terminal, one message per line.
    ///
    /// Options are numbered: type the number or the words. Works piped too:
    /// printf '/start\n1\n' | signpost chat --demo
    Chat {
        /// Use an in-memory directory filled with made-up sample data.
        #[arg(long)]
        demo: bool,
        /// Treat this day as today, for repeatable conversations; usage
        /// counts are filed under it too [setting: chat.date].
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
    },
    /// Run the bot on Telegram (set SIGNPOST_TELEGRAM__TOKEN first), with
    /// the web portal beside it.
    ///
    /// Gets updates by long polling, or on a webhook when telegram.webhook_url
    /// is set. The web portal (home page, directory, open data API) listens
    /// on http.bind [default: 127.0.0.1:8080]. Stops cleanly on SIGTERM or
    /// Ctrl-C.
    Serve,
    /// Run only the web portal: the home page, the directory and the open
    /// data API (/services), with no Telegram token.
    ///
    /// Listens on http.bind [default: 127.0.0.1:8080]. Stops cleanly on
    /// SIGTERM or Ctrl-C.
    Web,
    /// Work with conversation flows.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// Create or update the database schema.
    Migrate,
    /// Work with the directory of organisations and activities.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// Work with place data, for "near HD1" searches.
    Geo {
        #[command(subcommand)]
        command: GeoCommand,
    },
    /// Check the crisis detector (flows/safety/).
    Safety {
        #[command(subcommand)]
        command: SafetyCommand,
    },
    /// Report the usage counts, made safe to share: counts of 1 to 7 show
    /// as <8 and the rest are rounded to the nearest 5.
    ///
    /// Covers the last 30 days by default, grouped by week. Urgent help and
    /// check-ins are shown only for the whole service, by calendar month.
    /// PRIVACY.md lists every counter.
    #[command(args_conflicts_with_subcommands = true)]
    Stats {
        #[command(subcommand)]
        command: Option<StatsCommand>,
        #[command(flatten)]
        report: signpost::app::StatsArgs,
    },
    /// Work with organisations' calendar feeds.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
    /// Manage staff accounts for the web portal.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Add a member of staff, and print a link that lets them set their
    /// password. The link works once, for 72 hours. Asking again for
    /// someone who has not set a password yet gives a new link.
    Add {
        /// Their email address; they sign in with it.
        email: String,
        /// The portal's address as people reach it, for the link.
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
        base_url: String,
    },
}

#[derive(Subcommand)]
enum FeedsCommand {
    /// Fetch every organisation's calendar feed now and put new, changed
    /// and removed events in the moderation queue, printing a line per
    /// feed. `signpost serve` and `signpost web` do this every
    /// feeds.refresh_minutes [default: 360].
    ///
    /// Exits with status 1 if any feed could not be fetched or read.
    Refresh,
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Fold daily counts older than 90 days into monthly counts, and delete
    /// the daily ones, in one transaction. `signpost serve` does this daily.
    Rollup {
        /// Treat this day as today [default: today, UTC].
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
    },
}

#[derive(Subcommand)]
enum SafetyCommand {
    /// Run the crisis detector over a labelled TSV file and print, per
    /// label, how many rows got the crisis response, a check-in or nothing.
    ///
    /// The file needs a header with `label` (crisis, check_in or no_crisis)
    /// and `text` columns, and usually `item_id`. Exits with status 1 if a
    /// target is not met. This is an operator's tool: with --misses it
    /// prints the text of each missed row to the terminal (never to a log),
    /// so run it only on evaluation files, never on real conversations.
    Eval {
        file: PathBuf,
        /// Also list each missed row with its id and text.
        #[arg(long)]
        misses: bool,
    },
}

#[derive(Subcommand)]
enum GeoCommand {
    /// Load outcode centres from a CSV file with outcode, lat and lon columns.
    ///
    /// Loading the same dataset again replaces it.
    Import {
        file: PathBuf,
        /// The name the rows are filed under [default: the file name].
        #[arg(long)]
        dataset: Option<String>,
        /// The attribution the data's licence asks for, kept with it.
        #[arg(long, default_value = signpost::app::ONS_ATTRIBUTION)]
        attribution: String,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Check flow files and list every problem with its file and line.
    ///
    /// Exits with status 1 if there is any error; warnings alone pass.
    Check {
        /// The folder to check [default: the flows setting].
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    /// Load the bundled sample directory (made-up Kirklees groups), replacing
    /// any earlier copy of it.
    LoadSample,
    /// Import HSDS 3.0 JSON, an HSDS CSV datapackage folder, an ORUK v1 feed
    /// or iCalendar files; the format is detected.
    ///
    /// Each file is written in one transaction. Importing the same file again
    /// changes nothing. A file with any invalid record is refused whole,
    /// unless --skip-invalid is given. New and changed services wait for
    /// review unless --publish is given.
    Import(signpost::app::ImportArgs),
    /// Write the published directory out.
    Export(signpost::app::ExportArgs),
    /// Search the directory as the bot does, from the command line.
    Search(signpost::app::SearchArgs),
    /// Publish every service from a source that is waiting for review.
    Publish {
        /// The source name the records were imported under.
        #[arg(long)]
        source: String,
    },
    /// Rebuild the dated occurrences of every schedule, twelve weeks ahead.
    ///
    /// The bot does this by itself each day; run it after changing the clock
    /// or to repair the table.
    Refresh,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let chat_date = match &cli.command {
        Command::Chat { date, .. } => *date,
        _ => None,
    };
    let overrides = Overrides {
        database_url: cli.database.clone(),
        flows_dir: cli.flows.clone(),
        log_format: cli.log_format,
        chat_date,
    };
    let settings = match Settings::load(cli.config.as_deref(), overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    // The console conversation shares the terminal with the logs: keep them quiet.
    let default_level = match cli.command {
        Command::Chat { .. } => "warn",
        _ => "info",
    };
    signpost::telemetry::init(settings.log.format, default_level);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Chat { demo, .. } => signpost::app::chat(&settings, demo).await.map(|()| true),
            Command::Flows {
                command: FlowsCommand::Check { dir },
            } => Ok(signpost::app::check_flows(
                dir.as_deref().unwrap_or(&settings.flows.dir),
            )),
            Command::Serve => signpost::app::serve(&settings).await.map(|()| true),
            Command::Web => signpost::app::web(&settings).await.map(|()| true),
            Command::Migrate => signpost::app::migrate(&settings).await.map(|()| true),
            Command::Directory { command } => match command {
                DirectoryCommand::LoadSample => {
                    signpost::app::load_sample(&settings).await.map(|()| true)
                }
                DirectoryCommand::Import(args) => signpost::app::import(&settings, &args).await,
                DirectoryCommand::Export(args) => {
                    signpost::app::export(&settings, &args).await.map(|()| true)
                }
                DirectoryCommand::Search(args) => {
                    signpost::app::search(&settings, &args).await.map(|()| true)
                }
                DirectoryCommand::Publish { source } => signpost::app::publish(&settings, &source)
                    .await
                    .map(|()| true),
                DirectoryCommand::Refresh => signpost::app::refresh(&settings).await.map(|()| true),
            },
            Command::Geo {
                command:
                    GeoCommand::Import {
                        file,
                        dataset,
                        attribution,
                    },
            } => signpost::app::geo_import(&settings, &file, dataset, &attribution)
                .await
                .map(|()| true),
            Command::Safety {
                command: SafetyCommand::Eval { file, misses },
            } => signpost::app::safety_eval(&settings, &file, misses),
            Command::Stats {
                command: Some(StatsCommand::Rollup { date }),
                ..
            } => signpost::app::stats_rollup(&settings, date)
                .await
                .map(|()| true),
            Command::Stats {
                command: None,
                report,
            } => signpost::app::stats_report(&settings, &report)
                .await
                .map(|()| true),
            Command::Feeds {
                command: FeedsCommand::Refresh,
            } => signpost::app::feeds_refresh(&settings).await,
            Command::Staff {
                command: StaffCommand::Add { email, base_url },
            } => signpost::app::staff_add(&settings, &email, &base_url)
                .await
                .map(|()| true),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
