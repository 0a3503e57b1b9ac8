//! Reading the HSDS 3.0 tabular datapackage (a folder of CSV files) into a
//! [`Batch`](crate::directory::model::Batch).
//!
//! The tables are joined into the nested JSON shape of `service_full.json`
//! (a service with its organization, its service_at_locations with their
//! locations, its phones, schedules, attributes with their taxonomy terms
//! ...) and handed to the HSDS JSON mapping in [`super::hsds`], so there is
//! one mapping from HSDS to our model, not two. `tabular.json` (the same
//! tables as JSON lists of rows) is read the same way.
//!
//! Decisions, with reasons:
//! - Rows are numbered as a spreadsheet shows them: the header is row 1, so
//!   the first record is `services.csv row 2`. Problems found after joining
//!   are traced back to the row and column they came from.
//! - Cells are text, except the columns HSDS types as numbers (latitude,
//!   amount, ...), from `datapackage.json` when the folder has a readable one
//!   and from HSDS 3.0 otherwise. An empty cell is an absent field.
//! - Where a table has two names (the UK profile ships `schedule.csv` next to
//!   `schedules.csv`), the HSDS name wins and the other file is noted in
//!   `skipped`.
//! - A row refers to its owners by `*_id` columns. Phones, contacts,
//!   languages and funding go under every owner they name, as the JSON
//!   examples repeat them. A schedule goes under its most specific owner only
//!   (service_at_location, else service, else location), so an activity is
//!   not counted twice. A link column is dropped when the nesting says the
//!   same thing, and kept when it names nothing in the folder.
//! - Rows that belong to nothing (an attribute whose `link_id` is no record
//!   here, say) are listed in `skipped` with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use super::hsds::{self, field_path, number_value};
use super::{ImportOptions, Parsed, Problem};
use crate::directory::model::Skipped;

/// Our name for each table, and the file names it goes by (the HSDS name
/// first).
const TABLES: &[(&str, &[&str])] = &[
    ("organizations", &["organizations.csv", "organization.csv"]),
    ("services", &["services.csv", "service.csv"]),
    ("locations", &["locations.csv", "location.csv"]),
    (
        "service_at_location",
        &["service_at_location.csv", "service_at_locations.csv"],
    ),
    ("addresses", &["addresses.csv", "address.csv"]),
    ("phones", &["phones.csv", "phone.csv"]),
    ("schedules", &["schedules.csv", "schedule.csv"]),
    ("taxonomies", &["taxonomies.csv", "taxonomy.csv"]),
    (
        "taxonomy_terms",
        &["taxonomy_terms.csv", "taxonomy_term.csv"],
    ),
    ("attributes", &["attributes.csv", "attribute.csv"]),
    (
        "accessibility",
        &["accessibility.csv", "accessibility_for_disabilities.csv"],
    ),
    ("cost_options", &["cost_options.csv", "cost_option.csv"]),
    ("contacts", &["contacts.csv", "contact.csv"]),
    ("languages", &["languages.csv", "language.csv"]),
    ("funding", &["funding.csv"]),
    ("programs", &["programs.csv", "program.csv"]),
    ("service_areas", &["service_areas.csv", "service_area.csv"]),
    (
        "required_documents",
        &["required_documents.csv", "required_document.csv"],
    ),
    (
        "organization_identifiers",
        &[
            "organization_identifiers.csv",
            "organization_identifier.csv",
        ],
    ),
    ("metadata", &["metadata.csv"]),
    (
        "meta_table_descriptions",
        &["meta_table_descriptions.csv", "meta_table_description.csv"],
    ),
];

/// Columns HSDS 3.0 types as numbers, for folders without a readable
/// `datapackage.json` (the spec's own example folder has only a link).
const NUMBER_COLUMNS: &[(&str, &[&str])] = &[
    ("organizations", &["year_incorporated"]),
    ("services", &["minimum_age", "maximum_age"]),
    ("locations", &["latitude", "longitude"]),
    ("phones", &["extension"]),
    ("schedules", &["timezone", "count", "interval"]),
    ("cost_options", &["amount"]),
];

/// Link columns of each table, with the table they point into.
const LINKS: &[(&str, &[(&str, &str)])] = &[
    (
        "phones",
        &[
            ("service_id", "services"),
            ("organization_id", "organizations"),
            ("location_id", "locations"),
            ("service_at_location_id", "service_at_location"),
            ("contact_id", "contacts"),
        ],
    ),
    (
        "schedules",
        &[
            ("service_at_location_id", "service_at_location"),
            ("service_id", "services"),
            ("location_id", "locations"),
        ],
    ),
    (
        "contacts",
        &[
            ("service_id", "services"),
            ("organization_id", "organizations"),
            ("location_id", "locations"),
            ("service_at_location_id", "service_at_location"),
        ],
    ),
    (
        "languages",
        &[
            ("service_id", "services"),
            ("location_id", "locations"),
            ("phone_id", "phones"),
        ],
    ),
    (
        "funding",
        &[
            ("service_id", "services"),
            ("organization_id", "organizations"),
        ],
    ),
    ("addresses", &[("location_id", "locations")]),
    ("accessibility", &[("location_id", "locations")]),
    ("cost_options", &[("service_id", "services")]),
    ("service_areas", &[("service_id", "services")]),
    ("required_documents", &[("service_id", "services")]),
    ("programs", &[("organization_id", "organizations")]),
    (
        "organization_identifiers",
        &[("organization_id", "organizations")],
    ),
    (
        "service_at_location",
        &[("service_id", "services"), ("location_id", "locations")],
    ),
    ("locations", &[("organization_id", "organizations")]),
    ("services", &[("organization_id", "organizations")]),
    ("taxonomy_terms", &[("taxonomy_id", "taxonomies")]),
    ("attributes", &[("taxonomy_term_id", "taxonomy_terms")]),
];

/// The columns that say which record an attribute or a metadata row is
/// about, whatever its table.
const ANY_RECORD: [&str; 2] = ["link_id", "resource_id"];

/// Reads the datapackage in `dir`. Fails only when there is no
/// `services.csv` or it cannot be read at all.
pub fn parse(dir: &Path, options: &ImportOptions) -> Result<Parsed, Problem> {
    let mut reading = Reading::default();
    let numbers = number_columns(dir);
    for (table, names) in TABLES {
        let present: Vec<&&str> = names.iter().filter(|n| dir.join(n).is_file()).collect();
        let Some(name) = present.first() else {
            continue;
        };
        for other in &present[1..] {
            reading.skipped.push(Skipped {
                record: (*other).to_string(),
                reason: format!("{name} holds the same table and is the one read"),
            });
        }
        let path = dir.join(name);
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::Headers)
            .from_path(&path)
            .map_err(|err| Problem {
                location: path.display().to_string(),
                record: None,
                message: format!("cannot read it: {err}"),
            })?;
        let headers: Vec<String> = match reader.headers() {
            Ok(headers) => headers
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_owned())
                .collect(),
            Err(err) => {
                return Err(Problem {
                    location: format!("{name} row 1"),
                    record: None,
                    message: format!("cannot read the header: {err}"),
                });
            }
        };
        for (index, record) in reader.records().enumerate() {
            let origin = format!("{name} row {}", index + 2);
            match record {
                Ok(record) => {
                    let cells = headers
                        .iter()
                        .zip(record.iter())
                        .map(|(column, cell)| (column.clone(), Value::String(cell.to_owned())));
                    reading.add_row(table, &numbers, origin, cells);
                }
                Err(err) => reading.problems.push(Problem {
                    location: origin,
                    record: None,
                    message: format!("cannot read this row: {err}"),
                }),
            }
        }
    }
    if !reading.tables.contains_key("services") && !dir.join("services.csv").is_file() {
        return Err(Problem {
            location: dir.display().to_string(),
            record: None,
            message: "this folder is not an HSDS datapackage: it has no services.csv".to_owned(),
        });
    }
    Ok(reading.finish(options))
}

/// Reads `tabular.json`: `{"services.csv": [rows], ...}`, where rows are
/// objects of column to cell.
pub(crate) fn parse_json_tables(
    object: &Map<String, Value>,
    options: &ImportOptions,
) -> Result<Parsed, Problem> {
    let mut reading = Reading::default();
    let numbers = builtin_number_columns();
    for (table, names) in TABLES {
        let present: Vec<&&str> = names.iter().filter(|n| object.contains_key(**n)).collect();
        let Some(name) = present.first() else {
            continue;
        };
        let table_path = field_path("", name);
        let Some(rows) = object.get(**name).and_then(Value::as_array) else {
            reading.problems.push(Problem {
                location: table_path,
                record: None,
                message: "expected a list of rows".to_owned(),
            });
            continue;
        };
        for (index, row) in rows.iter().enumerate() {
            let origin = format!("{table_path}[{index}]");
            let Some(row) = row.as_object() else {
                reading.problems.push(Problem {
                    location: origin,
                    record: None,
                    message: "expected a row (a JSON object)".to_owned(),
                });
                continue;
            };
            let cells = row.iter().map(|(column, cell)| {
                let cell = match cell {
                    Value::Number(number) => Value::String(number.to_string()),
                    Value::Bool(flag) => Value::String(flag.to_string()),
                    Value::Null => Value::String(String::new()),
                    other => other.clone(),
                };
                (column.clone(), cell)
            });
            reading.add_row(table, &numbers, origin, cells);
        }
    }
    Ok(reading.finish(options))
}

type NumberColumns = HashMap<String, HashSet<String>>;

fn builtin_number_columns() -> NumberColumns {
    NUMBER_COLUMNS
        .iter()
        .map(|(table, columns)| {
            (
                table.to_string(),
                columns.iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect()
}

/// The number columns of each table: HSDS 3.0's, and any more the folder's
/// `datapackage.json` declares (a profile can add some).
fn number_columns(dir: &Path) -> NumberColumns {
    let mut numbers = builtin_number_columns();
    let Some(descriptor) = std::fs::read_to_string(dir.join("datapackage.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
    else {
        return numbers;
    };
    let resources = descriptor.get("resources").and_then(Value::as_array);
    for resource in resources.into_iter().flatten() {
        let Some(path) = resource.get("path").and_then(Value::as_str) else {
            continue;
        };
        let Some((table, _)) = TABLES.iter().find(|(_, names)| names.contains(&path)) else {
            continue;
        };
        let fields = resource.pointer("/schema/fields").and_then(Value::as_array);
        for field in fields.into_iter().flatten() {
            let kind = field.get("type").and_then(Value::as_str);
            if let (Some(name), Some("number" | "integer")) =
                (field.get("name").and_then(Value::as_str), kind)
            {
                numbers
                    .entry(table.to_string())
                    .or_default()
                    .insert(name.to_owned());
            }
        }
    }
    numbers
}

/// One row: where it is, its id and its cells (empty ones left out).
#[derive(Debug, Clone)]
struct Row {
    origin: String,
    id: String,
    cells: Map<String, Value>,
}

#[derive(Default)]
struct Reading {
    tables: BTreeMap<&'static str, Vec<Row>>,
    /// Where each id of each table was first met.
    ids: HashMap<(&'static str, String), String>,
    problems: Vec<Problem>,
    skipped: Vec<Skipped>,
}

impl Reading {
    fn add_row(
        &mut self,
        table: &'static str,
        numbers: &NumberColumns,
        origin: String,
        cells: impl Iterator<Item = (String, Value)>,
    ) {
        let number_columns = numbers.get(table);
        let mut row = Map::new();
        for (column, cell) in cells {
            let Value::String(text) = cell else {
                row.insert(column, cell);
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            if number_columns.is_some_and(|c| c.contains(&column)) {
                match text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .and_then(number_value)
                {
                    Some(number) => {
                        row.insert(column, number);
                    }
                    None => self.problems.push(Problem {
                        location: format!("{origin}, {column}"),
                        record: None,
                        message: format!("{column} \"{text}\" is not a number"),
                    }),
                }
            } else {
                row.insert(column, Value::String(text));
            }
        }
        let kind = kind_name(table);
        let Some(id) = row
            .get("id")
            .and_then(Value::as_str)
            .map(|id| id.trim().to_owned())
        else {
            let name = row.get("name").and_then(Value::as_str);
            self.problems.push(Problem {
                location: format!("{origin}, id"),
                record: Some(hsds::describe(kind, None, name)),
                message: format!("{kind} has no id"),
            });
            return;
        };
        if let Some(first) = self.ids.get(&(table, id.clone())) {
            let name = row.get("name").and_then(Value::as_str);
            self.problems.push(Problem {
                location: origin,
                record: Some(hsds::describe(kind, Some(&id), name)),
                message: format!("the same {kind} id is also at {first}"),
            });
            return;
        }
        self.ids.insert((table, id.clone()), origin.clone());
        self.tables.entry(table).or_default().push(Row {
            origin,
            id,
            cells: row,
        });
    }

    fn finish(self, options: &ImportOptions) -> Parsed {
        let Reading {
            tables,
            problems,
            mut skipped,
            ..
        } = self;
        let mut builder = Builder::new(&tables);
        let mut items: Vec<(String, Value)> = Vec::new();
        for index in 0..builder.len("services") {
            let path = format!("@{}", items.len());
            let service = builder.service(index, &path);
            items.push((path, service));
        }
        for index in 0..builder.len("organizations") {
            let path = format!("@{}", items.len());
            let organization = builder.organization(index, &path, true);
            items.push((path, organization));
        }
        for table in ["locations", "taxonomy_terms", "taxonomies"] {
            for index in 0..builder.len(table) {
                if builder.used.contains(&(table, index)) {
                    continue;
                }
                let path = format!("@{}", items.len());
                let record = match table {
                    "locations" => builder.location(index, &path, false),
                    "taxonomy_terms" => builder.term(index, &path),
                    _ => builder.taxonomy(index, &path),
                };
                items.push((path, record));
            }
        }
        skipped.extend(builder.unused());
        let origins: HashMap<String, String> = builder.origins.into_iter().collect();
        let locate = |path: &str| locate(&origins, path);
        let references: Vec<(String, &Value)> = items.iter().map(|(p, v)| (p.clone(), v)).collect();
        let mut parsed = hsds::map_items(&references, options, &locate, skipped);
        let mut all = problems;
        all.append(&mut parsed.problems);
        parsed.problems = all;
        parsed
    }
}

/// Where a JSON path built from the tables came from: the row of its
/// deepest record, and the rest of the path (`locations.csv row 2,
/// latitude`).
fn locate(origins: &HashMap<String, String>, path: &str) -> String {
    let mut prefix = path;
    loop {
        if let Some(origin) = origins.get(prefix) {
            let rest = path[prefix.len()..].trim_start_matches('.');
            return if rest.is_empty() {
                origin.clone()
            } else {
                format!("{origin}, {rest}")
            };
        }
        match prefix.rfind(['.', '[']) {
            Some(cut) => prefix = &prefix[..cut],
            None => return path.to_owned(),
        }
    }
}

/// What one row of a table is called in messages.
fn kind_name(table: &str) -> &'static str {
    match table {
        "organizations" => "organization",
        "services" => "service",
        "locations" => "location",
        "service_at_location" => "service_at_location",
        "addresses" => "address",
        "phones" => "phone",
        "schedules" => "schedule",
        "taxonomies" => "taxonomy",
        "taxonomy_terms" => "taxonomy_term",
        "attributes" => "attribute",
        "accessibility" => "accessibility",
        "cost_options" => "cost_option",
        "contacts" => "contact",
        "languages" => "language",
        "funding" => "funding",
        "programs" => "program",
        "service_areas" => "service_area",
        "required_documents" => "required_document",
        "organization_identifiers" => "organization_identifier",
        "metadata" => "metadata",
        _ => "meta_table_description",
    }
}

/// Joins the tables into nested JSON records, remembering where each
/// nested record came from.
struct Builder<'t> {
    tables: &'t BTreeMap<&'static str, Vec<Row>>,
    /// Row of each id, per table.
    by_id: HashMap<(&'static str, &'t str), usize>,
    /// Rows of each table by the value of a column: (table, column, value).
    by_column: HashMap<(&'static str, &'static str, &'t str), Vec<usize>>,
    /// Rows put somewhere.
    used: HashSet<(&'static str, usize)>,
    /// JSON path of each nested record, and its row.
    origins: Vec<(String, String)>,
}

impl<'t> Builder<'t> {
    fn new(tables: &'t BTreeMap<&'static str, Vec<Row>>) -> Self {
        let mut by_id = HashMap::new();
        let mut by_column: HashMap<_, Vec<usize>> = HashMap::new();
        for (table, rows) in tables {
            let links: Vec<&'static str> = LINKS
                .iter()
                .filter(|(t, _)| t == table)
                .flat_map(|(_, columns)| columns.iter().map(|(column, _)| *column))
                .chain(ANY_RECORD)
                .collect();
            for (index, row) in rows.iter().enumerate() {
                by_id.insert((*table, row.id.as_str()), index);
                for column in &links {
                    if let Some(value) = row.cells.get(*column).and_then(Value::as_str) {
                        by_column
                            .entry((*table, *column, value.trim()))
                            .or_default()
                            .push(index);
                    }
                }
            }
        }
        Builder {
            tables,
            by_id,
            by_column,
            used: HashSet::new(),
            origins: Vec::new(),
        }
    }

    fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, Vec::len)
    }

    fn row(&self, table: &'static str, index: usize) -> &'t Row {
        &self.tables[table][index]
    }

    fn find(&self, table: &'static str, id: &str) -> Option<usize> {
        self.by_id.get(&(table, id.trim())).copied()
    }

    fn rows_where(&self, table: &'static str, column: &'static str, id: &str) -> Vec<usize> {
        self.by_column
            .get(&(table, column, id))
            .cloned()
            .unwrap_or_default()
    }

    /// A row's cells, marked used and registered at `path`, with the link
    /// columns that name a record in the folder taken out (the nesting says
    /// the same).
    fn start(&mut self, table: &'static str, index: usize, path: &str) -> Map<String, Value> {
        let row = self.row(table, index);
        self.used.insert((table, index));
        self.origins.push((path.to_owned(), row.origin.clone()));
        let mut cells = row.cells.clone();
        let links = LINKS
            .iter()
            .filter(|(t, _)| *t == table)
            .flat_map(|(_, columns)| columns.iter());
        for (column, target) in links {
            if let Some(id) = cells.get(*column).and_then(Value::as_str)
                && self.find(target, id).is_some()
            {
                cells.remove(*column);
            }
        }
        for column in ANY_RECORD {
            if let Some(id) = cells.get(column).and_then(Value::as_str)
                && self.record_exists(id)
            {
                cells.remove(column);
            }
        }
        cells
    }

    fn record_exists(&self, id: &str) -> bool {
        [
            "services",
            "organizations",
            "locations",
            "service_at_location",
        ]
        .iter()
        .any(|table| self.find(table, id).is_some())
    }

    /// Nests the given rows of `table` under `key`, each built by `build`.
    fn nest(
        &mut self,
        object: &mut Map<String, Value>,
        key: &str,
        path: &str,
        rows: Vec<usize>,
        build: impl Fn(&mut Self, usize, &str) -> Value,
    ) {
        if rows.is_empty() {
            return;
        }
        let list_path = field_path(path, key);
        let list: Vec<Value> = rows
            .into_iter()
            .enumerate()
            .map(|(i, index)| build(self, index, &format!("{list_path}[{i}]")))
            .collect();
        object.insert(key.to_owned(), Value::Array(list));
    }

    /// A row of a table with no records under it.
    fn leaf(&mut self, table: &'static str, index: usize, path: &str) -> Value {
        Value::Object(self.start(table, index, path))
    }

    fn phone(&mut self, index: usize, path: &str) -> Value {
        let id = self.row("phones", index).id.as_str();
        let mut phone = self.start("phones", index, path);
        let languages = self.rows_where("languages", "phone_id", id);
        self.nest(&mut phone, "languages", path, languages, |b, i, p| {
            b.leaf("languages", i, p)
        });
        Value::Object(phone)
    }

    fn contact(&mut self, index: usize, path: &str) -> Value {
        let id = self.row("contacts", index).id.as_str();
        let mut contact = self.start("contacts", index, path);
        let phones = self.rows_where("phones", "contact_id", id);
        self.nest(&mut contact, "phones", path, phones, Self::phone);
        Value::Object(contact)
    }

    /// The schedules whose most specific owner is this record.
    fn schedules_of(&self, column: &'static str, id: &str) -> Vec<usize> {
        let more_specific: &[&'static str] = match column {
            "service_at_location_id" => &[],
            "service_id" => &["service_at_location_id"],
            _ => &["service_at_location_id", "service_id"],
        };
        self.rows_where("schedules", column, id)
            .into_iter()
            .filter(|&index| {
                let row = self.row("schedules", index);
                !more_specific.iter().any(|other| {
                    let target = match *other {
                        "service_at_location_id" => "service_at_location",
                        _ => "services",
                    };
                    row.cells
                        .get(*other)
                        .and_then(Value::as_str)
                        .is_some_and(|owner| self.find(target, owner).is_some())
                })
            })
            .collect()
    }

    /// What every record can have: attributes and metadata.
    fn common(&mut self, object: &mut Map<String, Value>, path: &str, id: &str) {
        let attributes = self.rows_where("attributes", "link_id", id);
        self.nest(object, "attributes", path, attributes, Self::attribute);
        let metadata = self.rows_where("metadata", "resource_id", id);
        self.nest(object, "metadata", path, metadata, |b, i, p| {
            b.leaf("metadata", i, p)
        });
    }

    fn service(&mut self, index: usize, path: &str) -> Value {
        let row = self.row("services", index);
        let id = row.id.as_str();
        let organization = row
            .cells
            .get("organization_id")
            .and_then(Value::as_str)
            .and_then(|o| self.find("organizations", o));
        let mut service = self.start("services", index, path);
        if let Some(organization) = organization {
            // Without its locations: the organization is also read on its
            // own, with them, and the copies are merged.
            let nested = self.organization(organization, &field_path(path, "organization"), false);
            service.insert("organization".to_owned(), nested);
        }
        let phones = self.rows_where("phones", "service_id", id);
        self.nest(&mut service, "phones", path, phones, Self::phone);
        let schedules = self.schedules_of("service_id", id);
        self.nest(&mut service, "schedules", path, schedules, |b, i, p| {
            b.leaf("schedules", i, p)
        });
        for (key, table) in [
            ("service_areas", "service_areas"),
            ("required_documents", "required_documents"),
            ("cost_options", "cost_options"),
            ("funding", "funding"),
            ("languages", "languages"),
        ] {
            let rows = self.rows_where(table, "service_id", id);
            self.nest(&mut service, key, path, rows, move |b, i, p| {
                b.leaf(table, i, p)
            });
        }
        let contacts = self.rows_where("contacts", "service_id", id);
        self.nest(&mut service, "contacts", path, contacts, Self::contact);
        let links = self.rows_where("service_at_location", "service_id", id);
        self.nest(
            &mut service,
            "service_at_locations",
            path,
            links,
            Self::service_at_location,
        );
        self.common(&mut service, path, id);
        Value::Object(service)
    }

    fn service_at_location(&mut self, index: usize, path: &str) -> Value {
        let row = self.row("service_at_location", index);
        let id = row.id.as_str();
        let location = row
            .cells
            .get("location_id")
            .and_then(Value::as_str)
            .and_then(|l| self.find("locations", l));
        let mut link = self.start("service_at_location", index, path);
        if let Some(location) = location {
            let nested = self.location(location, &field_path(path, "location"), false);
            link.insert("location".to_owned(), nested);
        }
        let phones = self.rows_where("phones", "service_at_location_id", id);
        self.nest(&mut link, "phones", path, phones, Self::phone);
        let schedules = self.schedules_of("service_at_location_id", id);
        self.nest(&mut link, "schedules", path, schedules, |b, i, p| {
            b.leaf("schedules", i, p)
        });
        let contacts = self.rows_where("contacts", "service_at_location_id", id);
        self.nest(&mut link, "contacts", path, contacts, Self::contact);
        self.common(&mut link, path, id);
        Value::Object(link)
    }

    fn location(&mut self, index: usize, path: &str, in_organization: bool) -> Value {
        let id = self.row("locations", index).id.as_str();
        let mut location = self.start("locations", index, path);
        if !in_organization {
            // Under a service_at_location, the organization it belongs to is
            // said only by this column: keep it.
            if let Some(organization) = self.row("locations", index).cells.get("organization_id") {
                location.insert("organization_id".to_owned(), organization.clone());
            }
        }
        for (key, table) in [
            ("addresses", "addresses"),
            ("accessibility", "accessibility"),
        ] {
            let rows = self.rows_where(table, "location_id", id);
            self.nest(&mut location, key, path, rows, move |b, i, p| {
                b.leaf(table, i, p)
            });
        }
        let phones = self.rows_where("phones", "location_id", id);
        self.nest(&mut location, "phones", path, phones, Self::phone);
        let languages = self.rows_where("languages", "location_id", id);
        self.nest(&mut location, "languages", path, languages, |b, i, p| {
            b.leaf("languages", i, p)
        });
        let contacts = self.rows_where("contacts", "location_id", id);
        self.nest(&mut location, "contacts", path, contacts, Self::contact);
        let schedules = self.schedules_of("location_id", id);
        self.nest(&mut location, "schedules", path, schedules, |b, i, p| {
            b.leaf("schedules", i, p)
        });
        self.common(&mut location, path, id);
        Value::Object(location)
    }

    fn organization(&mut self, index: usize, path: &str, with_locations: bool) -> Value {
        let id = self.row("organizations", index).id.as_str();
        let mut organization = self.start("organizations", index, path);
        let phones = self.rows_where("phones", "organization_id", id);
        self.nest(&mut organization, "phones", path, phones, Self::phone);
        let contacts = self.rows_where("contacts", "organization_id", id);
        self.nest(&mut organization, "contacts", path, contacts, Self::contact);
        for (key, table) in [
            ("funding", "funding"),
            ("programs", "programs"),
            ("organization_identifiers", "organization_identifiers"),
        ] {
            let rows = self.rows_where(table, "organization_id", id);
            self.nest(&mut organization, key, path, rows, move |b, i, p| {
                b.leaf(table, i, p)
            });
        }
        if with_locations {
            let locations = self.rows_where("locations", "organization_id", id);
            self.nest(
                &mut organization,
                "locations",
                path,
                locations,
                |b, i, p| b.location(i, p, true),
            );
        }
        self.common(&mut organization, path, id);
        Value::Object(organization)
    }

    fn attribute(&mut self, index: usize, path: &str) -> Value {
        let term = self
            .row("attributes", index)
            .cells
            .get("taxonomy_term_id")
            .and_then(Value::as_str)
            .and_then(|t| self.find("taxonomy_terms", t));
        let mut attribute = self.start("attributes", index, path);
        if let Some(term) = term {
            let nested = self.term(term, &field_path(path, "taxonomy_term"));
            attribute.insert("taxonomy_term".to_owned(), nested);
        }
        Value::Object(attribute)
    }

    fn term(&mut self, index: usize, path: &str) -> Value {
        let taxonomy = self
            .row("taxonomy_terms", index)
            .cells
            .get("taxonomy_id")
            .and_then(Value::as_str)
            .and_then(|t| self.find("taxonomies", t));
        let mut term = self.start("taxonomy_terms", index, path);
        if let Some(taxonomy) = taxonomy {
            let nested = self.taxonomy(taxonomy, &field_path(path, "taxonomy_detail"));
            term.insert("taxonomy_detail".to_owned(), nested);
        }
        Value::Object(term)
    }

    fn taxonomy(&mut self, index: usize, path: &str) -> Value {
        Value::Object(self.start("taxonomies", index, path))
    }

    /// The rows put nowhere, each with why.
    fn unused(&self) -> Vec<Skipped> {
        let mut skipped = Vec::new();
        for (table, rows) in self.tables {
            if matches!(
                *table,
                "services" | "organizations" | "locations" | "taxonomies" | "taxonomy_terms"
            ) {
                continue;
            }
            for (index, row) in rows.iter().enumerate() {
                if self.used.contains(&(*table, index)) {
                    continue;
                }
                let kind = kind_name(table);
                let reason = if *table == "meta_table_descriptions" {
                    "it describes a file, not a record, and is not kept".to_owned()
                } else {
                    let named: Vec<String> = LINKS
                        .iter()
                        .filter(|(t, _)| t == table)
                        .flat_map(|(_, columns)| columns.iter().map(|(c, _)| *c))
                        .chain(ANY_RECORD)
                        .filter_map(|column| {
                            let value = row.cells.get(column)?.as_str()?;
                            Some(format!("{column} \"{value}\""))
                        })
                        .collect();
                    if named.is_empty() {
                        "it is linked to no record".to_owned()
                    } else {
                        format!(
                            "it belongs to no record in this datapackage ({})",
                            named.join(", ")
                        )
                    }
                };
                skipped.push(Skipped {
                    record: format!("{kind} \"{}\" at {}", row.id, row.origin),
                    reason,
                });
            }
        }
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::import::Problem;

    const EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/hsds-spec/examples/csv"
    );
    const UK_EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/oruk-profile/examples/csv"
    );

    fn options() -> ImportOptions {
        ImportOptions {
            source: "csv".to_owned(),
            ..ImportOptions::default()
        }
    }

    fn problems(parsed: &Parsed) -> Vec<String> {
        parsed.problems.iter().map(Problem::to_string).collect()
    }

    #[test]
    fn the_spec_example_joins_into_one_full_service() {
        let dir = Path::new(EXAMPLE);
        if !dir.is_dir() {
            eprintln!("skipped: ../shared/data is absent");
            return;
        }
        let parsed = parse(dir, &options()).expect("reads");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        let batch = &parsed.batch;
        assert_eq!(batch.services.len(), 1);
        assert_eq!(batch.organizations.len(), 1);
        assert_eq!(batch.locations.len(), 1);
        assert_eq!(batch.service_at_locations.len(), 1);
        let service = &batch.services[0];
        assert_eq!(service.organization_id, batch.organizations[0].id);
        assert_eq!(
            service.extra.get("minimum_age"),
            Some(&serde_json::json!(12))
        );
        assert_eq!(
            service.extra["cost_options"][0]["amount"],
            serde_json::json!(35)
        );
        // The schedule names the service, the place and the link: it goes
        // under the link only.
        assert!(service.schedules.is_empty());
        assert_eq!(batch.service_at_locations[0].schedules.len(), 1);
        let recurrence = batch.service_at_locations[0].schedules[0]
            .recurrence
            .as_ref()
            .expect("weekly");
        assert_eq!(recurrence.duration_minutes, Some(480));
        // The phone names every owner; it goes under each.
        assert_eq!(service.phones.len(), 1);
        assert_eq!(batch.organizations[0].phones.len(), 1);
        assert_eq!(batch.locations[0].phones.len(), 1);
        let location = &batch.locations[0];
        assert_eq!(location.addresses.len(), 1);
        assert_eq!(location.step_free, Some(true));
        assert_eq!(location.extra["external_identifier"], "10092008082");
        for skipped in &batch.skipped {
            println!("skipped {}: {}", skipped.record, skipped.reason);
            assert!(!skipped.reason.is_empty());
        }
        assert!(
            batch
                .skipped
                .iter()
                .any(|s| s.record.starts_with("attribute \"ae58cc39")
                    && s.record.ends_with("attributes.csv row 2")),
            "{:#?}",
            batch.skipped
        );
    }

    #[test]
    fn the_uk_profile_example_reads_with_its_duplicate_tables_noted() {
        let dir = Path::new(UK_EXAMPLE);
        if !dir.is_dir() {
            eprintln!("skipped: ../shared/data is absent");
            return;
        }
        let parsed = parse(dir, &options()).expect("reads");
        assert!(parsed.problems.is_empty(), "{:#?}", problems(&parsed));
        assert_eq!(parsed.batch.services.len(), 1);
        assert!(
            parsed
                .batch
                .skipped
                .iter()
                .any(|s| s.record == "schedule.csv"
                    && s.reason == "schedules.csv holds the same table and is the one read"),
            "{:#?}",
            parsed.batch.skipped
        );
    }

    /// Writes CSV files into a fresh folder.
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary folder");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        dir
    }

    #[test]
    fn problems_name_the_file_row_and_column() {
        let dir = folder(&[
            ("organizations.csv", "id,name,description\no1,Friends,\n"),
            (
                "services.csv",
                "id,organization_id,name,status,minimum_age\n\
                 s1,o1,Lunch,active,12\n\
                 s2,o1,,active,\n\
                 s3,o1,Walks,active,twelve\n\
                 s1,o1,Lunch again,active,\n",
            ),
            (
                "locations.csv",
                "id,location_type,name,latitude,longitude\nl1,physical,Hall,53.6,-1.78\n",
            ),
            (
                "service_at_location.csv",
                "id,service_id,location_id\nsal1,s1,l1\n",
            ),
            (
                "schedules.csv",
                "id,service_at_location_id,freq,byday,opens_at\nsc1,sal1,WEEKLY,XX,10:00\n",
            ),
        ]);
        let parsed = parse(dir.path(), &options()).expect("reads");
        let found = problems(&parsed);
        assert!(
            found.contains(
                &"services.csv row 4, minimum_age: minimum_age \"twelve\" is not a number"
                    .to_owned()
            ),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|p| p.starts_with("services.csv row 5: service \"s1\" (\"Lunch again\"): the same service id is also at services.csv row 2")),
            "{found:#?}"
        );
        assert!(
            found.contains(
                &"services.csv row 3, name: service \"s2\": service has no name".to_owned()
            ),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|p| p.starts_with("schedules.csv row 2, byday: service_at_location \"sal1\":")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_folder_without_services_is_refused() {
        let dir = folder(&[("organizations.csv", "id,name\no1,Friends\n")]);
        let refused = parse(dir.path(), &options()).expect_err("no services.csv");
        assert!(refused.message.contains("no services.csv"), "{refused}");
    }

    #[test]
    fn json_paths_are_traced_to_rows() {
        let origins = HashMap::from([
            ("@0".to_owned(), "services.csv row 2".to_owned()),
            (
                "@0.service_at_locations[0].location".to_owned(),
                "locations.csv row 3".to_owned(),
            ),
        ]);
        assert_eq!(
            locate(&origins, "@0.service_at_locations[0].location.latitude"),
            "locations.csv row 3, latitude"
        );
        assert_eq!(locate(&origins, "@0.name"), "services.csv row 2, name");
        assert_eq!(locate(&origins, "@0"), "services.csv row 2");
    }
}
