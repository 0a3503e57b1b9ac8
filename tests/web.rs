//! The web portal, in process: every route through `router(state).oneshot`,
//! on both backends where the database matters, and once through the real
//! binary (`signpost web`) to show it starts, answers and stops on SIGTERM.
//!
//! The directory is `tests/web/*.json`: three services people may see
//! (a walk in HD1 with a taxonomy term, a lunch club in WF13, a phone line),
//! one expired, one inactive, one waiting for review, and one whose text
//! is HTML and script.

mod common;

#[path = "common/hsds_schema.rs"]
mod hsds_schema;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::NaiveDate;
use common::TestDatabase;
use http_body_util::BodyExt;
use serde_json::Value;
use signpost::directory::import::{self, ImportOptions};
use signpost::directory::{Directory, WriteOptions};
use signpost::web::{AppState, router};
use tower::ServiceExt;

const WALK: &str = "5e1f0000-0000-4000-8000-000000000001";
const LUNCH: &str = "5e1f0000-0000-4000-8000-000000000002";
const PHONE: &str = "5e1f0000-0000-4000-8000-000000000003";
const EXPIRED: &str = "5e1f0000-0000-4000-8000-000000000004";
const INACTIVE: &str = "5e1f0000-0000-4000-8000-000000000005";
const PENDING: &str = "5e1f0000-0000-4000-8000-000000000006";
const HOSTILE: &str = "5e1f0000-0000-4000-8000-000000000007";
const WALKING_TERM: &str = "5e1f0000-0000-4000-8000-0000000000b1";
const SCRIPT: &str = "<script>alert(1)</script>";

/// Tuesday 24 November 2026.
fn today() -> NaiveDate {
    "2026-11-24".parse().unwrap()
}

fn app(directory: Directory) -> Router {
    router(state(directory, false))
}

fn state(directory: Directory, https: bool) -> AppState {
    AppState {
        accounts: signpost::accounts::Accounts::new(directory.database().clone()),
        moderation: signpost::moderation::Moderation::new(directory.database().clone()),
        feeds: signpost::feeds::Feeds::new(directory.database().clone()),
        directory,
        today: Arc::new(today),
        https,
        limiter: Arc::new(signpost::accounts::LoginLimiter::new()),
        now: Arc::new(|| 1_795_000_000),
    }
}

/// Imports `tests/web/<file>`, published or left for review.
async fn import(directory: &Directory, file: &str, publish: bool) {
    let batch = parse(file);
    write(directory, &batch, publish).await;
}

fn parse(file: &str) -> signpost::directory::model::Batch {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/web")
        .join(file);
    let options = ImportOptions {
        source: file.trim_end_matches(".json").to_owned(),
        ..ImportOptions::default()
    };
    let (_, parsed) = import::read(&path, &options, today()).expect("the fixture reads");
    assert!(parsed.problems.is_empty(), "{file}: {:?}", parsed.problems);
    parsed.batch
}

async fn write(directory: &Directory, batch: &signpost::directory::model::Batch, publish: bool) {
    let options = WriteOptions {
        publish,
        ..WriteOptions::new(today())
    };
    let summary = directory
        .write(batch, &options)
        .await
        .expect("the fixture writes");
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
}

/// The test directory, with made-up centres for HD1 and WF13.
async fn directory(db: &TestDatabase) -> Directory {
    let directory = db.directory().await;
    import(&directory, "directory.json", true).await;
    import(&directory, "pending.json", false).await;
    directory
        .import_outcodes(
            "test-centres",
            "made up for tests",
            &[
                ("HD1".to_owned(), 53.6458, -1.7850),
                ("WF13".to_owned(), 53.6900, -1.6300),
            ],
        )
        .await
        .unwrap();
    directory
}

/// A published service whose name, description and organisation are
/// HTML and script: the importer would make them plain text, so they are
/// set after parsing, as a careless or hostile source could store them.
async fn add_hostile_service(directory: &Directory) {
    let mut batch = parse("hostile.json");
    batch.services[0].name = SCRIPT.to_owned();
    batch.services[0].description = Some(format!("{SCRIPT} <b>bold</b> & \"quoted\""));
    batch.organizations[0].name = format!("<img src=x onerror=alert(1)> {SCRIPT}");
    write(directory, &batch, true).await;
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

async fn request(app: &Router, method: Method, uri: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("origin", "https://council.example.org")
        .body(Body::empty())
        .unwrap();
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8"),
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    request(app, Method::GET, uri).await
}

/// The ids on a page of `/services`, in order.
fn ids(page: &Value) -> Vec<&str> {
    page["contents"]
        .as_array()
        .expect("contents is a list")
        .iter()
        .map(|service| service["id"].as_str().expect("an id"))
        .collect()
}

/// Checks services against the HSDS 3.0 service schema, when the schema
/// is in ../shared/data (the check is skipped, saying so, otherwise).
fn assert_valid_hsds(services: &Value) {
    let Some(schema) = common::shared_data("hsds-spec/schema") else {
        return;
    };
    let errors = hsds_schema::service_list_errors(&schema, services);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Every route, for the checks that hold on all of them.
const ROUTES: [&str; 8] = [
    "/",
    "/directory",
    "/directory?search=walk&page=1",
    "/services",
    "/services/5e1f0000-0000-4000-8000-000000000001",
    "/healthz",
    "/style.css",
    "/no/such/page",
];

backend_tests! {
    async fn every_answer_carries_the_security_headers(db: TestDatabase) {
        let app = app(directory(&db).await);
        let mut uris: Vec<&str> = ROUTES.to_vec();
        uris.extend(["/services?page=0", "/services/unknown"]);
        for uri in uris {
            let answer = get(&app, uri).await;
            assert_eq!(
                answer.header("content-security-policy"),
                Some("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
                "{uri}"
            );
            assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{uri}");
            assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{uri}");
            assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{uri}");
            // Served over plain HTTP here: no HSTS.
            assert_eq!(answer.header("strict-transport-security"), None, "{uri}");
        }
        let over_https = router(state(db.directory().await, true));
        for uri in ROUTES {
            let answer = get(&over_https, uri).await;
            assert_eq!(answer.header("strict-transport-security"), Some("max-age=31536000"), "{uri}");
        }
    }

    async fn only_the_open_data_is_open_to_every_origin(db: TestDatabase) {
        let app = app(directory(&db).await);
        for uri in [
            "/services",
            &format!("/services/{WALK}"),
            "/services/unknown",
            "/services?per_page=many",
        ] {
            let answer = get(&app, uri).await;
            assert_eq!(answer.header("access-control-allow-origin"), Some("*"), "{uri}");
            assert_eq!(answer.header("content-type"), Some("application/json"), "{uri}");
        }
        for uri in ["/services", "/services/anything"] {
            let preflight = request(&app, Method::OPTIONS, uri).await;
            assert_eq!(preflight.status, StatusCode::NO_CONTENT, "{uri}");
            assert_eq!(preflight.header("access-control-allow-origin"), Some("*"), "{uri}");
            assert_eq!(
                preflight.header("access-control-allow-methods"),
                Some("GET, HEAD, OPTIONS"),
                "{uri}"
            );
        }
        for uri in ["/", "/directory", "/healthz", "/no/such/page"] {
            let answer = get(&app, uri).await;
            assert_eq!(answer.header("access-control-allow-origin"), None, "{uri}");
        }
        // Read-only: nothing can be sent in.
        let post = request(&app, Method::POST, "/services").await;
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.header("access-control-allow-origin"), Some("*"));
    }

    async fn services_come_a_page_at_a_time_in_the_hsds_envelope(db: TestDatabase) {
        let app = app(directory(&db).await);
        let first = get(&app, "/services?per_page=2").await;
        assert_eq!(first.status, StatusCode::OK);
        let first = first.json();
        assert_eq!(first["total_items"], 3);
        assert_eq!(first["total_pages"], 2);
        assert_eq!(first["page_number"], 1);
        assert_eq!(first["size"], 2);
        assert_eq!(first["first_page"], true);
        assert_eq!(first["last_page"], false);
        assert_eq!(first["empty"], false);
        // In name order.
        assert_eq!(ids(&first), [LUNCH, PHONE]);
        assert_valid_hsds(&first["contents"]);

        let second = get(&app, "/services?per_page=2&page=2").await.json();
        assert_eq!(ids(&second), [WALK]);
        assert_eq!(second["size"], 1);
        assert_eq!(second["first_page"], false);
        assert_eq!(second["last_page"], true);

        // Past the end: nothing on the page, but still the whole count.
        let beyond = get(&app, "/services?per_page=2&page=9").await.json();
        assert_eq!(ids(&beyond), Vec::<&str>::new());
        assert_eq!(beyond["empty"], true);
        assert_eq!(beyond["total_items"], 3);
        assert_eq!(beyond["page_number"], 9);

        // The default page holds them all, each a whole service.
        let all = get(&app, "/services").await.json();
        assert_eq!(ids(&all), [LUNCH, PHONE, WALK]);
        let walk = &all["contents"][2];
        assert_eq!(walk["organization"]["name"], "Made-up Friends of Kirklees");
        assert_eq!(walk["service_at_locations"][0]["location"]["addresses"][0]["postal_code"], "HD1 4HS");
        assert_eq!(walk["attributes"][0]["taxonomy_term"]["name"], "Walking");
        assert_valid_hsds(&all["contents"]);
    }

    async fn bad_paging_and_filters_get_a_clear_json_error(db: TestDatabase) {
        let app = app(directory(&db).await);
        for (uri, expected) in [
            ("/services?page=0", "page must be a whole number, 1 or more"),
            ("/services?page=abc", "page must be a whole number, 1 or more"),
            ("/services?page=-3", "page must be a whole number, 1 or more"),
            ("/services?per_page=1000000", "per_page must be a whole number from 1 to 100"),
            ("/services?per_page=0", "per_page must be a whole number from 1 to 100"),
            ("/services?per_page=ten", "per_page must be a whole number from 1 to 100"),
            ("/services?proximity=1000", "proximity needs a postcode"),
            ("/services?postcode=HD1&proximity=far", "proximity must be a distance in metres"),
            ("/services?postcode=not%20a%20postcode", "postcode must be a UK postcode"),
            ("/services?organization_id=x", "organization_id is not supported"),
        ] {
            let answer = get(&app, uri).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
            let error = answer.json()["error"].as_str().unwrap_or_default().to_owned();
            assert!(error.contains(expected), "{uri}: {error}");
        }
    }

    async fn search_finds_services_by_their_words(db: TestDatabase) {
        let app = app(directory(&db).await);
        let lunch = get(&app, "/services?search=lunch").await.json();
        assert_eq!(ids(&lunch), [LUNCH]);
        let walk = get(&app, "/services?search=gentle%20walk").await.json();
        assert_eq!(ids(&walk), [WALK]);
        // The organisation's name is searched too.
        let organisation = get(&app, "/services?search=kirklees").await.json();
        assert_eq!(organisation["total_items"], 3);
        let nothing = get(&app, "/services?search=zebra").await.json();
        assert_eq!(nothing["total_items"], 0);
        assert_eq!(nothing["empty"], true);
        // Search syntax typed by the public is only words.
        let odd = get(&app, "/services?search=%22lunch%20OR%20*%20NEAR(").await;
        assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
    }

    async fn a_taxonomy_term_picks_the_services_that_carry_it(db: TestDatabase) {
        let app = app(directory(&db).await);
        let walking = get(&app, &format!("/services?taxonomy_term_id={WALKING_TERM}")).await.json();
        assert_eq!(ids(&walking), [WALK]);
        let both = get(&app, &format!("/services?taxonomy_term_id={WALKING_TERM}&search=lunch")).await.json();
        assert_eq!(both["total_items"], 0);
        let unknown = get(&app, "/services?taxonomy_term_id=no-such-term").await.json();
        assert_eq!(unknown["total_items"], 0);
    }

    async fn a_postcode_and_proximity_give_the_services_within_reach_nearest_first(db: TestDatabase) {
        let app = app(directory(&db).await);
        // The walk is about 0.7 km from HD1's centre, the lunch club about
        // 11 km; the phone line has no place, so is never "near".
        let close = get(&app, "/services?postcode=HD1%202SU&proximity=5000").await.json();
        assert_eq!(ids(&close), [WALK]);
        let wider = get(&app, "/services?postcode=hd1&proximity=20000").await.json();
        assert_eq!(ids(&wider), [WALK, LUNCH]);
        let from_dewsbury = get(&app, "/services?postcode=WF13%201HQ&proximity=20000").await.json();
        assert_eq!(ids(&from_dewsbury), [LUNCH, WALK]);
        // Without proximity, 10 km.
        let default = get(&app, "/services?postcode=WF13").await.json();
        assert_eq!(ids(&default), [LUNCH]);
        let unknown = get(&app, "/services?postcode=ZZ9%209ZZ&proximity=5000").await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.json()["error"].as_str().unwrap().contains("cannot place"), "{}", unknown.body);
    }

    async fn one_service_comes_whole_and_an_unknown_id_gets_a_json_404(db: TestDatabase) {
        let app = app(directory(&db).await);
        let walk = get(&app, &format!("/services/{WALK}")).await;
        assert_eq!(walk.status, StatusCode::OK);
        let walk = walk.json();
        assert_eq!(walk["id"], WALK);
        assert_eq!(walk["name"], "Greenhead Park Walking Group");
        assert_eq!(walk["organization"]["id"], "5e1f0000-0000-4000-8000-0000000000a1");
        assert_eq!(walk["service_at_locations"][0]["location"]["name"], "Greenhead Park gates");
        assert_eq!(walk["attributes"][0]["taxonomy_term_id"], WALKING_TERM);
        assert_valid_hsds(&Value::Array(vec![walk.clone()]));
        // The same as in the list.
        let listed = get(&app, "/services?search=walk").await.json();
        assert_eq!(listed["contents"][0], walk);

        for id in ["unknown", "5e1f0000-0000-4000-8000-000000000099", "%3Cscript%3E"] {
            let answer = get(&app, &format!("/services/{id}")).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{id}");
            assert_eq!(
                answer.json()["error"],
                "there is no published service with this id",
                "{id}"
            );
        }
    }

    async fn unpublished_expired_and_inactive_services_never_appear(db: TestDatabase) {
        let app = app(directory(&db).await);
        let hidden = [EXPIRED, INACTIVE, PENDING];
        let all = get(&app, "/services?per_page=100").await.json();
        let listed: BTreeSet<&str> = ids(&all).into_iter().collect();
        assert_eq!(listed, BTreeSet::from([WALK, LUNCH, PHONE]));
        for id in hidden {
            let answer = get(&app, &format!("/services/{id}")).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{id}");
        }
        // Not by search, by place or on the directory page either: the
        // pending service's words match "walks" and "lunch".
        for uri in ["/services?search=walks", "/services?search=lunch", "/services?search=coffee", "/services?search=knitting"] {
            let found = get(&app, uri).await.json();
            for id in ids(&found) {
                assert!(!hidden.contains(&id), "{uri} shows {id}");
            }
        }
        let page = get(&app, "/directory").await.body;
        for name in ["Expired Coffee Morning", "Closed Knitting Circle", "Unchecked Bingo Night"] {
            assert!(!page.contains(name), "the directory page shows {name}");
        }
        // Publishing the pending one brings it in.
        directory(&db).await.publish_source("pending").await.unwrap();
        let all = get(&app, "/services?per_page=100").await.json();
        assert!(ids(&all).contains(&PENDING));
    }

    async fn html_and_script_in_a_service_come_out_escaped_in_pages_and_intact_in_json(db: TestDatabase) {
        let directory = directory(&db).await;
        add_hostile_service(&directory).await;
        let app = app(directory);
        for uri in ["/directory", "/directory?search=alert", "/directory?search=%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
            let page = get(&app, uri).await;
            assert_eq!(page.status, StatusCode::OK, "{uri}");
            assert!(!page.body.contains("<script"), "{uri}: a script tag came through");
            assert!(!page.body.contains("<img"), "{uri}: an img tag came through");
            assert!(!page.body.contains("<b>"), "{uri}: a b tag came through");
            assert!(!page.body.contains("javascript:"), "{uri}: a javascript: link came through");
            assert!(page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{uri}: {}", page.body);
        }
        let one = get(&app, &format!("/services/{HOSTILE}")).await.json();
        assert_eq!(one["name"], SCRIPT);
        assert_eq!(one["description"], format!("{SCRIPT} <b>bold</b> & \"quoted\""));
        assert_eq!(one["organization"]["name"], format!("<img src=x onerror=alert(1)> {SCRIPT}"));
        let listed = get(&app, "/services?search=alert").await.json();
        assert_eq!(ids(&listed), [HOSTILE]);
        assert_eq!(listed["contents"][0]["name"], SCRIPT);
    }

    async fn the_directory_page_searches_and_pages_without_javascript(db: TestDatabase) {
        let app = app(directory(&db).await);
        let page = get(&app, "/directory").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        for expected in [
            "<form class=\"search\" method=\"get\" action=\"/directory\"",
            "<label for=\"search\">",
            "<input id=\"search\" name=\"search\"",
            "<label for=\"postcode\">",
            "3 services",
            "Dewsbury Lunch Club",
            "Greenhead Park Walking Group",
            "<a href=\"https://walks.example.org/\">",
            "Huddersfield HD1 4HS",
            "By phone or online",
        ] {
            assert!(page.body.contains(expected), "missing {expected:?}");
        }
        let walks = get(&app, "/directory?search=walk").await.body;
        assert!(walks.contains("1 service<"), "{walks}");
        assert!(walks.contains("value=\"walk\""), "the search box keeps the words");

        let first = get(&app, "/directory?per_page=2").await.body;
        assert!(first.contains("href=\"/directory?page=2\" rel=\"next\""), "{first}");
        assert!(!first.contains("rel=\"prev\""));
        let second = get(&app, "/directory?search=kirklees&per_page=2&page=2").await.body;
        assert!(second.contains("rel=\"prev\""), "{second}");
        assert!(second.contains("<ol class=\"results\" start=\"3\">"), "{second}");

        let unknown = get(&app, "/directory?postcode=ZZ9").await.body;
        assert!(unknown.contains("We do not know where that postcode is"), "{unknown}");
        let bad = get(&app, "/directory?page=0").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.contains("Page must be a whole number, 1 or more."), "{}", bad.body);
        assert!(bad.body.contains("<form"), "the form is there to put it right");
    }

    async fn the_health_check_says_whether_the_database_answers(db: TestDatabase) {
        let directory = db.directory().await;
        let app = app(directory.clone());
        let healthy = get(&app, "/healthz").await;
        assert_eq!(healthy.status, StatusCode::OK);
        assert_eq!(healthy.body, "ok\n");
        directory.close().await;
        let unhealthy = get(&app, "/healthz").await;
        assert_eq!(unhealthy.status, StatusCode::SERVICE_UNAVAILABLE);
        // Any other use of the database now fails opaquely.
        let services = get(&app, "/services").await;
        assert_eq!(services.status, StatusCode::INTERNAL_SERVER_ERROR);
        let error = services.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with("Something went wrong on our side"), "{error}");
        assert!(!error.to_lowercase().contains("pool"), "{error}");
        let page = get(&app, "/directory").await;
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(page.body.contains("Something went wrong on our side"));
    }
}

#[tokio::test]
async fn the_home_page_is_plain_accessible_html_with_no_outside_resources() {
    let app = app(Directory::in_memory().await.unwrap());
    let home = get(&app, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for expected in [
        "<!doctype html>",
        "<html lang=\"en-GB\">",
        "<meta name=\"viewport\"",
        "<title>Find local support – Signpost</title>",
        "<a class=\"skip-link\" href=\"#main\">",
        "<nav aria-label=\"Main\">",
        "<a href=\"/\" aria-current=\"page\">Home</a>",
        "<main id=\"main\"",
        "<h1>",
        "<a href=\"/services\">",
        "<a href=\"/directory\">",
        "<link rel=\"stylesheet\" href=\"/style.css\">",
    ] {
        assert!(home.body.contains(expected), "missing {expected:?}");
    }
    // Nothing from another site, no script, no inline style.
    for unwanted in [
        "<script",
        "src=\"http",
        "href=\"http",
        "href=\"//",
        "style=",
    ] {
        assert!(!home.body.contains(unwanted), "found {unwanted:?}");
    }
    // One heading of the first level.
    assert_eq!(home.body.matches("<h1").count(), 1);
}

#[tokio::test]
async fn the_style_sheet_is_served_by_the_portal_itself() {
    let app = app(Directory::in_memory().await.unwrap());
    let css = get(&app, "/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.body.contains(":focus"), "focus is styled");
    assert!(!css.body.contains("url("), "the style sheet loads nothing");
    assert!(
        !css.body.contains("@import"),
        "the style sheet loads nothing"
    );
}

#[tokio::test]
async fn an_address_with_no_page_gets_the_404_page() {
    let app = app(Directory::in_memory().await.unwrap());
    for uri in ["/no/such/page", "/admin", "/services/a/b", "/%3Cscript%3E"] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(
            answer.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{uri}"
        );
        assert!(answer.body.contains("<h1>Page not found</h1>"), "{uri}");
        assert!(!answer.body.contains("<script"), "{uri}");
    }
}

/// `signpost web`, the real binary: it says where it listens, answers
/// `/healthz`, logs nothing about the request, and stops on SIGTERM.
#[tokio::test]
async fn the_web_command_answers_then_stops_cleanly_on_sigterm() {
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
        .arg("web")
        .env("SIGNPOST_HTTP__BIND", "127.0.0.1:0")
        .env(
            "SIGNPOST_DATABASE__URL",
            format!("sqlite://{}", folder.path().join("signpost.db").display()),
        )
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("signpost web starts");

    let base = common::wait_for_web_portal(&log, &mut child).await;
    let answer = reqwest::get(format!("{base}/healthz?search=secret-words"))
        .await
        .expect("the portal answers");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "ok\n");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = common::wait_for_exit(&mut child, "signpost web").await;
    assert!(status.success(), "{status:?}");
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(logged.contains("stopped"), "{logged}");
    // Even at trace level, nothing about the request is logged: not its
    // query, its path or where it came from.
    let (_, after_start) = logged
        .split_once("web portal listening")
        .and_then(|(_, rest)| rest.split_once('\n'))
        .expect("the start-up line");
    for private in ["secret-words", "healthz", "127.0.0.1:"] {
        assert!(!after_start.contains(private), "{private:?} in {logged}");
    }
}
