//! Organisations' calendar feeds on both backends: calendars served from a
//! local HTTP server are fetched into the moderation queue, only new,
//! changed and removed events are queued, a feed that cannot be used
//! changes nothing, and an approved event is found by the bot's search.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use common::TestDatabase;
use signpost::accounts::{Account, Accounts, Email, Password};
use signpost::database::Database;
use signpost::directory::{Directory, SearchQuery};
use signpost::feeds::{FeedUrl, Feeds, FeedsError, FetchLimits, Refreshed};
use signpost::moderation::{Change, ChangeKind, ChangeOrigin, ChangeStatus, Moderation, Proposal};

/// 2026-12-01 09:00 UTC, seconds since 1970.
const NOW: i64 = 1_796_115_600;
const HOUR: i64 = 60 * 60;

/// A Tuesday.
fn today() -> NaiveDate {
    "2026-12-01".parse().unwrap()
}

/// What the calendar server answers for a path.
#[derive(Clone)]
enum Answer {
    Calendar(String),
    Status(u16),
    /// Waits far longer than any fetch may.
    Hang,
    /// 302 to another path.
    Redirect(String),
}

/// A web server on loopback serving calendars, whose answers tests change.
struct CalendarServer {
    address: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    server: tokio::task::JoinHandle<()>,
}

impl CalendarServer {
    async fn start() -> CalendarServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let shared = Arc::clone(&answers);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let answers = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let answer = answers.lock().unwrap().get(request.uri().path()).cloned();
                        async move { Ok::<_, std::convert::Infallible>(respond(answer).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CalendarServer {
            address,
            answers,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn set(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), answer);
    }
}

impl Drop for CalendarServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn respond(answer: Option<Answer>) -> Response<Full<Bytes>> {
    let status = |code: u16| {
        let mut response = Response::new(Full::new(Bytes::from("no")));
        *response.status_mut() = StatusCode::from_u16(code).unwrap();
        response
    };
    match answer {
        None => status(404),
        Some(Answer::Status(code)) => status(code),
        Some(Answer::Calendar(text)) => Response::builder()
            .header("content-type", "text/calendar; charset=utf-8")
            .body(Full::new(Bytes::from(text)))
            .unwrap(),
        Some(Answer::Hang) => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            status(200)
        }
        Some(Answer::Redirect(to)) => Response::builder()
            .status(302)
            .header("location", to)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    }
}

/// An event for [`calendar`]: UID, summary, the weekday it runs on and
/// its first date (that weekday).
struct Event<'a> {
    uid: &'a str,
    summary: &'a str,
    byday: &'a str,
    first: &'a str,
}

const WALK: Event = Event {
    uid: "walk@friends.example.org",
    summary: "Bandstand walk and talk",
    byday: "TH",
    first: "20261203",
};
const COFFEE: Event = Event {
    uid: "coffee@friends.example.org",
    summary: "Coffee morning",
    byday: "WE",
    first: "20261202",
};

/// A small calendar of weekly events at 10:00 in Huddersfield.
fn calendar(events: &[Event]) -> String {
    let mut text = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Friends of the Park//EN\r\n\
         X-WR-CALNAME:Friends of the Park\r\nX-WR-TIMEZONE:Europe/London\r\n",
    );
    for event in events {
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{}\r\nDTSTAMP:20261120T120000Z\r\n\
             DTSTART;TZID=Europe/London:{first}T100000\r\n\
             DTEND;TZID=Europe/London:{first}T113000\r\n\
             RRULE:FREQ=WEEKLY;BYDAY={}\r\nSUMMARY:{}\r\n\
             LOCATION:Greenhead Park\\, Park Drive\\, Huddersfield HD1 4HS\r\n\
             END:VEVENT\r\n",
            event.uid,
            event.byday,
            event.summary,
            first = event.first
        ));
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

/// Everything a test needs: the sample directory, a member of staff, two
/// organisations' accounts, feeds fetched from loopback, and the server.
struct Portal {
    directory: Directory,
    accounts: Accounts,
    moderation: Moderation,
    feeds: Feeds,
    staff: Account,
    organisation: Account,
    organization_id: String,
    other: Account,
    server: CalendarServer,
}

fn limits() -> FetchLimits {
    FetchLimits {
        timeout: Duration::from_secs(2),
        local_addresses: true,
        ..FetchLimits::default()
    }
}

async fn portal(db: &TestDatabase) -> Portal {
    let database = Database::open(&db.url).await.unwrap();
    let directory = Directory::new(database.clone());
    directory.load_sample(today()).await.unwrap();
    let published = directory.published(today()).await.unwrap();
    let mut owners: Vec<String> = published
        .organizations
        .iter()
        .map(|o| o.id.clone())
        .collect();
    owners.dedup();
    let accounts = Accounts::new(database.clone());
    let link = accounts
        .add_staff(&email("staff@kirklees.gov.uk"), NOW)
        .await
        .unwrap();
    let staff = accounts
        .set_password(&link.token, password(), NOW)
        .await
        .unwrap();
    let organisation_account = async |address: &str, organization_id: &str| {
        let link = accounts
            .invite_organisation(&staff, &email(address), organization_id, NOW)
            .await
            .unwrap();
        accounts
            .set_password(&link.token, password(), NOW)
            .await
            .unwrap()
    };
    let organisation = organisation_account("hello@park.org.uk", &owners[0]).await;
    let other = organisation_account("hello@other.org.uk", &owners[1]).await;
    Portal {
        directory,
        accounts,
        moderation: Moderation::new(database.clone()),
        feeds: Feeds::with_limits(database, limits()),
        staff,
        organisation,
        organization_id: owners[0].clone(),
        other,
        server: CalendarServer::start().await,
    }
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn password() -> Password {
    Password::parse("a calm and long passphrase").unwrap()
}

impl Portal {
    /// Serves `text` as the organisation's feed and gives the organisation
    /// that feed.
    async fn serve_feed(&self, text: String) {
        self.server.set("/events.ics", Answer::Calendar(text));
        let url = self.server.url("/events.ics");
        self.feeds
            .set_feed(&self.organisation, Some(&url), NOW)
            .await
            .unwrap();
    }

    /// Refreshes every feed at `now`, and returns the organisation's.
    async fn refresh(&self, now: i64) -> Refreshed {
        self.refresh_on(today(), now).await
    }

    async fn refresh_on(&self, today: NaiveDate, now: i64) -> Refreshed {
        let refreshed = self.feeds.refresh(today, now).await.unwrap();
        refreshed
            .into_iter()
            .find(|r| r.organization_id == self.organization_id)
            .expect("the organisation's feed was refreshed")
    }

    /// The changes waiting for staff: (kind, service name).
    async fn waiting(&self) -> Vec<(ChangeKind, String)> {
        let mut waiting: Vec<(ChangeKind, String)> = self
            .moderation
            .queue(&self.staff)
            .await
            .unwrap()
            .into_iter()
            .map(|change| (change.kind, change.service_name))
            .collect();
        waiting.sort_by(|a, b| a.1.cmp(&b.1));
        waiting
    }

    async fn queue(&self) -> Vec<Change> {
        self.moderation.queue(&self.staff).await.unwrap()
    }

    /// Approves every waiting change.
    async fn approve_all(&self, now: i64) {
        for change in self.queue().await {
            self.moderation
                .approve(&self.staff, change.id, today(), now)
                .await
                .unwrap();
        }
    }

    /// What a search for `words` finds: each result's title.
    async fn search(&self, words: &str) -> Vec<String> {
        let mut query = SearchQuery::new(today());
        query.text = Some(words.to_owned());
        self.directory
            .search(&query)
            .await
            .unwrap()
            .listings
            .into_iter()
            .map(|listing| listing.title)
            .collect()
    }
}

backend_tests! {
    async fn a_first_fetch_queues_every_event_and_fetching_again_queues_nothing(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK, COFFEE])).await;

        let first = portal.refresh(NOW).await;
        assert!(first.succeeded, "{}", first.outcome);
        assert_eq!(first.events, 2);
        assert_eq!((first.queued.added, first.queued.changed, first.queued.withdrawn), (2, 0, 0));
        assert_eq!(
            portal.waiting().await,
            [
                (ChangeKind::Add, WALK.summary.to_owned()),
                (ChangeKind::Add, "Coffee morning".to_owned()),
            ]
        );
        assert!(first.outcome.contains("2 new sent to staff"), "{}", first.outcome);
        assert!(portal.search("bandstand").await.is_empty(), "nothing is shown before staff approve");

        let second = portal.refresh(NOW + HOUR).await;
        assert!(second.succeeded);
        assert_eq!(second.queued, Default::default(), "{}", second.outcome);
        assert!(second.outcome.contains("nothing new or changed"), "{}", second.outcome);
        let queue = portal.queue().await;
        assert_eq!(queue.len(), 2);
        assert!(queue.iter().all(|change| change.submitted_at == NOW), "not queued again");

        let feed = portal.feeds.feed_for(&portal.organisation).await.unwrap().unwrap();
        let last = feed.last_fetch.unwrap();
        assert_eq!(last.at, NOW + HOUR);
        assert!(last.succeeded);
        assert_eq!(last.events, Some(2));
        assert_eq!(last.outcome, second.outcome);

        let audit = portal.accounts.audit(Some(&format!("service:{}", queue[0].service_id)), 10).await.unwrap();
        assert_eq!(audit[0].by, None);
        assert_eq!(audit[0].action, "listing change submitted by the calendar feed", "{audit:?}");
    }

    async fn the_feed_of_an_organisation_without_a_current_account_is_not_fetched(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK])).await;
        common::disable_accounts_of(&db.url, &portal.organization_id).await;
        let refreshed = portal.feeds.refresh(today(), NOW).await.unwrap();
        assert!(refreshed.is_empty(), "{refreshed:?}");
        assert!(portal.queue().await.is_empty());
    }

    async fn staff_approve_a_feed_event_and_the_bot_then_finds_it(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;

        assert_eq!(portal.search("bandstand").await, [WALK.summary]);
        let mut query = SearchQuery::new(today());
        query.text = Some("bandstand".to_owned());
        let found = portal.directory.search(&query).await.unwrap().listings;
        let next = found[0].next.as_ref().expect("a next date");
        assert_eq!(next.date, "2026-12-03".parse::<NaiveDate>().unwrap(), "the next Thursday");
        assert_eq!(next.start, chrono::NaiveTime::from_hms_opt(10, 0, 0));

        let again = portal.refresh(NOW + 2 * HOUR).await;
        assert_eq!(again.queued, Default::default(), "{}", again.outcome);
        assert!(portal.queue().await.is_empty());
    }

    async fn a_changed_event_is_queued_as_a_change_to_its_listing(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK, COFFEE])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;

        let renamed = Event { summary: "Winter bandstand walk and talk", ..WALK };
        portal.serve_feed(calendar(&[renamed, COFFEE])).await;
        let changed = portal.refresh(NOW + 2 * HOUR).await;
        assert_eq!((changed.queued.added, changed.queued.changed), (0, 1), "{}", changed.outcome);
        assert_eq!(
            portal.waiting().await,
            [(ChangeKind::Edit, "Winter bandstand walk and talk".to_owned())]
        );
        assert_eq!(portal.search("bandstand").await, [WALK.summary], "the published version stays");

        portal.approve_all(NOW + 3 * HOUR).await;
        assert_eq!(portal.search("bandstand").await, ["Winter bandstand walk and talk"]);
    }

    async fn a_feed_never_replaces_a_change_a_person_sent(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;
        // Someone at the organisation asks for the walk to come down.
        let walk = portal.moderation.changes_for(&portal.organisation).await.unwrap()[0]
            .service_id
            .clone();
        portal
            .moderation
            .submit(&portal.organisation, &Proposal::Withdraw { service_id: walk.clone() }, NOW + HOUR)
            .await
            .unwrap();

        let renamed = Event { summary: "Winter bandstand walk and talk", ..WALK };
        portal.serve_feed(calendar(&[renamed])).await;
        let changed = portal.refresh(NOW + 2 * HOUR).await;
        assert_eq!((changed.queued.changed, changed.queued.refused), (0, 1), "{}", changed.outcome);
        assert!(changed.outcome.contains("waits until staff have decided it"), "{}", changed.outcome);
        let queue = portal.queue().await;
        assert_eq!(queue.len(), 1, "{queue:?}");
        assert_eq!((queue[0].kind, queue[0].origin), (ChangeKind::Withdraw, ChangeOrigin::Account));

        // Once staff have decided, the calendar's version is sent.
        portal
            .moderation
            .reject(&portal.staff, queue[0].id, "It still runs, we checked", NOW + 3 * HOUR)
            .await
            .unwrap();
        let sent = portal.refresh(NOW + 4 * HOUR).await;
        assert_eq!(sent.queued.changed, 1, "{}", sent.outcome);
        assert_eq!(portal.queue().await[0].origin, ChangeOrigin::CalendarFeed);
    }

    async fn an_event_gone_from_the_feed_is_proposed_for_withdrawal_once(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK, COFFEE])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;

        portal.serve_feed(calendar(&[COFFEE])).await;
        let gone = portal.refresh(NOW + 2 * HOUR).await;
        assert_eq!(gone.queued.withdrawn, 1, "{}", gone.outcome);
        assert_eq!(gone.events, 1);
        assert_eq!(portal.waiting().await, [(ChangeKind::Withdraw, WALK.summary.to_owned())]);
        let again = portal.refresh(NOW + 3 * HOUR).await;
        assert_eq!(again.queued, Default::default(), "{}", again.outcome);
        assert_eq!(portal.queue().await.len(), 1);

        portal.approve_all(NOW + 4 * HOUR).await;
        assert!(portal.search("bandstand").await.is_empty());
    }

    async fn an_event_gone_before_staff_decided_takes_back_its_waiting_proposal(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK, COFFEE])).await;
        portal.refresh(NOW).await;

        portal.serve_feed(calendar(&[COFFEE])).await;
        let gone = portal.refresh(NOW + HOUR).await;
        assert_eq!(gone.queued.withdrawn, 1, "{}", gone.outcome);
        assert_eq!(portal.waiting().await, [(ChangeKind::Add, "Coffee morning".to_owned())]);
        let mine = portal.moderation.changes_for(&portal.organisation).await.unwrap();
        let walk = mine.iter().find(|c| c.service_name == WALK.summary).unwrap();
        assert_eq!(walk.status, ChangeStatus::Superseded);
    }

    async fn an_unreadable_event_is_left_out_and_nothing_is_taken_down(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK, COFFEE])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;

        let broken = calendar(&[WALK, COFFEE]).replace(
            "DTEND;TZID=Europe/London:20261203T113000",
            "DTEND;TZID=Europe/London:20261203T090000",
        );
        assert_ne!(broken, calendar(&[WALK, COFFEE]));
        portal.serve_feed(broken).await;
        let refreshed = portal.refresh(NOW + 2 * HOUR).await;
        assert!(refreshed.succeeded);
        assert_eq!(refreshed.events, 1);
        assert_eq!(refreshed.queued, Default::default(), "{}", refreshed.outcome);
        assert!(refreshed.outcome.contains("could not be read"), "{}", refreshed.outcome);
        assert!(refreshed.outcome.contains("ends (DTEND or DURATION) before it starts"), "{}", refreshed.outcome);
        assert!(portal.queue().await.is_empty());
    }

    async fn a_feed_that_cannot_be_fetched_or_read_changes_nothing_and_says_why(db: TestDatabase) {
        let portal = portal(&db).await;
        portal.serve_feed(calendar(&[WALK])).await;
        portal.refresh(NOW).await;
        portal.approve_all(NOW + HOUR).await;
        let before = portal.directory.published(today()).await.unwrap();

        let cases = [
            (Answer::Status(404), "404 Not Found"),
            (Answer::Calendar("<!DOCTYPE html><p>Sign in to see this calendar".to_owned()), "not an iCalendar file"),
            (Answer::Calendar(calendar(&[WALK]).replace("END:VCALENDAR\r\n", "")), "cut short"),
            (Answer::Hang, "did not send the calendar within 2 seconds"),
            (Answer::Redirect("/events.ics".to_owned()), "more than 3 times"),
        ];
        for (answer, expected) in cases {
            portal.server.set("/events.ics", answer);
            let refreshed = portal.refresh(NOW + 2 * HOUR).await;
                assert!(!refreshed.succeeded, "{}", refreshed.outcome);
            assert!(refreshed.outcome.contains(expected), "{expected}: {}", refreshed.outcome);
            assert!(refreshed.outcome.contains("Nothing was changed"), "{}", refreshed.outcome);
            assert!(portal.queue().await.is_empty(), "{expected}");
            let feed = portal.feeds.feed_for(&portal.organisation).await.unwrap().unwrap();
            let last = feed.last_fetch.unwrap();
            assert!(!last.succeeded);
            assert_eq!(last.outcome, refreshed.outcome);
            assert_eq!(last.events, Some(1), "the count last read is kept");
        }
        assert_eq!(portal.directory.published(today()).await.unwrap(), before);

        let small = Feeds::with_limits(
            portal.directory.database().clone(),
            FetchLimits { max_bytes: 100, ..limits() },
        );
        portal.server.set("/events.ics", Answer::Calendar(calendar(&[WALK])));
        let refreshed = small.refresh(today(), NOW + 3 * HOUR).await.unwrap();
        assert!(refreshed[0].outcome.contains("larger than"), "{}", refreshed[0].outcome);
        assert!(portal.queue().await.is_empty());
    }

    async fn only_an_organisations_own_account_sets_and_reads_its_feed(db: TestDatabase) {
        let portal = portal(&db).await;
        let ours = portal.server.url("/ours.ics");
        portal.feeds.set_feed(&portal.organisation, Some(&ours), NOW).await.unwrap();

        // Another organisation's account speaks only for its own organisation.
        let theirs = portal.server.url("/theirs.ics");
        let set = portal.feeds.set_feed(&portal.other, Some(&theirs), NOW).await.unwrap().unwrap();
        assert_ne!(set.organization_id, portal.organization_id);
        let feed = portal.feeds.feed_for(&portal.organisation).await.unwrap().unwrap();
        assert_eq!(feed.url, ours);
        assert_eq!(feed.organization_id, portal.organization_id);
        assert_eq!(feed.last_fetch, None);

        for refused in [
            portal.feeds.set_feed(&portal.staff, Some(&ours), NOW).await.map(|_| ()),
            portal.feeds.feed_for(&portal.staff).await.map(|_| ()),
        ] {
            assert!(matches!(refused, Err(FeedsError::NotAllowed(_))), "{refused:?}");
        }

        let wrong = portal.feeds.set_feed(&portal.organisation, Some("webcal…"), NOW).await.unwrap_err();
        assert_eq!(wrong.to_string(), "\"webcal…\" is not a web address: give one starting https://");
        assert!(matches!(wrong, FeedsError::InvalidUrl(_)));
        let feed = portal.feeds.feed_for(&portal.organisation).await.unwrap().unwrap();
        assert_eq!(feed.url, ours, "a refused address changes nothing");

        let webcal = portal
            .feeds
            .set_feed(&portal.organisation, Some("webcal://calendar.example.org/park.ics"), NOW + HOUR)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(webcal.url, "https://calendar.example.org/park.ics");
        assert_eq!(webcal.set_at, NOW + HOUR);

        let audit = portal
            .accounts
            .audit(Some(&format!("organization:{}", portal.organization_id)), 10)
            .await
            .unwrap();
        assert_eq!(audit[0].action, "calendar feed set");
        assert_eq!(audit[0].by.as_deref(), Some("hello@park.org.uk"));
        // Only the host: the address may be a secret link.
        assert_eq!(audit[0].detail.as_deref(), Some("a calendar at calendar.example.org"));

        assert_eq!(portal.feeds.set_feed(&portal.organisation, None, NOW).await.unwrap(), None);
        assert_eq!(portal.feeds.feed_for(&portal.organisation).await.unwrap(), None);
        assert_eq!(portal.feeds.feed_for(&portal.other).await.unwrap().unwrap().url, theirs);
    }

    async fn a_real_calendar_is_queued_once(db: TestDatabase) {
        let Some(path) = common::shared_data("ics/machbar_16_feb_2019.ics") else {
            return;
        };
        let portal = portal(&db).await;
        portal.serve_feed(std::fs::read_to_string(path).unwrap()).await;
        // The day the calendar was exported: some of its events are over.
        let exported: NaiveDate = "2019-02-16".parse().unwrap();
        let first = portal.refresh_on(exported, NOW).await;
        assert!(first.succeeded, "{}", first.outcome);
        assert!(first.events > first.not_current && first.not_current > 0, "{}", first.outcome);
        assert_eq!(
            first.queued.added + first.queued.refused + first.not_current,
            first.events,
            "{}",
            first.outcome
        );
        let waiting = portal.queue().await.len();
        assert_eq!(waiting, first.queued.added);
        let second = portal.refresh_on(exported, NOW + HOUR).await;
        assert_eq!(second.queued, Default::default(), "{}", second.outcome);
        assert_eq!(portal.queue().await.len(), waiting);
        // Years later most events are over: they are neither queued nor
        // withdrawn, and those that go on were queued already.
        let later = portal.refresh(NOW + 2 * HOUR).await;
        assert!(later.not_current > first.not_current, "{}", later.outcome);
        assert_eq!(later.queued, Default::default(), "{}", later.outcome);
    }
}

#[tokio::test]
async fn local_addresses_are_refused_unless_allowed() {
    let db = TestDatabase::new(common::Backend::Sqlite).await.unwrap();
    let portal = portal(&db).await;
    let strict = Feeds::new(portal.directory.database().clone());
    let refused = strict
        .set_feed(
            &portal.organisation,
            Some("http://127.0.0.1:8080/events.ics"),
            NOW,
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("private or local network"),
        "{refused}"
    );
    assert!(FeedUrl::parse("http://127.0.0.1:8080/events.ics").is_ok());
}

/// Runs `signpost feeds refresh` on the database at `url`, with `env`.
async fn feeds_refresh(url: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_signpost"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGNPOST_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .args(["feeds", "refresh", "--database", url])
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().expect("signpost runs"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signpost_feeds_refresh_prints_a_line_per_feed_and_logs_only_counts() {
    let db = TestDatabase::new(common::Backend::Sqlite).await.unwrap();
    let portal = portal(&db).await;
    portal.serve_feed(calendar(&[WALK])).await;
    let local = [("SIGNPOST_FEEDS__LOCAL_ADDRESSES", "true")];

    let output = feeds_refresh(&db.url, &local).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let url = portal.server.url("/events.ics");
    assert!(
        lines[0].contains("(a calendar at 127.0.0.1): Read 1 event: 1 new"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&url),
        "the whole address is not printed: {stdout}"
    );
    assert!(stderr.contains("calendar feeds refreshed"), "{stderr}");
    assert!(
        !stderr.contains("Bandstand") && !stderr.contains(&url),
        "{stderr}"
    );
    assert_eq!(portal.queue().await.len(), 1);

    portal.server.set("/events.ics", Answer::Status(500));
    let output = feeds_refresh(&db.url, &local).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "a failed feed fails the command");
    assert!(stdout.contains("500 Internal Server Error"), "{stdout}");

    // Without feeds.local_addresses, a feed on loopback is not fetched.
    portal
        .server
        .set("/events.ics", Answer::Calendar(calendar(&[COFFEE])));
    let output = feeds_refresh(&db.url, &[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("private or local network"), "{stdout}");
    assert_eq!(portal.queue().await.len(), 1);
}
