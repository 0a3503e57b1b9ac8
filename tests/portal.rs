//! The portal behind a sign-in, in process (`router(state).oneshot`) on
//! both backends: setup links, signing in and out, the session cookie,
//! form tokens, the sign-in pause, who may see which page, the moderation
//! queue and its decisions, and escaping.
//!
//! The clock is an `AtomicI64` the tests move; nothing waits.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::NaiveDate;
use common::TestDatabase;
use http_body_util::BodyExt;
use signpost::accounts::{Account, Accounts, Email, LoginLimiter, Password};
use signpost::database::Database;
use signpost::directory::import::{self, ImportOptions};
use signpost::directory::{Directory, SearchQuery, WriteOptions};
use signpost::moderation::{Moderation, Proposal};
use signpost::search::{Category, When};
use signpost::stats::counter::{CoarseArea, SearchKind};
use signpost::stats::{Channel, Counted, Counter, Store, Tally};
use signpost::web::account::WRONG_DETAILS;
use signpost::web::{AppState, CONTENT_SECURITY_POLICY, router};
use tower::ServiceExt;

/// Tuesday 24 November 2026, about noon UTC.
const NOW: i64 = 1_795_521_600;
const STAFF_EMAIL: &str = "staff@signpost.example";
const ORGANISATION_EMAIL: &str = "hello@walkers.example";
/// The walking group's organisation in `tests/web/directory.json`.
const ORGANISATION: &str = "5e1f0000-0000-4000-8000-0000000000a1";
const PASSWORD: &str = "a long enough passphrase";
const SCRIPT_EMAIL: &str = "<script>alert(1)</script>@evil.example";

fn today() -> NaiveDate {
    "2026-11-24".parse().unwrap()
}

/// The portal, its accounts and the clock its handlers read.
struct Portal {
    app: Router,
    accounts: Accounts,
    clock: Arc<AtomicI64>,
    database: Database,
    directory: Directory,
    moderation: Moderation,
}

impl Portal {
    async fn new(db: &TestDatabase, https: bool) -> Portal {
        let directory = db.directory().await;
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/directory.json");
        let options = ImportOptions {
            source: "directory".to_owned(),
            ..ImportOptions::default()
        };
        let (_, parsed) = import::read(&path, &options, today()).expect("the fixture reads");
        let write = WriteOptions {
            publish: true,
            ..WriteOptions::new(today())
        };
        directory
            .write(&parsed.batch, &write)
            .await
            .expect("the fixture writes");
        let accounts = Accounts::new(directory.database().clone());
        let database = directory.database().clone();
        let clock = Arc::new(AtomicI64::new(NOW));
        let read = clock.clone();
        let moderation = Moderation::new(database.clone());
        let app = router(AppState {
            accounts: accounts.clone(),
            moderation: moderation.clone(),
            // The tests serve calendars on loopback.
            feeds: signpost::feeds::Feeds::with_limits(
                database.clone(),
                signpost::feeds::FetchLimits {
                    local_addresses: true,
                    ..Default::default()
                },
            ),
            directory: directory.clone(),
            today: Arc::new(today),
            https,
            limiter: Arc::new(LoginLimiter::new()),
            now: Arc::new(move || read.load(Ordering::SeqCst)),
        });
        Portal {
            app,
            accounts,
            clock,
            database,
            directory,
            moderation,
        }
    }

    /// Stores `counter` on `day` as `conversations` conversations would.
    async fn count(&self, day: &str, counter: Counter, conversations: u64) {
        let day: NaiveDate = day.parse().unwrap();
        let tally = Tally::new(move || day);
        for _ in 0..conversations {
            tally.record(&mut Counted::default(), [counter.clone()]);
        }
        tally
            .flush(&Store::new(self.database.clone()))
            .await
            .expect("the counts are written");
    }

    /// Staff signed in, with usage counted over two weeks of November.
    async fn with_usage(&self) -> Visitor {
        self.staff(STAFF_EMAIL).await;
        let started = Counter::ConversationStarted {
            channel: Channel::Console,
        };
        self.count("2026-11-17", started.clone(), 12).await;
        self.count("2026-11-23", started, 3).await;
        let search = |area: CoarseArea, category: Category| SearchKind {
            category: Some(category),
            area,
            when: When::Any,
        };
        let huddersfield = || CoarseArea::Listed("Huddersfield".to_owned());
        // Four and four: each hidden alone, ten once added up exactly.
        self.count(
            "2026-11-18",
            Counter::SearchMade(search(huddersfield(), Category::Befriending)),
            4,
        )
        .await;
        self.count(
            "2026-11-18",
            Counter::SearchMade(search(CoarseArea::Typed, Category::Befriending)),
            4,
        )
        .await;
        self.count(
            "2026-11-18",
            Counter::SearchMade(search(huddersfield(), Category::Carers)),
            23,
        )
        .await;
        self.count(
            "2026-11-19",
            Counter::NoResults(search(huddersfield(), Category::Carers)),
            2,
        )
        .await;
        self.count("2026-11-24", Counter::UrgentHelpShown, 9).await;
        self.signed_in(STAFF_EMAIL).await
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, seconds: i64) {
        self.clock.fetch_add(seconds, Ordering::SeqCst);
    }

    /// A staff account with a password.
    async fn staff(&self, email: &str) -> Account {
        let invitation = self
            .accounts
            .add_staff(&Email::parse(email).unwrap(), self.now())
            .await
            .unwrap();
        self.accounts
            .set_password(&invitation.token, password(), self.now())
            .await
            .unwrap()
    }

    /// An organisation's account with a password, invited by `staff`.
    async fn organisation(&self, staff: &Account) -> Account {
        let invitation = self
            .accounts
            .invite_organisation(
                staff,
                &Email::parse(ORGANISATION_EMAIL).unwrap(),
                ORGANISATION,
                self.now(),
            )
            .await
            .unwrap();
        self.accounts
            .set_password(&invitation.token, password(), self.now())
            .await
            .unwrap()
    }

    /// A signed-in visitor: their cookie and their forms' token.
    async fn signed_in(&self, email: &str) -> Visitor {
        let (_, token) = self
            .accounts
            .sign_in(&Email::parse(email).unwrap(), password(), self.now())
            .await
            .unwrap()
            .expect("the account signs in");
        Visitor {
            cookie: format!("signpost_session={}", token.reveal()),
            form_token: token.form_token(),
        }
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = if method == Method::POST {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            let mut encoded = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in form {
                encoded.append_pair(name, value);
            }
            Body::from(encoded.finish())
        } else {
            Body::empty()
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// A POST as a browser at http://signpost.test sends it.
    async fn send_with_host(&self, uri: &str, cookie: &str, form: &[(&str, &str)]) -> Answer {
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in form {
            encoded.append_pair(name, value);
        }
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::HOST, "signpost.test")
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(encoded.finish()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Answer {
        self.send(Method::GET, uri, cookie, &[]).await
    }

    async fn post(&self, uri: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, uri, cookie, form).await
    }

    /// The sign-in form as a browser gets it: its cookie and its token.
    async fn sign_in_form(&self) -> Visitor {
        let answer = self.get("/sign-in", None).await;
        assert_eq!(answer.status, StatusCode::OK);
        let set = answer.cookie("signpost_form").expect("a form cookie");
        Visitor {
            cookie: set.split(';').next().unwrap().to_owned(),
            form_token: answer.hidden_form_token(),
        }
    }

    /// Fills in and sends the sign-in form.
    async fn sign_in(&self, email: &str, password: &str) -> Answer {
        let form = self.sign_in_form().await;
        self.post(
            "/sign-in",
            Some(&form.cookie),
            &[
                ("form_token", &form.form_token),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }
}

/// A new listing the walking group's organisation proposes, named `name`.
fn coffee_morning(name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "6a1f0000-0000-4000-8000-000000000101",
        "name": name,
        "description": "Tea, coffee and a chat, every Friday.",
        "status": "active",
        "organization_id": ORGANISATION,
        "service_at_locations": [{
            "id": "6a1f0000-0000-4000-8000-000000000102",
            "location": {
                "id": "6a1f0000-0000-4000-8000-000000000103",
                "name": "Marsden Mechanics Hall",
                "location_type": "physical",
                "latitude": 53.6018,
                "longitude": -1.9306,
                "addresses": [{
                    "id": "6a1f0000-0000-4000-8000-000000000104",
                    "address_1": "Peel Street",
                    "city": "Marsden",
                    "state_province": "West Yorkshire",
                    "postal_code": "HD7 6BW",
                    "country": "GB",
                    "address_type": "physical"
                }]
            }
        }],
        "schedules": [{
            "id": "6a1f0000-0000-4000-8000-000000000105",
            "freq": "WEEKLY",
            "byday": "FR",
            "opens_at": "10:00",
            "closes_at": "12:00"
        }]
    })
}

/// Staff and the walking group's organisation, both signed in, and a new
/// listing named `name` waiting in the queue: its change number.
async fn waiting_change(portal: &Portal, name: &str) -> (Visitor, Visitor, i64) {
    let staff = portal.staff(STAFF_EMAIL).await;
    let organisation = portal.organisation(&staff).await;
    let id = portal
        .moderation
        .submit(
            &organisation,
            &Proposal::Add(coffee_morning(name)),
            portal.now(),
        )
        .await
        .expect("the listing is proposed");
    (
        portal.signed_in(STAFF_EMAIL).await,
        portal.signed_in(ORGANISATION_EMAIL).await,
        id,
    )
}

/// The titles a search of the directory for `words` finds.
async fn found(portal: &Portal, words: &str) -> Vec<String> {
    let mut query = SearchQuery::new(today());
    query.text = Some(words.to_owned());
    portal
        .directory
        .search(&query)
        .await
        .unwrap()
        .listings
        .into_iter()
        .map(|listing| listing.title)
        .collect()
}

/// The part of a dashboard page about one chart.
fn section_of(body: &str, id: &str) -> String {
    let start = body.find(&format!(r#"<h2 id="{id}-heading">"#)).expect(id);
    let rest = &body[start..];
    rest[..rest.find("</section>").unwrap()].to_owned()
}

fn password() -> Password {
    Password::parse(PASSWORD).unwrap()
}

/// A form's fields, as names and values.
type Fields = Vec<(&'static str, String)>;

/// What a browser holds: a cookie, and the token its forms carry.
struct Visitor {
    cookie: String,
    form_token: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `Set-Cookie` for `name`, whole.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    fn session_cookie(&self) -> String {
        let set = self.cookie("signpost_session").expect("a session cookie");
        set.split(';').next().unwrap().to_owned()
    }

    fn hidden_form_token(&self) -> String {
        let (_, rest) = self
            .body
            .split_once(r#"name="form_token" value=""#)
            .expect("a form token in the page");
        rest.split('"').next().unwrap().to_owned()
    }

    fn has_security_headers(&self) {
        assert_eq!(
            self.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY)
        );
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(self.header("x-frame-options"), Some("DENY"));
    }
}

backend_tests! {
    async fn each_page_answers_anonymous_staff_and_organisations_as_their_role_allows(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let staff = portal.staff(STAFF_EMAIL).await;
        portal.organisation(&staff).await;
        let staff = portal.signed_in(STAFF_EMAIL).await;
        let organisation = portal.signed_in(ORGANISATION_EMAIL).await;

        for uri in ["/account", "/staff/stats", "/staff/stats.csv", "/staff/invite"] {
            let answer = portal.get(uri, None).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
            assert_eq!(answer.header("location"), Some("/sign-in"), "{uri}");
            answer.has_security_headers();
        }
        let answer = portal.post("/staff/invite", None, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let answer = portal
            .post("/staff/invite", Some(&organisation.cookie), &[("form_token", &organisation.form_token)])
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        for uri in ["/staff/stats", "/staff/stats.csv", "/staff/invite"] {
            let answer = portal.get(uri, Some(&organisation.cookie)).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
            assert!(answer.body.contains("This page is for Signpost staff"), "{}", answer.body);
            answer.has_security_headers();
            let answer = portal.get(uri, Some(&staff.cookie)).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            answer.has_security_headers();
        }
        let answer = portal.post("/sign-out", None, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.header("location"), Some("/sign-in"));
        let answer = portal.get("/account", Some("signpost_session=made-up")).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);

        let answer = portal.get("/account", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains(STAFF_EMAIL), "{}", answer.body);
        assert!(answer.body.contains("This is a staff account"), "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        answer.has_security_headers();

        let answer = portal.get("/account", Some(&organisation.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains(ORGANISATION_EMAIL), "{}", answer.body);
        assert!(answer.body.contains(ORGANISATION), "{}", answer.body);
        assert!(!answer.body.contains("staff account"), "{}", answer.body);

        for uri in ["/sign-in", "/setup/0123"] {
            let answer = portal.get(uri, None).await;
            answer.has_security_headers();
        }
    }

    async fn signing_in_sets_a_strict_http_only_session_cookie_and_opens_the_account(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let form = portal.sign_in_form().await;
        let answer = portal.get("/sign-in", None).await;
        let set = answer.cookie("signpost_form").unwrap();
        assert!(set.contains("HttpOnly; SameSite=Strict; Path=/sign-in"), "{set}");
        assert!(!set.contains("Secure"), "{set}");
        answer.has_security_headers();

        let answer = portal
            .post(
                "/sign-in",
                Some(&form.cookie),
                &[
                    ("form_token", &form.form_token),
                    ("email", "  Staff@Signpost.EXAMPLE "),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/account"));
        let set = answer.cookie("signpost_session").unwrap();
        assert!(
            set.ends_with("; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"),
            "plain HTTP, so not Secure: {set}"
        );
        let form_cookie = answer.cookie("signpost_form").unwrap();
        assert!(form_cookie.contains("Max-Age=0"), "{form_cookie}");

        let account = portal.get("/account", Some(&answer.session_cookie())).await;
        assert_eq!(account.status, StatusCode::OK);
        assert!(account.body.contains(STAFF_EMAIL));
    }

    async fn cookies_are_secure_when_the_portal_is_served_over_https(db: TestDatabase) {
        let portal = Portal::new(&db, true).await;
        portal.staff(STAFF_EMAIL).await;
        let answer = portal.get("/sign-in", None).await;
        assert!(answer.cookie("signpost_form").unwrap().ends_with("; Secure"));
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let set = answer.cookie("signpost_session").unwrap();
        assert!(set.ends_with("; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200; Secure"), "{set}");
        assert_eq!(answer.header("strict-transport-security"), Some("max-age=31536000"));
    }

    async fn a_wrong_password_and_an_unknown_address_get_the_same_message(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let wrong_password = portal.sign_in(STAFF_EMAIL, "not the right passphrase").await;
        let unknown = portal.sign_in("nobody@signpost.example", PASSWORD).await;
        let not_an_address = portal.sign_in("nobody", PASSWORD).await;
        for answer in [&wrong_password, &unknown, &not_an_address] {
            assert_eq!(answer.status, StatusCode::OK);
            assert!(answer.body.contains(WRONG_DETAILS), "{}", answer.body);
            assert!(answer.cookie("signpost_session").is_none());
            assert!(answer.body.contains("<title>Error: Sign in"), "{}", answer.body);
        }
        let without_address = |answer: &Answer, email: &str| {
            let token = answer.hidden_form_token();
            answer.body.replace(email, "").replace(&token, "")
        };
        assert_eq!(
            without_address(&wrong_password, STAFF_EMAIL),
            without_address(&unknown, "nobody@signpost.example")
        );
        let blank = portal.sign_in("", "").await;
        assert_eq!(blank.status, StatusCode::BAD_REQUEST);
        assert!(blank.body.contains(r#"aria-invalid="true" aria-describedby="email-error""#), "{}", blank.body);
        assert!(blank.body.contains(r#"id="email-error">Enter your email address."#), "{}", blank.body);
        assert!(blank.body.contains(r#"id="password-error">Enter your password."#), "{}", blank.body);
    }

    async fn after_five_failures_signing_in_pauses_and_says_for_how_long(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        for _ in 0..5 {
            let answer = portal.sign_in(STAFF_EMAIL, "not the right passphrase").await;
            assert_eq!(answer.status, StatusCode::OK);
            assert!(answer.body.contains(WRONG_DETAILS));
        }
        portal.advance(60);
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.body);
        assert!(answer.body.contains("please try again in 14 minutes"), "{}", answer.body);
        assert_eq!(answer.header("retry-after"), Some("840"));
        assert!(answer.cookie("signpost_session").is_none());
        answer.has_security_headers();
        // The same pause whatever the case of the address.
        let answer = portal.sign_in("STAFF@signpost.example", PASSWORD).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        // Other addresses are not paused.
        let answer = portal.sign_in("someone@signpost.example", PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK);

        portal.advance(14 * 60);
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    }

    async fn a_sign_in_without_or_with_a_wrong_form_token_is_refused_and_signs_nobody_in(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let form = portal.sign_in_form().await;
        let other = portal.sign_in_form().await;
        let details = [("email", STAFF_EMAIL), ("password", PASSWORD)];
        let with = |token: &str| {
            let mut fields = vec![("form_token", token.to_owned())];
            fields.extend(details.iter().map(|(k, v)| (*k, (*v).to_owned())));
            fields
        };
        let attempts: Vec<(Option<&str>, Fields)> = vec![
            (None, with(&form.form_token)),
            (Some(form.cookie.as_str()), with("")),
            (Some(form.cookie.as_str()), details.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()),
            (Some(form.cookie.as_str()), with(&other.form_token)),
            (Some(other.cookie.as_str()), with(&form.form_token)),
            (Some("signpost_form="), with(&form.form_token)),
        ];
        for (cookie, fields) in attempts {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = portal.post("/sign-in", cookie, &fields).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{cookie:?} {fields:?}");
            assert!(answer.body.contains("reload the page and try again"), "{}", answer.body);
            assert!(answer.cookie("signpost_session").is_none());
            answer.has_security_headers();
        }
        // Refusals are not failures: the address is not paused.
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
    }

    async fn a_setup_link_sets_a_password_once_and_signs_the_person_in(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let invitation = portal
            .accounts
            .add_staff(&Email::parse(STAFF_EMAIL).unwrap(), NOW)
            .await
            .unwrap();
        let uri = format!("/setup/{}", invitation.token.reveal());
        let form = portal.get(&uri, None).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("<h1>Choose a password</h1>"), "{}", form.body);
        assert!(form.body.contains(r#"<label for="password">"#));
        assert_eq!(form.header("cache-control"), Some("no-store"));
        form.has_security_headers();
        let token = form.hidden_form_token();

        let answer = portal.post(&uri, None, &[("form_token", &token), ("password", PASSWORD)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/account"));
        let account = portal.get("/account", Some(&answer.session_cookie())).await;
        assert!(account.body.contains(STAFF_EMAIL));

        for again in [
            portal.get(&uri, None).await,
            portal.post(&uri, None, &[("form_token", &token), ("password", "another long passphrase")]).await,
        ] {
            assert_eq!(again.status, StatusCode::NOT_FOUND);
            assert!(again.body.contains("This link has expired or been used"), "{}", again.body);
            assert!(again.body.contains("ask Signpost staff for a new one"), "{}", again.body);
            assert!(again.cookie("signpost_session").is_none());
        }
        // The first password stands.
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let answer = portal.sign_in(STAFF_EMAIL, "another long passphrase").await;
        assert!(answer.body.contains(WRONG_DETAILS));
    }

    async fn a_setup_form_without_its_token_or_with_a_weak_password_changes_nothing(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let invitation = portal
            .accounts
            .add_staff(&Email::parse(STAFF_EMAIL).unwrap(), NOW)
            .await
            .unwrap();
        let uri = format!("/setup/{}", invitation.token.reveal());
        for fields in [
            vec![("password", PASSWORD)],
            vec![("form_token", "0000"), ("password", PASSWORD)],
            vec![("form_token", invitation.token.reveal()), ("password", PASSWORD)],
        ] {
            let answer = portal.post(&uri, None, &fields).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fields:?}");
            assert!(answer.cookie("signpost_session").is_none());
        }
        let token = invitation.token.form_token();
        let answer = portal.post(&uri, None, &[("form_token", &token), ("password", "hunter2")]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("<title>Error: Choose a password"), "{}", answer.body);
        assert!(
            answer.body.contains(r#"aria-describedby="password-hint password-error" aria-invalid="true""#),
            "{}",
            answer.body
        );
        assert!(answer.body.contains(r#"id="password-error">The password is too short: use at least 12 characters"#), "{}", answer.body);
        assert!(portal.accounts.link_is_valid(&invitation.token, NOW).await.unwrap());
        let answer = portal.sign_in(STAFF_EMAIL, PASSWORD).await;
        assert!(answer.body.contains(WRONG_DETAILS), "no password was set");
    }

    async fn an_expired_setup_link_gets_a_kind_page(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let invitation = portal
            .accounts
            .add_staff(&Email::parse(STAFF_EMAIL).unwrap(), NOW)
            .await
            .unwrap();
        portal.advance(73 * 3600);
        let answer = portal.get(&format!("/setup/{}", invitation.token.reveal()), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert!(answer.body.contains("<h1>This link has expired or been used</h1>"), "{}", answer.body);
        let answer = portal.get("/setup/not-a-link", None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert!(!answer.body.contains("not-a-link"));
    }

    async fn signing_out_ends_the_session_and_needs_its_form_token(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let visitor = portal.signed_in(STAFF_EMAIL).await;
        let account = portal.get("/account", Some(&visitor.cookie)).await;
        assert_eq!(account.hidden_form_token(), visitor.form_token);

        for token in ["", "0000"] {
            let answer = portal.post("/sign-out", Some(&visitor.cookie), &[("form_token", token)]).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
            let still = portal.get("/account", Some(&visitor.cookie)).await;
            assert_eq!(still.status, StatusCode::OK, "the session goes on");
        }
        let answer = portal
            .post("/sign-out", Some(&visitor.cookie), &[("form_token", &visitor.form_token)])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.header("location"), Some("/sign-in"));
        let set = answer.cookie("signpost_session").unwrap();
        assert!(set.starts_with("signpost_session=;") && set.contains("Max-Age=0"), "{set}");
        let after = portal.get("/account", Some(&visitor.cookie)).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "the old cookie no longer works");
    }

    async fn a_session_ends_after_twelve_hours(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let visitor = portal.signed_in(STAFF_EMAIL).await;
        portal.advance(12 * 3600 - 1);
        assert_eq!(portal.get("/account", Some(&visitor.cookie)).await.status, StatusCode::OK);
        portal.advance(2);
        assert_eq!(portal.get("/account", Some(&visitor.cookie)).await.status, StatusCode::SEE_OTHER);
    }

    async fn html_or_script_in_an_email_address_comes_out_escaped(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let answer = portal.sign_in(SCRIPT_EMAIL, PASSWORD).await;
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        assert!(answer.body.contains("&#60;script&#62;") || answer.body.contains("&lt;script&gt;"), "{}", answer.body);

        portal.staff(SCRIPT_EMAIL).await;
        let visitor = portal.signed_in(SCRIPT_EMAIL).await;
        let account = portal.get("/account", Some(&visitor.cookie)).await;
        assert_eq!(account.status, StatusCode::OK);
        assert!(!account.body.contains("<script>"), "{}", account.body);
    }

    async fn the_dashboard_shows_only_hidden_or_rounded_figures_with_a_table_for_each_chart(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let staff = portal.with_usage().await;
        // The defaults: the last 30 days, by week.
        let answer = portal.get("/staff/stats", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains("From 2026-10-26 to 2026-11-24, by week."), "{}", answer.body);
        assert!(answer.body.contains(r#"<option value="week" selected>"#));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        answer.has_security_headers();

        let section = |id: &str| section_of(&answer.body, id);
        let row = |label: &str, shown: &str| {
            format!(r#"<tr><th scope="row">{label}</th><td class="number">{shown}</td></tr>"#)
        };
        let conversations = section("conversations");
        assert!(conversations.contains("<svg"), "{conversations}");
        assert!(conversations.contains(&row("2026-W44", "0")), "an empty week shows as 0: {conversations}");
        assert!(conversations.contains(&row("2026-W47", "10")), "12 rounds to 10: {conversations}");
        assert!(conversations.find("2026-W44") < conversations.find("2026-W47"), "in order");
        assert!(conversations.contains(&row("2026-W48", "&#60;8")) || conversations.contains(&row("2026-W48", "&lt;8")), "{conversations}");
        let searches = section("searches");
        assert!(searches.contains(&row("befriending", "10")), "four and four make eight, shown as 10: {searches}");
        assert!(searches.contains(&row("carers", "25")), "{searches}");
        let gaps = section("no-results");
        assert!(gaps.contains("Huddersfield, carers"), "{gaps}");
        let urgent = section("urgent-help");
        assert!(urgent.contains(&row("2026-10", "0")), "{urgent}");
        assert!(urgent.contains(&row("2026-11", "10")), "{urgent}");
        for exact in [">12<", ">3<", ">4<", ">8<", ">23<", ">2<", ">9<"] {
            assert!(!answer.body.contains(exact), "an exact count {exact} is shown");
        }
        assert!(answer.body.contains("/staff/stats.csv?from=2026-10-26&#38;to=2026-11-24&#38;by=week")
            || answer.body.contains("/staff/stats.csv?from=2026-10-26&amp;to=2026-11-24&amp;by=week"), "{}", answer.body);

        // By day, urgent help is still by month only.
        let answer = portal.get("/staff/stats?from=2026-11-20&to=2026-11-24&by=day", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        let urgent = section_of(&answer.body, "urgent-help");
        assert!(urgent.contains(&row("2026-11", "10")), "{urgent}");
        assert!(!urgent.contains("2026-11-24"), "{urgent}");
        let conversations = section_of(&answer.body, "conversations");
        assert!(conversations.contains("2026-11-23"), "{conversations}");
    }

    async fn the_dashboard_explains_dates_and_groupings_it_cannot_read(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let staff = portal.with_usage().await;
        let answer = portal.get("/staff/stats?from=last+week&to=2026-11-01&by=year", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("<title>Error: How Signpost is used"), "{}", answer.body);
        assert!(answer.body.contains(r#"id="from-error">Enter the first day as a date, such as 2026-11-01."#), "{}", answer.body);
        assert!(answer.body.contains(r#"aria-describedby="from-hint from-error" aria-invalid="true""#), "{}", answer.body);
        assert!(answer.body.contains(r#"id="by-error">Choose day, week or month."#), "{}", answer.body);
        assert!(answer.body.contains(r#"value="last week""#), "what was typed is shown again");
        assert!(!answer.body.contains("<svg"));
        let answer = portal.get("/staff/stats?from=2026-11-20&to=2026-11-01", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("The last day must be on or after the first day."), "{}", answer.body);
        let answer = portal.get("/staff/stats.csv?by=fortnight", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }

    async fn the_figures_download_as_csv_with_nothing_exact(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let staff = portal.with_usage().await;
        let answer = portal.get("/staff/stats.csv?from=2026-11-01&to=2026-11-30&by=week", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(
            answer.header("content-disposition"),
            Some(r#"attachment; filename="signpost-usage-2026-11-01-to-2026-11-30.csv""#)
        );
        answer.has_security_headers();
        let mut lines = answer.body.lines();
        assert!(lines.next().unwrap().starts_with("section,period,from,to,event,"), "{}", answer.body);
        assert!(answer.body.contains("period,2026-W47,2026-11-16,2026-11-22,conversation_started,"), "{}", answer.body);
        assert!(answer.body.lines().any(|line| line.ends_with(",,<8")), "{}", answer.body);
        for line in answer.body.lines().skip(1) {
            let shown = line.rsplit(',').next().unwrap();
            assert!(shown == "<8" || shown.parse::<u64>().unwrap() % 5 == 0, "{line}");
        }
        let urgent: Vec<&str> = answer
            .body
            .lines()
            .filter(|line| line.starts_with("period,") && line.contains(",urgent_help_shown,"))
            .collect();
        assert_eq!(urgent, ["period,2026-11,2026-11-01,2026-11-30,urgent_help_shown,,,,,,,,,,10,10"], "by month only");
    }

    async fn staff_invite_an_organisation_and_see_its_one_time_link(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let staff = portal.signed_in(STAFF_EMAIL).await;
        let form = portal.get("/staff/invite", Some(&staff.cookie)).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains(&format!(r#"<option value="{ORGANISATION}">"#)), "{}", form.body);
        assert_eq!(form.hidden_form_token(), staff.form_token);

        let answer = portal
            .send_with_host(
                "/staff/invite",
                &staff.cookie,
                &[("form_token", &staff.form_token), ("organisation", ORGANISATION), ("email", ORGANISATION_EMAIL)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        answer.has_security_headers();
        let (_, rest) = answer.body.split_once(r#"value="http://signpost.test/setup/"#).expect("the link");
        let token: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        assert_eq!(token.len(), 64);
        let setup = portal.get(&format!("/setup/{token}"), None).await;
        assert_eq!(setup.status, StatusCode::OK, "the link works");
        let done = portal
            .post(&format!("/setup/{token}"), None, &[("form_token", &setup.hidden_form_token()), ("password", PASSWORD)])
            .await;
        let account = portal.get("/account", Some(&done.session_cookie())).await;
        assert!(account.body.contains(ORGANISATION), "{}", account.body);
    }

    async fn an_invitation_without_its_form_token_or_with_bad_fields_makes_no_account(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        portal.staff(STAFF_EMAIL).await;
        let staff = portal.signed_in(STAFF_EMAIL).await;
        let before = portal.accounts.audit(None, 100).await.unwrap().len();
        for token in ["", "0000"] {
            let answer = portal
                .post(
                    "/staff/invite",
                    Some(&staff.cookie),
                    &[("form_token", token), ("organisation", ORGANISATION), ("email", ORGANISATION_EMAIL)],
                )
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
        }
        let answer = portal
            .post(
                "/staff/invite",
                Some(&staff.cookie),
                &[("form_token", &staff.form_token), ("organisation", "not-an-organisation"), ("email", "not an address")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains(r#"id="organisation-error">Choose the organisation from the list."#), "{}", answer.body);
        assert!(answer.body.contains(r#"aria-invalid="true" aria-describedby="email-error""#), "{}", answer.body);
        assert!(answer.body.contains(r#"value="not an address""#));
        assert_eq!(portal.accounts.audit(None, 100).await.unwrap().len(), before, "nothing changed");
        assert!(portal.accounts.sign_in(&Email::parse(ORGANISATION_EMAIL).unwrap(), password(), NOW).await.unwrap().is_none());
    }

    async fn html_or_script_in_an_organisation_name_or_invited_address_comes_out_escaped(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let directory = signpost::directory::Directory::open(&db.url).await.unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web/hostile.json");
        let options = ImportOptions {
            source: "hostile".to_owned(),
            ..ImportOptions::default()
        };
        let (_, mut parsed) = import::read(&path, &options, today()).unwrap();
        parsed.batch.organizations[0].name = "<img src=x onerror=alert(1)> <script>alert(1)</script>".to_owned();
        let write = WriteOptions {
            publish: true,
            ..WriteOptions::new(today())
        };
        directory.write(&parsed.batch, &write).await.unwrap();
        portal.staff(STAFF_EMAIL).await;
        let staff = portal.signed_in(STAFF_EMAIL).await;
        let form = portal.get("/staff/invite", Some(&staff.cookie)).await;
        assert!(!form.body.contains("<script>") && !form.body.contains("<img"), "{}", form.body);
        assert!(form.body.contains("script&#62;alert(1)") || form.body.contains("script&gt;alert(1)"), "{}", form.body);
        let organisation = &parsed.batch.organizations[0].id;
        let answer = portal
            .post(
                "/staff/invite",
                Some(&staff.cookie),
                &[("form_token", &staff.form_token), ("organisation", organisation), ("email", SCRIPT_EMAIL)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(!answer.body.contains("<script>") && !answer.body.contains("<img"), "{}", answer.body);
    }

    async fn the_moderation_pages_answer_each_role_as_it_allows(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation, id) = waiting_change(&portal, "Marsden coffee morning").await;
        let change = format!("/staff/queue/{id}");
        let approve = format!("/staff/queue/{id}/approve");
        let reject = format!("/staff/queue/{id}/reject");
        for uri in ["/staff/queue", &change, "/organisation/changes"] {
            let answer = portal.get(uri, None).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
            assert_eq!(answer.header("location"), Some("/sign-in"), "{uri}");
        }
        for uri in [&approve, &reject] {
            let answer = portal.post(uri, None, &[]).await;
            assert_eq!(answer.header("location"), Some("/sign-in"), "{uri}");
            let answer = portal
                .post(uri, Some(&organisation.cookie), &[("form_token", &organisation.form_token), ("reason", "no")])
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        }
        for uri in ["/staff/queue", &change] {
            let answer = portal.get(uri, Some(&organisation.cookie)).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
            answer.has_security_headers();
        }
        let answer = portal.get("/organisation/changes", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);

        let account = portal.get("/account", Some(&staff.cookie)).await;
        assert!(account.body.contains(r#"href="/staff/queue""#), "{}", account.body);
        let account = portal.get("/account", Some(&organisation.cookie)).await;
        assert!(account.body.contains(r#"href="/organisation/changes""#), "{}", account.body);

        let queue = portal.get("/staff/queue", Some(&staff.cookie)).await;
        assert_eq!(queue.status, StatusCode::OK);
        assert_eq!(queue.header("cache-control"), Some("no-store"));
        assert!(queue.body.contains(&format!(r#"<a href="/staff/queue/{id}">Marsden coffee morning</a>"#)), "{}", queue.body);
        assert!(queue.body.contains("Made-up Friends of Kirklees"), "{}", queue.body);
        let page = portal.get(&change, Some(&staff.cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Tea, coffee and a chat, every Friday."), "{}", page.body);
        assert!(page.body.contains("Marsden Mechanics Hall, Peel Street, Marsden, HD7 6BW"), "{}", page.body);
        assert!(page.body.contains("<dd>Every Friday, 10am to 12pm</dd>"), "{}", page.body);
        assert_eq!(page.hidden_form_token(), staff.form_token);
        let missing = portal.get("/staff/queue/999999", Some(&staff.cookie)).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }

    async fn approving_a_change_puts_the_listing_in_the_directory_once(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation, id) = waiting_change(&portal, "Marsden coffee morning").await;
        assert!(found(&portal, "Marsden coffee").await.is_empty(), "not before approval");
        let approve = format!("/staff/queue/{id}/approve");
        let answer = portal.post(&approve, Some(&staff.cookie), &[("form_token", &staff.form_token)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/staff/queue?done=approved"));
        assert_eq!(found(&portal, "Marsden coffee").await, ["Marsden coffee morning"]);
        let queue = portal.get("/staff/queue?done=approved", Some(&staff.cookie)).await;
        assert!(queue.body.contains("The change was approved"), "{}", queue.body);
        assert!(queue.body.contains("There is nothing waiting to be checked"), "{}", queue.body);

        let again = portal.post(&approve, Some(&staff.cookie), &[("form_token", &staff.form_token)]).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        assert!(again.body.contains("This change has already been approved"), "{}", again.body);
        let mine = portal.get("/organisation/changes", Some(&organisation.cookie)).await;
        assert!(mine.body.contains("Approved"), "{}", mine.body);
    }

    async fn a_rejection_needs_a_reason_and_the_organisation_sees_it(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation, id) = waiting_change(&portal, "Marsden coffee morning").await;
        let reject = format!("/staff/queue/{id}/reject");
        let empty = portal
            .post(&reject, Some(&staff.cookie), &[("form_token", &staff.form_token), ("reason", "   ")])
            .await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.body.contains(r#"aria-invalid="true" aria-describedby="reason-error""#), "{}", empty.body);
        assert!(empty.body.contains(r#"id="reason-error">Enter a reason"#), "{}", empty.body);
        assert_eq!(portal.moderation.queue(&staff_account(&portal).await).await.unwrap().len(), 1, "still waiting");

        let reason = "Please add the room: <script>alert(1)</script>";
        let answer = portal
            .post(&reject, Some(&staff.cookie), &[("form_token", &staff.form_token), ("reason", reason)])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/staff/queue?done=rejected"));
        let mine = portal.get("/organisation/changes", Some(&organisation.cookie)).await;
        assert_eq!(mine.status, StatusCode::OK);
        assert!(mine.body.contains("Rejected"), "{}", mine.body);
        assert!(mine.body.contains("Please add the room: &#60;script&#62;") || mine.body.contains("Please add the room: &lt;script&gt;"), "{}", mine.body);
        assert!(!mine.body.contains("<script>"), "{}", mine.body);
        assert!(found(&portal, "Marsden coffee").await.is_empty());
    }

    async fn a_decision_without_its_form_token_changes_nothing(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, _, id) = waiting_change(&portal, "Marsden coffee morning").await;
        for token in ["", "0000"] {
            let answer = portal
                .post(&format!("/staff/queue/{id}/approve"), Some(&staff.cookie), &[("form_token", token)])
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
            let answer = portal
                .post(&format!("/staff/queue/{id}/reject"), Some(&staff.cookie), &[("form_token", token), ("reason", "no")])
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
        }
        let answer = portal.post(&format!("/staff/queue/{id}/approve"), Some(&staff.cookie), &[]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert_eq!(portal.moderation.queue(&staff_account(&portal).await).await.unwrap().len(), 1, "still waiting");
        assert!(found(&portal, "Marsden coffee").await.is_empty());
    }

    async fn html_or_script_in_a_proposed_name_comes_out_escaped(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        // The importer keeps a name's words, so some of this reaches the
        // pages: whatever does must come out as text.
        let name = "Coffee <img src=x onerror=alert(1)> <script>alert(1)</script> & cake";
        let (staff, organisation, id) = waiting_change(&portal, name).await;
        for (uri, cookie) in [
            ("/staff/queue".to_owned(), &staff.cookie),
            (format!("/staff/queue/{id}"), &staff.cookie),
            ("/organisation/changes".to_owned(), &organisation.cookie),
        ] {
            let answer = portal.get(&uri, Some(cookie)).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert!(answer.body.contains("Coffee"), "{uri}: {}", answer.body);
            assert!(!answer.body.contains("<script>") && !answer.body.contains("<img"), "{uri}: {}", answer.body);
        }
    }
}

/// The staff account `waiting_change` made, as the store knows it.
async fn staff_account(portal: &Portal) -> Account {
    let (account, _) = portal
        .accounts
        .sign_in(
            &Email::parse(STAFF_EMAIL).unwrap(),
            password(),
            portal.now(),
        )
        .await
        .unwrap()
        .expect("staff sign in");
    account
}

/// The walking group, one of the organisation's services in the fixture.
const WALKING_GROUP: &str = "5e1f0000-0000-4000-8000-000000000001";

/// The activity form as an organisation fills it in: a weekly tea in
/// Huddersfield (HD1, which the fixture places).
fn weekly_tea(title: &str) -> Vec<(&'static str, String)> {
    [
        ("title", title),
        ("description", "Tea, cake and a friendly welcome."),
        ("category-social-groups", "yes"),
        ("category-older-people", "yes"),
        ("where", "place"),
        ("place_name", "St Paul's Hall"),
        ("address", "Queensgate"),
        ("town", "Huddersfield"),
        ("postcode", "HD1 2RS"),
        ("repeat", "weekly"),
        ("date", "2026-12-01"),
        ("starts", "10:00"),
        ("ends", "12:00"),
        ("not_on", "22/12/2026\n29/12/2026"),
        ("cost", "£2, tea included"),
        ("step_free", "yes"),
        ("come_alone", "yes"),
        ("met_at_door", "yes"),
        ("how_to_join", "Just turn up"),
        ("phone", "01484 123456"),
        ("booking_url", "https://tea.example/book"),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_owned()))
    .collect()
}

impl Portal {
    /// Sends `fields` with the visitor's form token to `uri`.
    async fn submit(
        &self,
        uri: &str,
        visitor: &Visitor,
        fields: &[(&'static str, String)],
    ) -> Answer {
        let mut form: Vec<(&str, &str)> = vec![("form_token", &visitor.form_token)];
        form.extend(fields.iter().map(|(name, value)| (*name, value.as_str())));
        self.post(uri, Some(&visitor.cookie), &form).await
    }

    /// Staff and the organisation signed in.
    async fn staff_and_organisation(&self) -> (Visitor, Visitor) {
        let staff = self.staff(STAFF_EMAIL).await;
        self.organisation(&staff).await;
        (
            self.signed_in(STAFF_EMAIL).await,
            self.signed_in(ORGANISATION_EMAIL).await,
        )
    }

    /// The only waiting change's number.
    async fn only_waiting_change(&self) -> i64 {
        let queue = self
            .moderation
            .queue(&staff_account(self).await)
            .await
            .unwrap();
        assert_eq!(queue.len(), 1, "{queue:?}");
        queue[0].id
    }
}

backend_tests! {
    async fn an_organisation_adds_a_weekly_activity_staff_approve_it_and_search_finds_it(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;

        let answer = portal.get("/organisation/activities/new", Some(&organisation.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.body.contains(r#"<label for="title">Name of the activity"#), "{}", answer.body);
        answer.has_security_headers();

        let answer = portal
            .submit("/organisation/activities/new", &organisation, &weekly_tea("Tuesday tea and chat"))
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/organisation?done=sent"));
        let answer = portal.get("/organisation?done=sent", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("sent to Signpost staff"), "{}", answer.body);
        let waiting = answer.body.split("New activities waiting for staff").nth(1).expect("a waiting list");
        assert!(waiting.contains("Tuesday tea and chat"), "{}", answer.body);
        assert!(found(&portal, "Tuesday tea").await.is_empty(), "not shown before staff approve");

        let id = portal.only_waiting_change().await;
        let answer = portal.get("/staff/queue", Some(&staff.cookie)).await;
        assert!(answer.body.contains("<td>The organisation&#39;s account</td>"), "{}", answer.body);
        let answer = portal.get(&format!("/staff/queue/{id}"), Some(&staff.cookie)).await;
        for shown in [
            "Every Tuesday, 10am to 12pm; not on 22 December 2026, 29 December 2026",
            "<dd>Social groups, Older people</dd>",
            "<dd>£2, tea included</dd>",
            "<dd>Step-free access, Fine to come alone, Someone will meet you</dd>",
            "<dd>Just turn up</dd>",
            "<dd>01484 123456</dd>",
            "<dd>https://tea.example/book</dd>",
        ] {
            assert!(answer.body.contains(shown), "{shown}: {}", answer.body);
        }
        assert!(answer.body.contains("St Paul&#39;s Hall, Queensgate, Huddersfield, HD1 2RS")
            || answer.body.contains("St Paul&#x27;s Hall, Queensgate, Huddersfield, HD1 2RS"), "{}", answer.body);
        let answer = portal
            .post(&format!("/staff/queue/{id}/approve"), Some(&staff.cookie), &[("form_token", &staff.form_token)])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);

        // Found by words, and near Huddersfield on a Tuesday it runs, but
        // not on a Tuesday it was left out.
        assert_eq!(found(&portal, "Tuesday tea").await, ["Tuesday tea and chat"]);
        let near = |day: &str| {
            let mut query = SearchQuery::new(today());
            let day: NaiveDate = day.parse().unwrap();
            query.near = signpost::search::Area::parse("HD1");
            query.categories = [Category::OlderPeople].into();
            query.dates = signpost::directory::query::DateRange { first: day, last: day };
            query
        };
        let titles = |results: signpost::directory::SearchResults| {
            results.listings.into_iter().map(|l| l.title).collect::<Vec<_>>()
        };
        let on_a_tuesday = titles(portal.directory.search(&near("2026-12-15")).await.unwrap());
        assert!(on_a_tuesday.contains(&"Tuesday tea and chat".to_owned()), "{on_a_tuesday:?}");
        let left_out = titles(portal.directory.search(&near("2026-12-22")).await.unwrap());
        assert!(!left_out.contains(&"Tuesday tea and chat".to_owned()), "{left_out:?}");
        // The bot's card says what a first-timer wants to know.
        let results = portal.directory.search(&near("2026-12-15")).await.unwrap();
        let listing = results.listings.iter().find(|l| l.title == "Tuesday tea and chat").unwrap();
        let card = signpost::directory::card(listing, today());
        assert!(
            card.contains("£2, tea included · step-free access · fine to come alone · someone will meet you"),
            "{card}"
        );

        // Now it is the organisation's to change: the form comes back filled in.
        let answer = portal.get("/organisation", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Shown to people until 26 May 2027"), "{}", answer.body);
        let service_id = answer
            .body
            .split("/organisation/activities/")
            .filter_map(|rest| rest.split('"').next())
            .find(|id| *id != "new" && *id != WALKING_GROUP && id.len() == 36 && !id.starts_with("5e1f"))
            .expect("the new activity's link")
            .to_owned();
        let answer = portal.get(&format!("/organisation/activities/{service_id}"), Some(&organisation.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        for shown in [
            r#"value="Tuesday tea and chat""#,
            r#"value="HD1 2RS""#,
            r#"value="2026-12-01""#,
            "22/12/2026\n29/12/2026",
            r#"name="category-older-people" type="checkbox" value="yes" checked"#,
            r#"name="met_at_door" type="checkbox" value="yes" checked"#,
            r#"<option value="weekly" selected>"#,
        ] {
            assert!(answer.body.contains(shown), "{shown}: {}", answer.body);
        }
        assert!(!answer.body.contains(r#"name="hearing_loop" type="checkbox" value="yes" checked"#));

        // A change goes to the queue too, and the published version stays.
        let mut changed = weekly_tea("Tuesday tea, chat and cards");
        changed.retain(|(name, _)| *name != "not_on");
        let answer = portal
            .submit(&format!("/organisation/activities/{service_id}"), &organisation, &changed)
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(found(&portal, "Tuesday tea").await, ["Tuesday tea and chat"]);
        let answer = portal.get("/organisation", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("A change is waiting for staff."), "{}", answer.body);
    }

    async fn the_activity_form_names_each_problem_and_keeps_what_was_typed(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (_, organisation) = portal.staff_and_organisation().await;
        let mut form = weekly_tea("");
        for (name, value) in form.iter_mut() {
            match *name {
                "postcode" => *value = "Huddersfield".to_owned(),
                "ends" => *value = "10:00".to_owned(),
                "description" => *value = "Kept <as typed>".to_owned(),
                _ => {}
            }
        }
        let answer = portal.submit("/organisation/activities/new", &organisation, &form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("<title>Error: Add an activity"), "{}", answer.body);
        for (field, message) in [
            ("title", "Enter the activity&#39;s name."),
            ("postcode", "Enter the postcode, such as HD1 2RS"),
            ("ends", "It must end at a different time from when it starts: check the times."),
        ] {
            let link = format!(r##"<a href="#{field}">{message}"##);
            let link_entity = link.replace("&#39;", "&#x27;");
            assert!(answer.body.contains(&link) || answer.body.contains(&link_entity), "{field}: {}", answer.body);
            assert!(answer.body.contains(&format!(r#"id="{field}-error""#)), "{field}");
        }
        assert!(answer.body.contains("Kept &#60;as typed&#62;"), "{}", answer.body);
        assert!(answer.body.contains(r#"value="Huddersfield""#));
        assert!(answer.body.contains(r#"name="step_free" type="checkbox" value="yes" checked"#));

        // A postcode area Signpost cannot place yet.
        let mut form = weekly_tea("Tea");
        for (name, value) in form.iter_mut() {
            if *name == "postcode" {
                *value = "ZE2 9AU".to_owned();
            }
        }
        let answer = portal.submit("/organisation/activities/new", &organisation, &form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("Signpost does not know where this postcode is yet"), "{}", answer.body);
        let queue = portal.moderation.queue(&staff_account(&portal).await).await.unwrap();
        assert!(queue.is_empty(), "nothing was sent: {queue:?}");
    }

    async fn organisation_pages_are_for_the_organisation_itself_only(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        // A second organisation, with its own account.
        let other = signpost::directory::model::Organization {
            id: "7a2f0000-0000-4000-8000-0000000000b2".to_owned(),
            source_id: "7a2f0000-0000-4000-8000-0000000000b2".to_owned(),
            name: "Another Group".to_owned(),
            description: String::new(),
            email: None,
            website: None,
            phones: Vec::new(),
            extra: Default::default(),
        };
        portal.directory.update_organisation("test", &other).await.unwrap();
        let invitation = portal
            .accounts
            .invite_organisation(&staff_account(&portal).await, &Email::parse("other@group.example").unwrap(), &other.id, portal.now())
            .await
            .unwrap();
        portal.accounts.set_password(&invitation.token, password(), portal.now()).await.unwrap();
        let stranger = portal.signed_in("other@group.example").await;

        let pages = [
            "/organisation".to_owned(),
            "/organisation/activities/new".to_owned(),
            format!("/organisation/activities/{WALKING_GROUP}"),
            "/organisation/profile".to_owned(),
        ];
        for uri in &pages {
            let answer = portal.get(uri, None).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{uri}");
            assert_eq!(answer.header("location"), Some("/sign-in"), "{uri}");
            let answer = portal.get(uri, Some(&staff.cookie)).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
            assert!(answer.body.contains("Your account is a staff account"), "{uri}");
            let answer = portal.get(uri, Some(&organisation.cookie)).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        }
        // Another organisation sees its own (empty) listings, and none of ours.
        let answer = portal.get("/organisation", Some(&stranger.cookie)).await;
        assert!(answer.body.contains("You have no listings yet"), "{}", answer.body);
        assert!(!answer.body.contains("Greenhead Park"), "{}", answer.body);
        let answer = portal.get(&format!("/organisation/activities/{WALKING_GROUP}"), Some(&stranger.cookie)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        for action in ["", "/withdraw", "/confirm"] {
            let uri = format!("/organisation/activities/{WALKING_GROUP}{action}");
            let answer = portal.submit(&uri, &stranger, &weekly_tea("Taken over")).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}: {}", answer.body);
            let answer = portal.submit(&uri, &staff, &weekly_tea("Taken over")).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        }
        let queue = portal.moderation.queue(&staff_account(&portal).await).await.unwrap();
        assert!(queue.is_empty(), "{queue:?}");
        assert_eq!(portal.get("/staff/audit", Some(&organisation.cookie)).await.status, StatusCode::FORBIDDEN);
        assert_eq!(portal.get("/staff/audit", None).await.status, StatusCode::SEE_OTHER);
    }

    async fn organisation_forms_without_their_token_change_nothing(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (_, organisation) = portal.staff_and_organisation().await;
        let profile: Fields = vec![("name", "Renamed".to_owned())];
        for (uri, fields) in [
            ("/organisation/activities/new".to_owned(), weekly_tea("Tea")),
            (format!("/organisation/activities/{WALKING_GROUP}"), weekly_tea("Tea")),
            (format!("/organisation/activities/{WALKING_GROUP}/withdraw"), Vec::new()),
            (format!("/organisation/activities/{WALKING_GROUP}/confirm"), Vec::new()),
            ("/organisation/profile".to_owned(), profile.clone()),
        ] {
            let form: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let answer = portal.post(&uri, Some(&organisation.cookie), &form).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
            let mut wrong = form.clone();
            wrong.push(("form_token", "0123"));
            let answer = portal.post(&uri, Some(&organisation.cookie), &wrong).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        }
        let queue = portal.moderation.queue(&staff_account(&portal).await).await.unwrap();
        assert!(queue.is_empty(), "{queue:?}");
        let record = portal.directory.organisation(ORGANISATION).await.unwrap().unwrap();
        assert_ne!(record.name, "Renamed");
        assert!(portal.accounts.audit(None, 50).await.unwrap().iter().all(|e| e.action != "confirm listing"));
    }

    async fn a_listing_near_its_expiry_shows_a_reminder_until_it_is_confirmed(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        // Last confirmed 170 days ago: it stops showing in 13 days.
        let long_ago = today() - chrono::Days::new(170);
        assert!(portal.directory.confirm_service(ORGANISATION, WALKING_GROUP, long_ago).await.unwrap());
        let answer = portal.get("/organisation", Some(&organisation.cookie)).await;
        // The fixture's expired coffee morning needs confirming too.
        assert!(answer.body.contains("2 listings need confirming"), "{}", answer.body);
        assert!(answer.body.contains("This listing will stop showing on 7 December 2026 unless you confirm it still runs."), "{}", answer.body);

        let answer = portal
            .submit(&format!("/organisation/activities/{WALKING_GROUP}/confirm"), &organisation, &[])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/organisation?done=confirmed"));
        let answer = portal.get("/organisation?done=confirmed", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Thank you for confirming"), "{}", answer.body);
        assert!(answer.body.contains("1 listing needs confirming"), "{}", answer.body);
        assert!(!answer.body.contains("7 December 2026"), "{}", answer.body);
        assert!(answer.body.contains("Greenhead Park Walking Group</a></td>\n      <td>Shown to people until 26 May 2027"), "{}", answer.body);

        // Staff see who confirmed it, and when.
        let answer = portal.get("/staff/audit", Some(&staff.cookie)).await;
        assert_eq!(answer.status, StatusCode::OK);
        let row = answer.body.split("<tr>").find(|row| row.contains("confirm listing")).expect("a row");
        assert!(row.contains(ORGANISATION_EMAIL) && row.contains(WALKING_GROUP) && row.contains("24 November 2026, 12:00 UTC"), "{row}");

        // An expired listing says so, and confirming shows it again.
        let expired = today() - chrono::Days::new(200);
        portal.directory.confirm_service(ORGANISATION, WALKING_GROUP, expired).await.unwrap();
        assert!(found(&portal, "Greenhead").await.is_empty());
        let answer = portal.get("/organisation", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Expired: not shown to people"), "{}", answer.body);
        assert!(answer.body.contains("expired on 7 November 2026"), "{}", answer.body);
        portal
            .submit(&format!("/organisation/activities/{WALKING_GROUP}/confirm"), &organisation, &[])
            .await;
        assert_eq!(found(&portal, "Greenhead").await, ["Greenhead Park Walking Group"]);
    }

    async fn withdrawing_waits_for_staff_then_takes_the_listing_down(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        let answer = portal
            .submit(&format!("/organisation/activities/{WALKING_GROUP}/withdraw"), &organisation, &[])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/organisation?done=withdraw"));
        assert_eq!(found(&portal, "Greenhead").await, ["Greenhead Park Walking Group"]);
        let id = portal.only_waiting_change().await;
        portal
            .post(&format!("/staff/queue/{id}/approve"), Some(&staff.cookie), &[("form_token", &staff.form_token)])
            .await;
        assert!(found(&portal, "Greenhead").await.is_empty());
        let answer = portal.get("/organisation", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Greenhead Park Walking Group</a></td>\n      <td>Withdrawn"), "{}", answer.body);
    }

    async fn the_profile_changes_at_once_is_escaped_and_is_recorded_for_staff(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        let answer = portal.get("/organisation/profile", Some(&organisation.cookie)).await;
        assert!(answer.body.contains(r#"value="Made-up Friends of Kirklees""#), "{}", answer.body);

        let bad: Fields = vec![
            ("name", String::new()),
            ("website", "javascript:alert(1)".to_owned()),
            ("phone", "ring us".to_owned()),
        ];
        let answer = portal.submit("/organisation/profile", &organisation, &bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        for message in ["Enter your organisation", "Enter a web address starting https://", "Enter a phone number"] {
            assert!(answer.body.contains(message), "{message}: {}", answer.body);
        }

        let name = "Friends <script>alert(1)</script> & co";
        let good: Fields = vec![
            ("name", name.to_owned()),
            ("description", "We walk <b>and</b> talk.".to_owned()),
            ("email", "hello@friends.example".to_owned()),
            ("website", "https://friends.example".to_owned()),
            ("phone", "01484 000000".to_owned()),
        ];
        let answer = portal.submit("/organisation/profile", &organisation, &good).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let record = portal.directory.organisation(ORGANISATION).await.unwrap().unwrap();
        assert_eq!(record.name, name);
        assert_eq!(record.phones[0].number, "01484 000000");
        for (uri, cookie) in [
            ("/organisation/profile", &organisation.cookie),
            ("/organisation", &organisation.cookie),
            ("/staff/audit", &staff.cookie),
        ] {
            let answer = portal.get(uri, Some(cookie)).await;
            assert!(answer.body.contains("Friends &#60;script&#62;"), "{uri}: {}", answer.body);
            assert!(!answer.body.contains("<script>"), "{uri}");
        }
        let answer = portal.get("/directory?search=Greenhead", None).await;
        assert!(answer.body.contains("Friends &#60;script&#62;"), "{}", answer.body);
        assert!(!answer.body.contains("<script>"));
    }

    async fn html_in_every_activity_field_comes_out_as_text(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        let hostile = "<script>alert(1)</script>";
        let mut form = weekly_tea(&format!("Tea {hostile}"));
        for (name, value) in form.iter_mut() {
            if ["description", "place_name", "address", "town", "cost", "how_to_join"].contains(name) {
                *value = format!("{value} {hostile}");
            }
        }
        let answer = portal.submit("/organisation/activities/new", &organisation, &form).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let id = portal.only_waiting_change().await;
        // Staff read the listing as the directory will hold it: the name
        // as plain text, the address as typed, escaped.
        let answer = portal.get(&format!("/staff/queue/{id}"), Some(&staff.cookie)).await;
        assert!(answer.body.contains("<dt>Name</dt><dd>Tea</dd>"), "{}", answer.body);
        assert!(answer.body.contains("Queensgate &#60;script&#62;alert(1)&#60;/script&#62;"), "{}", answer.body);
        // The directory's importer keeps listings as plain text, so the
        // markup is gone before anything else shows it.
        for (uri, cookie) in [
            ("/organisation".to_owned(), &organisation.cookie),
            ("/organisation/changes".to_owned(), &organisation.cookie),
            ("/staff/queue".to_owned(), &staff.cookie),
            (format!("/staff/queue/{id}"), &staff.cookie),
        ] {
            let answer = portal.get(&uri, Some(cookie)).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert!(!answer.body.contains("<script>"), "{uri}: {}", answer.body);
        }
        portal
            .post(&format!("/staff/queue/{id}/approve"), Some(&staff.cookie), &[("form_token", &staff.form_token)])
            .await;
        let answer = portal.get("/directory?search=Tea", None).await;
        assert!(answer.body.contains("Tea"), "{}", answer.body);
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        let mut query = SearchQuery::new(today());
        query.text = Some("Tea".to_owned());
        let listing = portal.directory.search(&query).await.unwrap().listings.remove(0);
        let card = signpost::directory::card(&listing, today());
        // The card is plain text, where an address is kept as typed; the
        // channel escapes it for its markup.
        assert!(card.starts_with("Tea\n"), "{card}");
        assert!(card.contains("Queensgate <script>alert(1)</script>"), "{card}");
        let telegram = signpost::channel::telegram::render::escape(&card);
        assert!(telegram.contains("Queensgate &lt;script&gt;") && !telegram.contains('<'), "{telegram}");
    }
}

/// Serves `calendar` as `text/calendar` to every request on a loopback
/// port, until the test ends; its address.
async fn calendar_server(calendar: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{calendar}",
                calendar.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    format!("http://{address}/events.ics")
}

/// A calendar with one weekly event, in the weeks after `today()`.
const CALENDAR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Walkers//EN\r\n\
BEGIN:VEVENT\r\nUID:park-run-1@walkers.example\r\nDTSTAMP:20261120T120000Z\r\n\
DTSTART;TZID=Europe/London:20261126T100000\r\nDTEND;TZID=Europe/London:20261126T113000\r\n\
RRULE:FREQ=WEEKLY;BYDAY=TH\r\nSUMMARY:Thursday park walk\r\n\
LOCATION:Greenhead Park\\, Park Drive\\, Huddersfield HD1 4HS\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

backend_tests! {
    async fn an_organisation_gives_its_calendar_and_fetching_it_sends_the_events_to_staff(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, organisation) = portal.staff_and_organisation().await;
        let answer = portal.get("/organisation/profile", Some(&organisation.cookie)).await;
        assert!(answer.body.contains(r#"<h2 id="calendar-feed">Calendar feed</h2>"#), "{}", answer.body);
        assert!(!answer.body.contains("Fetch the calendar now"), "no feed yet");

        // An address that is not one is named beside its field, and kept.
        let typed: Fields = vec![("feed_url", "calendar.google.com/my events".to_owned())];
        let answer = portal.submit("/organisation/feed", &organisation, &typed).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains(r#"id="feed_url-error""#), "{}", answer.body);
        assert!(answer.body.contains("give one starting https://"), "{}", answer.body);
        assert!(answer.body.contains(r#"value="calendar.google.com/my events""#), "{}", answer.body);

        let url = calendar_server(CALENDAR).await;
        let answer = portal.submit("/organisation/feed", &organisation, &[("feed_url", url.clone())]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.header("location"), Some("/organisation/profile?done=feed"));
        let answer = portal.get("/organisation/profile?done=feed", Some(&organisation.cookie)).await;
        let main = answer.body.split("<main").nth(1).expect("a main element");
        assert!(main.contains(r#"<div class="notice" role="status"><p>The calendar&#39;s address is saved"#), "{}", answer.body);
        assert!(answer.body.contains("<title>Your organisation's profile – Signpost</title>"), "{}", answer.body);
        assert!(answer.body.contains(&format!(r#"value="{url}""#)), "{}", answer.body);
        assert!(answer.body.contains("Not fetched yet"), "{}", answer.body);

        // Staff and forms without their token cannot touch it.
        for uri in ["/organisation/feed", "/organisation/feed/fetch"] {
            let answer = portal.submit(uri, &staff, &[("feed_url", String::new())]).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
            let answer = portal.post(uri, Some(&organisation.cookie), &[("feed_url", "")]).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        }

        let answer = portal.submit("/organisation/feed/fetch", &organisation, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let answer = portal.get("/organisation/profile?done=fetched", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Last fetched 24 November 2026, 12:00 UTC."), "{}", answer.body);
        let queue = portal.moderation.queue(&staff_account(&portal).await).await.unwrap();
        assert_eq!(queue.len(), 1, "{queue:?}");
        assert_eq!(queue[0].service_name, "Thursday park walk");
        let page = portal.get(&format!("/staff/queue/{}", queue[0].id), Some(&staff.cookie)).await;
        assert!(page.body.contains("<dt>Sent by</dt><dd>The calendar feed</dd>"), "{}", page.body);
        // Fetching again at once waits.
        let answer = portal.submit("/organisation/feed/fetch", &organisation, &[]).await;
        assert_eq!(answer.header("location"), Some("/organisation/profile?done=fetched-lately"));
        let answer = portal.get("/organisation/profile?done=fetched-lately", Some(&organisation.cookie)).await;
        assert!(answer.body.contains("Please try again in 5 minutes"), "{}", answer.body);
        let audit = portal.accounts.audit(None, 50).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "listing change submitted by the calendar feed"), "{audit:?}");

        // Removing the feed leaves what it sent.
        let answer = portal.submit("/organisation/feed", &organisation, &[("feed_url", String::new())]).await;
        assert_eq!(answer.header("location"), Some("/organisation/profile?done=feed-removed"));
        let answer = portal.get("/organisation/profile", Some(&organisation.cookie)).await;
        assert!(!answer.body.contains("Fetch the calendar now"), "{}", answer.body);
        assert_eq!(portal.moderation.queue(&staff_account(&portal).await).await.unwrap().len(), 1);
    }
}

backend_tests! {
    async fn staff_see_the_rule_and_welcome_the_bot_will_use_not_the_labels_sent(db: TestDatabase) {
        let portal = Portal::new(&db, false).await;
        let (staff, _) = portal.staff_and_organisation().await;
        let mut listing = coffee_morning("Coffee morning");
        // Words that say Tuesday over a rule for Fridays, and a hearing loop
        // term labelled as something else.
        listing["schedules"][0]["description"] = serde_json::json!("Every Tuesday, 10:00");
        listing["attributes"] = serde_json::json!([{
            "id": "6a1f0000-0000-4000-8000-000000000106",
            "taxonomy_term": {
                "id": signpost::directory::model::WelcomeFact::HearingLoop.term_id(),
                "name": "Free cake",
            },
        }]);
        let account = portal
            .accounts
            .sign_in(&Email::parse(ORGANISATION_EMAIL).unwrap(), password(), portal.now())
            .await
            .unwrap()
            .unwrap()
            .0;
        let id = portal
            .moderation
            .submit(&account, &Proposal::Add(listing), portal.now())
            .await
            .unwrap();
        let answer = portal.get(&format!("/staff/queue/{id}"), Some(&staff.cookie)).await;
        assert!(answer.body.contains("<dt>When</dt><dd>Every Friday, 10am to 12pm</dd>"), "{}", answer.body);
        assert!(answer.body.contains("<dd>Hearing loop</dd>"), "{}", answer.body);
        assert!(!answer.body.contains("Free cake") && !answer.body.contains("Every Tuesday"), "{}", answer.body);
    }
}
