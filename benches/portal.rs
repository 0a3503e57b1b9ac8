//! Web portal latency, in process (`router(state).oneshot`), on SQLite with
//! the sample directory: the open data that other directories poll, the
//! public directory page, and an organisation's pages (its listings, and
//! sending the activity form, which checks it, reads it with the HSDS
//! importer and writes it to the moderation queue).
//!
//! Run: `cargo bench --bench portal` (add `-- --quick` for fewer rounds).
//! It prints p50 and p99 latency and requests a second on one task. It is
//! a measurement, not a test: nothing here fails on a slow machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::NaiveDate;
use http_body_util::BodyExt;
use signpost::accounts::{Accounts, Email, LoginLimiter, Password};
use signpost::directory::Directory;
use signpost::feeds::Feeds;
use signpost::moderation::Moderation;
use signpost::web::{AppState, router};
use tower::ServiceExt;

const PASSWORD: &str = "a long enough passphrase";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date")
}

/// Sends one request and checks its status; the body is read whole, as a
/// browser would.
async fn send(app: &Router, method: Method, uri: &str, cookie: &str, body: String) {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header(header::COOKIE, cookie);
    if method == Method::POST {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("a request"))
        .await
        .expect("an answer");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert!(
        status == StatusCode::OK || status == StatusCode::SEE_OTHER,
        "{uri}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 100 } else { 1000 };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("portal.db").display()
    );
    let directory = Directory::open(&url).await.expect("the database opens");
    directory.migrate().await.expect("migrated");
    directory
        .load_sample(today())
        .await
        .expect("the sample loads");
    let database = directory.database().clone();
    let accounts = Accounts::new(database.clone());
    let staff = accounts
        .add_staff(&Email::parse("staff@example.org").unwrap(), 1_795_521_600)
        .await
        .unwrap();
    let staff = accounts
        .set_password(
            &staff.token,
            Password::parse(PASSWORD).unwrap(),
            1_795_521_600,
        )
        .await
        .unwrap();
    let organisation = directory
        .published(today())
        .await
        .unwrap()
        .organizations
        .first()
        .expect("an organisation in the sample")
        .id
        .clone();
    let invitation = accounts
        .invite_organisation(
            &staff,
            &Email::parse("hello@group.example").unwrap(),
            &organisation,
            1_795_521_600,
        )
        .await
        .unwrap();
    accounts
        .set_password(
            &invitation.token,
            Password::parse(PASSWORD).unwrap(),
            1_795_521_600,
        )
        .await
        .unwrap();
    let (_, session) = accounts
        .sign_in(
            &Email::parse("hello@group.example").unwrap(),
            Password::parse(PASSWORD).unwrap(),
            1_795_521_600,
        )
        .await
        .unwrap()
        .expect("signed in");
    let cookie = format!("signpost_session={}", session.reveal());
    let form_token = session.form_token();
    let app = router(AppState {
        accounts,
        moderation: Moderation::new(database.clone()),
        feeds: Feeds::new(database.clone()),
        directory,
        today: Arc::new(today),
        https: false,
        limiter: Arc::new(LoginLimiter::new()),
        now: Arc::new(|| 1_795_521_600),
    });

    let activity = |n: usize| {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("form_token", form_token.as_str()),
            ("title", &format!("Tuesday tea {n}")),
            ("description", "Tea, cake and a friendly welcome."),
            ("category-social-groups", "yes"),
            ("where", "place"),
            ("address", "Queensgate"),
            ("town", "Huddersfield"),
            ("postcode", "HD1 2RS"),
            ("repeat", "weekly"),
            ("date", "2026-12-01"),
            ("starts", "10:00"),
            ("ends", "12:00"),
            ("not_on", "22/12/2026\n29/12/2026"),
            ("come_alone", "yes"),
        ] {
            form.append_pair(name, value);
        }
        form.finish()
    };
    let cases: [(&str, Method, &str); 5] = [
        ("open data: a page of 20 services", Method::GET, "/services"),
        (
            "open data: near a postcode",
            Method::GET,
            "/services?postcode=HD1&proximity=5000",
        ),
        (
            "directory page: search",
            Method::GET,
            "/directory?search=walk",
        ),
        ("organisation: its listings", Method::GET, "/organisation"),
        (
            "organisation: send the activity form",
            Method::POST,
            "/organisation/activities/new",
        ),
    ];
    println!("portal latency, SQLite, sample directory, {rounds} requests each, one task");
    for (name, method, uri) in cases {
        let mut times = Vec::with_capacity(rounds);
        let started = Instant::now();
        for n in 0..rounds {
            let body = if method == Method::POST {
                activity(n)
            } else {
                String::new()
            };
            let start = Instant::now();
            send(&app, method.clone(), uri, &cookie, body).await;
            times.push(start.elapsed());
        }
        let total = started.elapsed();
        times.sort();
        println!(
            "{name:40} p50 {:>7.2} ms  p99 {:>7.2} ms  {:>6.0} requests/s",
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            percentile(&times, 0.99).as_secs_f64() * 1000.0,
            rounds as f64 / total.as_secs_f64()
        );
    }
}
