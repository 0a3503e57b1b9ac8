//! The crisis detector, measured on labelled phrases.
//!
//! - `tests/safety/phrases.tsv`: our own UK-register phrases (older people,
//!   carers, young people, text-speak, idioms that must not trigger the
//!   crisis response). Each must get exactly its label's tier and, for
//!   crisis rows, the support line named in `first` at the top of the list.
//! - `../shared/data/crisis/crisis-eval-dev.tsv`: the development set of
//!   real texts (content warning). It must meet the three targets of the
//!   crisis-safety issue. It is not part of the repository, so the test
//!   says so and passes when it is absent.
//!
//! Run the same figures by hand with
//! `signpost safety eval tests/safety/phrases.tsv --misses`.

use std::path::{Path, PathBuf};

use signpost::flow::{self, FlowSet};
use signpost::safety::{EvalRow, Evaluation, Label, read_tsv};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped_flows() -> FlowSet {
    flow::load_dir(&root().join("flows"))
        .expect("shipped flows load")
        .0
}

fn read(path: &Path) -> Vec<EvalRow> {
    let file = std::fs::File::open(path).expect("the file opens");
    read_tsv(file).expect("the file is a labelled TSV")
}

fn dev_set() -> Option<PathBuf> {
    let path = root().join("../shared/data/crisis/crisis-eval-dev.tsv");
    if path.exists() {
        Some(path)
    } else {
        println!(
            "skipped: {} is absent (it is not part of the repository)",
            path.display()
        );
        None
    }
}

#[test]
fn every_own_phrase_gets_its_tier_and_the_right_line_first() {
    let flows = shipped_flows();
    let safety = flows.safety();
    let rows = read(&root().join("tests/safety/phrases.tsv"));
    assert!(
        rows.len() >= 60,
        "the phrases file should cover many registers"
    );
    let mut failures = Vec::new();
    for row in &rows {
        let assessment = safety.detector.assess(&row.text);
        if assessment.tier != row.label.tier() {
            failures.push(format!(
                "{}: expected {}, got {:?} from rules {:?}",
                row.id,
                row.label.as_str(),
                assessment.tier,
                assessment.rules
            ));
            continue;
        }
        let first = row
            .extra
            .iter()
            .find(|(name, _)| name == "first")
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty());
        if let Some(first) = first {
            let expected = safety
                .resources
                .line_of(first)
                .unwrap_or_else(|| panic!("{}: no resource called {first}", row.id));
            let shown = safety.resources.ordered(&assessment.concerns);
            if shown.first() != Some(&expected) {
                failures.push(format!(
                    "{}: expected {first} first, got {:?} (concerns {:?})",
                    row.id,
                    shown.first(),
                    assessment.concerns
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} phrase(s) got the wrong response:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_development_set_meets_the_three_targets() {
    let Some(path) = dev_set() else { return };
    let flows = shipped_flows();
    let evaluation = Evaluation::run(&flows.safety().detector, &read(&path));
    // Ids only: the rows are real people's words.
    let missed: Vec<String> = evaluation
        .misses
        .iter()
        .map(|m| format!("{} ({})", m.id, m.label.as_str()))
        .collect();
    assert!(
        evaluation.meets_targets(),
        "{}\nmissed: {}",
        evaluation.table(),
        missed.join(", ")
    );
    let crisis = evaluation.of(Label::Crisis);
    assert_eq!(
        crisis.crisis, crisis.rows,
        "every crisis row gets the crisis response"
    );
}

/// Lower-case words only, for comparing texts without their punctuation.
fn plain_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '\'' | '\u{2019}'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn neither_the_patterns_nor_our_phrases_quote_the_development_set() {
    let Some(path) = dev_set() else { return };
    const WINDOW: usize = 6;
    let ours: Vec<(String, String)> = [
        "flows/safety/en.toml",
        "flows/safety/resources.toml",
        "tests/safety/phrases.tsv",
    ]
    .iter()
    .map(|file| {
        let text = std::fs::read_to_string(root().join(file)).expect("file reads");
        (
            file.to_string(),
            format!(" {} ", plain_words(&text).join(" ")),
        )
    })
    .collect();
    let mut quoted = Vec::new();
    for row in read(&path) {
        let words = plain_words(&row.text);
        for window in words.windows(WINDOW) {
            let phrase = format!(" {} ", window.join(" "));
            for (file, text) in &ours {
                if text.contains(&phrase) {
                    quoted.push(format!(
                        "{file} has {WINDOW} words in a row from {}",
                        row.id
                    ));
                }
            }
        }
    }
    quoted.dedup();
    assert!(quoted.is_empty(), "{}", quoted.join("\n"));
}

#[test]
fn no_text_makes_the_detector_fail() {
    let flows = shipped_flows();
    let detector = &flows.safety().detector;
    let long = "a".repeat(100_000);
    let repeated = "kill ".repeat(5_000);
    let odd = [
        "",
        " ",
        "\u{0}",
        "\u{202e}die\u{202c}",
        "\u{1f62d}\u{1f62d}\u{1f62d}",
        "\u{130}M G\u{130}V\u{130}NG UP",
        long.as_str(),
        repeated.as_str(),
        "I\u{2019}m \u{201c}fine\u{201d}",
    ];
    for text in odd {
        let _ = detector.assess(text);
    }
}

#[test]
fn a_crisis_in_a_message_too_long_for_anything_else_still_gets_the_crisis_response() {
    use signpost::engine::{self, Event, Session};
    use signpost::message::{Inbound, MAX_MESSAGE_BYTES, UserText};

    let flows = shipped_flows();
    let mut text = "I want to end my life. ".to_owned();
    while text.len() <= MAX_MESSAGE_BYTES {
        text.push_str("Everything is too much. ");
    }
    let turn = engine::handle(
        &flows,
        Session::default(),
        Inbound::Text(UserText::new(&text)),
    );
    assert!(
        turn.events
            .contains(&Event::CrisisResponse { repeat: false }),
        "{:?}",
        turn.events
    );
    assert!(!turn.events.contains(&Event::MessageTooLong));
    let shown = &turn.replies[0].text;
    assert!(
        shown.contains("116 123") && shown.contains("999"),
        "{shown}"
    );
}

#[test]
fn no_option_of_the_shipped_flows_sets_off_the_crisis_check() {
    let flows = shipped_flows();
    let detector = &flows.safety().detector;
    let mut flagged = Vec::new();
    for (at, options) in flows.steps() {
        for index in 0..options {
            let label = flows.option_label(at, index).unwrap_or_default();
            if let Some(tier) = detector.assess(&label).tier {
                flagged.push(format!("{label:?} gets {}", tier.as_str()));
            }
        }
    }
    assert!(
        flagged.is_empty(),
        "typing these options would be taken as a crisis: {flagged:?}"
    );
}

/// Sends typed messages one after another and returns the safety events of
/// each turn.
fn safety_events(flows: &FlowSet, messages: &[&str]) -> Vec<Vec<signpost::engine::Event>> {
    use signpost::engine::{self, After, Event, Session};
    use signpost::message::{Inbound, UserText};

    let mut session = Session::default();
    let mut all = Vec::new();
    for message in messages {
        let turn = engine::handle(flows, session, Inbound::Text(UserText::new(message)));
        all.push(
            turn.events
                .into_iter()
                .filter(|e| matches!(e, Event::CrisisResponse { .. } | Event::CheckIn { .. }))
                .collect(),
        );
        session = match turn.after {
            After::Wait(session) | After::Search(session, _) => session,
            After::Ended | After::Forgotten => Session::default(),
        };
    }
    all
}

#[test]
fn a_check_in_long_after_the_last_is_asked_in_full_again() {
    use signpost::engine::{Event, REPEAT_WITHIN_MESSAGES};
    let flows = shipped_flows();
    let mut messages = vec!["I can't go on"];
    let quiet = usize::try_from(REPEAT_WITHIN_MESSAGES).unwrap() + 1;
    messages.extend(std::iter::repeat_n("/menu", quiet));
    messages.push("I can't go on");
    let events = safety_events(&flows, &messages);
    assert_eq!(events[0], [Event::CheckIn { repeat: false }]);
    assert_eq!(
        events.last().unwrap(),
        &[Event::CheckIn { repeat: false }],
        "after {quiet} quiet messages the question is asked again, not the short reply"
    );
}

#[test]
fn check_ins_that_keep_coming_add_up_to_a_crisis() {
    use signpost::engine::Event;
    let flows = shipped_flows();
    let events = safety_events(
        &flows,
        &[
            "I can't go on",
            "/menu",
            "im a burden",
            "/menu",
            "what's the point in anything",
        ],
    );
    assert_eq!(events[0], [Event::CheckIn { repeat: false }]);
    assert_eq!(events[2], [Event::CheckIn { repeat: true }]);
    assert_eq!(events[4], [Event::CrisisResponse { repeat: false }]);
}
