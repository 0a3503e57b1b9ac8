//! The Telegram channel end to end: the real `serve` code path (teloxide's
//! dispatcher and throttle, our rendering and retries) against a fake Bot
//! API on loopback (`tests/fake_telegram/`), with the real flows and the
//! sample directory.

mod common;
mod fake_telegram;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use fake_telegram::{FakeTelegram, Fault, Sent, TOKEN, fixture, private, unescape};
use secrecy::SecretString;
use serde_json::json;
use signpost::bot::Bot;
use signpost::channel::telegram::{self, Options, TelegramError};
use signpost::directory::{Directory, WriteOptions};
use signpost::stats::{Channel, Tally};
use teloxide::adaptors::throttle::Limits;
use teloxide::types::{MediaKind, MessageKind, Update, UpdateKind};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("a real date")
}

/// Limits high enough that tests do not wait on the throttle, which still
/// runs: one message a second per chat would make each test take minutes.
const TEST_LIMITS: Limits = Limits {
    messages_per_sec_chat: 100,
    messages_per_min_chat: 6_000,
    messages_per_min_channel_or_supergroup: 6_000,
    messages_per_sec_overall: 1_000,
};

const WELCOME: &str = "What would you like to do?";
const BUTTON_EXPIRED: &str = "That button was from an earlier message, so here's where we are now.";

/// The bot running against a fake Bot API.
struct Running {
    fake: FakeTelegram,
    /// The usage counts the bot has recorded and not written.
    tally: Tally,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), TelegramError>>,
}

async fn sample_directory() -> Directory {
    let directory = Directory::in_memory()
        .await
        .expect("an in-memory directory");
    directory
        .load_sample(today())
        .await
        .expect("the sample loads");
    directory
}

async fn start() -> Running {
    start_with(sample_directory().await, None).await
}

async fn start_with(directory: Directory, webhook: Option<telegram::Webhook>) -> Running {
    let fake = FakeTelegram::start().await;
    let flows_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows");
    let (flows, _) = signpost::flow::load_dir(&flows_dir).expect("the shipped flows load");
    let options = Options {
        token: SecretString::from(TOKEN),
        api_url: Some(fake.url().parse().expect("a URL")),
        webhook,
        limits: TEST_LIMITS,
        idle: Duration::from_secs(30 * 60),
        today: Arc::new(today),
    };
    let tally = Tally::new(today);
    let (stop, stopped) = oneshot::channel::<()>();
    let mut task = tokio::spawn(telegram::run(
        options,
        Bot::new(Arc::new(flows), directory, tally.clone(), Channel::Telegram),
        async move {
            let _ = stopped.await;
        },
    ));
    let started = fake.wait_until("the bot has registered its commands", |fake| {
        !fake.calls("setMyCommands").is_empty()
    });
    tokio::select! {
        () = started => {}
        ended = &mut task => panic!("the bot stopped while starting: {ended:?}"),
    }
    Running {
        fake,
        tally,
        stop: Some(stop),
        task,
    }
}

impl Running {
    /// Asks the bot to stop and waits (at most 10 seconds) until it has.
    async fn stop(mut self) -> FakeTelegram {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let finished = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the bot stops within 10 seconds of being asked");
        finished
            .expect("the bot's task did not panic")
            .expect("the bot stopped without an error");
        self.fake
    }
}

fn labels(message: &Sent) -> Vec<&str> {
    message
        .buttons
        .iter()
        .map(|(label, _)| label.as_str())
        .collect()
}

fn text(message: &Sent) -> String {
    unescape(&message.text)
}

#[test]
fn every_fixture_parses_into_a_real_update_kind() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/telegram/updates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).expect("the fixtures folder") {
        let path = entry.expect("a fixture").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // Parsed from text, as teloxide parses what the Bot API sends.
        let raw = std::fs::read_to_string(&path).expect("a readable fixture");
        let update: Update = serde_json::from_str(&raw)
            .unwrap_or_else(|err| panic!("{name} is not an Update: {err}"));
        match (&update.kind, name.as_str()) {
            (UpdateKind::Error(_), "unknown-kind") => {}
            (UpdateKind::Error(_), _) => {
                // teloxide hides why; parsing the message alone tells.
                let raw = fixture(&name);
                let why = raw
                    .get("message")
                    .map(|m| serde_json::from_value::<teloxide::types::Message>(m.clone()));
                panic!("{name} did not parse: {why:?}");
            }
            (_, "unknown-kind") => panic!("unknown-kind parsed as a known kind"),
            (UpdateKind::Message(m) | UpdateKind::EditedMessage(m), _) => {
                let MessageKind::Common(common) = &m.kind else {
                    panic!("{name} parsed as {:?}, not an ordinary message", m.kind);
                };
                let expected = match name.as_str() {
                    "sticker" => matches!(common.media_kind, MediaKind::Sticker(_)),
                    "photo" => matches!(common.media_kind, MediaKind::Photo(_)),
                    "voice" => matches!(common.media_kind, MediaKind::Voice(_)),
                    "document" => matches!(common.media_kind, MediaKind::Document(_)),
                    "location" => matches!(common.media_kind, MediaKind::Location(_)),
                    "contact" => matches!(common.media_kind, MediaKind::Contact(_)),
                    _ => matches!(common.media_kind, MediaKind::Text(_)),
                };
                assert!(expected, "{name} parsed as the wrong kind of message");
            }
            (UpdateKind::ChannelPost(_), "channel-post")
            | (UpdateKind::CallbackQuery(_), "button-press")
            | (UpdateKind::MyChatMember(_), "blocked" | "unblocked") => {}
            (kind, _) => panic!("{name} parsed as an unexpected kind: {kind:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 16, "every fixture was checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_conversation_by_button_presses_finds_a_group_today() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_101;

    fake.text(chat, "/start");
    let messages = fake.wait_for_messages(chat, 1).await;
    assert_eq!(
        messages.len(),
        1,
        "the welcome and menu come as one message"
    );
    assert!(text(&messages[0]).contains(WELCOME));
    assert_eq!(messages[0].parse_mode.as_deref(), Some("HTML"));
    assert_eq!(
        labels(&messages[0]),
        [
            "Find something to do",
            "Someone to talk to",
            "I look after someone",
            "I've lost someone",
            "For young people",
            "For older people",
            "New to the area",
            "About and privacy",
            "I need urgent help"
        ]
    );
    for (_, data) in &messages[0].buttons {
        assert!(data.len() <= 64 && data.starts_with('o'), "{data}");
    }

    let mut expected = 1;
    for (press, answer) in [
        ("Find something to do", "Which area would suit you?"),
        ("Huddersfield", "What would you like to do?"),
        ("Meet people", "When would suit you?"),
        ("Today", "Knit and Natter"),
    ] {
        fake.press(chat, press);
        expected += 1;
        let messages = fake.wait_for_messages(chat, expected).await;
        let latest = messages.last().unwrap();
        assert!(
            text(latest).contains(answer),
            "after {press}: {}",
            text(latest)
        );
        // The pressed message now shows the choice and has no buttons.
        let pressed = &messages[messages.len() - 2];
        assert!(
            text(pressed).ends_with(&format!("✓ {press}")),
            "{}",
            text(pressed)
        );
        assert!(pressed.buttons.is_empty());
    }
    let results = fake.sent_to(chat).pop().unwrap();
    assert!(text(&results).contains("Every Tuesday, 10am to 12pm; next today"));
    assert!(labels(&results).contains(&"I need urgent help"));
    assert_eq!(
        fake.calls("answerCallbackQuery").len(),
        4,
        "every press is answered"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_by_typing_works_the_same() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_102;
    for (n, (typed, answer)) in [
        ("hello", WELCOME),
        ("1", "Which area would suit you?"),
        ("Batley", "What would you like to do?"),
        ("get active", "When would suit you?"),
        ("any day", "I found"),
    ]
    .into_iter()
    .enumerate()
    {
        fake.text(chat, typed);
        let messages = fake.wait_for_messages(chat, n + 1).await;
        let latest = text(messages.last().unwrap());
        assert!(latest.contains(answer), "after {typed:?}: {latest}");
    }
    assert!(
        fake.calls("editMessageText").is_empty(),
        "typing marks no buttons"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_directory_data_arrives_escaped() {
    let directory = sample_directory().await;
    let mut batch = signpost::directory::sample_batch().expect("the sample batch");
    let service = batch
        .services
        .iter_mut()
        .find(|s| s.name == "Knit and Natter")
        .expect("the sample has Knit and Natter");
    service.name = "Knit & <b>Natter</b> <script>alert(1)</script>".into();
    service.description = Some("Tea \"and\" <i>biscuits</i> & chat".into());
    let options = WriteOptions {
        publish: true,
        ..WriteOptions::new(today())
    };
    directory
        .write(&batch, &options)
        .await
        .expect("the edit is written");

    let bot = start_with(directory, None).await;
    let fake = &bot.fake;
    let chat = 424_242_103;
    for (n, typed) in ["/start", "1", "1", "1", "1"].into_iter().enumerate() {
        fake.text(chat, typed);
        fake.wait_for_messages(chat, n + 1).await;
    }
    let results = fake.sent_to(chat).pop().unwrap();
    // The fake refuses HTML Telegram would refuse, so arriving at all means
    // it was escaped; this shows how.
    assert!(
        results
            .text
            .contains("Knit &amp; &lt;b&gt;Natter&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        results.text
    );
    assert!(
        text(&results).contains("Tea \"and\" <i>biscuits</i> & chat"),
        "a person sees the text as it was written"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out_and_each_reply_arrives_once() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_104;
    for _ in 0..3 {
        fake.fail_next("sendMessage", Fault::TooManyRequests { retry_after: 1 });
    }
    fake.text(chat, "/start");
    fake.text(chat, "/help");
    let messages = fake.wait_for_messages(chat, 2).await;
    assert!(text(&messages[0]).contains(WELCOME));
    assert!(text(&messages[1]).contains("If you need help right now"));
    assert_eq!(fake.calls("sendMessage").len(), 5, "3 refused, then 2 sent");
    let fake = bot.stop().await;
    assert_eq!(fake.all_sent_to(chat).len(), 2, "nothing was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_and_a_dropped_connection_are_retried_without_losing_a_reply() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_105;
    fake.fail_next("sendMessage", Fault::ServerError);
    fake.fail_next("sendMessage", Fault::Disconnect);
    fake.text(chat, "/start");
    fake.text(chat, "/privacy");
    let messages = fake.wait_for_messages(chat, 2).await;
    assert!(text(&messages[0]).contains(WELCOME));
    assert!(text(&messages[1]).contains("automated service, run for local organisations"));
    let fake = bot.stop().await;
    assert_eq!(
        fake.all_sent_to(chat).len(),
        2,
        "nothing lost, nothing doubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_delivered_twice_is_answered_once() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_106;
    let mut update = private(fixture("private-text"), chat);
    update["message"]["text"] = json!("/start");
    let id = fake.push(update.clone());
    update["update_id"] = json!(id);
    fake.push_as_is(update);
    fake.text(chat, "/urgent");
    let messages = fake.wait_for_messages(chat, 2).await;
    assert!(text(&messages[0]).contains(WELCOME));
    assert!(text(&messages[1]).contains("116 123"));
    let fake = bot.stop().await;
    assert_eq!(fake.all_sent_to(chat).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_button_from_an_old_message_or_a_forgotten_conversation_restarts_kindly() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_107;
    fake.text(chat, "/start");
    let first = fake.wait_for_messages(chat, 1).await.remove(0);
    fake.press(chat, "Find something to do");
    fake.wait_for_messages(chat, 2).await;

    // The menu's buttons again, from the message that has moved on.
    let (_, data) = first.buttons[1].clone();
    fake.press_data(chat, &first, &data);
    let messages = fake.wait_for_messages(chat, 3).await;
    let reply = text(&messages[2]);
    assert!(reply.starts_with(BUTTON_EXPIRED), "{reply}");
    assert!(reply.contains("Which area would suit you?"), "{reply}");

    // A chat the bot has no conversation with (after a restart, say), and
    // data that is not ours at all.
    let stranger = 424_242_108;
    for (n, data) in ["o3.0", "not-ours"].into_iter().enumerate() {
        fake.press_data(stranger, &first, data);
        let messages = fake.wait_for_messages(stranger, n + 1).await;
        let reply = text(&messages[n]);
        assert!(reply.starts_with(BUTTON_EXPIRED), "{reply}");
        assert!(reply.contains(WELCOME), "{reply}");
    }
    assert_eq!(fake.calls("answerCallbackQuery").len(), 4);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stickers_photos_voice_files_contacts_and_locations_get_a_kind_reply() {
    let bot = start().await;
    let fake = &bot.fake;
    let cases = [
        ("sticker", "I can only read typed messages"),
        ("photo", "I can only read typed messages"),
        ("voice", "I can only read typed messages"),
        ("document", "I can only read typed messages"),
        ("contact", "I can only read typed messages"),
        ("location", "Thank you, but I don't use shared locations"),
    ];
    for (n, (kind, answer)) in cases.into_iter().enumerate() {
        let chat = 424_242_200 + n as i64;
        let mut update = private(fixture(kind), chat);
        // A caption is read as words; this case is about the picture.
        if let Some(message) = update["message"].as_object_mut() {
            message.remove("caption");
        }
        fake.push(update);
        let messages = fake.wait_for_messages(chat, 1).await;
        let reply = text(&messages[0]);
        assert!(reply.starts_with(answer), "{kind}: {reply}");
        assert!(reply.contains(WELCOME), "{kind}: the main menu follows");
        assert!(!reply.contains("53.64"), "a location is never repeated");
    }

    // In the middle of a question, the question is asked again.
    let chat = 424_242_210;
    fake.text(chat, "/start");
    fake.wait_for_messages(chat, 1).await;
    fake.press(chat, "Find something to do");
    fake.wait_for_messages(chat, 2).await;
    fake.push(private(fixture("sticker"), chat));
    let messages = fake.wait_for_messages(chat, 3).await;
    assert!(text(&messages[2]).starts_with("I can only read typed messages"));
    assert!(labels(&messages[2]).contains(&"Huddersfield"));

    // Words under a picture are read, and checked for crisis first.
    let chat = 424_242_211;
    let mut photo = private(fixture("photo"), chat);
    photo["message"]["caption"] = json!("i want to end it all");
    fake.push(photo);
    let messages = fake.wait_for_messages(chat, 1).await;
    assert!(text(&messages[0]).contains("Samaritans: call 116 123"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_group_the_bot_reads_nothing_and_answers_a_command_once() {
    let bot = start().await;
    let fake = &bot.fake;
    let group = -4_004_004_001;
    let mut chatter = fixture("group-text");
    chatter["message"]["chat"] = json!({"id": group, "title": "Marsden walkers", "type": "group"});
    fake.push(chatter);
    fake.push(fixture("group-command"));
    let messages = fake.wait_for_messages(group, 1).await;
    assert_eq!(messages.len(), 1, "only the command is answered");
    assert!(text(&messages[0]).contains("I only talk one to one"));
    assert_eq!(
        messages[0].buttons,
        [(
            "Message Signpost privately".to_owned(),
            "https://t.me/signpost_test_bot".to_owned()
        )]
    );
    // Channel posts are not read either.
    fake.push(fixture("channel-post"));
    fake.text(424_242_109, "/start");
    fake.wait_for_messages(424_242_109, 1).await;
    let fake = bot.stop().await;
    assert_eq!(fake.all_sent_to(group).len(), 1);
    assert!(fake.all_sent_to(-1_001_004_004_003).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_deletes_both_sides_of_the_conversation_and_confirms() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_110;
    let mut typed = vec![fake.text(chat, "/start")];
    fake.wait_for_messages(chat, 1).await;
    fake.press(chat, "Find something to do");
    fake.wait_for_messages(chat, 2).await;
    typed.push(fake.text(chat, "Marsden"));
    fake.wait_for_messages(chat, 3).await;
    typed.push(fake.text(chat, "/forget"));
    fake.wait_until("the conversation is wiped", |fake| {
        fake.sent_to(chat).len() == 1
            && text(&fake.sent_to(chat)[0]).starts_with("Done. I've wiped this conversation")
    })
    .await;
    let mut deleted = fake.deleted_incoming(chat);
    deleted.sort();
    assert_eq!(deleted, typed, "everything the person typed is deleted");
    assert_eq!(
        fake.all_sent_to(chat).iter().filter(|m| m.deleted).count(),
        3,
        "and everything the bot said before"
    );

    // The service counts that someone was forgotten, on Telegram, and keeps
    // nothing of what they typed.
    let pending = bot.tally.pending();
    let counted = |event: &str, dimensions: &str| {
        pending
            .iter()
            .any(|(key, _)| key.event == event && key.dimensions == dimensions)
    };
    assert!(
        counted("forget_used", r#"{"channel":"telegram"}"#),
        "{pending:?}"
    );
    assert!(counted("conversation_started", r#"{"channel":"telegram"}"#));
    assert!(
        pending
            .iter()
            .all(|(key, _)| !key.dimensions.to_lowercase().contains("marsden")),
        "{pending:?}"
    );

    // Nothing is left to carry on with: the old buttons restart.
    let old = fake.all_sent_to(chat).remove(1);
    let (_, data) = old.buttons[0].clone();
    fake.press_data(chat, &old, &data);
    let messages = fake.wait_for_messages(chat, 2).await;
    assert!(text(&messages[1]).starts_with(BUTTON_EXPIRED));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_menu_can_forget_the_conversation_too() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_111;
    fake.text(chat, "/privacy");
    let messages = fake.wait_for_messages(chat, 1).await;
    assert!(labels(&messages[0]).contains(&"Forget this chat"));
    fake.press(chat, "Forget this chat");
    fake.wait_until("the conversation is wiped", |fake| {
        let standing = fake.sent_to(chat);
        standing.len() == 1 && text(&standing[0]).starts_with("Done. I've wiped")
    })
    .await;
    assert_eq!(fake.deleted_incoming(chat).len(), 1);
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_chat_does_not_hold_up_the_others_and_each_chat_keeps_its_order() {
    let bot = start().await;
    let fake = &bot.fake;
    let (slow, quick) = (424_242_112, 424_242_113);
    fake.fail_next("sendMessage", Fault::Delay(Duration::from_secs(3)));
    fake.text(slow, "/start");
    fake.wait_until("the slow chat's reply is on its way", |fake| {
        !fake.calls("sendMessage").is_empty()
    })
    .await;
    fake.text(slow, "/help");
    fake.text(quick, "/start");
    fake.wait_for_messages(quick, 1).await;
    assert!(
        fake.all_sent_to(slow).is_empty(),
        "the quick chat was answered while the slow one waited"
    );
    let messages = fake.wait_for_messages(slow, 2).await;
    assert!(text(&messages[0]).contains(WELCOME), "in order");
    assert!(text(&messages[1]).contains("If you need help right now"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_the_bot_ends_the_conversation_and_unknown_updates_are_skipped() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_001; // the chat in the fixtures
    fake.text(chat, "/start");
    let first = fake.wait_for_messages(chat, 1).await.remove(0);
    fake.push(fixture("unknown-kind"));
    fake.push(fixture("blocked"));
    fake.push(fixture("unblocked"));
    let (_, data) = first.buttons[0].clone();
    fake.press_data(chat, &first, &data);
    let messages = fake.wait_for_messages(chat, 2).await;
    assert!(
        text(&messages[1]).starts_with(BUTTON_EXPIRED),
        "the conversation was dropped when the bot was blocked"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_message_is_read_as_a_new_one() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_114;
    fake.text(chat, "/start");
    fake.wait_for_messages(chat, 1).await;
    fake.press(chat, "Find something to do");
    fake.wait_for_messages(chat, 2).await;
    fake.push(private(fixture("edited-text"), chat));
    let messages = fake.wait_for_messages(chat, 3).await;
    assert!(text(&messages[2]).contains("What would you like to do?"));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_are_registered_and_commands_may_name_the_bot() {
    let bot = start().await;
    let fake = &bot.fake;
    let registered = fake.calls("setMyCommands");
    let names: Vec<&str> = registered[0].body["commands"]
        .as_array()
        .expect("a list of commands")
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["start", "menu", "urgent", "help", "privacy", "forget"]
    );

    let chat = 424_242_001;
    fake.push(fixture("private-command")); // "/start@signpost_test_bot"
    let messages = fake.wait_for_messages(chat, 1).await;
    assert!(text(&messages[0]).contains(WELCOME));
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_in_the_middle_of_a_reply_finishes_it_then_takes_no_more() {
    let bot = start().await;
    let chat = 424_242_115;
    bot.fake
        .fail_next("sendMessage", Fault::Delay(Duration::from_secs(2)));
    bot.fake.text(chat, "/start");
    bot.fake
        .wait_until("the reply is in flight", |fake| {
            !fake.calls("sendMessage").is_empty()
        })
        .await;
    let fake = bot.stop().await;
    assert_eq!(fake.sent_to(chat).len(), 1, "the reply in flight was sent");
    // The bot has returned, so nothing polls any more: a new message stays
    // unread for the next start.
    fake.text(chat, "/help");
    assert!(!fake.all_confirmed());
    assert_eq!(fake.sent_to(chat).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_webhook_only_requests_with_the_secret_token_are_read() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().unwrap().port()
    };
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let webhook = telegram::Webhook {
        url: "https://signpost.example.org/telegram".parse().unwrap(),
        listen,
    };
    let bot = start_with(sample_directory().await, Some(webhook)).await;
    let fake = &bot.fake;
    fake.wait_until("the webhook is set", |fake| fake.webhook().is_some())
        .await;
    let (url, secret) = fake.webhook().unwrap();
    assert_eq!(url, "https://signpost.example.org/telegram");
    let secret = secret.expect("a secret token is always set");
    assert!(secret.len() >= 32);

    let chat = 424_242_116;
    let mut update = private(fixture("private-text"), chat);
    update["message"]["text"] = json!("/start");
    let client = reqwest::Client::new();
    // The router serves the path of the public URL.
    let address = format!("http://{listen}/telegram");
    let forged = client
        .post(&address)
        .json(&update)
        .send()
        .await
        .expect("the webhook answers");
    assert!(forged.status().is_client_error(), "{}", forged.status());
    let wrong = client
        .post(&address)
        .header("X-Telegram-Bot-Api-Secret-Token", "not-the-secret")
        .json(&update)
        .send()
        .await
        .expect("the webhook answers");
    assert!(wrong.status().is_client_error(), "{}", wrong.status());
    let genuine = client
        .post(&address)
        .header("X-Telegram-Bot-Api-Secret-Token", &secret)
        .json(&update)
        .send()
        .await
        .expect("the webhook answers");
    assert!(genuine.status().is_success(), "{}", genuine.status());
    let messages = fake.wait_for_messages(chat, 1).await;
    assert_eq!(messages.len(), 1, "only the genuine update was read");
    let fake = bot.stop().await;
    assert!(
        fake.webhook().is_none(),
        "the webhook is removed on shutdown"
    );
}

/// `signpost serve` itself: the real binary, configured by environment
/// variables as the README says, stopped by SIGTERM as systemd stops it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_command_answers_then_stops_cleanly_on_sigterm() {
    let fake = FakeTelegram::start().await;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let log = folder.path().join("stderr.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signpost"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGNPOST_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .env("SIGNPOST_TELEGRAM__TOKEN", TOKEN)
        .env("SIGNPOST_TELEGRAM__API_URL", fake.url())
        .env(
            "SIGNPOST_DATABASE__URL",
            format!("sqlite://{}", folder.path().join("signpost.db").display()),
        )
        .env("SIGNPOST_HTTP__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("signpost serve starts");

    let chat = 424_242_117;
    fake.text(chat, "/start");
    let messages = fake.wait_for_messages(chat, 1).await;
    assert!(text(&messages[0]).contains(WELCOME));
    // The web portal runs beside the bot.
    let portal = common::wait_for_web_portal(&log, &mut child).await;
    let health = reqwest::get(format!("{portal}/healthz"))
        .await
        .expect("the web portal answers");
    assert_eq!(health.status(), 200);

    // A reply that is still on its way when the signal comes is finished.
    fake.fail_next("sendMessage", Fault::Delay(Duration::from_secs(2)));
    fake.text(chat, "/help");
    fake.wait_until("the second reply is in flight", |fake| {
        fake.calls("sendMessage").len() == 2
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = common::wait_for_exit(&mut child, "signpost serve").await;
    assert!(status.success(), "{status:?}");
    let messages = fake.sent_to(chat);
    assert_eq!(messages.len(), 2, "the reply in flight was delivered");
    assert!(text(&messages[1]).contains("If you need help right now"));

    // Even at trace level, the log names no chat and shows no token.
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(logged.contains("shutting down"), "{logged}");
    assert!(!logged.contains(&chat.to_string()), "{logged}");
    assert!(!logged.contains(TOKEN), "{logged}");
    assert!(!logged.contains("/help"), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crisis_typed_in_the_middle_of_a_question_gets_urgent_help_first_then_carries_on() {
    let bot = start().await;
    let fake = &bot.fake;
    let chat = 424_242_118;
    fake.text(chat, "/start");
    fake.wait_for_messages(chat, 1).await;
    fake.press(chat, "Find something to do");
    fake.wait_for_messages(chat, 2).await;
    fake.text(chat, "i want to end it all");
    let messages = fake.wait_for_messages(chat, 3).await;
    let reply = text(&messages[2]);
    assert!(reply.contains("call 999"), "{reply}");
    assert!(reply.contains("Samaritans: call 116 123"), "{reply}");
    assert!(labels(&messages[2]).contains(&"Carry on where I was"));
    fake.press(chat, "Carry on where I was");
    let messages = fake.wait_for_messages(chat, 4).await;
    assert!(text(&messages[3]).contains("Which area would suit you?"));
    bot.stop().await;
}
