//! Golden transcripts: whole conversations through the real engine and a
//! real SQLite directory holding the sample data.
//!
//! Each file in `tests/transcripts/` starts with `#` comment lines (a
//! `# date: YYYY-MM-DD` line fixes "today"), then alternates `> ` lines (what
//! the person sends) with the bot's replies as the console prints them
//! (`# directory: empty` runs it against an empty directory). The
//! test replays the `> ` lines and compares the whole file. After a deliberate
//! change of wording, rewrite the files with
//!
//! ```text
//! UPDATE_TRANSCRIPTS=1 cargo test --test transcripts
//! ```
//!
//! and read the diff before committing it. The test also checks that the
//! transcripts together reach every step and choose every option of the
//! shipped flows, so a new step or option needs a transcript too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use signpost::bot::Bot;
use signpost::channel::console::Console;
use signpost::directory::Directory;
use signpost::engine::Event;
use signpost::flow::{self, FlowSet};
use signpost::stats::{Channel, Tally};

struct Transcript {
    header: Vec<String>,
    date: NaiveDate,
    /// `# directory: empty` runs the conversation with nothing in the
    /// directory, to reach the steps shown when a search finds nothing.
    empty_directory: bool,
    inputs: Vec<String>,
}

fn parse(path: &Path, text: &str) -> Transcript {
    let mut header = Vec::new();
    let mut date = None;
    let mut empty_directory = false;
    let mut inputs = Vec::new();
    for line in text.lines() {
        if inputs.is_empty() && line.starts_with('#') {
            if let Some(value) = line.strip_prefix("# date:") {
                date =
                    Some(value.trim().parse().unwrap_or_else(|err| {
                        panic!("{}: bad date {value:?}: {err}", path.display())
                    }));
            }
            if let Some(value) = line.strip_prefix("# directory:") {
                assert_eq!(
                    value.trim(),
                    "empty",
                    "{}: the only directory option is `empty`",
                    path.display()
                );
                empty_directory = true;
            }
            header.push(line.to_owned());
        } else if let Some(input) = line.strip_prefix("> ") {
            inputs.push(input.to_owned());
        } else if line == ">" {
            inputs.push(String::new());
        }
    }
    let date =
        date.unwrap_or_else(|| panic!("{}: add a `# date: YYYY-MM-DD` line", path.display()));
    assert!(
        !inputs.is_empty(),
        "{}: no `> ` lines to send",
        path.display()
    );
    Transcript {
        header,
        date,
        empty_directory,
        inputs,
    }
}

async fn replay(flows: &Arc<FlowSet>, transcript: &Transcript, events: &mut Vec<Event>) -> String {
    let directory = Directory::in_memory().await.expect("in-memory database");
    if !transcript.empty_directory {
        directory
            .load_sample(transcript.date)
            .await
            .expect("sample directory loads");
    }
    let bot = Bot::new(Arc::clone(flows), directory, Tally::utc(), Channel::Console);
    let mut console = Console::new(
        bot,
        transcript.date,
        std::time::Duration::from_secs(30 * 60),
    );
    let mut out = transcript.header.join("\n");
    out.push('\n');
    for input in &transcript.inputs {
        let (reply, turn_events) = console.send(input.as_bytes()).await;
        events.extend(turn_events);
        out.push_str(&format!("> {input}\n"));
        if !reply.is_empty() {
            out.push_str(&reply);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn shipped_flows_match_their_transcripts_and_every_path_is_covered() {
    let (flows, warnings) = flow::load_dir(&root().join("flows")).expect("shipped flows load");
    assert!(
        warnings.is_empty(),
        "shipped flows have warnings:\n{warnings}"
    );
    let flows = Arc::new(flows);
    let update = std::env::var_os("UPDATE_TRANSCRIPTS").is_some();

    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("tests/transcripts"))
        .expect("tests/transcripts exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no transcripts found");

    let mut events = Vec::new();
    let mut failures = Vec::new();
    for path in &paths {
        let expected = std::fs::read_to_string(path).unwrap();
        let transcript = parse(path, &expected);
        let actual = replay(&flows, &transcript, &mut events).await;
        if actual != expected {
            if update {
                std::fs::write(path, &actual).unwrap();
            } else {
                let diff = similar::TextDiff::from_lines(&expected, &actual)
                    .unified_diff()
                    .context_radius(3)
                    .header("expected", "actual")
                    .to_string();
                failures.push(format!("{}:\n{diff}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} transcript(s) differ (run with UPDATE_TRANSCRIPTS=1 to accept a deliberate change):\n\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every step reached and every option chosen somewhere.
    let reached: BTreeSet<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepReached(at) => Some(*at),
            _ => None,
        })
        .collect();
    let chosen: BTreeSet<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::OptionChosen { step, index } => Some((*step, usize::from(*index))),
            _ => None,
        })
        .collect();
    let mut missing = Vec::new();
    for (at, options) in flows.steps() {
        let (flow_id, step_id) = flows.step_name(at);
        if !reached.contains(&at) {
            missing.push(format!("step {flow_id}/{step_id} is never reached"));
        }
        for index in 0..options {
            if !chosen.contains(&(at, index)) {
                let label = flows.option_label(at, index).unwrap_or_default();
                missing.push(format!(
                    "option {} ({label:?}) of {flow_id}/{step_id} is never chosen",
                    index + 1
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the transcripts miss {} path(s) of the shipped flows:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
