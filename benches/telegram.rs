//! The Telegram channel end to end against the fake Bot API on loopback:
//! how many updates a second the bot handles (teloxide's dispatcher, our
//! rendering, the engine and sample-directory searches, HTTP both ways),
//! and how much memory each idle conversation holds.
//!
//! Run: `cargo bench --bench telegram`. Throttling is off (the limits are
//! raised out of the way), since Telegram's own limits would measure
//! Telegram. It is a measurement, not a test: nothing fails on a slow
//! machine.

#[path = "../tests/fake_telegram/mod.rs"]
mod fake_telegram;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use fake_telegram::{FakeTelegram, TOKEN};
use secrecy::SecretString;
use serde_json::{Value, json};
use signpost::bot::Bot;
use signpost::channel::telegram::{self, Options};
use signpost::directory::Directory;
use signpost::stats::{Channel, Tally};

/// One scripted conversation: menus, a search, urgent help, a stop.
const SCRIPT: [&str; 20] = [
    "/start", "1", "1", "1", "1", "/menu", "2", "2", "/menu", "1", "hd1", "1", "3", "/menu", "6",
    "1", "Batley", "/urgent", "1", "/stop",
];

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("a real date")
}

/// The resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

struct Updates {
    template: Value,
    message_id: i64,
}

impl Updates {
    fn text(&mut self, chat: i64, text: &str) -> Value {
        self.message_id += 1;
        let mut update = self.template.clone();
        update["message"]["message_id"] = json!(self.message_id);
        update["message"]["chat"]["id"] = json!(chat);
        update["message"]["from"]["id"] = json!(chat);
        update["message"]["text"] = json!(text);
        update
    }
}

async fn wait_for_sent(fake: &FakeTelegram, count: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while fake.sent_count() < count {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (chats, idle_chats) = if quick {
        (200, 10_000)
    } else {
        (1_000, 100_000)
    };

    let fake = FakeTelegram::start_counting().await;
    let directory = Directory::in_memory().await.expect("a directory");
    directory.load_sample(today()).await.expect("the sample");
    let flows_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let (flows, _) = signpost::flow::load_dir(&flows_dir).expect("the flows load");
    let options = Options {
        token: SecretString::from(TOKEN),
        api_url: Some(fake.url().parse().expect("a URL")),
        webhook: None,
        limits: telegram::UNTHROTTLED,
        idle: Duration::from_secs(30 * 60),
        today: Arc::new(today),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(telegram::run(
        options,
        Bot::new(Arc::new(flows), directory, Tally::utc(), Channel::Telegram),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut updates = Updates {
        template: fake_telegram::fixture("private-text"),
        message_id: 0,
    };

    // Warm up: one conversation, so every code path has run once.
    for line in SCRIPT {
        fake.push(updates.text(1, line));
    }
    assert!(
        wait_for_sent(&fake, SCRIPT.len(), Duration::from_secs(60)).await,
        "the warm-up conversation was answered"
    );

    // Throughput: many conversations at once, each in order.
    let before = fake.sent_count();
    let total = chats * SCRIPT.len();
    let started = Instant::now();
    for line in SCRIPT {
        for chat in 0..chats {
            fake.push(updates.text(10_000 + chat as i64, line));
        }
    }
    let finished = wait_for_sent(&fake, before + total, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    println!(
        "throughput: {total} updates from {chats} chats answered in {:.2} s: {:.0} updates/s{}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        if finished { "" } else { " (NOT all answered)" }
    );

    // Memory: idle conversations, each after one message. The first batch
    // warms the allocator; the figure is the growth over the rest.
    let batch = 2_000;
    let warm = 10_000.min(idle_chats / 2);
    let mut base = 0;
    let mut sent = fake.sent_count();
    let mut chat = 1_000_000_i64;
    for done in (0..warm + idle_chats).step_by(batch) {
        if done == warm {
            base = resident_bytes();
        }
        for _ in 0..batch {
            chat += 1;
            fake.push(updates.text(chat, "/start"));
        }
        sent += batch;
        assert!(
            wait_for_sent(&fake, sent, Duration::from_secs(120)).await,
            "each /start was answered"
        );
    }
    let grown = resident_bytes().saturating_sub(base);
    println!(
        "memory: {idle_chats} more idle conversations grew resident memory by {:.1} MiB: {:.0} bytes each",
        grown as f64 / (1024.0 * 1024.0),
        grown as f64 / idle_chats as f64
    );
    println!(
        "resident memory in all: {:.1} MiB",
        resident_bytes() as f64 / (1024.0 * 1024.0)
    );

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
}
