//! Reading Open Referral UK v1 service feeds, as councils publish them.
//!
//! A feed dump is a JSON list of service objects: HSDS 1-style fields (id,
//! name, HTML description, url, email, status, fees, accreditations,
//! assured_date, an `organization` object) plus the UK extensions
//! (`deliverable_type`, `attending_type`, `attending_access`, and `pc_*`
//! fields such as `pc_targetAudience`).
//!
//! Each service is tidied into the HSDS 3.0 shape and read by the same
//! mapping as HSDS JSON ([`super::hsds`]). Real feeds are messy, so:
//! - An empty string means absent.
//! - A service with no name, no organization, or the id of one already read
//!   is skipped with its reason (the first of two with the same id is kept).
//!   These are the feed's ordinary state, not a broken file, so they do not
//!   stop an import.
//! - An `email` that is no address ("[email removed]") and a `url` that is
//!   no web address are not used; a url written without its scheme
//!   ("www.example.org") gets `http://` (which sites redirect to https).
//!   What was given stays in `x_oruk_v1`.
//! - Fields HSDS 3.0 does not have are kept verbatim in one object,
//!   `x_oruk_v1`, which the exporter writes out unchanged: `x_` is HSDS's
//!   mark for extensions, so the export stays valid HSDS 3.0 without losing
//!   the UK fields. The organization's `url` is HSDS 3.0's `website`.
//! - Categories come from `pc_targetAudience` ("LGBTQ+", "Bereaved",
//!   "Carers"), `deliverable_type` ("Social activity", "Peer group") and
//!   `attending_type` ("Online", "Phone"), through
//!   [`taxonomy::categories_for_term`]; "Online" and "Phone" also make the
//!   service `online`.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::hsds::{self, describe, text_of};
use super::{ImportOptions, Parsed, Problem, taxonomy};
use crate::directory::model::Skipped;
use crate::search::Category;

/// Service fields that HSDS 3.0 has too, kept as they are.
const HSDS_FIELDS: [&str; 9] = [
    "id",
    "name",
    "description",
    "url",
    "email",
    "status",
    "fees",
    "accreditations",
    "assured_date",
];

/// Organization fields HSDS 3.0 has too (`url` becomes `website`).
const ORGANIZATION_FIELDS: [&str; 5] = ["id", "name", "description", "logo", "uri"];

/// Whether `value` is an ORUK v1 feed dump: a list of service objects
/// with the UK `pc_` extension fields.
pub fn looks_like_oruk_feed(value: &Value) -> bool {
    let Some(items) = value.as_array() else {
        return false;
    };
    let sample: Vec<&Map<String, Value>> =
        items.iter().take(20).filter_map(Value::as_object).collect();
    !sample.is_empty()
        && sample.len() == items.len().min(20)
        && sample.iter().all(|item| item.contains_key("id"))
        && sample
            .iter()
            .any(|item| item.keys().any(|key| key.starts_with("pc_")))
}

/// Reads an ORUK v1 feed dump into a batch filed under `options.source`.
pub fn parse(value: &Value, options: &ImportOptions) -> Result<Parsed, Problem> {
    let Some(items) = value.as_array() else {
        return Err(Problem {
            location: "top level".to_owned(),
            record: None,
            message: "an ORUK feed is a JSON list of services".to_owned(),
        });
    };
    let mut skipped = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    let mut tidied: Vec<(String, Value)> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("[{index}]");
        let Some(service) = item.as_object() else {
            problems.push(Problem {
                location: path,
                record: None,
                message: "expected a service (a JSON object)".to_owned(),
            });
            continue;
        };
        let id = given(service.get("id"));
        let name = given(service.get("name")).map(|n| super::html::to_text_if_html(&n));
        let record = describe("service", id.as_deref(), name.as_deref());
        let skip = |reason: String| Skipped {
            record: format!("{record} at {path}"),
            reason,
        };
        let Some(id) = id else {
            problems.push(Problem {
                location: format!("{path}.id"),
                record: Some(record.clone()),
                message: "service has no id".to_owned(),
            });
            continue;
        };
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            skipped.push(skip("service has no name".to_owned()));
            continue;
        };
        if let Some((first, first_name)) = seen.get(&id) {
            skipped.push(skip(format!(
                "the service at [{first}] (\"{first_name}\") has the same id and is the one kept"
            )));
            continue;
        }
        let Some(organization) = service
            .get("organization")
            .and_then(Value::as_object)
            .filter(|o| given(o.get("id")).is_some())
        else {
            skipped.push(skip("service has no organization".to_owned()));
            continue;
        };
        seen.insert(id.clone(), (index, name.clone()));
        tidied.push((path, tidy_service(service, organization, &name, options)));
    }
    let references: Vec<(String, &Value)> = tidied.iter().map(|(p, v)| (p.clone(), v)).collect();
    let locate = |path: &str| path.to_owned();
    let mut parsed = hsds::map_items(&references, options, &locate, skipped);
    problems.append(&mut parsed.problems);
    parsed.problems = problems;
    Ok(parsed)
}

/// A feed string, `None` when empty.
fn given(value: Option<&Value>) -> Option<String> {
    text_of(value)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// One feed service in the HSDS 3.0 shape.
fn tidy_service(
    service: &Map<String, Value>,
    organization: &Map<String, Value>,
    name: &str,
    options: &ImportOptions,
) -> Value {
    let mut out = Map::new();
    let mut v1 = Map::new();
    for (key, value) in service {
        if key == "organization" || is_empty(value) {
            continue;
        }
        if HSDS_FIELDS.contains(&key.as_str()) {
            out.insert(key.clone(), trimmed(value));
        } else {
            v1.insert(key.clone(), value.clone());
        }
    }
    out.insert("name".to_owned(), Value::String(name.to_owned()));
    keep_usable(&mut out, &mut v1, "url", web_address);
    keep_usable(&mut out, &mut v1, "email", email_address);

    let mut categories: BTreeSet<Category> = options.categories.clone();
    let mut terms: Vec<String> = Vec::new();
    if let Some(Value::Array(audiences)) = service.get("pc_targetAudience") {
        terms.extend(
            audiences
                .iter()
                .filter_map(|a| given(a.get("audienceType"))),
        );
    }
    terms.extend(given(service.get("deliverable_type")));
    let attending = given(service.get("attending_type"));
    terms.extend(attending.clone());
    for term in &terms {
        categories.extend(taxonomy::categories_for_term(term, None));
    }
    if !categories.is_empty() {
        let slugs = categories.iter().map(|c| Value::from(c.slug())).collect();
        out.insert("x_categories".to_owned(), Value::Array(slugs));
    }
    if attending.is_some_and(|a| {
        let a = a.to_lowercase();
        a == "online" || a == "phone"
    }) {
        out.insert("x_online".to_owned(), Value::Bool(true));
    }
    if !v1.is_empty() {
        out.insert("x_oruk_v1".to_owned(), Value::Object(v1));
    }
    out.insert(
        "organization".to_owned(),
        Value::Object(tidy_organization(organization)),
    );
    Value::Object(out)
}

fn tidy_organization(organization: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut v1 = Map::new();
    for (key, value) in organization {
        if is_empty(value) {
            continue;
        }
        if ORGANIZATION_FIELDS.contains(&key.as_str()) {
            out.insert(key.clone(), trimmed(value));
        } else if key == "url" {
            out.insert("website".to_owned(), trimmed(value));
        } else {
            v1.insert(key.clone(), value.clone());
        }
    }
    keep_usable(&mut out, &mut v1, "website", web_address);
    // HSDS requires an organization description; the feeds leave some out.
    out.entry("description")
        .or_insert_with(|| Value::String(String::new()));
    if !v1.is_empty() {
        out.insert("x_oruk_v1".to_owned(), Value::Object(v1));
    }
    out
}

/// Absent in a feed's terms: null, "", [] or {}.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

fn trimmed(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(text.trim().to_owned()),
        other => other.clone(),
    }
}

/// Replaces `key` by its usable form, or moves what was given into the v1
/// object when it is not usable or had to change.
fn keep_usable(
    out: &mut Map<String, Value>,
    v1: &mut Map<String, Value>,
    key: &str,
    usable: fn(&str) -> Option<String>,
) {
    let Some(Value::String(given)) = out.get(key).cloned() else {
        return;
    };
    match usable(&given) {
        Some(fixed) if fixed == given => {}
        Some(fixed) => {
            v1.insert(key.to_owned(), Value::String(given));
            out.insert(key.to_owned(), Value::String(fixed));
        }
        None => {
            v1.insert(key.to_owned(), Value::String(given));
            out.remove(key);
        }
    }
}

/// `given` without the invisible characters pasted text carries (zero-width
/// spaces and joiners, byte-order marks), which break addresses unseen.
fn visible(given: &str) -> String {
    given
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{ad}'
            )
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// A web address people can follow, from what a feed gives.
fn web_address(given: &str) -> Option<String> {
    let given = visible(given);
    let given = given.as_str();
    if given.is_empty() || given.chars().any(char::is_whitespace) {
        return None;
    }
    let lower = given.to_lowercase();
    for scheme in ["http://", "https://"] {
        if lower.starts_with(scheme) {
            // "HTTPS://Example.org/Page": the scheme in lower case, the rest
            // as given (paths can care about case).
            let rest = &given[scheme.len()..];
            return (!rest.is_empty()).then(|| format!("{scheme}{rest}"));
        }
    }
    // "www.example.org" or "example.org/page": a host name with a dot.
    let host = given.split('/').next().unwrap_or_default();
    let looks_like_host = host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    looks_like_host.then(|| format!("http://{given}"))
}

/// An e-mail address, when the text is one.
fn email_address(given: &str) -> Option<String> {
    let given = visible(given);
    let given = given.as_str();
    let (local, domain) = given.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !given
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>');
    ok.then(|| given.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/oruk-feeds");

    fn options(source: &str) -> ImportOptions {
        ImportOptions {
            source: source.to_owned(),
            ..ImportOptions::default()
        }
    }

    #[test]
    fn both_council_feeds_parse_with_reasoned_skips() {
        for name in ["bristol-2024-12.json", "north-lincolnshire-2024-12.json"] {
            let Ok(text) = std::fs::read_to_string(format!("{FEEDS}/{name}")) else {
                eprintln!("skipped: ../shared/data is absent");
                return;
            };
            let value: Value = serde_json::from_str(&text).expect("feed is JSON");
            assert!(looks_like_oruk_feed(&value), "{name}");
            assert!(!hsds::looks_like_hsds(&value), "{name} is not plain HSDS");
            let parsed = parse(&value, &options(name)).expect("parses");
            let batch = &parsed.batch;
            println!(
                "{name}: {} services, {} organizations, {} skipped, {} problems",
                batch.services.len(),
                batch.organizations.len(),
                batch.skipped.len(),
                parsed.problems.len()
            );
            for skipped in &batch.skipped {
                println!("  skipped {}: {}", skipped.record, skipped.reason);
                assert!(skipped.record.starts_with("service "), "{skipped:?}");
                assert!(
                    [
                        "service has no name",
                        "service has no organization",
                        "has the same id and is the one kept"
                    ]
                    .iter()
                    .any(|reason| skipped.reason.contains(reason)),
                    "{skipped:?}"
                );
            }
            assert!(parsed.problems.is_empty(), "{:#?}", parsed.problems);
            assert!(
                batch.services.len() >= 700,
                "{name}: {}",
                batch.services.len()
            );
            for service in &batch.services {
                let description = service.description.as_deref().unwrap_or_default();
                assert!(
                    !description.contains('<'),
                    "{}: {description}",
                    service.name
                );
                assert!(!service.name.trim().is_empty());
                if let Some(url) = &service.url {
                    assert!(url.starts_with("http"), "{url}");
                }
                if let Some(email) = &service.email {
                    assert!(email.contains('@'), "{email}");
                }
            }
            let ids: BTreeSet<&str> = batch.services.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids.len(), batch.services.len(), "ids are unique");
        }
    }

    fn feed(services: Value) -> Value {
        services
    }

    fn service(fields: Value) -> Value {
        let mut base = json!({
            "id": "def5ccd4-f121-df4d-60d2-4dc0d69ff555",
            "name": "Walk and talk",
            "description": "<p>Gentle walks&nbsp;in the park.</p><p><br></p>",
            "url": "www.walks.example.org",
            "email": "[email removed]",
            "status": "active",
            "fees": "",
            "deliverable_type": "Social activity",
            "attending_type": "Online",
            "assured_date": "",
            "pc_metadata": {"date_created": "2021-01-06"},
            "pc_targetAudience": [{"id": "x", "audienceType": "LGBTQ+ "}],
            "organization": {"id": "20da2f9a-59de-622c-3b63-78d899ba0d94", "name": "Parks", "description": "", "url": "", "logo": "", "uri": ""},
        });
        if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
            for (key, value) in fields {
                base.insert(key.clone(), value.clone());
            }
        }
        base
    }

    #[test]
    fn a_messy_service_is_tidied_into_hsds() {
        let parsed = parse(&feed(json!([service(json!({}))])), &options("t")).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", parsed.problems);
        let service = &parsed.batch.services[0];
        assert_eq!(
            service.description.as_deref(),
            Some("Gentle walks in the park.")
        );
        assert_eq!(service.url.as_deref(), Some("http://www.walks.example.org"));
        assert_eq!(service.email, None);
        assert_eq!(service.last_confirmed, None, "empty assured_date is absent");
        assert!(service.online);
        assert_eq!(
            service.categories,
            BTreeSet::from([
                Category::SocialGroups,
                Category::Lgbtq,
                Category::PhoneOnline
            ])
        );
        assert!(!service.extra.contains_key("fees"));
        let v1 = service.extra["x_oruk_v1"].as_object().expect("x_oruk_v1");
        assert_eq!(v1["email"], "[email removed]");
        assert_eq!(v1["url"], "www.walks.example.org");
        assert_eq!(v1["deliverable_type"], "Social activity");
        assert!(v1.contains_key("pc_metadata"));
        let organization = &parsed.batch.organizations[0];
        assert_eq!(organization.website, None);
        assert!(!organization.extra.contains_key("logo"));
    }

    #[test]
    fn unnamed_orphaned_and_repeated_services_are_skipped_with_reasons() {
        let value = feed(json!([
            service(json!({})),
            service(json!({"name": "Walk again"})),
            service(json!({"id": "a1", "name": ""})),
            service(json!({"id": "a2", "organization": null})),
        ]));
        let parsed = parse(&value, &options("t")).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", parsed.problems);
        assert_eq!(parsed.batch.services.len(), 1);
        let reasons: Vec<String> = parsed
            .batch
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.record, s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                "service \"def5ccd4-f121-df4d-60d2-4dc0d69ff555\" (\"Walk again\") at [1]: \
                 the service at [0] (\"Walk and talk\") has the same id and is the one kept",
                "service \"a1\" at [2]: service has no name",
                "service \"a2\" (\"Walk and talk\") at [3]: service has no organization",
            ]
        );
    }

    #[test]
    fn plain_hsds_lists_are_not_taken_for_feeds() {
        assert!(!looks_like_oruk_feed(
            &json!([{"id": "s", "name": "x", "status": "active"}])
        ));
        assert!(!looks_like_oruk_feed(&json!({"id": "s"})));
        assert!(!looks_like_oruk_feed(&json!([])));
    }

    #[test]
    fn addresses_are_checked_before_they_are_used() {
        assert_eq!(
            web_address("https://a.org"),
            Some("https://a.org".to_owned())
        );
        assert_eq!(
            web_address("HTTP://A.ORG/X"),
            Some("http://A.ORG/X".to_owned())
        );
        assert_eq!(
            web_address("kateartereft.com"),
            Some("http://kateartereft.com".to_owned())
        );
        assert_eq!(web_address("Warm space at the hall"), None);
        assert_eq!(web_address("Guardians"), None);
        assert_eq!(email_address("a@b.org"), Some("a@b.org".to_owned()));
        assert_eq!(email_address("[email removed]"), None);
        assert_eq!(
            email_address("\u{200b}a@b.org "),
            Some("a@b.org".to_owned())
        );
    }
}
