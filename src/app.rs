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
use crate::flow::{self, FlowSet};

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

/// `signpost chat`: a conversation in the terminal.
pub async fn chat(settings: &Settings, demo: bool) -> anyhow::Result<()> {
    let flows = load_flows(&settings.flows.dir)?;
    let directory = if demo {
        let directory = Directory::in_memory().await?;
        directory
            .load_sample()
            .await
            .context("loading the sample directory")?;
        directory
    } else {
        Directory::open(&settings.database.url).await?
    };
    let today = settings.chat.date.unwrap_or_else(today_in_uk);
    let idle = std::time::Duration::from_secs(settings.session.idle_minutes * 60);
    let console = Console::new(Bot::new(Arc::new(flows), directory), today, idle);
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
    match result {
        // Whoever reads the output has stopped (as `| head` does): that is
        // the end of the conversation, not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("reading the conversation from standard input or writing it out"),
    }
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
    let loaded = directory.load_sample().await?;
    println!(
        "Loaded the sample directory: {} organisations, {} places and {} activities.\n\
         It is made-up data for trying Signpost out: remove it before real use.",
        loaded.organisations, loaded.places, loaded.activities
    );
    Ok(())
}
