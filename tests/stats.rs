//! Usage counts: counted once per conversation and day, kept in memory
//! until written in one transaction, rolled up after 90 days, and read
//! back into reports, on both backends (a fresh database per test).

mod common;

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use common::TestDatabase;
use signpost::bot::Bot;
use signpost::channel::console::Console;
use signpost::directory::Directory;
use signpost::flow::FlowSet;
use signpost::stats::{
    self, Channel, Counted, Counter, Grouping, ReportRequest, Shown, Store, StoredPeriod, Tally,
};

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn flows() -> Arc<FlowSet> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let (flows, _) = signpost::flow::load_dir(&dir).expect("the shipped flows load");
    Arc::new(flows)
}

/// A tally whose day the test moves by hand.
fn tally_on(day: &str) -> (Tally, Arc<Mutex<NaiveDate>>) {
    let today = Arc::new(Mutex::new(date(day)));
    let clock = Arc::clone(&today);
    (Tally::new(move || *clock.lock().unwrap()), today)
}

/// Records `counter` as `conversations` different conversations would.
fn count(tally: &Tally, counter: &Counter, conversations: u64) {
    for _ in 0..conversations {
        tally.record(&mut Counted::default(), [counter.clone()]);
    }
}

fn started() -> Counter {
    Counter::ConversationStarted {
        channel: Channel::Console,
    }
}

async fn store(db: &TestDatabase) -> Store {
    Store::open(&db.url).await.expect("the database opens")
}

/// The stored rows as (period, start, event, count), sorted.
async fn stored(store: &Store) -> Vec<(StoredPeriod, String, String, u64)> {
    let mut rows: Vec<_> = store
        .rows(date("2000-01-01"), date("2100-01-01"))
        .await
        .expect("rows read back")
        .into_iter()
        .map(|row| (row.period, row.start.to_string(), row.event, row.count))
        .collect();
    rows.sort();
    rows
}

/// The pending count of `event` with these (canonical) dimensions.
fn pending(tally: &Tally, event: &str, dimensions: &str) -> u64 {
    tally
        .pending()
        .iter()
        .filter(|(key, _)| key.event == event && key.dimensions == dimensions)
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn one_conversation_choosing_the_same_option_twice_counts_once_and_two_count_twice() {
    let (tally, _) = tally_on("2026-11-24");
    let directory = Directory::in_memory().await.unwrap();
    let bot = Bot::new(flows(), directory, tally.clone(), Channel::Console);
    let mut console = Console::new(
        bot,
        date("2026-11-24"),
        std::time::Duration::from_secs(1800),
    );
    let menu_option_one = r#"{"flow":"main","option":"1","step":"menu"}"#;

    for line in ["/start", "1", "/menu", "1"] {
        console.send(line.as_bytes()).await;
    }
    assert_eq!(pending(&tally, "option_chosen", menu_option_one), 1);
    assert_eq!(
        pending(&tally, "step_reached", r#"{"flow":"main","step":"menu"}"#),
        1
    );

    // /stop ends the conversation: the next one is counted afresh.
    for line in ["/stop", "/start", "1", "/start", "1"] {
        console.send(line.as_bytes()).await;
    }
    assert_eq!(pending(&tally, "option_chosen", menu_option_one), 2);
    assert_eq!(
        pending(&tally, "conversation_started", r#"{"channel":"console"}"#),
        2
    );
    assert_eq!(pending(&tally, "command_used", r#"{"command":"stop"}"#), 1);
}

#[tokio::test]
async fn searches_are_counted_by_listed_area_or_only_as_typed_and_gaps_are_noted() {
    let (tally, _) = tally_on("2026-11-24");
    let directory = Directory::in_memory().await.unwrap();
    let bot = Bot::new(flows(), directory, tally.clone(), Channel::Console);
    let mut console = Console::new(
        bot,
        date("2026-11-24"),
        std::time::Duration::from_secs(1800),
    );
    // Chosen from the list, then typed, in an empty directory.
    for line in ["/start", "1", "1", "1", "1", "/stop"] {
        console.send(line.as_bytes()).await;
    }
    for line in ["/start", "1", "Marsden", "1", "2", "/stop"] {
        console.send(line.as_bytes()).await;
    }
    let listed = r#"{"area":"Huddersfield","category":"social-groups","when":"today"}"#;
    let typed = r#"{"area":"typed","category":"social-groups","when":"tomorrow"}"#;
    assert_eq!(pending(&tally, "search_made", listed), 1);
    assert_eq!(pending(&tally, "search_made", typed), 1);
    assert_eq!(pending(&tally, "no_results", listed), 1);
    assert_eq!(pending(&tally, "no_results", typed), 1);
    assert_eq!(
        pending(
            &tally,
            "results_shown",
            r#"{"flow":"find","results":"0","step":"results"}"#
        ),
        2
    );
    let everything = format!("{:?}", tally.pending()).to_lowercase();
    assert!(!everything.contains("marsden"), "{everything}");
}

#[tokio::test]
async fn urgent_help_is_counted_only_as_urgent_help_never_by_its_steps_or_buttons() {
    let (tally, _) = tally_on("2026-11-24");
    let directory = Directory::in_memory().await.unwrap();
    let bot = Bot::new(flows(), directory, tally.clone(), Channel::Console);
    let mut console = Console::new(
        bot,
        date("2026-11-24"),
        std::time::Duration::from_secs(1800),
    );
    // The menu's urgent help button, then /urgent, in one conversation.
    for line in ["/start", "9", "/urgent"] {
        console.send(line.as_bytes()).await;
    }
    assert_eq!(pending(&tally, "urgent_help_shown", "{}"), 1);
    for (key, _) in tally.pending() {
        assert!(
            !key.dimensions.contains("urgent"),
            "urgent help shows in {} {}",
            key.event,
            key.dimensions
        );
        assert!(
            key.dimensions != r#"{"flow":"main","option":"9","step":"menu"}"#,
            "the urgent help button is counted by day"
        );
    }
}

backend_tests! {
    async fn nothing_is_written_until_a_flush_which_writes_everything_once(db: TestDatabase) {
        let store = store(&db).await;
        let (tally, _) = tally_on("2026-11-24");
        count(&tally, &started(), 3);
        count(&tally, &Counter::UrgentHelpShown, 2);
        assert!(stored(&store).await.is_empty(), "recording does not write");

        assert_eq!(tally.flush(&store).await.unwrap(), 2);
        assert!(tally.pending().is_empty());
        count(&tally, &started(), 1);
        tally.flush(&store).await.unwrap();
        assert_eq!(
            stored(&store).await,
            [
                (StoredPeriod::Day, "2026-11-24".into(), "conversation_started".into(), 4),
                (StoredPeriod::Day, "2026-11-24".into(), "urgent_help_shown".into(), 2),
            ]
        );
        assert_eq!(tally.flush(&store).await.unwrap(), 0, "nothing left to write");
    }

    async fn a_failed_flush_writes_nothing_and_keeps_the_counts_for_the_next(db: TestDatabase) {
        let store = store(&db).await;
        let (tally, _) = tally_on("2026-11-24");
        count(&tally, &started(), 3);
        // Written after conversation_started, in the same transaction.
        count(&tally, &Counter::ForgetUsed { channel: Channel::Console }, 1);
        refuse_forget_used(&db, true).await;
        assert!(tally.flush(&store).await.is_err());
        assert!(stored(&store).await.is_empty(), "the rows before the failure were rolled back");
        assert_eq!(tally.pending().len(), 2, "the counts wait for the next flush");

        refuse_forget_used(&db, false).await;
        tally.flush(&store).await.unwrap();
        assert_eq!(
            stored(&store).await,
            [
                (StoredPeriod::Day, "2026-11-24".into(), "conversation_started".into(), 3),
                (StoredPeriod::Day, "2026-11-24".into(), "forget_used".into(), 1),
            ]
        );
    }

    async fn days_older_than_90_become_months_once_and_totals_stay_the_same(db: TestDatabase) {
        let store = store(&db).await;
        let (tally, today) = tally_on("2026-08-01");
        for (day, conversations) in [
            ("2026-07-31", 2),
            ("2026-08-01", 3),
            ("2026-08-20", 4),
            // 90 days before 2026-11-23: the first day kept by day.
            ("2026-08-25", 2),
            ("2026-08-26", 5),
            ("2026-11-23", 1),
        ] {
            *today.lock().unwrap() = date(day);
            count(&tally, &started(), conversations);
        }
        tally.flush(&store).await.unwrap();
        let total = |rows: &[(StoredPeriod, String, String, u64)]| -> u64 {
            rows.iter().map(|row| row.3).sum()
        };
        let before = stored(&store).await;
        assert_eq!(total(&before), 17);

        let rolled = store.roll_up(date("2026-11-23")).await.unwrap();
        assert_eq!(rolled.before, date("2026-08-25"));
        assert_eq!(rolled.days_rolled_up, 3);
        let after = stored(&store).await;
        let started = "conversation_started".to_owned();
        assert_eq!(
            after,
            [
                (StoredPeriod::Day, "2026-08-25".into(), started.clone(), 2),
                (StoredPeriod::Day, "2026-08-26".into(), started.clone(), 5),
                (StoredPeriod::Day, "2026-11-23".into(), started.clone(), 1),
                (StoredPeriod::Month, "2026-07-01".into(), started.clone(), 2),
                (StoredPeriod::Month, "2026-08-01".into(), started.clone(), 7),
            ]
        );
        assert_eq!(total(&after), total(&before));

        let again = store.roll_up(date("2026-11-23")).await.unwrap();
        assert_eq!(again.days_rolled_up, 0);
        assert_eq!(stored(&store).await, after, "running it again changes nothing");

        // A day rolled up later adds to its month rather than replacing it.
        let rolled = store.roll_up(date("2026-11-25")).await.unwrap();
        assert_eq!(rolled.days_rolled_up, 2);
        let months: Vec<_> = stored(&store)
            .await
            .into_iter()
            .filter(|row| row.0 == StoredPeriod::Month)
            .collect();
        assert_eq!(months[1], (StoredPeriod::Month, "2026-08-01".into(), started, 14));
    }

    async fn a_month_partly_rolled_up_reads_as_one_month_with_its_later_days(db: TestDatabase) {
        let store = store(&db).await;
        let (tally, today) = tally_on("2026-08-10");
        count(&tally, &started(), 9);
        *today.lock().unwrap() = date("2026-08-28");
        count(&tally, &started(), 5);
        count(&tally, &Counter::UrgentHelpShown, 3);
        *today.lock().unwrap() = date("2026-09-02");
        count(&tally, &Counter::UrgentHelpShown, 6);
        tally.flush(&store).await.unwrap();
        store.roll_up(date("2026-11-20")).await.unwrap();

        let by_month = ReportRequest::new(date("2026-08-01"), date("2026-08-31"), Grouping::Month).unwrap();
        let report = store.report(&by_month).await.unwrap();
        let august: Vec<_> = report
            .rows
            .iter()
            .filter(|row| row.event == "conversation_started")
            .map(|row| (row.period.label.as_str(), row.count))
            .collect();
        assert_eq!(august, [("2026-08", Shown::Rounded(15))], "9 rolled up + 5 by day");

        let by_day = ReportRequest::new(date("2026-08-01"), date("2026-08-31"), Grouping::Day).unwrap();
        let report = store.report(&by_day).await.unwrap();
        let rows: Vec<_> = report
            .rows
            .iter()
            .map(|row| (row.event.as_str(), row.period.label.as_str(), row.count))
            .collect();
        assert_eq!(
            rows,
            [
                ("conversation_started", "2026-08", Shown::Rounded(10)),
                ("conversation_started", "2026-08-28", Shown::FewerThanEight),
                ("urgent_help_shown", "2026-08", Shown::FewerThanEight),
                ("check_in_shown", "2026-08", Shown::Zero),
            ]
        );
        let total = report
            .totals
            .iter()
            .find(|t| t.event == "conversation_started" && t.dimensions.is_none())
            .unwrap();
        assert_eq!(total.count, Shown::Rounded(15));
        assert!(report.notes.iter().any(|n| n.contains("older than 90 days")));
    }

    async fn the_counts_writer_writes_what_is_left_when_stopped(db: TestDatabase) {
        let store = store(&db).await;
        let (tally, _) = tally_on("2026-11-24");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let writer = tokio::spawn(stats::keep_counts(
            tally.clone(),
            store.clone(),
            std::time::Duration::from_secs(3600),
            async {
                let _ = stopped.await;
            },
        ));
        count(&tally, &started(), 2);
        stop.send(()).unwrap();
        writer.await.unwrap();
        assert_eq!(
            stored(&store).await,
            [(StoredPeriod::Day, "2026-11-24".into(), "conversation_started".into(), 2)]
        );
        assert!(tally.pending().is_empty());
    }
}

/// Makes the database refuse (or accept again) rows of `forget_used`, to
/// make a flush fail part of the way through.
async fn refuse_forget_used(db: &TestDatabase, refuse: bool) {
    let statements: &[&str] = match (db.url.starts_with("postgres"), refuse) {
        (false, true) => &["CREATE TRIGGER refuse BEFORE INSERT ON usage_count \
             WHEN NEW.event = 'forget_used' BEGIN SELECT RAISE(ABORT, 'refused'); END"],
        (false, false) => &["DROP TRIGGER refuse"],
        (true, true) => &[
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
             IF NEW.event = 'forget_used' THEN RAISE EXCEPTION 'refused'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON usage_count \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
        (true, false) => &["DROP TRIGGER refuse ON usage_count"],
    };
    for statement in statements {
        if db.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::raw_sql(*statement).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::raw_sql(*statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

#[test]
fn privacy_md_lists_every_declared_counter_with_its_dimensions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("PRIVACY.md");
    let text = std::fs::read_to_string(path).expect("PRIVACY.md is there");
    for declared in stats::DECLARED {
        let row = text
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", declared.event)))
            .unwrap_or_else(|| panic!("PRIVACY.md has no row for {}", declared.event));
        for dimension in declared.dimensions {
            assert!(
                row.contains(&format!("`{dimension}`")),
                "PRIVACY.md's row for {} lacks {dimension}",
                declared.event
            );
        }
    }
}
