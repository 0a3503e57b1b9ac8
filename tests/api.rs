//! The organisation API and its tokens, in process (`router(state).oneshot`)
//! on both backends: every endpoint, tokens missing, wrong and revoked,
//! another organisation's services, bodies that cannot be read or are not
//! valid HSDS, staff decisions seen through the API, and the portal page
//! that makes and revokes tokens.
//!
//! `openapi.json` is the contract: every answer the API gives in these
//! tests is checked against the schema it documents for that status, and
//! the documented paths and methods are checked against the routes both
//! ways.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::NaiveDate;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::TestDatabase;
use signpost::accounts::{Account, Accounts, Email, LoginLimiter, Password};
use signpost::database::Database;
use signpost::directory::Directory;
use signpost::moderation::Moderation;
use signpost::web::api::{ENDPOINTS, MAX_BODY_BYTES};
use signpost::web::{AppState, router};

/// 2026-12-01 09:00 UTC, seconds since 1970.
const NOW: i64 = 1_796_115_600;
const PASSWORD: &str = "a calm and long passphrase";
const ORGANISATION_EMAIL: &str = "hello@group.org.uk";
const TOKEN_NAME: &str = "our booking system";
/// A new service's id, as an organisation's own system would give it.
const NEW_ID: &str = "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a01";

fn today() -> NaiveDate {
    "2026-12-01".parse().unwrap()
}

/// The sample directory, staff, two organisations with an account and an
/// API token each, and the portal in front of them.
struct Api {
    app: Router,
    accounts: Accounts,
    moderation: Moderation,
    staff: Account,
    organisation: Account,
    organization_id: String,
    other_organization_id: String,
    /// The organisation's token, and the other organisation's.
    token: String,
    other_token: String,
    contract: Contract,
}

impl Api {
    async fn new(db: &TestDatabase) -> Api {
        let database = Database::open(&db.url).await.unwrap();
        let directory = Directory::new(database.clone());
        directory.load_sample(today()).await.unwrap();
        let published = directory.published(today()).await.unwrap();
        let mut owners: Vec<String> = published
            .services
            .iter()
            .map(|s| s.organization_id.clone())
            .collect();
        owners.dedup();
        let (organization_id, other_organization_id) = (owners[0].clone(), owners[1].clone());
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
        let organisation = organisation_account(ORGANISATION_EMAIL, &organization_id).await;
        let other = organisation_account("hello@other.org.uk", &other_organization_id).await;
        let token = accounts
            .create_api_token(&organisation, TOKEN_NAME, NOW)
            .await
            .unwrap();
        let other_token = accounts
            .create_api_token(&other, "their system", NOW)
            .await
            .unwrap();
        let moderation = Moderation::new(database.clone());
        let app = router(AppState {
            accounts: accounts.clone(),
            moderation: moderation.clone(),
            feeds: signpost::feeds::Feeds::new(database.clone()),
            directory,
            today: Arc::new(today),
            https: false,
            limiter: Arc::new(LoginLimiter::new()),
            now: Arc::new(|| NOW),
        });
        Api {
            app,
            accounts,
            moderation,
            staff,
            organisation,
            organization_id,
            other_organization_id,
            token: token.reveal().to_owned(),
            other_token: other_token.reveal().to_owned(),
            contract: Contract::load(),
        }
    }

    /// Sends a request; an answer under `/api/v1` is checked against the
    /// contract before it is returned.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(header::HeaderName, &str)],
        body: Body,
    ) -> Answer {
        let mut request = Request::builder().method(method.clone()).uri(uri);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let answer = Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        };
        if uri.starts_with("/api/v1/") {
            self.contract.check(&method, uri, &answer);
        }
        answer
    }

    /// A request with `token` and, when given, a JSON body; a body the API
    /// accepts is checked against the contract too.
    async fn call(&self, method: Method, uri: &str, token: &str, body: Option<&Value>) -> Answer {
        let bearer = format!("Bearer {token}");
        match body {
            Some(body) => {
                let answer = self
                    .send(
                        method.clone(),
                        uri,
                        &[
                            (header::AUTHORIZATION, &bearer),
                            (header::CONTENT_TYPE, "application/json"),
                        ],
                        Body::from(body.to_string()),
                    )
                    .await;
                if answer.status.is_success() {
                    self.contract.check_accepted_request(&method, uri, body);
                }
                answer
            }
            None => {
                self.send(
                    method,
                    uri,
                    &[(header::AUTHORIZATION, &bearer)],
                    Body::empty(),
                )
                .await
            }
        }
    }

    /// A call with the organisation's own token.
    async fn ours(&self, method: Method, uri: &str, body: Option<&Value>) -> Answer {
        self.call(method, uri, &self.token, body).await
    }

    /// The organisation's first service, as the API gives it.
    async fn own_service(&self) -> Value {
        let answer = self.ours(Method::GET, "/api/v1/services", None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()["services"][0].clone()
    }

    /// A service of the other organisation, from the open data.
    async fn others_service_id(&self) -> String {
        let answer = self
            .call(Method::GET, "/api/v1/services", &self.other_token, None)
            .await;
        answer.json()["services"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A signed-in person's cookie and form token.
    async fn signed_in(&self, address: &str) -> (String, String) {
        let (_, token) = self
            .accounts
            .sign_in(&email(address), password(), NOW)
            .await
            .unwrap()
            .expect("the account signs in");
        (
            format!("signpost_session={}", token.reveal()),
            token.form_token(),
        )
    }

    async fn page(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut encoded = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in form {
            encoded.append_pair(name, value);
        }
        let mut headers = vec![(header::CONTENT_TYPE, "application/x-www-form-urlencoded")];
        if let Some(cookie) = cookie {
            headers.push((header::COOKIE, cookie));
        }
        let body = if method == Method::POST {
            Body::from(encoded.finish())
        } else {
            Body::empty()
        };
        self.send(method, uri, &headers, body).await
    }

    /// How many changes are waiting for staff.
    async fn waiting(&self) -> usize {
        self.moderation.queue(&self.staff).await.unwrap().len()
    }
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn password() -> Password {
    Password::parse(PASSWORD).unwrap()
}

/// A knitting club every Thursday morning at Batley library, as HSDS 3.0,
/// without an organisation: the token says whose it is.
fn purl_club() -> Value {
    json!({
        "id": NEW_ID,
        "name": "Purl club",
        "description": "Bring your needles, or borrow ours; tea and biscuits.",
        "status": "active",
        "x_categories": ["hobbies"],
        "service_at_locations": [{
            "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a02",
            "location": {
                "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a03",
                "name": "Batley Library",
                "location_type": "physical",
                "latitude": 53.7166,
                "longitude": -1.6356,
                "addresses": [{
                    "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a04",
                    "address_1": "Market Place",
                    "city": "Batley",
                    "state_province": "West Yorkshire",
                    "postal_code": "WF17 5DA",
                    "country": "GB",
                    "address_type": "physical"
                }]
            }
        }],
        "schedules": [{
            "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a05",
            "freq": "WEEKLY",
            "byday": "TH",
            "opens_at": "10:00",
            "closes_at": "12:00"
        }]
    })
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

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("{err}: {}", self.body))
    }

    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("an error message")
            .to_owned()
    }

    /// What every answer of the API carries: JSON, not to be kept, for no
    /// other site's scripts, with the portal's security headers.
    fn is_private_json(&self) {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("access-control-allow-origin"), None);
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
    }
}

/// `openapi.json`, and checks of the API against it.
struct Contract {
    document: Value,
}

impl Contract {
    fn load() -> Contract {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
        let text =
            std::fs::read_to_string(&path).expect("openapi.json at the top of the repository");
        let document: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        Contract { document }
    }

    /// Every documented path and method, as `(METHOD, /path/{id})`.
    fn operations(&self) -> Vec<(String, String)> {
        let mut operations = Vec::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for method in [
                "get", "put", "post", "delete", "patch", "options", "head", "trace",
            ] {
                if item.get(method).is_some() {
                    operations.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        operations.sort();
        operations
    }

    /// The documented path a concrete one matches, such as
    /// `/api/v1/services/{id}` for `/api/v1/services/abc`.
    fn template_of(&self, uri: &str) -> Option<String> {
        let path = uri.split('?').next().unwrap();
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts
                        .iter()
                        .zip(&segments)
                        .all(|(part, segment)| part.starts_with('{') || part == segment)
            })
            .cloned()
    }

    /// Checks an answer against what the document says the operation
    /// answers with this status: the status must be documented (or, for
    /// our own failures, `default`), and a JSON body must match its schema.
    fn check(&self, method: &Method, uri: &str, answer: &Answer) {
        let Some(template) = self.template_of(uri) else {
            // Not a documented path: only the JSON 404 may answer it.
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {uri}");
            return;
        };
        let operation = &self.document["paths"][&template][method.as_str().to_lowercase()];
        if operation.is_null() {
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            return;
        }
        let documented = &operation["responses"][answer.status.as_str()];
        let response = if documented.is_null() {
            assert!(
                answer.status.is_server_error(),
                "{method} {template} answered {} which openapi.json does not document: {}",
                answer.status,
                answer.body
            );
            &operation["responses"]["default"]
        } else {
            documented
        };
        for (name, _) in response["headers"].as_object().into_iter().flatten() {
            assert!(
                answer.header(name).is_some(),
                "{method} {uri} {}: no {name} header",
                answer.status
            );
        }
        let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
            return;
        };
        let body: Value = serde_json::from_str(&answer.body).unwrap_or_else(|err| {
            panic!(
                "{method} {uri}: the body is not JSON ({err}): {}",
                answer.body
            )
        });
        let errors = self.mismatches(schema, &body);
        assert!(
            errors.is_empty(),
            "{method} {uri} answered {} not as openapi.json says:\n{}\n{}",
            answer.status,
            errors.join("\n"),
            answer.body
        );
    }

    /// Checks a body the API accepted against the one it documents, so the
    /// documented request is no stricter than the real one.
    fn check_accepted_request(&self, method: &Method, uri: &str, request: &Value) {
        let template = self.template_of(uri).expect("a documented path");
        let operation = &self.document["paths"][&template][method.as_str().to_lowercase()];
        let schema = operation["requestBody"]["content"]["application/json"]["schema"]
            .as_object()
            .unwrap_or_else(|| {
                panic!("{method} {template} takes a body openapi.json does not document")
            });
        let errors = self.mismatches(schema, request);
        assert!(
            errors.is_empty(),
            "{method} {uri} accepted a body openapi.json refuses:\n{}",
            errors.join("\n")
        );
    }

    /// How `value` fails `schema`, one of the document's schemas, put at
    /// the root beside the components its references point into.
    fn mismatches(&self, schema: &serde_json::Map<String, Value>, value: &Value) -> Vec<String> {
        let mut root = schema.clone();
        root.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        root.insert("components".into(), self.document["components"].clone());
        let validator = jsonschema::validator_for(&Value::Object(root))
            .unwrap_or_else(|err| panic!("a schema in openapi.json does not compile: {err}"));
        validator
            .iter_errors(value)
            .map(|err| format!("{} at {}", err, err.instance_path()))
            .collect()
    }
}

/// `{id}` in a path made concrete, for a request that need not find it.
fn concrete(template: &str) -> String {
    template.replace("{id}", "1")
}

#[test]
fn openapi_json_documents_exactly_the_api_s_endpoints() {
    let contract = Contract::load();
    let routed: Vec<(String, String)> = {
        let mut routed: Vec<_> = ENDPOINTS
            .iter()
            .map(|(method, path)| (method.to_string(), (*path).to_owned()))
            .collect();
        routed.sort();
        routed
    };
    assert_eq!(
        contract.operations(),
        routed,
        "openapi.json and api::ENDPOINTS differ"
    );
    // Every API address written in the module is one of them, so a route
    // cannot be added without its entry (the catch-all 404 aside).
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/api.rs"))
            .unwrap();
    let literals = source.match_indices("\"/api/v1/").map(|(at, _)| {
        let rest = &source[at + 1..];
        &rest[..rest.find('"').unwrap()]
    });
    for literal in literals {
        if literal == "/api/v1/{*rest}" {
            continue;
        }
        assert!(
            routed.iter().any(|(_, path)| path == literal),
            "src/web/api.rs names {literal}, which openapi.json does not document"
        );
    }
    let security = &contract.document["components"]["securitySchemes"]["bearerToken"];
    assert_eq!(security["type"], "http");
    assert_eq!(security["scheme"], "bearer");
    assert_eq!(
        contract.document["security"],
        json!([{ "bearerToken": [] }])
    );
}

backend_tests! {
    async fn every_documented_operation_is_routed_and_no_other_method_is(db: TestDatabase) {
        let api = Api::new(&db).await;
        let documented = api.contract.operations();
        let paths: std::collections::BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
        for path in paths {
            for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
                let answer = api.send(method.clone(), &concrete(path), &[], Body::empty()).await;
                if documented.contains(&(method.to_string(), path.clone())) {
                    // Routed: refused only for want of a token.
                    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
                } else {
                    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                    assert!(answer.header("allow").is_some(), "{method} {path}");
                    assert!(answer.error().contains(&format!("does not take {method}")), "{}", answer.body);
                }
            }
        }
        // Preflight is not answered: no site's scripts may call the API.
        let answer = api
            .send(Method::OPTIONS, "/api/v1/services", &[(header::ORIGIN, "https://evil.example")], Body::empty())
            .await;
        assert_eq!(answer.header("access-control-allow-origin"), None);
        let answer = api.ours(Method::GET, "/api/v1/locations", None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        answer.is_private_json();
        assert!(answer.error().contains("openapi.json"), "{}", answer.body);
    }

    async fn every_endpoint_answers_for_the_token_s_organisation(db: TestDatabase) {
        let api = Api::new(&db).await;
        let answer = api.ours(Method::GET, "/api/v1/services", None).await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.is_private_json();
        let listed = answer.json();
        assert_eq!(listed["organization_id"], api.organization_id.as_str());
        let services = listed["services"].as_array().unwrap();
        assert!(!services.is_empty());
        assert!(services.iter().all(|s| s["organization"]["id"] == api.organization_id.as_str()
            || s["organization_id"] == api.organization_id.as_str()), "{services:?}");
        let own = services[0].clone();
        let own_id = own["id"].as_str().unwrap().to_owned();

        let answer = api.ours(Method::GET, &format!("/api/v1/services/{own_id}"), None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), own);

        // A new service: waiting for staff, not in the directory.
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&purl_club())).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        answer.is_private_json();
        let added = answer.json();
        assert_eq!(added["kind"], "add");
        assert_eq!(added["status"], "waiting");
        assert_eq!(added["service_id"], NEW_ID);
        assert_eq!(added["service_name"], "Purl club");
        assert_eq!(added["submitted_at"], "2026-12-01T09:00:00Z");
        let added_id = added["id"].as_i64().unwrap();
        assert_eq!(answer.header("location"), Some(format!("/api/v1/changes/{added_id}").as_str()));
        let answer = api.ours(Method::GET, &format!("/api/v1/services/{NEW_ID}"), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "not in the directory before staff approve");

        // A changed version of its own service, with the id left out.
        let mut changed = own.clone();
        changed["name"] = json!("A new name for an old friend");
        changed.as_object_mut().unwrap().remove("id");
        let answer = api.ours(Method::PUT, &format!("/api/v1/services/{own_id}"), Some(&changed)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert_eq!(answer.json()["kind"], "edit");
        assert_eq!(answer.json()["service_name"], "A new name for an old friend");
        let answer = api.ours(Method::GET, &format!("/api/v1/services/{own_id}"), None).await;
        assert_eq!(answer.json()["name"], own["name"], "the published version stays until approved");

        // Withdrawing it supersedes the edit still waiting.
        let answer = api.ours(Method::DELETE, &format!("/api/v1/services/{own_id}"), None).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let withdrawn = answer.json();
        assert_eq!(withdrawn["kind"], "withdraw");

        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.is_private_json();
        let changes = answer.json()["changes"].as_array().unwrap().clone();
        let said: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c["kind"].as_str().unwrap(), c["status"].as_str().unwrap()))
            .collect();
        assert_eq!(said, [("withdraw", "waiting"), ("edit", "superseded"), ("add", "waiting")]);
        let answer = api.ours(Method::GET, &format!("/api/v1/changes/{added_id}"), None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json(), added);
        for missing in ["999999", "not-a-number"] {
            let answer = api.ours(Method::GET, &format!("/api/v1/changes/{missing}"), None).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{missing}");
            assert!(answer.error().contains("GET /api/v1/changes"), "{}", answer.body);
        }
        assert_eq!(api.waiting().await, 2);
    }

    async fn requests_without_a_live_token_get_401_saying_what_to_do(db: TestDatabase) {
        let api = Api::new(&db).await;
        let body = purl_club().to_string();
        let refused = [
            None,
            Some("Basic aGVsbG86d29ybGQ=".to_owned()),
            Some("Bearer ".to_owned()),
            Some(format!("Bearer {}", "0".repeat(64))),
            Some(format!("Bearer {}x", api.token)),
        ];
        for authorization in &refused {
            let mut headers = vec![(header::CONTENT_TYPE, "application/json")];
            if let Some(value) = authorization {
                headers.push((header::AUTHORIZATION, value.as_str()));
            }
            let answer = api
                .send(Method::POST, "/api/v1/services", &headers, Body::from(body.clone()))
                .await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
            answer.is_private_json();
            let challenge = answer.header("www-authenticate").expect("a challenge");
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            assert!(answer.error().contains("/organisation/tokens"), "{}", answer.body);
            assert!(!answer.body.contains(&api.token));
        }
        let sent_a_wrong_one = api.call(Method::GET, "/api/v1/services", "nonsense", None).await;
        assert!(sent_a_wrong_one.header("www-authenticate").unwrap().contains("invalid_token"));
        assert!(sent_a_wrong_one.error().contains("revoked"), "{}", sent_a_wrong_one.body);

        // The scheme's case does not matter; a revoked token stops working.
        let lower = format!("bearer {}", api.token);
        let answer = api.send(Method::GET, "/api/v1/changes", &[(header::AUTHORIZATION, &lower)], Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(api.accounts.revoke_api_token(&api.organisation, TOKEN_NAME, NOW).await.unwrap());
        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.header("www-authenticate").unwrap().contains("invalid_token"));
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&purl_club())).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(api.waiting().await, 0);

        // Once an organisation has no current account, its tokens stop too.
        let answer = api.call(Method::GET, "/api/v1/changes", &api.other_token, None).await;
        assert_eq!(answer.status, StatusCode::OK);
        common::disable_accounts_of(&db.url, &api.other_organization_id).await;
        let answer = api.call(Method::GET, "/api/v1/changes", &api.other_token, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }

    async fn another_organisation_s_service_looks_like_one_that_does_not_exist(db: TestDatabase) {
        let api = Api::new(&db).await;
        let theirs = api.others_service_id().await;
        let mut listing = api.own_service().await;
        listing["id"] = json!(theirs);
        for (method, body) in [(Method::GET, None), (Method::PUT, Some(&listing)), (Method::DELETE, None)] {
            let mine = api.ours(method.clone(), &format!("/api/v1/services/{theirs}"), body).await;
            let nobody = api.ours(method.clone(), "/api/v1/services/no-such-service", body).await;
            assert_eq!(mine.status, StatusCode::NOT_FOUND, "{method}: {}", mine.body);
            assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{method}");
            assert_eq!(mine.error().replace(&theirs, "ID"), nobody.error().replace("no-such-service", "ID"));
        }
        // A listing that names the other organisation is not this token's to send.
        let mut foreign = purl_club();
        foreign["organization_id"] = json!(api.other_organization_id);
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&foreign)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert!(answer.error().contains("own organisation"), "{}", answer.body);
        // Nor is a new service under an id someone already has.
        let mut taken = purl_club();
        taken["id"] = json!(theirs);
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&taken)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
        assert!(answer.error().contains("already a service"), "{}", answer.body);
        // Their changes are theirs.
        let answer = api
            .call(Method::POST, "/api/v1/services", &api.other_token, Some(&purl_club()))
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        let their_change = answer.json()["id"].as_i64().unwrap();
        let answer = api.ours(Method::GET, &format!("/api/v1/changes/{their_change}"), None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        assert_eq!(answer.json()["changes"], json!([]));
        let answer = api.ours(Method::GET, "/api/v1/services", None).await;
        assert!(!answer.body.contains(&theirs));
        assert_eq!(api.waiting().await, 1);
    }

    async fn bodies_that_cannot_be_read_are_refused_before_anything_is_stored(db: TestDatabase) {
        let api = Api::new(&db).await;
        let bearer = format!("Bearer {}", api.token);
        let send = async |content_type: &str, body: Vec<u8>| {
            api.send(
                Method::POST,
                "/api/v1/services",
                &[(header::AUTHORIZATION, &bearer), (header::CONTENT_TYPE, content_type)],
                Body::from(body),
            )
            .await
        };
        let answer = send("application/json", b"{\"name\": \"Purl club\",".to_vec()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        answer.is_private_json();
        assert!(answer.error().starts_with("the body is not JSON"), "{}", answer.body);
        let answer = send("text/plain", purl_club().to_string().into_bytes()).await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(answer.error().contains("application/json"), "{}", answer.body);
        let mut huge = purl_club();
        huge["description"] = json!("x".repeat(MAX_BODY_BYTES));
        let answer = send("application/json", huge.to_string().into_bytes()).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        answer.is_private_json();
        assert!(answer.error().contains("256 KiB"), "{}", answer.body);
        let answer = send("application/json; charset=utf-8", json!([purl_club()]).to_string().into_bytes()).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(answer.error().contains("one service as a JSON object"), "{}", answer.body);
        assert_eq!(api.waiting().await, 0);
    }

    async fn an_invalid_listing_gets_422_with_each_of_the_importer_s_problems(db: TestDatabase) {
        let api = Api::new(&db).await;
        let mut invalid = purl_club();
        invalid["status"] = json!("open every day");
        invalid["service_at_locations"][0]["location"]["latitude"] = json!("north-ish");
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&invalid)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
        answer.is_private_json();
        let refused = answer.json();
        assert!(refused["error"].as_str().unwrap().contains("fix each of the problems"), "{refused}");
        let messages: Vec<&str> = refused["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["message"].as_str().unwrap())
            .collect();
        assert!(messages.iter().any(|m| m.contains("open every day")), "{messages:?}");

        // A changed version must be sent to its own id.
        let own = api.own_service().await;
        let own_id = own["id"].as_str().unwrap();
        let mut elsewhere = own.clone();
        elsewhere["id"] = json!(NEW_ID);
        let answer = api.ours(Method::PUT, &format!("/api/v1/services/{own_id}"), Some(&elsewhere)).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
        assert!(answer.error().contains("is not the id in the address"), "{}", answer.body);
        assert_eq!(api.waiting().await, 0);
    }

    async fn staff_decisions_show_in_the_api_and_approved_services_in_the_directory(db: TestDatabase) {
        let api = Api::new(&db).await;
        let answer = api.ours(Method::POST, "/api/v1/services", Some(&purl_club())).await;
        let added = answer.json()["id"].as_i64().unwrap();
        api.moderation.approve(&api.staff, added, today(), NOW + 60).await.unwrap();

        let answer = api.ours(Method::GET, &format!("/api/v1/changes/{added}"), None).await;
        assert_eq!(answer.json()["status"], "approved");
        assert_eq!(answer.json()["decided_at"], "2026-12-01T09:01:00Z");
        let answer = api.ours(Method::GET, &format!("/api/v1/services/{NEW_ID}"), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.json()["name"], "Purl club");
        assert_eq!(answer.json()["x_status"], "published");
        let public = api.send(Method::GET, &format!("/services/{NEW_ID}"), &[], Body::empty()).await;
        assert_eq!(public.status, StatusCode::OK, "the open data shows it too");

        // A rejection comes back with its reason.
        let mut renamed = answer.json();
        renamed["name"] = json!("Purl club!!!");
        let answer = api.ours(Method::PUT, &format!("/api/v1/services/{NEW_ID}"), Some(&renamed)).await;
        let edit = answer.json()["id"].as_i64().unwrap();
        api.moderation
            .reject(&api.staff, edit, "please keep the name as people know it", NOW + 120)
            .await
            .unwrap();
        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        let newest = answer.json()["changes"][0].clone();
        assert_eq!(newest["status"], "rejected");
        assert_eq!(newest["reason"], "please keep the name as people know it");
    }

    async fn the_audit_record_names_the_api_token_and_no_account(db: TestDatabase) {
        let api = Api::new(&db).await;
        api.ours(Method::POST, "/api/v1/services", Some(&purl_club())).await;
        let events = api.accounts.audit(Some(&format!("service:{NEW_ID}")), 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "listing change submitted");
        assert_eq!(events[0].by, None);
        let detail = events[0].detail.as_deref().unwrap();
        assert!(detail.contains(r#"through the API token "our booking system""#), "{detail}");
        assert!(!detail.contains(&api.token));
    }

    async fn an_organisation_makes_and_revokes_its_tokens_in_the_portal(db: TestDatabase) {
        let api = Api::new(&db).await;
        let (cookie, form_token) = api.signed_in(ORGANISATION_EMAIL).await;
        let answer = api.page(Method::GET, "/organisation/tokens", Some(&cookie), &[]).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert!(answer.body.contains(TOKEN_NAME), "{}", answer.body);
        assert!(answer.body.contains(r#"<label for="name">"#));

        let answer = api
            .page(Method::POST, "/organisation/tokens", Some(&cookie), &[("form_token", &form_token), ("name", "events feed")])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert!(answer.body.contains("Copy it now"), "{}", answer.body);
        let (_, rest) = answer.body.split_once(r#"id="token" type="text" value=""#).expect("the token");
        let token = rest.split('"').next().unwrap().to_owned();
        assert_eq!(token.len(), 64);
        let works = api.call(Method::GET, "/api/v1/changes", &token, None).await;
        assert_eq!(works.status, StatusCode::OK);
        // Shown once: the list names it but never shows it again.
        let answer = api.page(Method::GET, "/organisation/tokens", Some(&cookie), &[]).await;
        assert!(answer.body.contains("events feed"));
        assert!(!answer.body.contains(&token));
        // A second live token of the same name would be ambiguous to revoke.
        let answer = api
            .page(Method::POST, "/organisation/tokens", Some(&cookie), &[("form_token", &form_token), ("name", "events feed")])
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains("There is already a token called"), "{}", answer.body);
        let answer = api
            .page(Method::POST, "/organisation/tokens", Some(&cookie), &[("form_token", &form_token), ("name", "  ")])
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.body.contains(r#"aria-invalid="true""#), "{}", answer.body);

        let answer = api
            .page(Method::POST, "/organisation/tokens/revoke", Some(&cookie), &[("form_token", &form_token), ("name", "events feed")])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.header("location"), Some("/organisation/tokens?done=revoked"));
        let refused = api.call(Method::GET, "/api/v1/changes", &token, None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let answer = api.page(Method::GET, "/organisation/tokens?done=revoked", Some(&cookie), &[]).await;
        assert!(answer.body.contains("The token was revoked"), "{}", answer.body);
        assert!(answer.body.contains("Revoked 1 December 2026"), "{}", answer.body);
        let answer = api
            .page(Method::POST, "/organisation/tokens/revoke", Some(&cookie), &[("form_token", &form_token), ("name", "events feed")])
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        // The first token still works.
        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        assert_eq!(answer.status, StatusCode::OK);
    }

    async fn token_forms_need_their_form_token_and_the_organisation_s_own_account(db: TestDatabase) {
        let api = Api::new(&db).await;
        let (cookie, form_token) = api.signed_in(ORGANISATION_EMAIL).await;
        for form in [vec![("name", "sneaky")], vec![("form_token", "0000"), ("name", "sneaky")]] {
            let answer = api.page(Method::POST, "/organisation/tokens", Some(&cookie), &form).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
            let mut revoke = form.clone();
            revoke.retain(|(name, _)| *name != "name");
            revoke.push(("name", TOKEN_NAME));
            let answer = api.page(Method::POST, "/organisation/tokens/revoke", Some(&cookie), &revoke).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN);
        }
        let answer = api.ours(Method::GET, "/api/v1/changes", None).await;
        assert_eq!(answer.status, StatusCode::OK, "the token was not revoked");
        let listed = api.accounts.api_tokens(&api.organisation).await.unwrap();
        assert_eq!(listed.len(), 1, "nothing was made");

        for (method, uri) in [
            (Method::GET, "/organisation/tokens"),
            (Method::POST, "/organisation/tokens"),
            (Method::POST, "/organisation/tokens/revoke"),
        ] {
            let answer = api.page(method.clone(), uri, None, &[("form_token", &form_token), ("name", "x")]).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{method} {uri}");
            assert_eq!(answer.header("location"), Some("/sign-in"));
        }
        let (staff_cookie, staff_form) = api.signed_in("staff@kirklees.gov.uk").await;
        for (method, uri) in [
            (Method::GET, "/organisation/tokens"),
            (Method::POST, "/organisation/tokens"),
            (Method::POST, "/organisation/tokens/revoke"),
        ] {
            let answer = api
                .page(method.clone(), uri, Some(&staff_cookie), &[("form_token", &staff_form), ("name", "x")])
                .await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}");
        }
        // The account page links to the tokens.
        let answer = api.page(Method::GET, "/account", Some(&cookie), &[]).await;
        assert!(answer.body.contains(r#"href="/organisation/tokens""#));
    }

    async fn html_in_a_token_name_is_shown_as_text(db: TestDatabase) {
        let api = Api::new(&db).await;
        let (cookie, form_token) = api.signed_in(ORGANISATION_EMAIL).await;
        let name = r#"<script>alert("x")</script>"#;
        let answer = api
            .page(Method::POST, "/organisation/tokens", Some(&cookie), &[("form_token", &form_token), ("name", name)])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        assert!(answer.body.contains("&#60;script&#62;") || answer.body.contains("&lt;script&gt;"), "{}", answer.body);
        let answer = api.page(Method::GET, "/organisation/tokens", Some(&cookie), &[]).await;
        assert!(!answer.body.contains("<script>"), "{}", answer.body);
        assert!(answer.body.contains("&#60;script&#62;") || answer.body.contains("&lt;script&gt;"), "{}", answer.body);
    }
}
