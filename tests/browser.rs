//! The portal in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), against the real binary.
//!
//! One journey, as people make it, on the portal `signpost serve` runs
//! beside the bot (on a fake Telegram Bot API): staff set up their account
//! from the link `signpost staff add` prints and invite an organisation;
//! the organisation sets its password and adds a weekly activity with the
//! form; staff approve it; and the bot finds it in a console conversation.
//!
//! Without Chromium and ChromeDriver the test says so and passes, except
//! in CI (`CI=true`), where `.ci/run` installs them and their absence is a
//! failure. With `SIGNPOST_SCREENSHOTS=DIR` it saves the screenshots the
//! README shows.

mod common;
mod fake_telegram;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const STAFF_EMAIL: &str = "staff@council.example";
const ORGANISATION_EMAIL: &str = "hello@walkers.example";
const PASSWORD: &str = "correct horse battery staple";
const ACTIVITY: &str = "Tuesday tea and natter";

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A minimal W3C WebDriver client: just what the journey needs.
struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
}

impl Browser {
    async fn start(driver: &str) -> Browser {
        let http = reqwest::Client::new();
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-dev-shm-usage",
                        "--window-size=1000,1400",
                        "--lang=en-GB",
                    ],
                },
            }},
        });
        let answer: Value = http
            .post(format!("{driver}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("ChromeDriver answers")
            .json()
            .await
            .expect("ChromeDriver answers in JSON");
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {answer}"))
            .to_owned();
        Browser {
            http,
            session: format!("{driver}/session/{id}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        match self.try_command(method, path, body).await {
            Ok(value) => value,
            Err(error) => panic!("WebDriver {path} failed: {error}"),
        }
    }

    /// A command, or the browser's error (such as "no such element" while a
    /// page is still loading).
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, Value> {
        let url = format!("{}{path}", self.session);
        let request = self.http.request(method, &url);
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        let answer: Value = request
            .send()
            .await
            .expect("ChromeDriver answers")
            .json()
            .await
            .expect("ChromeDriver answers in JSON");
        if answer["value"]["error"].is_string() {
            return Err(answer["value"].clone());
        }
        Ok(answer["value"].clone())
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element `css` finds.
    async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            json!({}),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Sets a field's value directly: date and time fields take typed keys
    /// in the browser's locale's order, which differs from machine to
    /// machine.
    async fn set_value(&self, css: &str, value: &str) {
        let set = self
            .command(
                reqwest::Method::POST,
                "/execute/sync",
                json!({
                    "script": "var field = document.querySelector(arguments[0]); field.value = arguments[1]; return field.value;",
                    "args": [css, value],
                }),
            )
            .await;
        assert_eq!(set, json!(value), "{css} did not take {value:?}");
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            json!({}),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn property(&self, css: &str, name: &str) -> String {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{element}/property/{name}"),
            Value::Null,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a screenshot of the whole window to `dir/name`, when asked.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SIGNPOST_SCREENSHOTS") else {
            return;
        };
        // The whole page: the window as tall as the page, from the top.
        let height = self
            .command(
                reqwest::Method::POST,
                "/execute/sync",
                json!({
                    "script": "document.activeElement.blur(); window.scrollTo(0, 0); return document.documentElement.scrollHeight;",
                    "args": [],
                }),
            )
            .await
            .as_u64()
            .unwrap_or(1400);
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": 1000, "height": height + 140}),
        )
        .await;
        let picture = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": 1000, "height": 1400}),
        )
        .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(picture.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::write(Path::new(&dir).join(name), bytes).expect("the screenshot is saved");
    }

    async fn sign_in(&self, base: &str, email: &str) {
        self.go(&format!("{base}/sign-in")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", PASSWORD).await;
        self.click("main form button[type=submit]").await;
        self.wait_for_path("/account").await;
    }

    /// Waits up to 20 seconds for the page's main heading to be `heading`,
    /// as the answer to a form may still be loading when a click returns.
    async fn wait_for_heading(&self, heading: &str) {
        let script = "var h = document.querySelector('h1'); \
            return document.readyState === 'complete' && h ? h.textContent.trim() : null;";
        self.wait_for_page_to_say(script, heading, "heading").await;
    }

    /// Waits up to 20 seconds for the page's title to be `title`.
    async fn wait_for_title(&self, title: &str) {
        let script = "return document.readyState === 'complete' ? document.title : null;";
        self.wait_for_page_to_say(script, title, "title").await;
    }

    /// Polls `script` (which gives text, or null while the page loads)
    /// until it gives `expected`, for up to 20 seconds.
    async fn wait_for_page_to_say(&self, script: &str, expected: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .try_command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    json!({"script": script, "args": []}),
                )
                .await;
            if let Ok(Value::String(text)) = &found
                && text == expected
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page's {what} is {found:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to 20 seconds for the browser to be on `path` (with any
    /// query), as a form's answer may still be loading when a click
    /// returns.
    async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = self.url().await;
            let here = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or_default()
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            if here == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser is on {url}, not {path}:\n{}",
                self.text("main").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn sign_out(&self, base: &str) {
        self.go(&format!("{base}/account")).await;
        self.click("form[action='/sign-out'] button").await;
        self.wait_for_path("/sign-in").await;
    }

    /// Chooses a password on a setup page, which signs the person in.
    async fn set_password(&self, link: &str) {
        self.go(link).await;
        self.type_into("#password", PASSWORD).await;
        self.click("main form button[type=submit]").await;
        // Choosing a password signs the person in.
        self.wait_for_path("/account").await;
    }

    /// Checks the page against WCAG 2.2 A and AA with axe-core; the
    /// violations found, as "rule: help (where)".
    async fn accessibility_problems(&self, axe: &str) -> Vec<String> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": format!("{axe}\nreturn true;"), "args": []}),
        )
        .await;
        let found = self
            .command(
                reqwest::Method::POST,
                "/execute/async",
                json!({
                    "script": "var done = arguments[arguments.length - 1];
                        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})
                          .then(function (r) { done(r.violations.map(function (v) {
                            return v.id + ': ' + v.help + ' (' + v.nodes.map(function (n) { return n.target.join(' '); }).join(', ') + ')';
                          })); })
                          .catch(function (e) { done(['axe failed: ' + e]); });",
                    "args": [],
                }),
            )
            .await;
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks the page the browser is on, when axe-core is here, and adds
    /// what it finds to `problems`, with the page's path.
    async fn check_accessibility(&self, axe: Option<&str>, problems: &mut Vec<String>) {
        let Some(axe) = axe else {
            return;
        };
        let url = self.url().await;
        for problem in self.accessibility_problems(axe).await {
            problems.push(format!("{url}: {problem}"));
        }
    }

    async fn end(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .unwrap()
        .port()
}

/// The signpost binary, with the test's database and flows.
fn signpost(database: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signpost"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGNPOST_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("SIGNPOST_DATABASE__URL", database)
        .env(
            "SIGNPOST_FLOWS__DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("flows"),
        );
    command
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("signpost runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The next `day` after `today`.
fn next(day: Weekday, today: NaiveDate) -> NaiveDate {
    (1..=7)
        .map(|n| today + Days::new(n))
        .find(|date| date.weekday() == day)
        .expect("a day within a week")
}

/// Aggregate counts for the staff dashboard to chart, as four weeks of
/// conversations would leave them (each `Tally::record` is one
/// conversation's count for one day).
async fn count_some_usage(database: &str) {
    use signpost::search::{Category, When};
    use signpost::stats::counter::{CoarseArea, SearchKind};
    use signpost::stats::{Channel, Counted, Counter, Store, Tally};

    let directory = signpost::directory::Directory::open(database)
        .await
        .expect("the database opens");
    let store = Store::new(directory.database().clone());
    let today = chrono::Utc::now().date_naive();
    let search = |area: &str, category: Category| SearchKind {
        category: Some(category),
        area: CoarseArea::Listed(area.to_owned()),
        when: When::Any,
    };
    let telegram = Counter::ConversationStarted {
        channel: Channel::Telegram,
    };
    for (days_ago, counter, conversations) in [
        (25, telegram.clone(), 41),
        (18, telegram.clone(), 57),
        (11, telegram.clone(), 66),
        (4, telegram.clone(), 78),
        (
            12,
            Counter::SearchMade(search("Huddersfield", Category::SocialGroups)),
            46,
        ),
        (
            9,
            Counter::SearchMade(search("Dewsbury", Category::Befriending)),
            27,
        ),
        (
            6,
            Counter::SearchMade(search("Batley", Category::Carers)),
            18,
        ),
        (
            6,
            Counter::NoResults(search("Batley", Category::Carers)),
            11,
        ),
        (
            3,
            Counter::NoResults(search("Holmfirth", Category::Lgbtq)),
            9,
        ),
        (2, Counter::UrgentHelpShown, 13),
    ] {
        let day = today - Days::new(days_ago);
        let tally = Tally::new(move || day);
        for _ in 0..conversations {
            tally.record(&mut Counted::default(), [counter.clone()]);
        }
        tally.flush(&store).await.expect("the counts are written");
    }
    directory.close().await;
}

/// Whether the browser and its driver are here; `None` means go on.
fn missing_browser() -> Option<String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    (!missing.is_empty()).then(|| missing.join(" and "))
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_invite_an_organisation_which_adds_a_weekly_event_that_staff_approve_and_the_bot_finds()
 {
    if let Some(missing) = missing_browser() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{missing} missing in CI: .ci/run installs chromium and chromium-driver"
        );
        eprintln!(
            "skipped the browser test: {missing} not found (apt-get install chromium chromium-driver)"
        );
        return;
    }
    // axe-core, from `npm ci --prefix tests/a11y` (which .ci/run does).
    let axe_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y/node_modules/axe-core/axe.min.js");
    let axe = std::fs::read_to_string(&axe_path).ok();
    if axe.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "axe-core missing in CI: .ci/run installs it with npm ci --prefix tests/a11y"
        );
        eprintln!(
            "the pages' accessibility was not checked: axe-core not found (npm ci --prefix tests/a11y)"
        );
    }
    let axe = axe.as_deref();
    let mut accessibility = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let database = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("signpost.db").display()
    );
    let fixture: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/directory.json");
    run(signpost(&database).args(["migrate"]));
    run(signpost(&database)
        .args(["directory", "import", "--publish", "--source", "council"])
        .arg(&fixture));
    count_some_usage(&database).await;

    // `signpost serve`: the bot (on a fake Telegram) with the portal beside
    // it, on a port of its own.
    let telegram = fake_telegram::FakeTelegram::start().await;
    let log = dir.path().join("serve.log");
    let mut web = Running(
        signpost(&database)
            .args(["serve"])
            .env("SIGNPOST_TELEGRAM__TOKEN", fake_telegram::TOKEN)
            .env("SIGNPOST_TELEGRAM__API_URL", telegram.url())
            .env("SIGNPOST_HTTP__BIND", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("signpost serve starts"),
    );
    let base = common::wait_for_web_portal(&log, &mut web.0).await;

    // ChromeDriver, waited for until it is ready.
    let port = free_port();
    let _driver = Running(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let driver = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = reqwest::get(format!("{driver}/status")).await;
        if let Ok(answer) = ready
            && let Ok(status) = answer.json::<Value>().await
            && status["value"]["ready"] == true
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ChromeDriver was not ready within 30 seconds"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let browser = Browser::start(&driver).await;

    // Staff: set up the account from the command line's link.
    let printed = run(signpost(&database)
        .args(["staff", "add", STAFF_EMAIL, "--base-url"])
        .arg(&base));
    let link = printed
        .split_whitespace()
        .find(|word| word.starts_with(&format!("{base}/setup/")))
        .unwrap_or_else(|| panic!("a setup link in: {printed}"))
        .to_owned();
    browser.set_password(&link).await;
    browser.check_accessibility(axe, &mut accessibility).await;

    // Staff invite the organisation, and read its link off the page.
    browser.go(&format!("{base}/staff/invite")).await;
    browser.check_accessibility(axe, &mut accessibility).await;
    browser
        .set_value("#organisation", "5e1f0000-0000-4000-8000-0000000000a1")
        .await;
    browser.type_into("#email", ORGANISATION_EMAIL).await;
    browser.click("main form button[type=submit]").await;
    browser.wait_for_heading("Invitation ready").await;
    browser.check_accessibility(axe, &mut accessibility).await;
    let invitation = browser.property("#link", "value").await;
    assert!(invitation.contains("/setup/"), "{invitation}");
    browser.sign_out(&base).await;

    // The organisation: set a password, then add a weekly activity.
    browser.set_password(&invitation).await;
    browser.go(&format!("{base}/organisation")).await;
    browser.check_accessibility(axe, &mut accessibility).await;
    browser.click("a.button").await;
    browser.wait_for_heading("Add an activity").await;
    browser.check_accessibility(axe, &mut accessibility).await;
    // Sent empty, it comes back naming each problem.
    browser.click("form.stacked button[type=submit]").await;
    browser
        .wait_for_title("Error: Add an activity – Signpost")
        .await;
    let page = browser.text(".error-summary").await;
    assert!(page.contains("Enter the activity's name."), "{page}");
    browser.check_accessibility(axe, &mut accessibility).await;
    let first = next(Weekday::Tue, chrono::Utc::now().date_naive());
    browser.type_into("#title", ACTIVITY).await;
    browser
        .type_into(
            "#description",
            "Tea, biscuits and a friendly chat. Fine to come on your own.",
        )
        .await;
    browser.click("#category-social-groups").await;
    browser
        .type_into("#place_name", "Greenhead Park café")
        .await;
    browser.type_into("#address", "Park Drive").await;
    browser.type_into("#town", "Huddersfield").await;
    browser.type_into("#postcode", "HD1 4HS").await;
    browser.set_value("#repeat", "weekly").await;
    browser
        .set_value("#date", &first.format("%Y-%m-%d").to_string())
        .await;
    browser.set_value("#starts", "10:30").await;
    browser.set_value("#ends", "12:00").await;
    assert_eq!(browser.property("#ends", "value").await, "12:00");
    browser.click("#free").await;
    browser.click("#step_free").await;
    browser.click("#come_alone").await;
    browser.type_into("#how_to_join", "Just turn up").await;
    browser.screenshot("organisation-form.png").await;
    browser.click("form.stacked button[type=submit]").await;
    browser.wait_for_heading("Your listings").await;
    browser.check_accessibility(axe, &mut accessibility).await;
    let page = browser.text("main").await;
    assert!(page.contains("sent to Signpost staff"), "{page}");
    assert!(page.contains(ACTIVITY), "{page}");
    browser.go(&format!("{base}/organisation/profile")).await;
    browser.check_accessibility(axe, &mut accessibility).await;
    browser.sign_out(&base).await;

    // Staff approve it from the queue.
    browser.sign_in(&base, STAFF_EMAIL).await;
    browser.go(&format!("{base}/staff/queue")).await;
    browser.check_accessibility(axe, &mut accessibility).await;
    browser.click("main table a").await;
    browser
        .wait_for_heading(&format!("New service: {ACTIVITY}"))
        .await;
    browser.check_accessibility(axe, &mut accessibility).await;
    let page = browser.text("main").await;
    assert!(
        page.contains(ACTIVITY) && page.contains("Every Tuesday, 10:30am to 12pm"),
        "{page}"
    );
    browser.click("form[action$='/approve'] button").await;
    browser.wait_for_path("/staff/queue").await;
    browser.wait_for_heading("Changes to check").await;
    browser.check_accessibility(axe, &mut accessibility).await;
    let page = browser.text("main").await;
    assert!(
        page.contains("approved and is now in the directory"),
        "{page}"
    );
    browser.go(&format!("{base}/staff/stats")).await;
    browser.check_accessibility(axe, &mut accessibility).await;
    browser.screenshot("staff-dashboard.png").await;
    browser.end().await;
    assert!(
        accessibility.is_empty(),
        "axe-core found WCAG 2.2 A or AA problems:\n{}",
        accessibility.join("\n")
    );

    // The bot finds it: near HD1, to meet people, on any day.
    let mut chat = signpost(&database)
        .args(["chat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("signpost chat starts");
    chat.stdin
        .take()
        .unwrap()
        .write_all(b"hello\n1\nHD1\nMeet people\nAny day\n")
        .unwrap();
    let output = chat.wait_with_output().unwrap();
    let conversation = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{conversation}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(conversation.contains(ACTIVITY), "{conversation}");
    assert!(
        conversation.contains("Greenhead Park café"),
        "{conversation}"
    );
}
