//! Anonymity, proven end to end: people with distinctive names, ids, a
//! phone number, a location, a typed town and things they said talk to the
//! real `signpost` binary, on Telegram (through the fake Bot API) and on the
//! console, with logging at trace level. Then every byte the process wrote
//! (the database and its WAL and journal files, the log, standard output and
//! error, anything else in its working and home folders) is searched for
//! those values: as text, and numbers also as decimal, hexadecimal and
//! little- and big-endian bytes. None may be there; the usage counts that
//! should be there must be.
//!
//! On PostgreSQL the database is not a file the process writes, so the test
//! reads back every table of its database, and (when this process may read
//! the server's files, as root on the CI machine can) the database's own
//! files and the write-ahead log written during the test, after a
//! checkpoint.

mod common;
mod fake_telegram;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Backend, TestDatabase};
use fake_telegram::{FakeTelegram, Sent, TOKEN, fixture};
use serde_json::{Value, json};

/// Someone writing to the bot in a private chat. In a private chat
/// Telegram's chat id is the person's user id.
struct Person {
    id: i64,
    first_name: &'static str,
    last_name: &'static str,
    username: &'static str,
    language: &'static str,
    phone: &'static str,
}

const PERSON: Person = Person {
    id: 5_938_271_604,
    first_name: "Zephyrine",
    last_name: "Quillfeather",
    username: "zq_lonely_owl",
    // A private-use language tag: real codes ("en") are too short to search
    // for, and the bot must treat this one the same way.
    language: "qaa-x-zephyr",
    phone: "+447700900461",
};

/// Someone in a group the bot was added to: a user id that is not a chat id.
const GROUP_MEMBER: Person = Person {
    id: 6_102_938_475,
    first_name: "Bartholomew",
    last_name: "Ostrogoth",
    username: "barty_ostro",
    language: "qaa-x-barty",
    phone: "+447700900462",
};
const GROUP_CHAT: i64 = -1_009_384_756_102;

/// What the person says, and the town they type, which the bot does not
/// know.
const SAID: &str = "Since Marguerite moved to Penzance I have nobody to talk to";
const TYPED_TOWN: &str = "Zorbleton";
/// Where the person's shared location puts them.
const LATITUDE: f64 = 53.619_374;
const LONGITUDE: f64 = -1.804_663;

/// Every form in which a secret could have been written, with a name for
/// the failure message.
fn forbidden() -> Vec<(String, Vec<u8>)> {
    let mut patterns: Vec<(String, Vec<u8>)> = Vec::new();
    let mut text = |name: &str, value: &str| {
        for form in [value.to_owned(), value.to_lowercase(), value.to_uppercase()] {
            patterns.push((format!("{name} as text {form:?}"), form.into_bytes()));
        }
    };
    for person in [&PERSON, &GROUP_MEMBER] {
        text("a first name", person.first_name);
        text("a last name", person.last_name);
        text("a username", person.username);
        text("a language code", person.language);
        // The number without its +44, as it might be stored or logged.
        text("a phone number", &person.phone[3..]);
    }
    for word in ["Marguerite", "Penzance", "nobody to talk to"] {
        text("words the person typed", word);
    }
    text("the town the person typed", TYPED_TOWN);
    for (name, number) in [
        ("the person's id", PERSON.id),
        ("the group member's id", GROUP_MEMBER.id),
        ("the group's chat id", GROUP_CHAT),
    ] {
        patterns.push((
            format!("{name} in decimal"),
            number.to_string().into_bytes(),
        ));
        // Negative ids are also written without their sign, and as the
        // unsigned number Telegram's -100 prefix hides.
        patterns.push((
            format!("{name} in decimal, unsigned"),
            number.unsigned_abs().to_string().into_bytes(),
        ));
        patterns.push((format!("{name} in hex"), format!("{number:x}").into_bytes()));
        patterns.push((format!("{name} in HEX"), format!("{number:X}").into_bytes()));
        patterns.push((
            format!("{name} in hex, unsigned"),
            format!("{:x}", number.unsigned_abs()).into_bytes(),
        ));
        patterns.push((
            format!("{name} as little-endian bytes"),
            number.to_le_bytes().to_vec(),
        ));
        patterns.push((
            format!("{name} as big-endian bytes"),
            number.to_be_bytes().to_vec(),
        ));
    }
    for (name, number) in [("the latitude", LATITUDE), ("the longitude", LONGITUDE)] {
        // Four decimal places (about 10 m) is already identifying.
        patterns.push((
            format!("{name} in decimal"),
            format!("{number:.4}").into_bytes(),
        ));
        patterns.push((
            format!("{name} as little-endian bytes"),
            number.to_le_bytes().to_vec(),
        ));
        patterns.push((
            format!("{name} as big-endian bytes"),
            number.to_be_bytes().to_vec(),
        ));
    }
    patterns
}

/// Which forbidden patterns `bytes` holds, named with `source`.
fn findings_in(source: &str, bytes: &[u8], patterns: &[(String, Vec<u8>)]) -> Vec<String> {
    patterns
        .iter()
        .filter(|(_, pattern)| memchr::memmem::find(bytes, pattern).is_some())
        .map(|(name, _)| format!("{source}: {name}"))
        .collect()
}

/// Every file under `folder`, however deep.
fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The findings in every file under `folder`, and the names of the files.
fn scan_folder(folder: &Path, patterns: &[(String, Vec<u8>)]) -> (Vec<String>, Vec<String>) {
    let mut findings = Vec::new();
    let mut names = Vec::new();
    for file in files_under(folder) {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file
            .strip_prefix(folder)
            .unwrap_or(&file)
            .display()
            .to_string();
        findings.extend(findings_in(&name, &bytes, patterns));
        names.push(name);
    }
    (findings, names)
}

/// The `signpost` binary with none of the caller's settings, working in
/// `folder` (also its home), logging at trace level to `folder/stderr.log`
/// and writing standard output to `folder/stdout.log`.
fn signpost(folder: &Path, database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signpost"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGNPOST_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .current_dir(folder)
        .env("HOME", folder)
        .env("TMPDIR", folder)
        .env(
            "SIGNPOST_FLOWS__DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"),
        )
        .env("SIGNPOST_DATABASE__URL", database_url)
        .env("RUST_LOG", "trace")
        // Plain log lines, so that what is searched is what a person reads.
        .env("NO_COLOR", "1");
    command
}

/// Output files, opened for appending: the same files for every command.
fn outputs(folder: &Path) -> (std::fs::File, std::fs::File) {
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(folder.join(name))
            .expect("an output file")
    };
    (open("stdout.log"), open("stderr.log"))
}

fn load_sample(folder: &Path, database_url: &str) {
    let (stdout, stderr) = outputs(folder);
    let status = signpost(folder, database_url)
        .args(["directory", "load-sample"])
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .expect("signpost runs");
    assert!(status.success(), "loading the sample failed: {status:?}");
}

/// An update built from a fixture, as sent by `person` (in their private
/// chat, unless the fixture is a group's).
fn dressed(name: &str, person: &Person) -> Value {
    let mut update = fixture(name);
    for kind in ["message", "edited_message", "callback_query"] {
        let Some(inner) = update.get_mut(kind) else {
            continue;
        };
        inner["from"] = json!({
            "id": person.id,
            "is_bot": false,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "username": person.username,
            "language_code": person.language,
        });
        let chat = if kind == "callback_query" {
            &mut inner["message"]["chat"]
        } else {
            &mut inner["chat"]
        };
        if chat["type"] == "private" {
            *chat = json!({
                "id": person.id,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "username": person.username,
                "type": "private",
            });
        } else {
            chat["id"] = json!(GROUP_CHAT);
        }
        if let Some(contact) = inner.get_mut("contact") {
            *contact = json!({
                "phone_number": person.phone,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "user_id": person.id,
            });
        }
        if let Some(location) = inner.get_mut("location") {
            *location = json!({"latitude": LATITUDE, "longitude": LONGITUDE});
        }
    }
    update
}

/// Sends `update` and waits until the bot has sent something more.
async fn send(fake: &FakeTelegram, update: Value) {
    let before = fake.sent_count();
    fake.push(update);
    fake.wait_until("the bot answers", |fake| fake.sent_count() > before)
        .await;
}

async fn type_text(fake: &FakeTelegram, text: &str) {
    let mut update = dressed("private-text", &PERSON);
    update["message"]["text"] = json!(text);
    if text.starts_with('/') {
        update["message"]["entities"] =
            json!([{"offset": 0, "length": text.len(), "type": "bot_command"}]);
    }
    send(fake, update).await;
}

/// Presses the button labelled `label` on the latest message showing it.
async fn press(fake: &FakeTelegram, label: &str) {
    let (message, data): (Sent, String) = fake
        .sent_to(PERSON.id)
        .into_iter()
        .rev()
        .find_map(|m| {
            let data = m.buttons.iter().find(|(l, _)| l == label)?.1.clone();
            Some((m, data))
        })
        .unwrap_or_else(|| panic!("no message has a button {label:?}"));
    let mut update = dressed("button-press", &PERSON);
    let query = &mut update["callback_query"];
    query["message"]["message_id"] = json!(message.message_id);
    query["message"]["text"] = json!(message.text);
    query["message"]["reply_markup"] = json!({ "inline_keyboard": [[{
        "text": label, "callback_data": data
    }]] });
    query["data"] = json!(data);
    send(fake, update).await;
}

fn stop(mut child: Child) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            break status;
        }
        assert!(Instant::now() < deadline, "signpost did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "signpost stopped with {status:?}");
}

/// A whole conversation on Telegram through `signpost serve`, and a
/// command in a group.
async fn talk_on_telegram(folder: &Path, database_url: &str) {
    let fake = FakeTelegram::start().await;
    let (stdout, stderr) = outputs(folder);
    let child = signpost(folder, database_url)
        .arg("serve")
        .env("SIGNPOST_TELEGRAM__TOKEN", TOKEN)
        .env("SIGNPOST_TELEGRAM__API_URL", fake.url())
        // Counts are written while the conversation goes on, not only at
        // the end.
        .env("SIGNPOST_STATS__FLUSH_SECONDS", "1")
        // The web portal runs too, on a port of its own.
        .env("SIGNPOST_HTTP__BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("signpost serve starts");

    type_text(&fake, "/start").await;
    type_text(&fake, SAID).await;
    press(&fake, "Find something to do").await;
    type_text(&fake, TYPED_TOWN).await;
    press(&fake, "Meet people").await;
    press(&fake, "Any day").await;
    let unknown = fake.sent_to(PERSON.id);
    assert!(
        unknown
            .iter()
            .any(|m| m.text.contains("I don't know that place")),
        "the typed town was searched for and not found"
    );
    press(&fake, "Try another area").await;
    press(&fake, "Huddersfield").await;
    press(&fake, "Meet people").await;
    press(&fake, "Any day").await;
    assert!(
        fake.sent_to(PERSON.id)
            .last()
            .is_some_and(|m| m.text.contains("I found")),
        "results were shown"
    );
    send(&fake, dressed("contact", &PERSON)).await;
    send(&fake, dressed("location", &PERSON)).await;
    let mut edited = dressed("edited-text", &PERSON);
    edited["edited_message"]["text"] = json!(format!("{SAID}, really"));
    send(&fake, edited).await;
    send(&fake, dressed("group-command", &GROUP_MEMBER)).await;
    type_text(&fake, "/privacy").await;
    press(&fake, "Forget this chat").await;
    assert!(
        fake.sent_to(PERSON.id)
            .last()
            .is_some_and(|m| m.text.contains("wiped this conversation")),
        "the conversation was forgotten"
    );
    stop(child);
}

/// A conversation on the console through `signpost chat`.
fn talk_on_the_console(folder: &Path, database_url: &str) {
    use std::io::Write;
    let (stdout, stderr) = outputs(folder);
    let mut child = signpost(folder, database_url)
        .arg("chat")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("signpost chat starts");
    let script = [
        "/start",
        SAID,
        "/find",
        TYPED_TOWN,
        "Meet people",
        "Any day",
        "/find",
        "Huddersfield",
        "Meet people",
        "Any day",
        "/forget",
    ];
    let mut stdin = child.stdin.take().expect("stdin is piped");
    for line in script {
        writeln!(stdin, "{line}").expect("signpost reads its input");
    }
    drop(stdin);
    let status = child.wait().expect("signpost chat ends");
    assert!(status.success(), "{status:?}");
}

/// The usage counts in the database, as (event, dimensions) pairs.
async fn counts(database_url: &str) -> Vec<(String, String)> {
    let store = signpost::stats::Store::open(database_url)
        .await
        .expect("the database opens");
    let all_time = ("2000-01-01".parse().unwrap(), "2100-01-01".parse().unwrap());
    let rows = store
        .rows(all_time.0, all_time.1)
        .await
        .expect("the counts can be read");
    rows.into_iter()
        .map(|row| (row.event, row.dimensions))
        .collect()
}

/// Runs both conversations against `database_url`, with every file the
/// process writes in `folder`, and checks what was written.
async fn conversations_leave_no_trace(folder: &Path, database_url: &str) -> Vec<String> {
    load_sample(folder, database_url);
    talk_on_telegram(folder, database_url).await;
    talk_on_the_console(folder, database_url);

    let patterns = forbidden();
    let (findings, files) = scan_folder(folder, &patterns);
    // The scan saw what it should have: the log, at trace level.
    let log = std::fs::read_to_string(folder.join("stderr.log")).expect("the log");
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "{files:?}");
    assert!(log.contains("shutting down"), "serve logged its stop");

    let counted = counts(database_url).await;
    let has = |event: &str, dimensions: &str| {
        counted
            .iter()
            .any(|(e, d)| e == event && d.contains(dimensions))
    };
    for (event, dimensions) in [
        ("conversation_started", r#""channel":"telegram""#),
        ("conversation_started", r#""channel":"console""#),
        ("search_made", r#""area":"typed""#),
        ("search_made", r#""area":"Huddersfield""#),
        ("no_results", r#""area":"typed""#),
        ("results_shown", r#""results":"4+""#),
        ("forget_used", r#""channel":"telegram""#),
        ("forget_used", r#""channel":"console""#),
    ] {
        assert!(
            has(event, dimensions),
            "expected a count of {event} with {dimensions}; have {counted:#?}"
        );
    }
    findings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_identifying_is_written_anywhere_on_sqlite() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", folder.path().join("signpost.db").display());
    let findings = conversations_leave_no_trace(folder.path(), &url).await;
    let files: Vec<String> = files_under(folder.path())
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("signpost.db")),
        "the database is among the files searched: {files:?}"
    );
    assert!(findings.is_empty(), "found: {findings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_identifying_is_written_anywhere_on_postgres() {
    let Some(database) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let started = SystemTime::now();
    let folder = tempfile::tempdir().expect("a temporary folder");
    let mut findings = conversations_leave_no_trace(folder.path(), &database.url).await;
    let patterns = forbidden();

    // Every row of every table, as text.
    let pool = sqlx::PgPool::connect(&database.url)
        .await
        .expect("the test database");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(tables.iter().any(|t| t == "usage_count"), "{tables:?}");
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM \"{table}\" t"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        findings.extend(findings_in(
            &format!("table {table}"),
            rows.join("\n").as_bytes(),
            &patterns,
        ));
    }

    // The server's own files for this database, and the write-ahead log
    // written since the test began, when this process may read them.
    sqlx::query("CHECKPOINT").execute(&pool).await.unwrap();
    let data: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(&pool)
        .await
        .unwrap();
    let oid: String =
        sqlx::query_scalar("SELECT oid::text FROM pg_database WHERE datname = current_database()")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    let data = PathBuf::from(data);
    let files = std::fs::read_dir(data.join("base").join(&oid));
    match files {
        Ok(_) => {
            let (found, _) = scan_folder(&data.join("base").join(&oid), &patterns);
            findings.extend(found);
            for segment in files_under(&data.join("pg_wal")) {
                let recent = segment
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified >= started);
                if recent && let Ok(bytes) = std::fs::read(&segment) {
                    findings.extend(findings_in(
                        &segment.display().to_string(),
                        &bytes,
                        &patterns,
                    ));
                }
            }
        }
        Err(err) => eprintln!(
            "note: the server's files in {} cannot be read here ({err}); \
             searched the tables only",
            data.display()
        ),
    }
    assert!(findings.is_empty(), "found: {findings:#?}");
}

#[test]
fn the_search_finds_each_form_it_looks_for() {
    // A scan that could never find anything would prove nothing.
    let patterns = forbidden();
    let mut planted = Vec::new();
    planted.extend_from_slice(b"log line chat_id=");
    planted.extend_from_slice(PERSON.id.to_string().as_bytes());
    planted.extend_from_slice(&LATITUDE.to_le_bytes());
    planted.extend_from_slice(b" zorbleton ");
    planted.extend_from_slice(&GROUP_MEMBER.id.to_be_bytes());
    planted.extend_from_slice(format!("{:x}", GROUP_CHAT.unsigned_abs()).as_bytes());
    let found = findings_in("planted", &planted, &patterns);
    for expected in [
        "planted: the person's id in decimal",
        "planted: the latitude as little-endian bytes",
        "planted: the town the person typed as text \"zorbleton\"",
        "planted: the group member's id as big-endian bytes",
        "planted: the group's chat id in hex, unsigned",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected}: {found:#?}"
        );
    }
    assert!(findings_in("clean", b"an ordinary log line", &patterns).is_empty());
}
