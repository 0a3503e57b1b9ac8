//! Reading Open Referral HSDS 3.0 JSON into a [`Batch`].
//!
//! Any shape the HSDS 3.0 examples use is accepted: one service with
//! everything nested (`service_full.json`), one organization with its
//! services and locations, a service_at_location, a location, a taxonomy, a
//! taxonomy term, a list of any of these, the paged `{total_items, contents}`
//! envelope, a `{services: [...], ...}` wrapper, `tabular.json` (tables as
//! lists of rows, read like the CSV datapackage) and `base.json` (metadata
//! only, so no records). What a record is, is told by its fields.
//!
//! Reading happens in two passes. The first walks the JSON and collects every
//! record by kind and id, taking nested records out of their parents: a
//! service's `organization` and `service_at_locations`, an organization's
//! `services` and `locations`, a service_at_location's `service` and
//! `location`, a term's `taxonomy_detail`, an attribute's `taxonomy_term`.
//! The same id met twice is the same record (the examples repeat a location
//! under the organization and under the service); the copies are merged, and
//! only when they disagree about a field is it a problem, naming both places.
//! The second pass turns each record into the model, children first.
//!
//! Decisions, with reasons:
//! - Typed fields hold what the bot searches or shows; every other field is
//!   kept verbatim in `extra` so an export gives it back. HTML in a typed text
//!   field becomes plain text ([`html::to_text`]); plain text is kept as is.
//! - Children (phones, schedules, attributes, addresses) get ids derived from
//!   their owner, because HSDS files repeat one phone under the service, the
//!   location and the organization while the store keys children by id alone.
//!   The publisher's id, when it is a UUID, is kept in `extra` as
//!   [`ORIGINAL_ID`], and the exporter writes it back as `id`.
//! - A service's organization is the nested `organization` object, else its
//!   `organization_id`. An `organization_id` naming no organization in the
//!   file is kept as a reference (the organization may have been imported
//!   before, from an organizations file); the store refuses it if not. A
//!   service with no organization at all is skipped with the reason "service
//!   has no organization": an invented "Unknown organisation" would be shown
//!   to people as if it were real.
//! - A location's organization is optional, so an `organization_id` naming no
//!   organization in the file stays in `extra` rather than as a link the store
//!   would have to check. Likewise a term's `taxonomy_id`.
//! - A service_at_location whose service or location is not in the file is
//!   skipped with its reason: it only means something next to them.
//! - Coordinates outside WGS84 (latitude -90..90, longitude -180..180) are not
//!   used, and the place is kept without a map position; the values stay in
//!   `extra`, and the place is listed in `skipped` with the reason. (The HSDS
//!   example files themselves give latitude 100, longitude 101.)
//! - `assured_date` is not taken as our `x_last_confirmed`: real feeds give
//!   dates years old, and the store counts an import as the confirmation,
//!   so listings would expire the day they arrive. It stays in `extra`.
//! - Our own `x_` fields are read back (`x_categories`, `x_last_confirmed`,
//!   `x_expires`, `x_free`, `x_online`, `x_step_free`, `x_recurrence`), so an
//!   export imports again unchanged; `x_status` is the store's to set and is
//!   dropped.
//! - Schedules: see [`recurrence_from_hsds`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use regex::Regex;
use serde_json::{Map, Value};

use super::{ImportOptions, Parsed, Problem, html, taxonomy};
use crate::directory::model::{
    Address, Attribute, Batch, Extra, Location, Organization, Phone, Schedule, Service,
    ServiceAtLocation, Skipped, Taxonomy, TaxonomyTerm, derived_id, record_id,
};
use crate::directory::recurrence::Recurrence;
use crate::search::Category;

/// The `extra` key that keeps a child's own HSDS id when ours differs (see
/// the module documentation). The exporter writes it back as `id`.
pub const ORIGINAL_ID: &str = "x_original_id";

/// HSDS service statuses.
const STATUSES: [&str; 4] = ["active", "inactive", "defunct", "temporarily closed"];

/// HSDS location and address types.
const PLACE_TYPES: [&str; 3] = ["physical", "postal", "virtual"];

/// The start given to a rule that says which weekdays but not from when
/// ("every Tuesday"): a Monday long past, so every weekday of the rule comes
/// after it. Only rules whose phase does not matter get it (interval 1).
const UNDATED_START: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 3).expect("a real date");

/// Schedules are read in UK local time: see [`recurrence_from_hsds`].
pub const TIMEZONE: &str = "Europe/London";

/// Whether `value` is HSDS 3.0 JSON of a shape [`parse`] reads.
pub fn looks_like_hsds(value: &Value) -> bool {
    if super::oruk::looks_like_oruk_feed(value) {
        return false;
    }
    match value {
        Value::Array(items) => {
            !items.is_empty()
                && items.iter().all(Value::is_object)
                && items
                    .iter()
                    .filter_map(Value::as_object)
                    .any(|o| o.contains_key("id") && kind_of(o).is_some())
        }
        Value::Object(object) => match shape_of(object) {
            Shape::Tabular | Shape::Envelope | Shape::Wrapper | Shape::Base => true,
            Shape::Record => object.contains_key("id") && kind_of(object).is_some(),
        },
        _ => false,
    }
}

/// Reads HSDS 3.0 JSON into a batch filed under `options.source`.
///
/// Fails only when the JSON is not a shape HSDS uses at all; problems with
/// single records are returned alongside the records that are fine.
pub fn parse(value: &Value, options: &ImportOptions) -> Result<Parsed, Problem> {
    let locate = |path: &str| {
        if path.is_empty() {
            "top level".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Value::Array(items) => {
            let items: Vec<(String, &Value)> = items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("[{i}]"), item))
                .collect();
            Ok(map_items(&items, options, &locate, Vec::new()))
        }
        Value::Object(object) => match shape_of(object) {
            Shape::Tabular => super::datapackage::parse_json_tables(object, options),
            Shape::Base => Ok(Parsed {
                batch: Batch {
                    source: options.source.clone(),
                    ..Batch::default()
                },
                problems: Vec::new(),
            }),
            Shape::Envelope | Shape::Wrapper => {
                let mut items = Vec::new();
                for (key, list) in object {
                    if !LIST_KEYS.contains(&key.as_str()) {
                        continue;
                    }
                    if let Value::Array(list) = list {
                        for (i, item) in list.iter().enumerate() {
                            items.push((format!("{key}[{i}]"), item));
                        }
                    }
                }
                Ok(map_items(&items, options, &locate, Vec::new()))
            }
            Shape::Record => Ok(map_items(
                &[(String::new(), value)],
                options,
                &locate,
                Vec::new(),
            )),
        },
        _ => Err(Problem {
            location: "top level".to_owned(),
            record: None,
            message: "expected a JSON object or a list of HSDS records".to_owned(),
        }),
    }
}

/// Keys whose lists hold records in an envelope or wrapper.
const LIST_KEYS: [&str; 7] = [
    "contents",
    "services",
    "organizations",
    "locations",
    "service_at_locations",
    "taxonomies",
    "taxonomy_terms",
];

/// How a top-level JSON object holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `tabular.json`: `{"services.csv": [rows], ...}`.
    Tabular,
    /// `{total_items, contents: [...]}`.
    Envelope,
    /// `{services: [...], organizations: [...]}`, with no id of its own.
    Wrapper,
    /// `base.json`: `{version, profile, openapi_url}`.
    Base,
    /// One record.
    Record,
}

fn shape_of(object: &Map<String, Value>) -> Shape {
    if object
        .iter()
        .any(|(key, value)| key.ends_with(".csv") && value.is_array())
    {
        Shape::Tabular
    } else if object.get("contents").is_some_and(Value::is_array) {
        Shape::Envelope
    } else if !object.contains_key("id")
        && LIST_KEYS
            .iter()
            .any(|key| object.get(*key).is_some_and(Value::is_array))
    {
        Shape::Wrapper
    } else if !object.contains_key("id")
        && (object.contains_key("openapi_url")
            || (object.contains_key("version") && object.contains_key("profile")))
    {
        Shape::Base
    } else {
        Shape::Record
    }
}

/// The kinds of record a batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Service,
    Organization,
    Location,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Organization => "organization",
            Kind::Location => "location",
            Kind::ServiceAtLocation => "service_at_location",
            Kind::Taxonomy => "taxonomy",
            Kind::TaxonomyTerm => "taxonomy_term",
        }
    }
}

/// Fields only a service has (besides its required `status`).
const SERVICE_FIELDS: [&str; 20] = [
    "status",
    "service_at_locations",
    "organization",
    "organization_id",
    "program_id",
    "fees_description",
    "application_process",
    "eligibility_description",
    "interpretation_services",
    "wait_time",
    "fees",
    "accreditations",
    "minimum_age",
    "maximum_age",
    "assured_date",
    "assurer_email",
    "licenses",
    "service_areas",
    "cost_options",
    "required_documents",
];

/// Fields only an organization has.
const ORGANIZATION_FIELDS: [&str; 11] = [
    "services",
    "locations",
    "website",
    "tax_status",
    "tax_id",
    "year_incorporated",
    "legal_status",
    "logo",
    "parent_organization_id",
    "organization_identifiers",
    "programs",
];

/// What kind of record an object is, by its fields.
pub(crate) fn kind_of(object: &Map<String, Value>) -> Option<Kind> {
    let has = |key: &str| object.contains_key(key);
    let any = |keys: &[&str]| keys.iter().any(|key| has(key));
    if any(&[
        "location_type",
        "latitude",
        "longitude",
        "addresses",
        "accessibility",
        "transportation",
    ]) {
        Some(Kind::Location)
    } else if any(&["service", "location"]) || (has("service_id") && has("location_id")) {
        Some(Kind::ServiceAtLocation)
    } else if any(&SERVICE_FIELDS) {
        Some(Kind::Service)
    } else if any(&ORGANIZATION_FIELDS) {
        Some(Kind::Organization)
    } else if any(&[
        "taxonomy_detail",
        "parent_id",
        "term_uri",
        "taxonomy",
        "taxonomy_id",
        "code",
        "term",
    ]) {
        Some(Kind::TaxonomyTerm)
    } else if any(&["taxonomy_terms", "version"]) || (has("uri") && has("name")) {
        Some(Kind::Taxonomy)
    } else {
        None
    }
}

/// How a record is named to the person importing: `service "ac14…"
/// ("Community Counselling")`.
pub(crate) fn describe(kind: &str, id: Option<&str>, name: Option<&str>) -> String {
    match (id, name) {
        (Some(id), Some(name)) => format!("{kind} \"{id}\" (\"{name}\")"),
        (Some(id), None) => format!("{kind} \"{id}\""),
        (None, Some(name)) => format!("{kind} (\"{name}\")"),
        (None, None) => format!("a {kind} with no id"),
    }
}

/// A JSON path one field further down: `a.b`, or `["services.csv"]` for a
/// key that is not a plain name.
pub(crate) fn field_path(path: &str, key: &str) -> String {
    let plain = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::String(key.to_owned())),
    }
}

/// Maps records found at the given paths into a batch. `locate` turns a JSON
/// path into where the person finds it (the datapackage reader turns paths
/// into CSV rows); `skipped` are records the caller already left out.
pub(crate) fn map_items(
    items: &[(String, &Value)],
    options: &ImportOptions,
    locate: &dyn Fn(&str) -> String,
    skipped: Vec<Skipped>,
) -> Parsed {
    let mut walker = Walker::new(options, locate);
    walker.skipped = skipped;
    for (path, item) in items {
        walker.walk_record(item, path);
    }
    walker.finish()
}

/// One record as collected, before it is turned into the model.
#[derive(Debug)]
struct Raw {
    /// Where it was first met.
    path: String,
    /// Its fields, with nested records taken out.
    fields: Map<String, Value>,
    /// Source ids of the records it was nested in or held: "organization",
    /// "service", "location", "taxonomy".
    links: BTreeMap<&'static str, String>,
    /// Its copies disagree: it is left out.
    bad: bool,
}

/// What became of the records of one kind, by source id.
#[derive(Debug, Default)]
struct Outcomes {
    /// Their ids in the batch.
    kept: HashMap<String, String>,
    /// Where those left out for a problem were met, for the problems of
    /// records that depend on them.
    left_out: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct Collection {
    /// Source ids in the order first met, so batches come out the same way
    /// every time.
    order: Vec<String>,
    records: HashMap<String, Raw>,
}

struct Walker<'a> {
    source: String,
    options: &'a ImportOptions,
    locate: &'a dyn Fn(&str) -> String,
    problems: Vec<Problem>,
    skipped: Vec<Skipped>,
    collections: BTreeMap<Kind, Collection>,
}

impl<'a> Walker<'a> {
    fn new(options: &'a ImportOptions, locate: &'a dyn Fn(&str) -> String) -> Self {
        Walker {
            source: options.source.clone(),
            options,
            locate,
            problems: Vec::new(),
            skipped: Vec::new(),
            collections: BTreeMap::new(),
        }
    }

    fn problem(&mut self, path: &str, record: Option<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            location: (self.locate)(path),
            record,
            message: message.into(),
        });
    }

    fn walk_record(&mut self, value: &Value, path: &str) {
        let Some(object) = value.as_object() else {
            self.problem(path, None, "expected an HSDS record (a JSON object)");
            return;
        };
        match kind_of(object) {
            Some(Kind::Service) => {
                self.walk_service(object, path, None);
            }
            Some(Kind::Organization) => {
                self.walk_organization(object, path);
            }
            Some(Kind::Location) => {
                self.walk_location(object, path, None);
            }
            Some(Kind::ServiceAtLocation) => {
                self.walk_service_at_location(object, path, None);
            }
            Some(Kind::Taxonomy) => {
                self.walk_taxonomy(object, path);
            }
            Some(Kind::TaxonomyTerm) => {
                self.walk_term(object, path, None);
            }
            None => {
                let record = describe(
                    "record",
                    text_of(object.get("id")).as_deref(),
                    text_of(object.get("name")).as_deref(),
                );
                self.problem(
                    path,
                    Some(record),
                    "cannot tell what kind of HSDS record this is: a service has a status, \
                     an organization a website or services, a location a location_type",
                );
            }
        }
    }

    /// The record's own id, or a problem saying it has none.
    fn id_of(&mut self, kind: Kind, object: &Map<String, Value>, path: &str) -> Option<String> {
        match text_of(object.get("id")).map(|id| id.trim().to_owned()) {
            Some(id) if !id.is_empty() => Some(id),
            _ => {
                let name = text_of(object.get("name"));
                self.problem(
                    &field_path(path, "id"),
                    Some(describe(kind.name(), None, name.as_deref())),
                    format!("{} has no id", kind.name()),
                );
                None
            }
        }
    }

    fn walk_service(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        organization: Option<&str>,
    ) -> Option<String> {
        let id = self.id_of(Kind::Service, object, path)?;
        let mut fields = object.clone();
        let mut links = BTreeMap::new();
        if let Some(organization) = organization {
            links.insert("organization", organization.to_owned());
        }
        if let Some(nested) = fields.remove("organization") {
            let nested_path = field_path(path, "organization");
            match nested.as_object() {
                Some(nested) => {
                    if let Some(org) = self.walk_organization(nested, &nested_path) {
                        links.insert("organization", org);
                    }
                }
                None if nested.is_null() => {}
                None => self.problem(
                    &nested_path,
                    Some(describe("service", Some(&id), None)),
                    "organization should be an object",
                ),
            }
        }
        if let Some(Value::Array(links_here)) = fields.remove("service_at_locations") {
            for (i, link) in links_here.iter().enumerate() {
                let link_path = format!("{}[{i}]", field_path(path, "service_at_locations"));
                match link.as_object() {
                    Some(link) => {
                        self.walk_service_at_location(link, &link_path, Some(&id));
                    }
                    None => self.problem(&link_path, None, "expected a service_at_location object"),
                }
            }
        }
        if let Some(Value::Array(attributes)) = fields.get("attributes") {
            let attributes_path = field_path(path, "attributes");
            for (i, attribute) in attributes.clone().iter().enumerate() {
                if let Some(term) = attribute.get("taxonomy_term").and_then(Value::as_object) {
                    let term_path = field_path(&format!("{attributes_path}[{i}]"), "taxonomy_term");
                    self.walk_term(term, &term_path, None);
                }
            }
        }
        self.collect(Kind::Service, id.clone(), path, fields, links);
        Some(id)
    }

    fn walk_organization(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        let id = self.id_of(Kind::Organization, object, path)?;
        let mut fields = object.clone();
        if let Some(Value::Array(services)) = fields.remove("services") {
            for (i, service) in services.iter().enumerate() {
                let service_path = format!("{}[{i}]", field_path(path, "services"));
                match service.as_object() {
                    Some(service) => {
                        self.walk_service(service, &service_path, Some(&id));
                    }
                    None => self.problem(&service_path, None, "expected a service object"),
                }
            }
        }
        if let Some(Value::Array(locations)) = fields.remove("locations") {
            for (i, location) in locations.iter().enumerate() {
                let location_path = format!("{}[{i}]", field_path(path, "locations"));
                match location.as_object() {
                    Some(location) => {
                        self.walk_location(location, &location_path, Some(&id));
                    }
                    None => self.problem(&location_path, None, "expected a location object"),
                }
            }
        }
        self.collect(
            Kind::Organization,
            id.clone(),
            path,
            fields,
            BTreeMap::new(),
        );
        Some(id)
    }

    fn walk_location(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        organization: Option<&str>,
    ) -> Option<String> {
        let id = self.id_of(Kind::Location, object, path)?;
        let mut links = BTreeMap::new();
        if let Some(organization) = organization {
            links.insert("organization", organization.to_owned());
        }
        self.collect(Kind::Location, id.clone(), path, object.clone(), links);
        Some(id)
    }

    fn walk_service_at_location(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        service: Option<&str>,
    ) -> Option<String> {
        let id = self.id_of(Kind::ServiceAtLocation, object, path)?;
        let mut fields = object.clone();
        let mut links = BTreeMap::new();
        if let Some(service) = service {
            links.insert("service", service.to_owned());
        }
        if let Some(Value::Object(location)) = fields.remove("location")
            && let Some(location) =
                self.walk_location(&location, &field_path(path, "location"), None)
        {
            links.insert("location", location);
        }
        if let Some(Value::Object(nested)) = fields.remove("service")
            && let Some(nested) = self.walk_service(&nested, &field_path(path, "service"), None)
        {
            links.insert("service", nested);
        }
        self.collect(Kind::ServiceAtLocation, id.clone(), path, fields, links);
        Some(id)
    }

    fn walk_taxonomy(&mut self, object: &Map<String, Value>, path: &str) -> Option<String> {
        let id = self.id_of(Kind::Taxonomy, object, path)?;
        let mut fields = object.clone();
        if let Some(Value::Array(terms)) = fields.remove("taxonomy_terms") {
            for (i, term) in terms.iter().enumerate() {
                let term_path = format!("{}[{i}]", field_path(path, "taxonomy_terms"));
                match term.as_object() {
                    Some(term) => {
                        self.walk_term(term, &term_path, Some(&id));
                    }
                    None => self.problem(&term_path, None, "expected a taxonomy_term object"),
                }
            }
        }
        self.collect(Kind::Taxonomy, id.clone(), path, fields, BTreeMap::new());
        Some(id)
    }

    fn walk_term(
        &mut self,
        object: &Map<String, Value>,
        path: &str,
        taxonomy: Option<&str>,
    ) -> Option<String> {
        let id = self.id_of(Kind::TaxonomyTerm, object, path)?;
        let mut fields = object.clone();
        let mut links = BTreeMap::new();
        if let Some(taxonomy) = taxonomy {
            links.insert("taxonomy", taxonomy.to_owned());
        }
        if let Some(Value::Object(detail)) = fields.remove("taxonomy_detail")
            && let Some(detail) = self.walk_taxonomy(&detail, &field_path(path, "taxonomy_detail"))
        {
            links.insert("taxonomy", detail);
        }
        self.collect(Kind::TaxonomyTerm, id.clone(), path, fields, links);
        Some(id)
    }

    /// Adds a record, or merges it into the copy already met.
    fn collect(
        &mut self,
        kind: Kind,
        id: String,
        path: &str,
        fields: Map<String, Value>,
        links: BTreeMap<&'static str, String>,
    ) {
        let collection = self.collections.entry(kind).or_default();
        let Some(raw) = collection.records.get_mut(&id) else {
            collection.order.push(id.clone());
            collection.records.insert(
                id,
                Raw {
                    path: path.to_owned(),
                    fields,
                    links,
                    bad: false,
                },
            );
            return;
        };
        let mut differ = Vec::new();
        for (key, value) in fields {
            match raw.fields.get(&key) {
                Some(old) if !same_value(old, &value) => differ.push(key),
                Some(_) => {}
                None => {
                    raw.fields.insert(key, value);
                }
            }
        }
        for (key, value) in links {
            match raw.links.get(key) {
                Some(old) if *old != value => differ.push(key.to_owned()),
                Some(_) => {}
                None => {
                    raw.links.insert(key, value);
                }
            }
        }
        if differ.is_empty() {
            return;
        }
        raw.bad = true;
        let first = raw.path.clone();
        let name = text_of(raw.fields.get("name"));
        let record = describe(kind.name(), Some(&id), name.as_deref());
        let first = (self.locate)(&first);
        self.problem(
            path,
            Some(record),
            format!(
                "the same {} id is also at {first}, with a different {}",
                kind.name(),
                differ.join(", ")
            ),
        );
    }

    fn take_collection(&mut self, kind: Kind) -> Vec<(String, Raw)> {
        let mut collection = self.collections.remove(&kind).unwrap_or_default();
        collection
            .order
            .iter()
            .filter_map(|id| collection.records.remove(id).map(|raw| (id.clone(), raw)))
            .collect()
    }

    /// The second pass: every collected record into the model.
    fn finish(mut self) -> Parsed {
        let mut batch = Batch {
            source: self.source.clone(),
            ..Batch::default()
        };
        // Names and codes of every term met, for categories of attributes
        // that refer to a term by id.
        let term_names: HashMap<String, (Option<String>, Option<String>)> = self
            .collections
            .get(&Kind::TaxonomyTerm)
            .map(|terms| {
                terms
                    .records
                    .iter()
                    .map(|(id, raw)| {
                        (
                            id.clone(),
                            (
                                text_of(raw.fields.get("name")),
                                text_of(raw.fields.get("code")),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();

        let mut taxonomies = HashMap::new();
        for (id, raw) in self.take_collection(Kind::Taxonomy) {
            if let Some(taxonomy) = self.taxonomy(&id, raw) {
                taxonomies.insert(id, taxonomy.id.clone());
                batch.taxonomies.push(taxonomy);
            }
        }
        for (id, raw) in self.take_collection(Kind::TaxonomyTerm) {
            if let Some(term) = self.term(&id, raw, &taxonomies) {
                batch.taxonomy_terms.push(term);
            }
        }
        let mut organizations = Outcomes::default();
        for (id, raw) in self.take_collection(Kind::Organization) {
            let path = raw.path.clone();
            match self.organization(&id, raw) {
                Some(organization) => {
                    organizations.kept.insert(id, organization.id.clone());
                    batch.organizations.push(organization);
                }
                None => {
                    organizations.left_out.insert(id, path);
                }
            }
        }
        let mut locations = Outcomes::default();
        for (id, raw) in self.take_collection(Kind::Location) {
            let path = raw.path.clone();
            match self.location(&id, raw, &organizations.kept) {
                Some(location) => {
                    locations.kept.insert(id, location.id.clone());
                    batch.locations.push(location);
                }
                None => {
                    locations.left_out.insert(id, path);
                }
            }
        }
        let mut services = Outcomes::default();
        for (id, raw) in self.take_collection(Kind::Service) {
            let path = raw.path.clone();
            match self.service(&id, raw, &organizations, &term_names) {
                Some(service) => {
                    services.kept.insert(id, service.id.clone());
                    batch.services.push(service);
                }
                None => {
                    services.left_out.insert(id, path);
                }
            }
        }
        for (id, raw) in self.take_collection(Kind::ServiceAtLocation) {
            if let Some(link) = self.service_at_location(&id, raw, &services, &locations) {
                batch.service_at_locations.push(link);
            }
        }
        // A service offered only at virtual locations, or attended online
        // at one of its places, is offered online.
        let location_types: HashMap<&str, &str> = batch
            .locations
            .iter()
            .map(|location| (location.id.as_str(), location.location_type.as_str()))
            .collect();
        let mut place_types: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut attended_online = BTreeSet::new();
        for link in &batch.service_at_locations {
            if let Some(location_type) = location_types.get(link.location_id.as_str()) {
                place_types
                    .entry(link.service_id.as_str())
                    .or_default()
                    .push(location_type);
            }
            if link.schedules.iter().any(schedule_is_online) {
                attended_online.insert(link.service_id.clone());
            }
        }
        let online_only: BTreeSet<String> = place_types
            .into_iter()
            .filter(|(_, types)| types.iter().all(|t| *t == "virtual"))
            .map(|(service, _)| service.to_owned())
            .collect();
        for service in &mut batch.services {
            if online_only.contains(&service.id) || attended_online.contains(&service.id) {
                service.online = true;
            }
        }
        batch.skipped = self.skipped;
        Parsed {
            batch,
            problems: self.problems,
        }
    }

    fn taxonomy(&mut self, id: &str, raw: Raw) -> Option<Taxonomy> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let name = fields.text("name").map(|n| html::to_text_if_html(&n));
        let record = describe("taxonomy", Some(id), name.as_deref());
        let description = fields.text("description").unwrap_or_default();
        let ok = self.check_required(&mut fields, &record, "name", name.as_deref());
        if raw.bad || !self.report(&mut fields, &record) || !ok {
            return None;
        }
        Some(Taxonomy {
            id: record_id(&self.source, "taxonomy", id),
            source_id: id.to_owned(),
            name: name.unwrap_or_default(),
            description: html::to_text_if_html(&description),
            extra: fields.into_extra(),
        })
    }

    fn term(
        &mut self,
        id: &str,
        raw: Raw,
        taxonomies: &HashMap<String, String>,
    ) -> Option<TaxonomyTerm> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let name = fields.text("name").map(|n| html::to_text_if_html(&n));
        let record = describe("taxonomy_term", Some(id), name.as_deref());
        let description = fields.text("description").unwrap_or_default();
        let code = fields.text("code");
        // The taxonomy it belongs to: nested, or named by an id of a
        // taxonomy in this file; any other taxonomy_id stays in extra.
        let taxonomy_id = match raw.links.get("taxonomy") {
            Some(taxonomy) => taxonomies.get(taxonomy).cloned(),
            None => fields
                .peek_text("taxonomy_id")
                .and_then(|given| taxonomies.get(&given).cloned()),
        };
        if taxonomy_id.is_some() {
            fields.remove("taxonomy_id");
        }
        let ok = self.check_required(&mut fields, &record, "name", name.as_deref());
        if raw.bad || !self.report(&mut fields, &record) || !ok {
            return None;
        }
        Some(TaxonomyTerm {
            id: record_id(&self.source, "taxonomy_term", id),
            source_id: id.to_owned(),
            name: name.unwrap_or_default(),
            description: html::to_text_if_html(&description),
            code,
            taxonomy_id,
            extra: fields.into_extra(),
        })
    }

    fn organization(&mut self, id: &str, raw: Raw) -> Option<Organization> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let name = fields.text("name").map(|n| html::to_text_if_html(&n));
        let record = describe("organization", Some(id), name.as_deref());
        let description = fields.text("description").unwrap_or_default();
        let email = fields.text("email").filter(|e| !e.trim().is_empty());
        let website = fields.text("website").filter(|w| !w.trim().is_empty());
        let own_id = record_id(&self.source, "organization", id);
        let phones = self.phones(&mut fields, "organization", &own_id, &record);
        let ok = self.check_required(&mut fields, &record, "name", name.as_deref());
        if raw.bad || !self.report(&mut fields, &record) || !ok {
            return None;
        }
        Some(Organization {
            id: own_id,
            source_id: id.to_owned(),
            name: name.unwrap_or_default(),
            description: html::to_text_if_html(&description),
            email,
            website,
            phones,
            extra: fields.into_extra(),
        })
    }

    fn location(
        &mut self,
        id: &str,
        raw: Raw,
        organizations: &HashMap<String, String>,
    ) -> Option<Location> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let name = plain_option(fields.text("name"));
        let record = describe("location", Some(id), name.as_deref());
        let own_id = record_id(&self.source, "location", id);
        let location_type = match fields.text("location_type") {
            None => "physical".to_owned(),
            Some(given) if PLACE_TYPES.contains(&given.as_str()) => given,
            Some(given) => {
                fields.error(
                    "location_type",
                    format!("location_type \"{given}\" is not physical, postal or virtual"),
                );
                given
            }
        };
        let description = plain_option(fields.text("description"));
        let (latitude, longitude) = self.coordinates(&mut fields, &record);
        let step_free = match fields.take("x_step_free") {
            Some(Value::Bool(step_free)) => Some(step_free),
            _ => step_free_from(fields.peek("accessibility")),
        };
        // The organization it belongs to: the one it was nested in, or the
        // one its organization_id names when that is in this file. Any other
        // organization_id stays in extra (see the module documentation).
        let organization_id = match raw.links.get("organization") {
            Some(organization) => organizations.get(organization).cloned(),
            None => fields
                .peek_text("organization_id")
                .and_then(|given| organizations.get(&given).cloned()),
        };
        if organization_id.is_some() {
            fields.remove("organization_id");
        }
        let addresses = self.addresses(&mut fields, &own_id, &record);
        let phones = self.phones(&mut fields, "location", &own_id, &record);
        if raw.bad || !self.report(&mut fields, &record) {
            return None;
        }
        Some(Location {
            id: own_id,
            source_id: id.to_owned(),
            location_type,
            organization_id,
            name,
            description,
            latitude,
            longitude,
            step_free,
            addresses,
            phones,
            extra: fields.into_extra(),
        })
    }

    /// Latitude and longitude, both or neither. Values out of range are left
    /// in extra and the place is noted in `skipped`; values that are not
    /// numbers are problems.
    fn coordinates(&mut self, fields: &mut Fields, record: &str) -> (Option<f64>, Option<f64>) {
        let latitude = fields.number("latitude");
        let longitude = fields.number("longitude");
        let (Some(latitude), Some(longitude)) = (latitude, longitude) else {
            // Half a position cannot be placed: whatever was given stays.
            if let Some(latitude) = latitude {
                fields.restore("latitude", latitude);
            }
            if let Some(longitude) = longitude {
                fields.restore("longitude", longitude);
            }
            return (None, None);
        };
        let mut wrong = Vec::new();
        if !(-90.0..=90.0).contains(&latitude) {
            wrong.push(format!("latitude {latitude} is outside -90..90"));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            wrong.push(format!("longitude {longitude} is outside -180..180"));
        }
        if wrong.is_empty() {
            return (Some(latitude), Some(longitude));
        }
        fields.restore("latitude", latitude);
        fields.restore("longitude", longitude);
        self.skipped.push(Skipped {
            record: format!(
                "the map position of {record} at {}",
                (self.locate)(&fields.path)
            ),
            reason: format!(
                "{}: the place is kept, without a map position",
                wrong.join(" and ")
            ),
        });
        (None, None)
    }

    fn service(
        &mut self,
        id: &str,
        raw: Raw,
        organizations: &Outcomes,
        term_names: &HashMap<String, (Option<String>, Option<String>)>,
    ) -> Option<Service> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let name = plain_option(fields.text("name"));
        let record = describe("service", Some(id), name.as_deref());
        let own_id = record_id(&self.source, "service", id);
        let description = plain_option(fields.text("description"));
        let url = fields.text("url").filter(|u| !u.trim().is_empty());
        let email = fields.text("email").filter(|e| !e.trim().is_empty());
        let status = match fields.text("status") {
            Some(status) if STATUSES.contains(&status.to_lowercase().as_str()) => {
                status.to_lowercase()
            }
            Some(status) => {
                fields.error(
                    "status",
                    format!(
                        "status \"{status}\" is not active, inactive, defunct or temporarily closed"
                    ),
                );
                status
            }
            None => {
                fields.error(
                    "status",
                    "service has no status (active, inactive, defunct or temporarily closed)",
                );
                String::new()
            }
        };
        let fees_description = plain_option(fields.text("fees_description"));
        let application_process = plain_option(fields.text("application_process"));
        // The store sets moderation; a status from an earlier export is
        // not the importer's to trust.
        fields.remove("x_status");
        // Only our own field: HSDS `assured_date` (often years old in real
        // feeds) stays in extra, and the store counts an import as the
        // confirmation, so listings are not expired the day they arrive.
        let last_confirmed = fields.date("x_last_confirmed");
        if let Some(assured) = fields.peek_text("assured_date")
            && parse_date(&assured).is_none()
        {
            fields.error(
                "assured_date",
                format!("assured_date \"{assured}\" is not a date (YYYY-MM-DD)"),
            );
        }
        let expires = fields.date("x_expires");
        let free = match fields.take("x_free") {
            Some(Value::Bool(free)) => Some(free),
            _ => free_from(&fields, fees_description.as_deref()),
        };
        let mut online = matches!(fields.take("x_online"), Some(Value::Bool(true)));

        let mut categories = self.options.categories.clone();
        if let Some(Value::Array(slugs)) = fields.take("x_categories") {
            for slug in slugs.iter().filter_map(Value::as_str) {
                categories.extend(Category::from_slug(slug));
            }
        }
        let phones = self.phones(&mut fields, "service", &own_id, &record);
        let schedules = self.schedules(&mut fields, "service", &own_id, &record);
        if schedules.iter().any(schedule_is_online) {
            online = true;
        }
        let attributes =
            self.attributes(&mut fields, &own_id, &record, term_names, &mut categories);

        // Its organization: see the module documentation.
        let organization = match raw.links.get("organization") {
            Some(organization) => {
                fields.remove("organization_id");
                Some(organization.clone())
            }
            None => fields
                .text("organization_id")
                .filter(|o| !o.trim().is_empty()),
        };
        let ok = self.check_required(&mut fields, &record, "name", name.as_deref());
        if raw.bad || !self.report(&mut fields, &record) || !ok {
            return None;
        }
        let organization_id = match organization {
            None => {
                self.skipped.push(Skipped {
                    record: format!("{record} at {}", (self.locate)(&raw.path)),
                    reason: "service has no organization".to_owned(),
                });
                return None;
            }
            Some(organization) => {
                if let Some(where_) = organizations.left_out.get(&organization) {
                    let where_ = (self.locate)(where_);
                    self.problem(
                        &raw.path,
                        Some(record),
                        format!("left out because its organization, at {where_}, has problems"),
                    );
                    return None;
                }
                organizations
                    .kept
                    .get(&organization)
                    .cloned()
                    .unwrap_or_else(|| record_id(&self.source, "organization", &organization))
            }
        };
        Some(Service {
            id: own_id,
            source_id: id.to_owned(),
            organization_id,
            name: name.unwrap_or_default(),
            description,
            url,
            email,
            status,
            fees_description,
            free,
            application_process,
            online,
            phones,
            schedules,
            attributes,
            categories,
            moderation: Default::default(),
            last_confirmed,
            expires,
            extra: fields.into_extra(),
        })
    }

    fn service_at_location(
        &mut self,
        id: &str,
        raw: Raw,
        services: &Outcomes,
        locations: &Outcomes,
    ) -> Option<ServiceAtLocation> {
        let mut fields = Fields::new(raw.fields, &raw.path);
        fields.remove("id");
        let record = describe("service_at_location", Some(id), None);
        let own_id = record_id(&self.source, "service_at_location", id);
        let service = raw
            .links
            .get("service")
            .cloned()
            .or_else(|| fields.peek_text("service_id"));
        let location = raw
            .links
            .get("location")
            .cloned()
            .or_else(|| fields.peek_text("location_id"));
        let description = plain_option(fields.text("description"));
        let schedules = self.schedules(&mut fields, "service_at_location", &own_id, &record);
        let phones = self.phones(&mut fields, "service_at_location", &own_id, &record);
        if raw.bad || !self.report(&mut fields, &record) {
            return None;
        }
        let at = (self.locate)(&raw.path);
        let Some(service) = service else {
            self.skipped.push(Skipped {
                record: format!("{record} at {at}"),
                reason: "it names no service".to_owned(),
            });
            return None;
        };
        if services.left_out.contains_key(&service) {
            // The service's own problem or reason says why.
            return None;
        }
        let Some(service_id) = services.kept.get(&service) else {
            self.skipped.push(Skipped {
                record: format!("{record} at {at}"),
                reason: format!("its service \"{service}\" is not in this file"),
            });
            return None;
        };
        let Some(location) = location else {
            self.skipped.push(Skipped {
                record: format!("{record} at {at}"),
                reason: "it names no location".to_owned(),
            });
            return None;
        };
        if let Some(where_) = locations.left_out.get(&location) {
            let where_ = (self.locate)(where_);
            self.problem(
                &raw.path,
                Some(record),
                format!("left out because its location, at {where_}, has problems"),
            );
            return None;
        }
        let Some(location_id) = locations.kept.get(&location) else {
            self.skipped.push(Skipped {
                record: format!("{record} at {at}"),
                reason: format!("its location \"{location}\" is not in this file"),
            });
            return None;
        };
        fields.remove("service_id");
        fields.remove("location_id");
        Some(ServiceAtLocation {
            id: own_id,
            source_id: id.to_owned(),
            service_id: service_id.clone(),
            location_id: location_id.clone(),
            description,
            schedules,
            phones,
            extra: fields.into_extra(),
        })
    }

    /// Reports a required field that is missing; false when it is.
    fn check_required(
        &mut self,
        fields: &mut Fields,
        record: &str,
        key: &str,
        value: Option<&str>,
    ) -> bool {
        if value.is_some_and(|v| !v.trim().is_empty()) {
            return true;
        }
        let kind = record.split(' ').next().unwrap_or("record");
        self.problem(
            &field_path(&fields.path, key),
            Some(record.to_owned()),
            format!("{kind} has no {key}"),
        );
        false
    }

    /// Turns the errors a record's fields collected into problems; false
    /// when there were any.
    fn report(&mut self, fields: &mut Fields, record: &str) -> bool {
        let errors = std::mem::take(&mut fields.errors);
        let ok = errors.is_empty();
        for (path, message) in errors {
            self.problem(&path, Some(record.to_owned()), message);
        }
        ok
    }

    /// The id of a child of `owner`, and the publisher's id to keep when it
    /// is a UUID (see [`ORIGINAL_ID`]).
    fn child_id(&self, kind: &str, owner: &str, given: &str) -> (String, Option<String>) {
        let id = derived_id(&self.source, kind, &format!("{owner}\u{1f}{given}"));
        let original =
            (uuid::Uuid::parse_str(given).is_ok() && given.len() == 36).then(|| given.to_owned());
        (id, original)
    }

    /// Each object of the list under `key`, with its path and own id; items
    /// without an id or that are not objects become problems.
    fn children(
        &mut self,
        fields: &mut Fields,
        key: &str,
        kind: &str,
        record: &str,
    ) -> Vec<(String, String, Map<String, Value>)> {
        let list_path = field_path(&fields.path, key);
        let list = match fields.take(key) {
            None => return Vec::new(),
            Some(Value::Array(list)) => list,
            Some(_) => {
                fields.error(key, format!("{key} should be a list"));
                return Vec::new();
            }
        };
        let mut children = Vec::new();
        for (i, item) in list.into_iter().enumerate() {
            let path = format!("{list_path}[{i}]");
            let Value::Object(object) = item else {
                self.problem(
                    &path,
                    Some(record.to_owned()),
                    format!("expected a {kind} object"),
                );
                continue;
            };
            match text_of(object.get("id")).filter(|id| !id.trim().is_empty()) {
                Some(id) => children.push((path, id.trim().to_owned(), object)),
                None => self.problem(
                    &field_path(&path, "id"),
                    Some(record.to_owned()),
                    format!("{kind} has no id"),
                ),
            }
        }
        children
    }

    fn phones(
        &mut self,
        fields: &mut Fields,
        owner_kind: &str,
        owner: &str,
        record: &str,
    ) -> Vec<Phone> {
        let mut phones = Vec::new();
        for (path, given, object) in self.children(fields, "phones", "phone", record) {
            let mut phone = Fields::new(object, &path);
            phone.remove("id");
            let number = phone.text("number").filter(|n| !n.trim().is_empty());
            let description = plain_option(phone.text("description"));
            let Some(number) = number else {
                self.problem(
                    &field_path(&path, "number"),
                    Some(record.to_owned()),
                    "phone has no number",
                );
                continue;
            };
            if !self.report(&mut phone, record) {
                continue;
            }
            let (id, original) = self.child_id("phone", &format!("{owner_kind}:{owner}"), &given);
            let mut extra = phone.into_extra();
            if let Some(original) = original {
                extra.insert(ORIGINAL_ID.to_owned(), Value::String(original));
            }
            phones.push(Phone {
                id,
                number,
                description,
                extra,
            });
        }
        phones
    }

    fn schedules(
        &mut self,
        fields: &mut Fields,
        owner_kind: &str,
        owner: &str,
        record: &str,
    ) -> Vec<Schedule> {
        let mut schedules = Vec::new();
        for (path, given, object) in self.children(fields, "schedules", "schedule", record) {
            let mut schedule = Fields::new(object, &path);
            schedule.remove("id");
            let description = plain_option(schedule.text("description"));
            let recurrence = match schedule.take("x_recurrence") {
                Some(value) => match serde_json::from_value::<Recurrence>(value) {
                    Ok(recurrence) => Some(recurrence),
                    Err(err) => {
                        schedule.error("x_recurrence", format!("x_recurrence is not ours: {err}"));
                        None
                    }
                },
                None => match recurrence_from_hsds(schedule.map()) {
                    Ok(recurrence) => recurrence,
                    Err((key, message)) => {
                        schedule.error(&key, message);
                        None
                    }
                },
            };
            if !self.report(&mut schedule, record) {
                continue;
            }
            let (id, original) =
                self.child_id("schedule", &format!("{owner_kind}:{owner}"), &given);
            let mut extra = schedule.into_extra();
            if let Some(original) = original {
                extra.insert(ORIGINAL_ID.to_owned(), Value::String(original));
            }
            schedules.push(Schedule {
                id,
                description,
                recurrence,
                extra,
            });
        }
        schedules
    }

    fn attributes(
        &mut self,
        fields: &mut Fields,
        owner: &str,
        record: &str,
        term_names: &HashMap<String, (Option<String>, Option<String>)>,
        categories: &mut BTreeSet<Category>,
    ) -> Vec<Attribute> {
        let mut attributes = Vec::new();
        for (path, given, object) in self.children(fields, "attributes", "attribute", record) {
            let mut attribute = Fields::new(object, &path);
            attribute.remove("id");
            let term = match attribute.take("taxonomy_term") {
                Some(Value::Object(term)) => {
                    let term_id = text_of(term.get("id"));
                    for (name, code) in [(text_of(term.get("name")), text_of(term.get("code")))]
                        .into_iter()
                        .chain([(text_of(term.get("term")), None)])
                    {
                        if let Some(name) = name {
                            categories
                                .extend(taxonomy::categories_for_term(&name, code.as_deref()));
                        }
                    }
                    // The term itself was collected in the first pass.
                    if term_id.is_some() {
                        attribute.remove("taxonomy_term_id");
                    }
                    term_id
                }
                _ => {
                    let term_id = attribute.text("taxonomy_term_id");
                    if let Some((Some(name), code)) =
                        term_id.as_ref().and_then(|t| term_names.get(t))
                    {
                        categories.extend(taxonomy::categories_for_term(name, code.as_deref()));
                    }
                    term_id
                }
            };
            let value = attribute.text("value");
            let Some(term) = term.filter(|t| !t.trim().is_empty()) else {
                self.problem(
                    &path,
                    Some(record.to_owned()),
                    "attribute has no taxonomy_term or taxonomy_term_id",
                );
                continue;
            };
            if !self.report(&mut attribute, record) {
                continue;
            }
            let (id, original) = self.child_id("attribute", owner, &given);
            let mut extra = attribute.into_extra();
            if let Some(original) = original {
                extra.insert(ORIGINAL_ID.to_owned(), Value::String(original));
            }
            attributes.push(Attribute {
                id,
                taxonomy_term_id: record_id(&self.source, "taxonomy_term", &term),
                value,
                extra,
            });
        }
        attributes
    }

    fn addresses(&mut self, fields: &mut Fields, owner: &str, record: &str) -> Vec<Address> {
        let mut addresses = Vec::new();
        for (path, given, object) in self.children(fields, "addresses", "address", record) {
            let mut address = Fields::new(object, &path);
            address.remove("id");
            let mut required = |key: &str| address.text(key).unwrap_or_default();
            let address_1 = required("address_1");
            let city = required("city");
            let state_province = required("state_province");
            let postal_code = required("postal_code");
            let country = required("country");
            let address_2 = address.text("address_2").filter(|a| !a.trim().is_empty());
            let region = address.text("region").filter(|r| !r.trim().is_empty());
            // HSDS requires a type; most addresses without one are where
            // people go, and the exporter must write one of the three.
            let address_type = match address.text("address_type") {
                None => "physical".to_owned(),
                Some(given) if PLACE_TYPES.contains(&given.as_str()) => given,
                Some(given) => {
                    address.error(
                        "address_type",
                        format!("address_type \"{given}\" is not physical, postal or virtual"),
                    );
                    given
                }
            };
            if !self.report(&mut address, record) {
                continue;
            }
            let (id, original) = self.child_id("address", owner, &given);
            let mut extra = address.into_extra();
            if let Some(original) = original {
                extra.insert(ORIGINAL_ID.to_owned(), Value::String(original));
            }
            addresses.push(Address {
                id,
                address_1,
                address_2,
                city,
                region,
                state_province,
                postal_code,
                country,
                address_type,
                extra,
            });
        }
        addresses
    }
}

/// A record's fields while typed ones are taken out; what is left is its
/// `extra`. Collects what is wrong with them, by JSON path.
struct Fields {
    map: Map<String, Value>,
    path: String,
    errors: Vec<(String, String)>,
}

impl Fields {
    fn new(map: Map<String, Value>, path: &str) -> Self {
        Fields {
            map,
            path: path.to_owned(),
            errors: Vec::new(),
        }
    }

    fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors
            .push((field_path(&self.path, key), message.into()));
    }

    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    fn restore(&mut self, key: &str, number: f64) {
        if let Some(number) = number_value(number) {
            self.map.insert(key.to_owned(), number);
        }
    }

    fn peek(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn peek_text(&self, key: &str) -> Option<String> {
        text_of(self.map.get(key)).filter(|t| !t.trim().is_empty())
    }

    /// Takes a field out, treating `null` as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// Takes a text field out. Numbers and booleans are read as their text;
    /// a list or an object is an error, and stays in extra.
    fn text(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            Value::String(text) => Some(text),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            other => {
                self.error(key, format!("{key} should be text"));
                self.map.insert(key.to_owned(), other);
                None
            }
        }
    }

    /// Takes a number out; numbers written as text are read too.
    fn number(&mut self, key: &str) -> Option<f64> {
        let value = self.take(key)?;
        let number = match &value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        };
        if number.is_none() {
            self.error(key, format!("{key} {value} is not a number"));
            self.map.insert(key.to_owned(), value);
        }
        number
    }

    /// Takes a date (YYYY-MM-DD) out.
    fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let text = self.text(key)?;
        match parse_date(&text) {
            Some(date) => Some(date),
            None => {
                self.error(key, format!("{key} \"{text}\" is not a date (YYYY-MM-DD)"));
                None
            }
        }
    }

    fn into_extra(self) -> Extra {
        self.map
    }
}

/// A field's value as text, when it is text or a number.
pub(crate) fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Plain text from a typed text field, `None` when nothing is left.
fn plain_option(text: Option<String>) -> Option<String> {
    text.map(|t| html::to_text_if_html(&t))
        .filter(|t| !t.trim().is_empty())
}

/// A JSON number for `value`, as an integer when it is one, so `12` comes
/// back as `12` rather than `12.0`.
pub(crate) fn number_value(value: f64) -> Option<Value> {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Some(Value::from(value as i64))
    } else {
        serde_json::Number::from_f64(value).map(Value::Number)
    }
}

/// Whether two JSON values say the same, comparing numbers by value (`100`
/// and `100.0` are the same latitude).
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, value)| b.get(key).is_some_and(|other| same_value(value, other)))
        }
        _ => a == b,
    }
}

/// A date as HSDS writes it (YYYY-MM-DD), also when a time follows it.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let date = text.get(..10).unwrap_or(text);
    if text.len() > 10 && !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

/// A time as HSDS writes it (`10:00`, `10:00:00`, `09:00:00Z`,
/// `09:00-05:00`): the wall-clock part, read as UK local time (see
/// [`recurrence_from_hsds`]).
pub(crate) fn parse_time(text: &str) -> Option<NaiveTime> {
    static TIME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$")
            .expect("time pattern compiles")
    });
    let captures = TIME.captures(text.trim())?;
    let number = |i: usize| {
        captures
            .get(i)
            .map_or(Some(0), |m| m.as_str().parse::<u32>().ok())
    };
    NaiveTime::from_hms_opt(number(1)?, number(2)?, number(3)?)
}

/// Whether a location's HSDS `accessibility` entries say people can get in
/// without steps. HSDS 3.0 has no field for it, only free text, so this
/// reads the words: "no wheelchair access" is `Some(false)`, "wheelchair
/// access on all levels" or "step-free" is `Some(true)`, and saying nothing
/// about it is `None`, never a guess either way.
fn step_free_from(accessibility: Option<&Value>) -> Option<bool> {
    static MENTION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)wheel\s*chair|step[\s-]*free|level access|ramped access|no steps")
            .expect("step-free pattern compiles")
    });
    static DENIAL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(no|not|without|isn't|is not|unsuitable for)\b[^.;]{0,30}(wheel\s*chair|step[\s-]*free|level access|accessible)",
        )
        .expect("denial pattern compiles")
    });
    let mut found = None;
    for entry in accessibility?.as_array()? {
        for key in ["description", "details", "accessibility"] {
            let Some(text) = entry.get(key).and_then(Value::as_str) else {
                continue;
            };
            let without_no_steps = text.to_lowercase().replace("no steps", "");
            if DENIAL.is_match(&without_no_steps) {
                return Some(false);
            }
            if MENTION.is_match(text) {
                found = Some(true);
            }
        }
    }
    found
}

/// Whether a service costs nothing, from its `cost_options` (an amount of 0)
/// and its fee texts ("Free", "no charge"). A price in the text or only
/// non-zero amounts say it is not free; silence is `None`.
fn free_from(fields: &Fields, fees_description: Option<&str>) -> Option<bool> {
    static FREE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(free|no charge|no cost|without charge)\b")
            .expect("free pattern compiles")
    });
    static NOT_FREE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)\bnot free\b").expect("not-free pattern compiles"));
    static PRICE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)£\s*0*[1-9]|\b\d+(\.\d+)?\s*(p|pence|pounds?)\b")
            .expect("price pattern compiles")
    });
    let amounts: Vec<f64> = fields
        .peek("cost_options")
        .and_then(Value::as_array)
        .map(|options| {
            options
                .iter()
                .filter_map(|option| match option.get("amount")? {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if amounts.contains(&0.0) {
        return Some(true);
    }
    let fees = fields.peek_text("fees");
    let texts: Vec<&str> = fees_description
        .into_iter()
        .chain(fees.as_deref())
        .collect();
    let priced = texts
        .iter()
        .any(|t| PRICE.is_match(t) || NOT_FREE.is_match(t));
    if !priced && texts.iter().any(|t| FREE.is_match(t)) {
        return Some(true);
    }
    if !amounts.is_empty() || priced {
        return Some(false);
    }
    None
}

/// Whether a schedule says it can be attended from anywhere: its HSDS
/// `attending_type` mentions online, remote, video or phone.
fn schedule_is_online(schedule: &Schedule) -> bool {
    static ONLINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(online|remote(ly)?|virtual(ly)?|video|zoom|phone|telephone)\b")
            .expect("online pattern compiles")
    });
    schedule
        .extra
        .get("attending_type")
        .and_then(Value::as_str)
        .is_some_and(|text| ONLINE.is_match(text))
}

/// The full rule of an HSDS schedule, or `None` when it cannot be placed on
/// a calendar (no `freq` and no `dtstart`; or "every other Tuesday" with no
/// date to count from). The error names the field and what is wrong.
///
/// - Time zone: always `Europe/London`. HSDS `timezone` is a fixed UTC
///   offset, which is right for only half of a UK year; people here mean
///   the local time, summer or winter. For the same reason the `Z` or
///   offset after `opens_at` is ignored: "09:00:00Z" is read as 9am local.
///   The HSDS fields stay in `extra` as they came.
/// - Start: `dtstart`, else `valid_from`, at `opens_at` (all day without
///   one). A weekly or monthly rule naming its days but no date starts on
///   [`UNDATED_START`].
/// - Duration: `closes_at` - `opens_at`, past midnight when it closes
///   earlier than it opens.
/// - Rule: FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYYEARDAY, BYWEEKNO and WKST
///   as RFC 5545 allows them with that FREQ (the HSDS example gives
///   BYMONTHDAY with WEEKLY, which iCalendar forbids: such parts are left out
///   of the rule); UNTIL from the earlier of `until` and `valid_to` (the end
///   of that day, UK time, written in UTC as RFC 5545 asks when the start
///   has a time zone), else COUNT (iCalendar forbids both).
pub fn recurrence_from_hsds(
    fields: &Map<String, Value>,
) -> Result<Option<Recurrence>, (String, String)> {
    let text = |key: &str| text_of(fields.get(key)).filter(|t| !t.trim().is_empty());
    let date = |key: &str| -> Result<Option<NaiveDate>, (String, String)> {
        match text(key) {
            None => Ok(None),
            Some(given) => parse_date(&given).map(Some).ok_or_else(|| {
                (
                    key.to_owned(),
                    format!("{key} \"{given}\" is not a date (YYYY-MM-DD)"),
                )
            }),
        }
    };
    let time = |key: &str| -> Result<Option<NaiveTime>, (String, String)> {
        match text(key) {
            None => Ok(None),
            Some(given) => parse_time(&given).map(Some).ok_or_else(|| {
                (
                    key.to_owned(),
                    format!("{key} \"{given}\" is not a time (HH:MM)"),
                )
            }),
        }
    };
    let whole = |key: &str| -> Result<Option<u32>, (String, String)> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                let number = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) if s.trim().is_empty() => return Ok(None),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match number {
                    Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0 => Ok(Some(n as u32)),
                    _ => Err((
                        key.to_owned(),
                        format!("{key} {value} is not a whole number from 1"),
                    )),
                }
            }
        }
    };

    let freq = match text("freq") {
        None => None,
        Some(given) => {
            let upper = given.trim().to_uppercase();
            if !["DAILY", "WEEKLY", "MONTHLY", "YEARLY"].contains(&upper.as_str()) {
                return Err((
                    "freq".to_owned(),
                    format!("freq \"{given}\" is not WEEKLY or MONTHLY"),
                ));
            }
            Some(upper)
        }
    };
    let dtstart = date("dtstart")?;
    let valid_from = date("valid_from")?;
    let valid_to = date("valid_to")?;
    let until = date("until")?;
    let opens_at = time("opens_at")?;
    let closes_at = time("closes_at")?;
    let interval = whole("interval")?.unwrap_or(1);
    let count = whole("count")?;
    if freq.is_none() && dtstart.is_none() {
        return Ok(None);
    }

    let by_day = match text("byday") {
        None => Vec::new(),
        Some(given) => parse_by_day(&given, freq.as_deref())
            .map_err(|message| ("byday".to_owned(), message))?,
    };
    let numbers = |key: &str, limit: i32| -> Result<Vec<i32>, (String, String)> {
        let Some(given) = text(key) else {
            return Ok(Vec::new());
        };
        given
            .split(',')
            .map(|part| {
                part.trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n != 0 && n.abs() <= limit)
                    .ok_or_else(|| {
                        (key.to_owned(), format!("{key} \"{given}\" has \"{part}\", not a number from 1 to {limit} or -{limit} to -1"))
                    })
            })
            .collect()
    };
    let by_month_day = numbers("bymonthday", 31)?;
    let by_year_day = numbers("byyearday", 366)?;
    let by_week_no = numbers("byweekno", 53)?;
    let week_start = text("wkst")
        .map(|w| w.trim().to_uppercase())
        .filter(|w| WEEKDAYS.contains(&w.as_str()));

    let start_date = match dtstart.or(valid_from) {
        Some(date) => date,
        None => {
            // Which weekdays, but not from when: fine when the phase does
            // not matter (every week, every month on given days).
            let placeable = interval == 1
                && match freq.as_deref() {
                    Some("DAILY") => true,
                    Some("WEEKLY") => !by_day.is_empty(),
                    Some("MONTHLY") => !by_day.is_empty() || !by_month_day.is_empty(),
                    _ => false,
                };
            if !placeable {
                return Ok(None);
            }
            // Weekly: the first of its days, so the start (always an
            // occurrence in iCalendar) is one of them.
            let first_day = (0..7)
                .map(|offset| UNDATED_START + chrono::Days::new(offset))
                .find(|date| {
                    let day = &WEEKDAYS[date.weekday().num_days_from_monday() as usize];
                    by_day.iter().any(|given| given == day)
                });
            match (freq.as_deref(), first_day) {
                (Some("WEEKLY"), Some(date)) => date,
                _ => UNDATED_START,
            }
        }
    };
    let start = start_date.and_time(opens_at.unwrap_or(NaiveTime::MIN));
    let duration_minutes = match (opens_at, closes_at) {
        (Some(opens), Some(closes)) if opens != closes => {
            let minutes = (closes - opens).num_minutes();
            Some(if minutes < 0 {
                minutes + 24 * 60
            } else {
                minutes
            } as u32)
        }
        _ => None,
    };

    let mut rules = Vec::new();
    if let Some(freq) = &freq {
        let mut parts = vec![format!("FREQ={freq}"), format!("INTERVAL={interval}")];
        let join = |numbers: &[i32]| {
            numbers
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        if !by_day.is_empty() {
            parts.push(format!("BYDAY={}", by_day.join(",")));
        }
        if !by_month_day.is_empty() && freq != "WEEKLY" {
            parts.push(format!("BYMONTHDAY={}", join(&by_month_day)));
        }
        if !by_year_day.is_empty() && freq == "YEARLY" {
            parts.push(format!("BYYEARDAY={}", join(&by_year_day)));
        }
        if !by_week_no.is_empty() && freq == "YEARLY" {
            parts.push(format!("BYWEEKNO={}", join(&by_week_no)));
        }
        if let Some(week_start) = &week_start {
            parts.push(format!("WKST={week_start}"));
        }
        let end = match (until, valid_to) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(end) = end {
            if end < start_date {
                let key = if until == Some(end) {
                    "until"
                } else {
                    "valid_to"
                };
                return Err((
                    key.to_owned(),
                    format!("the schedule ends on {end}, before it starts on {start_date}"),
                ));
            }
            parts.push(format!("UNTIL={}", utc_end_of_day(end)));
        } else if let Some(count) = count {
            parts.push(format!("COUNT={count}"));
        }
        rules.push(parts.join(";"));
    }
    Ok(Some(Recurrence {
        timezone: TIMEZONE.to_owned(),
        start,
        all_day: opens_at.is_none(),
        duration_minutes,
        rules,
        extra_dates: Vec::new(),
        excluded_dates: Vec::new(),
        changed: Vec::new(),
    }))
}

const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// HSDS `byday` ("TH,FR", "1SA", "-1FR") as RRULE BYDAY parts; a number in
/// front only with MONTHLY or YEARLY, as iCalendar allows.
fn parse_by_day(given: &str, freq: Option<&str>) -> Result<Vec<String>, String> {
    static DAY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$").expect("byday pattern compiles")
    });
    given
        .split(',')
        .map(|part| {
            let part = part.trim().to_uppercase();
            let captures = DAY.captures(&part).ok_or_else(|| {
                format!("byday \"{given}\" has \"{part}\", which is not a day such as MO or 1SA")
            })?;
            if let Some(number) = captures.get(1) {
                let n: i32 = number.as_str().parse().unwrap_or(0);
                if n == 0 || n.abs() > 53 {
                    return Err(format!("byday \"{given}\" has \"{part}\": the number is out of range"));
                }
                if !matches!(freq, Some("MONTHLY") | Some("YEARLY")) {
                    return Err(format!(
                        "byday \"{given}\" has \"{part}\": a numbered day works only with freq MONTHLY"
                    ));
                }
            }
            Ok(part)
        })
        .collect()
}

/// The last second of `date` in UK local time, in UTC, as iCalendar writes
/// it (`20050101T235959Z`).
pub(crate) fn utc_end_of_day(date: NaiveDate) -> String {
    let local: NaiveDateTime = date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("a time"));
    let utc = chrono_tz::Europe::London
        .from_local_datetime(&local)
        .latest()
        .map(|t| t.naive_utc())
        .unwrap_or(local);
    utc.format("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/hsds-spec/examples"
    );
    const UK_EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/oruk-profile/examples"
    );

    fn options() -> ImportOptions {
        ImportOptions {
            source: "test".to_owned(),
            ..ImportOptions::default()
        }
    }

    fn read(dir: &str, name: &str) -> Option<Value> {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).ok()?;
        Some(serde_json::from_str(&text).expect("example is JSON"))
    }

    fn problems(parsed: &Parsed) -> Vec<String> {
        parsed.problems.iter().map(Problem::to_string).collect()
    }

    fn service(fields: Value) -> Value {
        let mut base = json!({
            "id": "5b1e3c2a-0000-4000-8000-000000000001",
            "name": "Lunch club",
            "status": "active",
            "organization": {"id": "5b1e3c2a-0000-4000-8000-0000000000aa", "name": "Friends", "description": ""},
        });
        if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
            for (key, value) in fields {
                base.insert(key.clone(), value.clone());
            }
        }
        base
    }

    #[test]
    fn service_full_maps_typed_fields_and_keeps_the_rest() {
        let Some(value) = read(EXAMPLES, "service_full.json") else {
            eprintln!("skipped: ../shared/data is absent");
            return;
        };
        assert!(looks_like_hsds(&value));
        let parsed = parse(&value, &options()).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        let batch = &parsed.batch;
        assert_eq!(batch.services.len(), 1);
        assert_eq!(batch.organizations.len(), 1);
        assert_eq!(batch.locations.len(), 1);
        assert_eq!(batch.service_at_locations.len(), 1);
        assert_eq!(batch.taxonomy_terms.len(), 1);
        assert_eq!(batch.taxonomies.len(), 1);
        let service = &batch.services[0];
        assert_eq!(service.id, "ac148810-d857-441c-9679-408f346de14b");
        assert_eq!(service.name, "Community Counselling");
        assert_eq!(service.organization_id, batch.organizations[0].id);
        assert_eq!(service.status, "active");
        assert_eq!(
            service.free,
            Some(false),
            "£50 an hour, and 35 in cost options"
        );
        assert!(service.online, "attending_type says remotely via video");
        assert_eq!(
            service.last_confirmed, None,
            "assured_date is not our confirmation"
        );
        assert_eq!(service.phones.len(), 1);
        assert_eq!(service.attributes.len(), 1);
        assert_eq!(
            service
                .extra
                .get("interpretation_services")
                .and_then(Value::as_str),
            Some("Interpretation services are available in Urdu, Polish, and Slovak")
        );
        for nested in [
            "organization",
            "service_at_locations",
            "phones",
            "schedules",
            "attributes",
        ] {
            assert!(
                !service.extra.contains_key(nested),
                "{nested} is typed, not extra"
            );
        }
        let schedule = &service.schedules[0];
        assert_eq!(schedule.extra.get("timezone"), Some(&json!(3)));
        let recurrence = schedule.recurrence.as_ref().expect("weekly");
        assert_eq!(recurrence.timezone, "Europe/London");
        assert_eq!(recurrence.start.to_string(), "2005-01-01 10:00:00");
        assert_eq!(recurrence.duration_minutes, Some(480));
        assert_eq!(
            recurrence.rules,
            ["FREQ=WEEKLY;INTERVAL=1;BYDAY=TH,FR;WKST=TU;UNTIL=20050101T235959Z"]
        );
        let location = &batch.locations[0];
        assert_eq!(
            location.organization_id.as_ref(),
            Some(&batch.organizations[0].id)
        );
        assert_eq!(
            location.step_free,
            Some(true),
            "wheelchair access on all levels"
        );
        assert_eq!(location.latitude, None, "100 is no latitude");
        assert_eq!(
            location.extra.get("latitude"),
            Some(&json!(100)),
            "kept for export"
        );
        assert_eq!(location.addresses[0].postal_code, "ABC 1234");
        assert!(
            batch
                .skipped
                .iter()
                .any(|s| s.reason.contains("latitude 100 is outside")),
            "{:#?}",
            batch.skipped
        );
        // The same phone under the service, the place and the organization
        // gets a different id under each, and keeps its own for export.
        let mut ids = BTreeSet::new();
        for phone in service
            .phones
            .iter()
            .chain(&batch.organizations[0].phones)
            .chain(&batch.locations[0].phones)
            .chain(&batch.service_at_locations[0].phones)
        {
            assert!(ids.insert(phone.id.clone()), "{} twice", phone.id);
            assert_eq!(
                phone.extra.get(ORIGINAL_ID).and_then(Value::as_str),
                Some("1554f2e2-a373-45db-a3fa-9fc48a61c15e")
            );
        }
    }

    #[test]
    fn every_example_shape_parses_without_problems() {
        for dir in [EXAMPLES, UK_EXAMPLES] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                eprintln!("skipped: ../shared/data is absent");
                return;
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect();
            names.sort();
            for name in names {
                let Some(value) = read(dir, &name) else {
                    continue;
                };
                assert!(looks_like_hsds(&value), "{name} is not taken for HSDS");
                let parsed = parse(&value, &options()).unwrap_or_else(|p| panic!("{name}: {p}"));
                let batch = &parsed.batch;
                println!(
                    "{name}: {} services, {} organizations, {} locations, {} links, {} taxonomies, {} terms, {} skipped",
                    batch.services.len(),
                    batch.organizations.len(),
                    batch.locations.len(),
                    batch.service_at_locations.len(),
                    batch.taxonomies.len(),
                    batch.taxonomy_terms.len(),
                    batch.skipped.len()
                );
                assert!(
                    parsed.problems.is_empty(),
                    "{name}: {:#?}",
                    problems(&parsed)
                );
                let records = batch.services.len()
                    + batch.organizations.len()
                    + batch.locations.len()
                    + batch.taxonomies.len()
                    + batch.taxonomy_terms.len();
                assert!(records > 0 || name == "base.json", "{name} gave nothing");
            }
        }
    }

    #[test]
    fn organization_full_files_its_services_under_it() {
        let Some(value) = read(EXAMPLES, "organization_full.json") else {
            eprintln!("skipped: ../shared/data is absent");
            return;
        };
        let parsed = parse(&value, &options()).expect("parses");
        let batch = &parsed.batch;
        assert_eq!(batch.organizations.len(), 1);
        assert_eq!(batch.services.len(), 1);
        assert_eq!(batch.services[0].organization_id, batch.organizations[0].id);
    }

    #[test]
    fn tabular_json_reads_like_the_datapackage() {
        let Some(value) = read(EXAMPLES, "tabular.json") else {
            eprintln!("skipped: ../shared/data is absent");
            return;
        };
        let parsed = parse(&value, &options()).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        assert_eq!(parsed.batch.services.len(), 1);
        assert_eq!(parsed.batch.service_at_locations.len(), 1);
        // The tabular example writes a UPRN as a number; HSDS says text.
        let location = &parsed.batch.locations[0];
        assert_eq!(
            location.extra.get("external_identifier"),
            Some(&json!("10092008082"))
        );
    }

    #[test]
    fn missing_ids_and_names_are_problems_that_say_where() {
        let value = json!([service(json!({"id": null})), service(json!({"name": ""})),]);
        let parsed = parse(&value, &options()).expect("parses");
        let found = problems(&parsed);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("[0].id: service (\"Lunch club\")"),
            "{}",
            found[0]
        );
        assert!(found[0].ends_with("service has no id"), "{}", found[0]);
        assert!(
            found[1].starts_with("[1].name: service \"5b1e3c2a"),
            "{}",
            found[1]
        );
        assert!(parsed.batch.services.is_empty());
    }

    #[test]
    fn a_duplicate_id_with_different_content_names_both_places() {
        let value = json!([
            service(json!({})),
            service(json!({"name": "Another lunch club"})),
        ]);
        let parsed = parse(&value, &options()).expect("parses");
        let found = problems(&parsed);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("[1]: service \"5b1e3c2a"),
            "{}",
            found[0]
        );
        assert!(
            found[0].contains("also at [0], with a different name"),
            "{}",
            found[0]
        );
        assert!(parsed.batch.services.is_empty());
    }

    #[test]
    fn bad_dates_and_times_are_problems_with_their_path() {
        let value = json!(service(json!({
            "assured_date": "last week",
            "schedules": [{"id": "s1", "freq": "WEEKLY", "byday": "TU", "opens_at": "ten"}],
        })));
        let parsed = parse(&value, &options()).expect("parses");
        let found = problems(&parsed);
        assert!(
            found.iter().any(|p| p.starts_with("assured_date: service")
                && p.contains("\"last week\" is not a date")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("schedules[0].opens_at:") && p.contains("not a time")),
            "{found:#?}"
        );
        assert!(parsed.batch.services.is_empty());
    }

    #[test]
    fn coordinates_out_of_range_are_not_used_and_the_place_is_noted() {
        let value = json!(service(json!({
            "service_at_locations": [{"id": "sal", "location": {
                "id": "loc", "location_type": "physical", "name": "Hall", "latitude": 153.6, "longitude": -1.78
            }}]
        })));
        let parsed = parse(&value, &options()).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        assert_eq!(parsed.batch.locations[0].latitude, None);
        let skipped = &parsed.batch.skipped[0];
        assert!(
            skipped.record.contains("location \"loc\" (\"Hall\")"),
            "{skipped:?}"
        );
        assert!(
            skipped.record.contains("service_at_locations[0].location"),
            "{skipped:?}"
        );
        assert!(
            skipped
                .reason
                .starts_with("latitude 153.6 is outside -90..90"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_service_with_no_organization_is_skipped_with_the_reason() {
        let value = json!({"id": "s", "name": "Walk", "status": "active"});
        let parsed = parse(&value, &options()).expect("parses");
        assert!(parsed.problems.is_empty());
        assert!(parsed.batch.services.is_empty());
        assert_eq!(
            parsed.batch.skipped[0].reason,
            "service has no organization"
        );
        assert!(
            parsed.batch.skipped[0]
                .record
                .starts_with("service \"s\" (\"Walk\")")
        );
    }

    #[test]
    fn an_organization_id_alone_is_kept_as_a_reference() {
        let value = json!({"id": "s", "name": "Walk", "status": "active", "organization_id": "o1"});
        let parsed = parse(&value, &options()).expect("parses");
        assert_eq!(parsed.batch.services.len(), 1);
        assert!(parsed.batch.organizations.is_empty());
        assert_eq!(
            parsed.batch.services[0].organization_id,
            record_id("test", "organization", "o1")
        );
    }

    #[test]
    fn html_descriptions_become_text_and_categories_come_from_terms() {
        let value = json!(service(json!({
            "description": "<p>Tea &amp; chat</p><script>alert(1)</script>",
            "attributes": [
                {"id": "a1", "taxonomy_term": {"id": "t1", "name": "Seniors", "description": ""}},
                {"id": "a2", "taxonomy_term": {"id": "t2", "name": "Other", "code": "1310", "description": ""}},
            ],
        })));
        let mut options = options();
        options.categories.insert(Category::SocialGroups);
        let parsed = parse(&value, &options).expect("parses");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        let service = &parsed.batch.services[0];
        assert_eq!(service.description.as_deref(), Some("Tea & chat"));
        assert_eq!(
            service.categories,
            BTreeSet::from([
                Category::SocialGroups,
                Category::OlderPeople,
                Category::PeerSupport
            ])
        );
        assert_eq!(parsed.batch.taxonomy_terms.len(), 2);
    }

    #[test]
    fn free_and_online_are_worked_out_where_they_can_be() {
        let cases = [
            (json!({"fees_description": "Free"}), Some(true)),
            (
                json!({"fees_description": "Free tea, £3 entry"}),
                Some(false),
            ),
            (
                json!({"cost_options": [{"id": "c", "amount": 0}]}),
                Some(true),
            ),
            (
                json!({"cost_options": [{"id": "c", "amount": 2.5}]}),
                Some(false),
            ),
            (json!({}), None),
        ];
        for (fields, free) in cases {
            let parsed = parse(&service(fields.clone()), &options()).expect("parses");
            assert_eq!(parsed.batch.services[0].free, free, "{fields}");
        }
        let virtual_only = service(json!({"service_at_locations": [
            {"id": "sal", "location": {"id": "l", "location_type": "virtual", "name": "Zoom"}}
        ]}));
        let parsed = parse(&virtual_only, &options()).expect("parses");
        assert!(parsed.batch.services[0].online);
    }

    #[test]
    fn weekly_and_monthly_schedules_become_rules() {
        let rule = |fields: Value| {
            recurrence_from_hsds(fields.as_object().expect("object")).expect("valid")
        };
        let weekly = rule(
            json!({"freq": "WEEKLY", "byday": "MO,TU", "opens_at": "10:00", "closes_at": "12:30"}),
        )
        .expect("placed");
        assert_eq!(weekly.start.to_string(), "2000-01-03 10:00:00", "a Monday");
        assert_eq!(weekly.duration_minutes, Some(150));
        assert_eq!(weekly.rules, ["FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU"]);
        let thursdays =
            rule(json!({"freq": "WEEKLY", "byday": "TH", "opens_at": "14:00"})).expect("placed");
        assert_eq!(
            thursdays.start.to_string(),
            "2000-01-06 14:00:00",
            "a Thursday"
        );
        // The directory can expand it: Thursdays, at 2pm UK time.
        let from = NaiveDate::from_ymd_opt(2026, 7, 1).expect("date");
        let to = NaiveDate::from_ymd_opt(2026, 7, 31).expect("date");
        let dates = thursdays.occurrences(from, to, 50).expect("expands");
        assert_eq!(dates.len(), 5);
        assert!(
            dates
                .iter()
                .all(|o| o.local_date.weekday() == chrono::Weekday::Thu
                    && o.local_start == NaiveTime::from_hms_opt(14, 0, 0).expect("time"))
        );

        let monthly = rule(json!({
            "freq": "MONTHLY", "byday": "1SA", "dtstart": "2020-07-04", "until": "2020-11-07",
            "opens_at": "09:00:00Z", "closes_at": "17:00:00Z"
        }))
        .expect("placed");
        assert_eq!(monthly.start.to_string(), "2020-07-04 09:00:00");
        // 23:59:59 on 7 November is GMT; in July it would be an hour less.
        assert_eq!(
            monthly.rules,
            ["FREQ=MONTHLY;INTERVAL=1;BYDAY=1SA;UNTIL=20201107T235959Z"]
        );
        let summer = rule(json!({"freq": "WEEKLY", "byday": "FR", "dtstart": "2020-06-05", "valid_to": "2020-07-31"}))
            .expect("placed");
        assert!(summer.all_day);
        assert_eq!(
            summer.rules,
            ["FREQ=WEEKLY;INTERVAL=1;BYDAY=FR;UNTIL=20200731T225959Z"]
        );

        let counted = rule(json!({"freq": "WEEKLY", "interval": 2, "byday": "WE", "dtstart": "2024-01-03", "count": 5}))
            .expect("placed");
        assert_eq!(counted.rules, ["FREQ=WEEKLY;INTERVAL=2;BYDAY=WE;COUNT=5"]);

        let once =
            rule(json!({"dtstart": "2024-05-01", "opens_at": "18:00", "closes_at": "01:00"}))
                .expect("placed");
        assert!(once.rules.is_empty());
        assert_eq!(once.duration_minutes, Some(420), "past midnight");

        assert_eq!(
            rule(json!({"opens_at": "10:00", "closes_at": "12:00"})),
            None
        );
        assert_eq!(
            rule(json!({"freq": "WEEKLY", "interval": 2, "byday": "TU"})),
            None,
            "every other Tuesday, counted from when?"
        );
    }

    #[test]
    fn impossible_schedules_name_the_field() {
        let error = |fields: Value| {
            recurrence_from_hsds(fields.as_object().expect("object")).expect_err("invalid")
        };
        assert_eq!(error(json!({"freq": "FORTNIGHTLY"})).0, "freq");
        assert_eq!(
            error(json!({"freq": "WEEKLY", "byday": "1MO", "dtstart": "2024-01-01"})).0,
            "byday"
        );
        assert_eq!(error(json!({"freq": "WEEKLY", "byday": "XX"})).0, "byday");
        assert_eq!(
            error(json!({"freq": "WEEKLY", "dtstart": "2024-01-01", "until": "2023-01-01"})).0,
            "until"
        );
        assert_eq!(
            error(json!({"freq": "WEEKLY", "interval": 0, "dtstart": "2024-01-01"})).0,
            "interval"
        );
    }

    #[test]
    fn step_free_is_read_from_accessibility_words_only() {
        let entries = |text: &str| json!([{"id": "a", "description": text}]);
        assert_eq!(
            step_free_from(Some(&entries("Step-free entrance at the back"))),
            Some(true)
        );
        assert_eq!(
            step_free_from(Some(&entries("No wheelchair access, sorry"))),
            Some(false)
        );
        assert_eq!(
            step_free_from(Some(&entries("Hearing loop at reception"))),
            None
        );
        assert_eq!(step_free_from(None), None);
    }

    #[test]
    fn things_that_are_not_hsds_are_told_apart() {
        assert!(!looks_like_hsds(&json!([])));
        assert!(!looks_like_hsds(&json!({"hello": "world"})));
        assert!(!looks_like_hsds(&json!(42)));
        assert!(parse(&json!("text"), &options()).is_err());
        assert!(looks_like_hsds(
            &json!({"version": "3.0", "profile": "x", "openapi_url": "y"})
        ));
    }
}
