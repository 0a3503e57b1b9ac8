//! Writing the directory out as Open Referral HSDS 3.0 JSON.
//!
//! [`hsds_services`] writes a JSON list of full service objects, shaped as
//! HSDS's `service_full.json`: each with its organization (and the
//! organization's locations), its service_at_locations with their full
//! locations (addresses, phones, ...), its phones, schedules and attributes
//! with their taxonomy terms.
//!
//! Invariant: an import followed by an export gives back every field the
//! import took in. Each object is its record's `extra` (the HSDS fields we
//! keep verbatim), then its typed fields, then its children; a child whose
//! id we had to change (see [`hsds::ORIGINAL_ID`]) gets its own id back.
//! Our additions are HSDS extension fields, named `x_`:
//! - service: `x_categories` (slugs), `x_status` (moderation),
//!   `x_last_confirmed`, `x_expires`, `x_free`, `x_online`;
//! - location: `x_step_free`;
//! - schedule: `x_recurrence`, the full rule as JSON, exactly our
//!   [`Recurrence`] (time zone, local start, duration, RRULEs, RDATEs,
//!   EXDATEs and moved instances). JSON rather than RFC 5545 text because it
//!   carries moved and cancelled instances, which an RRULE/EXDATE text cannot
//!   without a second event, and the importer reads it back exactly.
//!
//! A schedule that came from iCalendar has no HSDS fields of its own; when
//! its rule is simple enough for HSDS to say (one weekly or monthly RRULE
//! with only INTERVAL, BYDAY, BYMONTHDAY, COUNT, UNTIL and WKST, or a one-off),
//! `freq`, `interval`, `byday`, `bymonthday`, `count`, `until`, `wkst`,
//! `dtstart`, `opens_at` and `closes_at` are filled in too, so HSDS readers
//! that ignore `x_` fields still see when it happens. Schedules that came
//! from HSDS are written back as they came.
//!
//! Empty lists are not written, so a record that arrived with `"phones": []`
//! goes out without `phones`.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::import::hsds::{self, number_value};
use super::model::{
    Address, Attribute, Batch, Location, Organization, Phone, Schedule, Service, ServiceAtLocation,
    TaxonomyTerm,
};
use super::recurrence::Recurrence;

/// HSDS schedule fields that say when something happens: a schedule with
/// any of them came from HSDS and is written back as it came.
const SCHEDULE_TIMING: [&str; 11] = [
    "freq",
    "interval",
    "byday",
    "bymonthday",
    "count",
    "until",
    "wkst",
    "dtstart",
    "valid_from",
    "opens_at",
    "closes_at",
];

/// The batch's services as an HSDS 3.0 JSON list of full service objects.
pub fn hsds_services(batch: &Batch) -> Value {
    let writer = Writer::new(batch);
    Value::Array(batch.services.iter().map(|s| writer.service(s)).collect())
}

/// The batch indexed for writing nested objects.
struct Writer<'b> {
    organizations: HashMap<&'b str, &'b Organization>,
    locations: HashMap<&'b str, &'b Location>,
    locations_of: HashMap<&'b str, Vec<&'b Location>>,
    links_of: HashMap<&'b str, Vec<&'b ServiceAtLocation>>,
    terms: HashMap<&'b str, &'b TaxonomyTerm>,
    taxonomies: HashMap<&'b str, &'b super::model::Taxonomy>,
}

impl<'b> Writer<'b> {
    fn new(batch: &'b Batch) -> Self {
        let mut locations_of: HashMap<&str, Vec<&Location>> = HashMap::new();
        for location in &batch.locations {
            if let Some(organization) = &location.organization_id {
                locations_of
                    .entry(organization.as_str())
                    .or_default()
                    .push(location);
            }
        }
        let mut links_of: HashMap<&str, Vec<&ServiceAtLocation>> = HashMap::new();
        for link in &batch.service_at_locations {
            links_of
                .entry(link.service_id.as_str())
                .or_default()
                .push(link);
        }
        Writer {
            organizations: batch
                .organizations
                .iter()
                .map(|o| (o.id.as_str(), o))
                .collect(),
            locations: batch.locations.iter().map(|l| (l.id.as_str(), l)).collect(),
            locations_of,
            links_of,
            terms: batch
                .taxonomy_terms
                .iter()
                .map(|t| (t.id.as_str(), t))
                .collect(),
            taxonomies: batch
                .taxonomies
                .iter()
                .map(|t| (t.id.as_str(), t))
                .collect(),
        }
    }

    fn service(&self, service: &Service) -> Value {
        let mut out = service.extra.clone();
        set(&mut out, "id", &service.id);
        set(&mut out, "name", &service.name);
        set(&mut out, "status", &service.status);
        set(&mut out, "organization_id", &service.organization_id);
        set_some(&mut out, "description", service.description.as_deref());
        set_some(&mut out, "url", service.url.as_deref());
        set_some(&mut out, "email", service.email.as_deref());
        set_some(
            &mut out,
            "fees_description",
            service.fees_description.as_deref(),
        );
        set_some(
            &mut out,
            "application_process",
            service.application_process.as_deref(),
        );
        set_list(&mut out, "phones", service.phones.iter().map(phone));
        set_list(
            &mut out,
            "schedules",
            service.schedules.iter().map(schedule),
        );
        set_list(
            &mut out,
            "attributes",
            service.attributes.iter().map(|a| self.attribute(a)),
        );
        let links = self.links_of.get(service.id.as_str()).into_iter().flatten();
        set_list(
            &mut out,
            "service_at_locations",
            links.map(|link| self.service_at_location(link)),
        );
        if let Some(organization) = self.organizations.get(service.organization_id.as_str()) {
            out.insert("organization".to_owned(), self.organization(organization));
        }
        let categories = service.categories.iter().map(|c| Value::from(c.slug()));
        out.insert(
            "x_categories".to_owned(),
            Value::Array(categories.collect()),
        );
        set(&mut out, "x_status", service.moderation.as_str());
        set_some(
            &mut out,
            "x_last_confirmed",
            service.last_confirmed.map(|d| d.to_string()).as_deref(),
        );
        set_some(
            &mut out,
            "x_expires",
            service.expires.map(|d| d.to_string()).as_deref(),
        );
        if let Some(free) = service.free {
            out.insert("x_free".to_owned(), Value::Bool(free));
        }
        out.insert("x_online".to_owned(), Value::Bool(service.online));
        Value::Object(out)
    }

    fn organization(&self, organization: &Organization) -> Value {
        let mut out = organization.extra.clone();
        set(&mut out, "id", &organization.id);
        set(&mut out, "name", &organization.name);
        set(&mut out, "description", &organization.description);
        set_some(&mut out, "email", organization.email.as_deref());
        set_some(&mut out, "website", organization.website.as_deref());
        set_list(&mut out, "phones", organization.phones.iter().map(phone));
        let locations = self
            .locations_of
            .get(organization.id.as_str())
            .into_iter()
            .flatten();
        set_list(&mut out, "locations", locations.map(|l| location(l)));
        Value::Object(out)
    }

    fn service_at_location(&self, link: &ServiceAtLocation) -> Value {
        let mut out = link.extra.clone();
        set(&mut out, "id", &link.id);
        set_some(&mut out, "description", link.description.as_deref());
        set_list(&mut out, "phones", link.phones.iter().map(phone));
        set_list(&mut out, "schedules", link.schedules.iter().map(schedule));
        // Nested in its service, it needs no service_id; its location is
        // written whole when we have it.
        match self.locations.get(link.location_id.as_str()) {
            Some(place) => {
                out.insert("location".to_owned(), location(place));
            }
            None => set(&mut out, "location_id", &link.location_id),
        }
        Value::Object(out)
    }

    fn attribute(&self, attribute: &Attribute) -> Value {
        let mut out = child(&attribute.extra, &attribute.id);
        set(&mut out, "taxonomy_term_id", &attribute.taxonomy_term_id);
        set_some(&mut out, "value", attribute.value.as_deref());
        if let Some(term) = self.terms.get(attribute.taxonomy_term_id.as_str()) {
            out.insert("taxonomy_term".to_owned(), self.term(term));
        }
        Value::Object(out)
    }

    fn term(&self, term: &TaxonomyTerm) -> Value {
        let mut out = term.extra.clone();
        set(&mut out, "id", &term.id);
        set(&mut out, "name", &term.name);
        set(&mut out, "description", &term.description);
        set_some(&mut out, "code", term.code.as_deref());
        if let Some(taxonomy_id) = &term.taxonomy_id {
            set(&mut out, "taxonomy_id", taxonomy_id);
            if let Some(taxonomy) = self.taxonomies.get(taxonomy_id.as_str()) {
                let mut detail = taxonomy.extra.clone();
                set(&mut detail, "id", &taxonomy.id);
                set(&mut detail, "name", &taxonomy.name);
                set(&mut detail, "description", &taxonomy.description);
                out.insert("taxonomy_detail".to_owned(), Value::Object(detail));
            }
        }
        Value::Object(out)
    }
}

fn location(location: &Location) -> Value {
    let mut out = location.extra.clone();
    set(&mut out, "id", &location.id);
    set(&mut out, "location_type", &location.location_type);
    set_some(
        &mut out,
        "organization_id",
        location.organization_id.as_deref(),
    );
    set_some(&mut out, "name", location.name.as_deref());
    set_some(&mut out, "description", location.description.as_deref());
    for (key, value) in [
        ("latitude", location.latitude),
        ("longitude", location.longitude),
    ] {
        if let Some(number) = value.and_then(number_value) {
            out.insert(key.to_owned(), number);
        }
    }
    set_list(
        &mut out,
        "addresses",
        location.addresses.iter().map(address),
    );
    set_list(&mut out, "phones", location.phones.iter().map(phone));
    if let Some(step_free) = location.step_free {
        out.insert("x_step_free".to_owned(), Value::Bool(step_free));
    }
    Value::Object(out)
}

fn address(address: &Address) -> Value {
    let mut out = child(&address.extra, &address.id);
    set(&mut out, "address_1", &address.address_1);
    set_some(&mut out, "address_2", address.address_2.as_deref());
    set(&mut out, "city", &address.city);
    set_some(&mut out, "region", address.region.as_deref());
    set(&mut out, "state_province", &address.state_province);
    set(&mut out, "postal_code", &address.postal_code);
    set(&mut out, "country", &address.country);
    set(&mut out, "address_type", &address.address_type);
    Value::Object(out)
}

fn phone(phone: &Phone) -> Value {
    let mut out = child(&phone.extra, &phone.id);
    set(&mut out, "number", &phone.number);
    set_some(&mut out, "description", phone.description.as_deref());
    Value::Object(out)
}

fn schedule(schedule: &Schedule) -> Value {
    let mut out = child(&schedule.extra, &schedule.id);
    set_some(&mut out, "description", schedule.description.as_deref());
    if let Some(recurrence) = &schedule.recurrence {
        if !SCHEDULE_TIMING.iter().any(|key| out.contains_key(*key)) {
            out.extend(hsds_timing(recurrence));
        }
        if let Ok(value) = serde_json::to_value(recurrence) {
            out.insert("x_recurrence".to_owned(), value);
        }
    }
    Value::Object(out)
}

/// A child's object: its extra, and its own HSDS id back when we gave it
/// another.
fn child(extra: &Map<String, Value>, id: &str) -> Map<String, Value> {
    let mut out = extra.clone();
    let original = out.remove(hsds::ORIGINAL_ID);
    let id = original
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_owned();
    out.insert("id".to_owned(), Value::String(id));
    out
}

fn set(out: &mut Map<String, Value>, key: &str, value: &str) {
    out.insert(key.to_owned(), Value::String(value.to_owned()));
}

fn set_some(out: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        set(out, key, value);
    }
}

fn set_list(out: &mut Map<String, Value>, key: &str, items: impl Iterator<Item = Value>) {
    let items: Vec<Value> = items.collect();
    if !items.is_empty() {
        out.insert(key.to_owned(), Value::Array(items));
    }
}

/// The HSDS schedule fields for a rule simple enough for HSDS to say, or
/// nothing (see the module documentation).
fn hsds_timing(recurrence: &Recurrence) -> Map<String, Value> {
    let mut out = Map::new();
    let simple_series = recurrence.extra_dates.is_empty()
        && recurrence.excluded_dates.is_empty()
        && recurrence.changed.is_empty();
    if !simple_series || recurrence.rules.len() > 1 {
        return out;
    }
    if let Some(rule) = recurrence.rules.first() {
        let mut parts = Map::new();
        for part in rule.split(';') {
            let Some((name, value)) = part.split_once('=') else {
                return Map::new();
            };
            let value = value.trim();
            match name.trim().to_uppercase().as_str() {
                "FREQ" if matches!(value, "WEEKLY" | "MONTHLY") => {
                    parts.insert("freq".to_owned(), Value::from(value));
                }
                "INTERVAL" | "COUNT" => match value.parse::<u32>() {
                    Ok(n) => {
                        parts.insert(name.to_lowercase(), Value::from(n));
                    }
                    Err(_) => return Map::new(),
                },
                "BYDAY" | "BYMONTHDAY" | "WKST" => {
                    parts.insert(name.to_lowercase(), Value::from(value));
                }
                "UNTIL" => match until_date(value) {
                    Some(date) => {
                        parts.insert("until".to_owned(), Value::from(date.to_string()));
                    }
                    None => return Map::new(),
                },
                _ => return Map::new(),
            }
        }
        if !parts.contains_key("freq") {
            return Map::new();
        }
        out = parts;
    }
    out.insert(
        "dtstart".to_owned(),
        Value::from(recurrence.start.date().to_string()),
    );
    if !recurrence.all_day {
        out.insert(
            "opens_at".to_owned(),
            Value::from(recurrence.start.time().format("%H:%M").to_string()),
        );
        if let Some(minutes) = recurrence.duration_minutes {
            let closes = recurrence.start + chrono::Duration::minutes(i64::from(minutes));
            out.insert(
                "closes_at".to_owned(),
                Value::from(closes.time().format("%H:%M").to_string()),
            );
        }
    }
    out
}

/// The UK date of an RRULE UNTIL (`20050101T235959Z`, `20050101T235959` or
/// `20050101`).
fn until_date(value: &str) -> Option<NaiveDate> {
    if let Some(utc) = value.strip_suffix('Z') {
        let utc = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        let local = Utc
            .from_utc_datetime(&utc)
            .with_timezone(&chrono_tz::Europe::London);
        return Some(local.date_naive());
    }
    NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
        .map(|t| t.date())
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y%m%d"))
        .ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::directory::import::{ImportOptions, Parsed, datapackage, oruk};
    use crate::directory::model::{Moderation, Organization};
    use crate::directory::recurrence::ChangedInstance;
    use crate::search::Category;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

    /// Serves the HSDS schema files, which refer to each other by file name
    /// (`"$ref": "phone.json"`), from a folder; nothing is fetched from the
    /// network.
    struct SchemaFolder(PathBuf);

    impl jsonschema::Retrieve for SchemaFolder {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            let name = uri
                .path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let text = std::fs::read_to_string(self.0.join(&name))
                .map_err(|err| format!("schema {name}: {err}"))?;
            Ok(serde_json::from_str(&text)?)
        }
    }

    /// Every way `json` (a list of HSDS services) breaks the HSDS 3.0
    /// `service` schema in `schema_folder`, as "[index]/path: message";
    /// formats (uuid, email, uri, date-time) are checked too.
    pub fn validate_services_with(schema_folder: &Path, json: &Value) -> Result<(), Vec<String>> {
        let text = std::fs::read_to_string(schema_folder.join("service.json"))
            .map_err(|err| vec![format!("service.json: {err}")])?;
        let schema: Value =
            serde_json::from_str(&text).map_err(|err| vec![format!("service.json: {err}")])?;
        let validator = jsonschema::options()
            .with_base_uri("file:///hsds/service.json")
            .with_retriever(SchemaFolder(schema_folder.to_owned()))
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|err| vec![format!("the service schema does not compile: {err}")])?;
        let Some(list) = json.as_array() else {
            return Err(vec!["the export is not a JSON list".to_owned()]);
        };
        let errors: Vec<String> = list
            .iter()
            .enumerate()
            .flat_map(|(index, service)| {
                validator
                    .iter_errors(service)
                    .map(move |error| format!("[{index}]{}: {error}", error.instance_path()))
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// [`validate_services_with`] the HSDS 3.0 schemas in ../shared/data.
    pub fn validate_services(json: &Value) -> Result<(), Vec<String>> {
        validate_services_with(&Path::new(DATA).join("hsds-spec/schema"), json)
    }

    /// Validates against the schema when ../shared/data is here; the
    /// test's other checks run either way.
    fn validate_if_present(json: &Value) {
        if !Path::new(DATA).join("hsds-spec/schema").is_dir() {
            eprintln!("skipped the schema check: ../shared/data is absent");
            return;
        }
        validate_services(json).unwrap_or_else(|errors| panic!("{errors:#?}"));
    }

    fn options(source: &str) -> ImportOptions {
        ImportOptions {
            source: source.to_owned(),
            ..ImportOptions::default()
        }
    }

    fn read_json(path: &Path) -> Option<Value> {
        let text = std::fs::read_to_string(path).ok()?;
        Some(serde_json::from_str(&text).expect("example is JSON"))
    }

    /// Where `exported` lacks or changes something `original` has: fields
    /// missing, values different (numbers by value), list items matched by
    /// id (else by position). Fields only `exported` has are additions, not
    /// differences.
    fn losses(original: &Value, exported: &Value, path: &str, found: &mut Vec<String>) {
        match (original, exported) {
            (Value::Object(original), Value::Object(exported)) => {
                for (key, value) in original {
                    match exported.get(key) {
                        Some(other) => losses(value, other, &format!("{path}.{key}"), found),
                        None => found.push(format!("{path}.{key} is missing")),
                    }
                }
            }
            (Value::Array(original), Value::Array(exported)) => {
                for (index, item) in original.iter().enumerate() {
                    let id = item.get("id");
                    let other = match id {
                        Some(id) => exported.iter().find(|e| e.get("id") == Some(id)),
                        None => exported.get(index),
                    };
                    match other {
                        Some(other) => losses(item, other, &format!("{path}[{index}]"), found),
                        None => found.push(format!("{path}[{index}] is missing")),
                    }
                }
            }
            _ if hsds::same_value(original, exported) => {}
            _ => found.push(format!("{path}: {original} became {exported}")),
        }
    }

    #[test]
    fn service_full_comes_back_with_every_field_it_had() {
        for profile in ["hsds-spec", "oruk-profile"] {
            let path = Path::new(DATA)
                .join(profile)
                .join("examples/service_full.json");
            let Some(original) = read_json(&path) else {
                eprintln!("skipped: ../shared/data is absent");
                return;
            };
            let parsed = crate::directory::import::hsds::parse(&original, &options(profile))
                .expect("parses");
            assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
            let exported = hsds_services(&parsed.batch);
            let mut found = Vec::new();
            losses(&original, &exported[0], "", &mut found);
            assert!(found.is_empty(), "{profile}: {found:#?}");
            validate_services(&exported).unwrap_or_else(|errors| panic!("{profile}: {errors:#?}"));
            // And it reads back the same.
            let again = crate::directory::import::hsds::parse(&exported, &options(profile))
                .expect("parses again");
            assert_same_records(&parsed.batch, &again.batch, profile);
        }
    }

    /// Asserts two batches hold the same records (what was skipped aside),
    /// naming the first record that differs rather than printing both.
    fn assert_same_records(before: &Batch, after: &Batch, what: &str) {
        fn first_difference<T: PartialEq + std::fmt::Debug>(
            kind: &str,
            a: &[T],
            b: &[T],
        ) -> Option<String> {
            if a.len() != b.len() {
                return Some(format!("{} {kind} became {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("{kind}:\n{a:?}\nbecame\n{b:?}"))
        }
        let difference = first_difference("services", &before.services, &after.services)
            .or_else(|| {
                first_difference("organizations", &before.organizations, &after.organizations)
            })
            .or_else(|| first_difference("locations", &before.locations, &after.locations))
            .or_else(|| {
                first_difference(
                    "service_at_locations",
                    &before.service_at_locations,
                    &after.service_at_locations,
                )
            })
            .or_else(|| {
                first_difference(
                    "taxonomy_terms",
                    &before.taxonomy_terms,
                    &after.taxonomy_terms,
                )
            })
            .or_else(|| first_difference("taxonomies", &before.taxonomies, &after.taxonomies));
        if let Some(difference) = difference {
            panic!("{what} does not read back the same: {difference}");
        }
    }

    /// Every HSDS and UK profile example, by file name, parsed.
    fn examples() -> Vec<(String, Parsed)> {
        let mut parsed = Vec::new();
        for profile in ["hsds-spec", "oruk-profile"] {
            let dir = Path::new(DATA).join(profile).join("examples");
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                let name = format!(
                    "{profile}/{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                );
                if path.is_dir() {
                    let result = datapackage::parse(&path, &options(&name))
                        .unwrap_or_else(|problem| panic!("{name}: {problem}"));
                    parsed.push((name, result));
                } else if let Some(value) = read_json(&path) {
                    let result = crate::directory::import::hsds::parse(&value, &options(&name))
                        .unwrap_or_else(|problem| panic!("{name}: {problem}"));
                    parsed.push((name, result));
                }
            }
        }
        parsed
    }

    #[test]
    fn every_example_imports_and_its_export_validates() {
        let examples = examples();
        if examples.is_empty() {
            eprintln!("skipped: ../shared/data is absent");
            return;
        }
        for (name, parsed) in examples {
            let batch = &parsed.batch;
            println!(
                "{name}: {} services, {} organizations, {} locations, {} terms; {} skipped",
                batch.services.len(),
                batch.organizations.len(),
                batch.locations.len(),
                batch.taxonomy_terms.len(),
                batch.skipped.len()
            );
            for problem in &parsed.problems {
                println!("  problem {problem}");
            }
            assert!(parsed.problems.is_empty(), "{name}");
            let exported = hsds_services(batch);
            validate_services(&exported).unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        }
    }

    #[test]
    fn council_feeds_export_valid_hsds() {
        for name in ["bristol-2024-12.json", "north-lincolnshire-2024-12.json"] {
            let Some(value) = read_json(&Path::new(DATA).join("oruk-feeds").join(name)) else {
                eprintln!("skipped: ../shared/data is absent");
                return;
            };
            let parsed = oruk::parse(&value, &options(name)).expect("parses");
            let exported = hsds_services(&parsed.batch);
            assert_eq!(
                exported.as_array().map(Vec::len),
                Some(parsed.batch.services.len())
            );
            validate_services(&exported).unwrap_or_else(|errors| {
                panic!(
                    "{name}: {} errors: {:#?}",
                    errors.len(),
                    &errors[..errors.len().min(10)]
                )
            });
            let again = crate::directory::import::hsds::parse(&exported, &options(name))
                .expect("parses again");
            assert!(again.problems.is_empty(), "{:#?}", again.problems);
            assert_same_records(&parsed.batch, &again.batch, name);
        }
    }

    /// A service as the iCalendar importer would make it: no HSDS schedule
    /// fields, only a rule.
    fn calendar_batch(recurrence: Recurrence) -> Batch {
        let organization = Organization {
            id: "7d0f3c1e-0000-4000-8000-000000000001".to_owned(),
            source_id: "org".to_owned(),
            name: "Makerspace".to_owned(),
            description: String::new(),
            email: None,
            website: None,
            phones: Vec::new(),
            extra: Map::new(),
        };
        let service = Service {
            id: "7d0f3c1e-0000-4000-8000-000000000002".to_owned(),
            source_id: "open-night@example.org".to_owned(),
            organization_id: organization.id.clone(),
            name: "Open night".to_owned(),
            description: None,
            url: None,
            email: None,
            status: "active".to_owned(),
            fees_description: None,
            free: Some(true),
            application_process: None,
            online: false,
            phones: Vec::new(),
            schedules: vec![Schedule {
                id: "7d0f3c1e-0000-4000-8000-000000000003".to_owned(),
                description: None,
                recurrence: Some(recurrence),
                extra: Map::new(),
            }],
            attributes: Vec::new(),
            categories: BTreeSet::from([Category::SocialGroups]),
            moderation: Moderation::Published,
            last_confirmed: NaiveDate::from_ymd_opt(2026, 11, 1),
            expires: None,
            extra: Map::new(),
        };
        Batch {
            source: "calendar".to_owned(),
            organizations: vec![organization],
            services: vec![service],
            ..Batch::default()
        }
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a time")
    }

    #[test]
    fn simple_calendar_rules_are_also_written_as_hsds_fields() {
        let batch = calendar_batch(Recurrence {
            timezone: "Europe/London".to_owned(),
            start: at("2026-06-02 19:00"),
            all_day: false,
            duration_minutes: Some(150),
            rules: vec!["FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20260929T225959Z".to_owned()],
            extra_dates: Vec::new(),
            excluded_dates: Vec::new(),
            changed: Vec::new(),
        });
        let exported = hsds_services(&batch);
        let schedule = &exported[0]["schedules"][0];
        assert_eq!(schedule["freq"], "WEEKLY");
        assert_eq!(schedule["interval"], 1);
        assert_eq!(schedule["byday"], "TU");
        assert_eq!(schedule["until"], "2026-09-29", "23:59:59 BST is 22:59:59Z");
        assert_eq!(schedule["dtstart"], "2026-06-02");
        assert_eq!(schedule["opens_at"], "19:00");
        assert_eq!(schedule["closes_at"], "21:30");
        assert_eq!(
            schedule["x_recurrence"]["rules"][0],
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20260929T225959Z"
        );
        assert_eq!(exported[0]["x_categories"], json!(["social-groups"]));
        assert_eq!(exported[0]["x_status"], "published");
        assert_eq!(exported[0]["x_last_confirmed"], "2026-11-01");
        assert_eq!(exported[0]["x_free"], true);
        validate_if_present(&exported);
        // Reading it back gives the same rule, from x_recurrence.
        let again =
            crate::directory::import::hsds::parse(&exported, &options("calendar")).expect("parses");
        assert_eq!(
            again.batch.services[0].schedules[0].recurrence,
            batch.services[0].schedules[0].recurrence
        );
    }

    #[test]
    fn rules_hsds_cannot_say_are_kept_only_in_x_recurrence() {
        let batch = calendar_batch(Recurrence {
            timezone: "Europe/London".to_owned(),
            start: at("2026-01-30 18:00"),
            all_day: false,
            duration_minutes: Some(120),
            rules: vec!["FREQ=MONTHLY;BYDAY=-1FR".to_owned()],
            extra_dates: Vec::new(),
            excluded_dates: Vec::new(),
            changed: vec![ChangedInstance {
                original_start: at("2026-02-27 18:00"),
                start: Some(at("2026-02-20 18:00")),
                duration_minutes: None,
            }],
        });
        let exported = hsds_services(&batch);
        let schedule = exported[0]["schedules"][0].as_object().expect("schedule");
        assert!(!schedule.contains_key("freq"), "{schedule:?}");
        assert_eq!(
            schedule["x_recurrence"]["changed"][0]["start"],
            "2026-02-20T18:00:00"
        );
        let yearly = calendar_batch(Recurrence {
            rules: vec!["FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25".to_owned()],
            changed: Vec::new(),
            ..batch.services[0].schedules[0]
                .recurrence
                .clone()
                .expect("rule")
        });
        let exported = hsds_services(&yearly);
        assert!(exported[0]["schedules"][0].get("freq").is_none());
        validate_if_present(&exported);
    }

    #[test]
    fn a_schema_break_is_reported_with_its_path() {
        if !Path::new(DATA).join("hsds-spec/schema").is_dir() {
            eprintln!("skipped: ../shared/data is absent");
            return;
        }
        let errors =
            validate_services(&json!([{"id": "not-a-uuid", "name": 3}])).expect_err("invalid");
        assert!(
            errors.iter().any(|e| e.starts_with("[0]/name")),
            "{errors:#?}"
        );
        assert!(errors.iter().any(|e| e.contains("status")), "{errors:#?}");
        assert!(
            errors.iter().any(|e| e.starts_with("[0]/id")),
            "{errors:#?}"
        );
    }
}
