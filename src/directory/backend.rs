// The directory's SQL, included twice by `store.rs`: once with `Db` set to
// SQLite and once to PostgreSQL. See the invariant there.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use sqlx::{Acquire, QueryBuilder, Row};

use crate::directory::DirectoryError;
use crate::directory::model::{
    Address, Attribute, Batch, Location, Moderation, Organization, Phone, Schedule, Service,
    ServiceAtLocation, Taxonomy, TaxonomyTerm, WelcomeFact,
};
use crate::directory::query::{
    Candidate, OccurrenceDetail, PageDetail, SearchQuery, ServiceListQuery,
};
use crate::directory::recurrence::Recurrence;
use crate::directory::store::{Selection, fingerprint};
use crate::directory::{Horizon, ImportSummary, WriteOptions};
use crate::search::Category;

type Pool = sqlx::Pool<Db>;
type Tx<'a> = sqlx::Transaction<'a, Db>;
type Result<T> = std::result::Result<T, DirectoryError>;

/// Writes a batch in one transaction: all of it or, on any error, none.
pub async fn write_batch(
    pool: &Pool,
    batch: &Batch,
    options: &WriteOptions,
) -> Result<ImportSummary> {
    let mut tx = pool.begin().await?;
    let mut summary = ImportSummary::default();
    let source = batch.source.as_str();
    let mut changed_services = Vec::new();

    for taxonomy in &batch.taxonomies {
        let hash = hash_of(taxonomy);
        let outcome = existing(
            &mut tx,
            "taxonomy",
            source,
            &taxonomy.source_id,
            &taxonomy.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            summary.skip(format!("taxonomy \"{}\"", taxonomy.id), reason);
            continue;
        }
        if outcome.needs_write() {
            sqlx::query(
                "INSERT INTO taxonomy (id, name, description, extra, x_source, x_source_id, x_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                    description = excluded.description, extra = excluded.extra,
                    x_hash = excluded.x_hash",
            )
            .bind(&taxonomy.id)
            .bind(&taxonomy.name)
            .bind(&taxonomy.description)
            .bind(json(&taxonomy.extra))
            .bind(source)
            .bind(&taxonomy.source_id)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        }
        summary.count("taxonomies", outcome);
    }

    for term in &batch.taxonomy_terms {
        let hash = hash_of(term);
        let outcome = existing(
            &mut tx,
            "taxonomy_term",
            source,
            &term.source_id,
            &term.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            summary.skip(
                format!("taxonomy term \"{}\" (\"{}\")", term.id, term.name),
                reason,
            );
            continue;
        }
        if outcome.needs_write() {
            sqlx::query(
                "INSERT INTO taxonomy_term (id, name, description, code, taxonomy_id, extra,
                    x_source, x_source_id, x_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                    description = excluded.description, code = excluded.code,
                    taxonomy_id = excluded.taxonomy_id, extra = excluded.extra,
                    x_hash = excluded.x_hash",
            )
            .bind(&term.id)
            .bind(&term.name)
            .bind(&term.description)
            .bind(&term.code)
            .bind(&term.taxonomy_id)
            .bind(json(&term.extra))
            .bind(source)
            .bind(&term.source_id)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        }
        summary.count("taxonomy terms", outcome);
    }

    for organization in &batch.organizations {
        let hash = hash_of(organization);
        let outcome = existing(
            &mut tx,
            "organization",
            source,
            &organization.source_id,
            &organization.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            summary.skip(
                record_name("organization", &organization.id, &organization.name),
                reason,
            );
            continue;
        }
        if outcome.needs_write() {
            write_organization(&mut tx, source, organization, &hash).await?;
        }
        summary.count("organizations", outcome);
    }

    for location in &batch.locations {
        let hash = hash_of(location);
        let outcome = existing(
            &mut tx,
            "location",
            source,
            &location.source_id,
            &location.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            let name = location.name.as_deref().unwrap_or("");
            summary.skip(record_name("location", &location.id, name), reason);
            continue;
        }
        if outcome.needs_write() {
            write_location(&mut tx, source, location, &hash).await?;
        }
        summary.count("locations", outcome);
    }

    for service in &batch.services {
        let hash = hash_of(service);
        let outcome = existing(
            &mut tx,
            "service",
            source,
            &service.source_id,
            &service.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            summary.skip(record_name("service", &service.id, &service.name), reason);
            continue;
        }
        let organization_known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organization WHERE id = $1)")
                .bind(&service.organization_id)
                .fetch_one(&mut *tx)
                .await?;
        if !organization_known {
            summary.skip(
                record_name("service", &service.id, &service.name),
                format!(
                    "its organization \"{}\" is neither in the file nor in the directory",
                    service.organization_id
                ),
            );
            continue;
        }
        match outcome {
            Existing::Same => {
                if options.publish {
                    sqlx::query("UPDATE service SET x_status = 'published' WHERE id = $1")
                        .bind(&service.id)
                        .execute(&mut *tx)
                        .await?;
                }
                confirm(&mut tx, &service.id, options.today).await?;
            }
            Existing::New | Existing::Changed => {
                write_service(&mut tx, source, service, &hash, options).await?;
                changed_services.push(service.id.clone());
            }
            Existing::Clash(_) => {}
        }
        summary.count("services", outcome);
    }

    for link in &batch.service_at_locations {
        let hash = hash_of(link);
        let outcome = existing(
            &mut tx,
            "service_at_location",
            source,
            &link.source_id,
            &link.id,
            &hash,
        )
        .await?;
        if let Some(reason) = outcome.clash() {
            summary.skip(format!("service_at_location \"{}\"", link.id), reason);
            continue;
        }
        let ends_known: (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM service WHERE id = $1),
                    EXISTS (SELECT 1 FROM location WHERE id = $2)",
        )
        .bind(&link.service_id)
        .bind(&link.location_id)
        .fetch_one(&mut *tx)
        .await?;
        if ends_known != (true, true) {
            let missing = if ends_known.0 { "location" } else { "service" };
            summary.skip(
                format!("service_at_location \"{}\"", link.id),
                format!("its {missing} is neither in the file nor in the directory"),
            );
            continue;
        }
        if outcome.needs_write() {
            write_service_at_location(&mut tx, source, link, &hash).await?;
            changed_services.push(link.service_id.clone());
        }
        summary.count("services at locations", outcome);
    }

    // Occurrences and search text follow the services that changed.
    changed_services.sort();
    changed_services.dedup();
    let horizon = current_horizon(&mut tx)
        .await?
        .unwrap_or_else(|| Horizon::from_today(options.today));
    for service_id in &changed_services {
        expand_service(&mut tx, service_id, horizon).await?;
        index_service_text(&mut tx, service_id).await?;
    }
    set_horizon(&mut tx, horizon).await?;
    summary.skipped.extend(batch.skipped.iter().cloned());
    tx.commit().await?;
    // After a big import, refresh the planner's statistics so searches keep
    // using the right indexes.
    if changed_services.len() >= 100 {
        let statement = if POSTGRES {
            "ANALYZE"
        } else {
            "PRAGMA optimize"
        };
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(summary)
}

/// What the directory already holds for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Existing {
    New,
    Same,
    Changed,
    /// The id belongs to a record from another source.
    Clash(String),
}

impl Existing {
    fn needs_write(&self) -> bool {
        matches!(self, Existing::New | Existing::Changed)
    }

    fn clash(&self) -> Option<String> {
        match self {
            Existing::Clash(reason) => Some(reason.clone()),
            _ => None,
        }
    }
}

trait Tally {
    fn count(&mut self, kind: &'static str, outcome: Existing);
    fn skip(&mut self, record: String, reason: String);
}

impl Tally for ImportSummary {
    fn count(&mut self, kind: &'static str, outcome: Existing) {
        let counts = self.counts.entry(kind).or_default();
        match outcome {
            Existing::New => counts.added += 1,
            Existing::Changed => counts.updated += 1,
            Existing::Same => counts.unchanged += 1,
            Existing::Clash(_) => {}
        }
    }

    fn skip(&mut self, record: String, reason: String) {
        self.skipped
            .push(crate::directory::model::Skipped { record, reason });
    }
}

fn record_name(kind: &str, id: &str, name: &str) -> String {
    if name.is_empty() {
        format!("{kind} \"{id}\"")
    } else {
        format!("{kind} \"{id}\" (\"{name}\")")
    }
}

fn hash_of<T: serde::Serialize>(record: &T) -> String {
    // Serialising our own types cannot fail: they hold no maps with
    // non-string keys.
    let bytes = serde_json::to_vec(record).unwrap_or_default();
    fingerprint(&bytes)
}

fn json(extra: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::Value::Object(extra.clone()).to_string()
}

async fn existing(
    tx: &mut Tx<'_>,
    table: &'static str,
    source: &str,
    source_id: &str,
    id: &str,
    hash: &str,
) -> Result<Existing> {
    let by_source = match table {
        "taxonomy" => "SELECT id, x_hash FROM taxonomy WHERE x_source = $1 AND x_source_id = $2",
        "taxonomy_term" => {
            "SELECT id, x_hash FROM taxonomy_term WHERE x_source = $1 AND x_source_id = $2"
        }
        "organization" => {
            "SELECT id, x_hash FROM organization WHERE x_source = $1 AND x_source_id = $2"
        }
        "location" => "SELECT id, x_hash FROM location WHERE x_source = $1 AND x_source_id = $2",
        "service" => "SELECT id, x_hash FROM service WHERE x_source = $1 AND x_source_id = $2",
        _ => "SELECT id, x_hash FROM service_at_location WHERE x_source = $1 AND x_source_id = $2",
    };
    let found: Option<(String, String)> = sqlx::query_as(by_source)
        .bind(source)
        .bind(source_id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some((found_id, found_hash)) = found {
        if found_id != id {
            return Ok(Existing::Clash(format!(
                "it was imported before with the id \"{found_id}\"; ids must not change"
            )));
        }
        return Ok(if found_hash == hash {
            Existing::Same
        } else {
            Existing::Changed
        });
    }
    let by_id = match table {
        "taxonomy" => "SELECT x_source FROM taxonomy WHERE id = $1",
        "taxonomy_term" => "SELECT x_source FROM taxonomy_term WHERE id = $1",
        "organization" => "SELECT x_source FROM organization WHERE id = $1",
        "location" => "SELECT x_source FROM location WHERE id = $1",
        "service" => "SELECT x_source FROM service WHERE id = $1",
        _ => "SELECT x_source FROM service_at_location WHERE id = $1",
    };
    let other: Option<String> = sqlx::query_scalar(by_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match other {
        Some(other) => Existing::Clash(format!(
            "the id is already used by a record from \"{other}\"; import it under that source name"
        )),
        None => Existing::New,
    })
}

async fn write_organization(
    tx: &mut Tx<'_>,
    source: &str,
    organization: &Organization,
    hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO organization (id, name, description, email, website, extra, x_source,
            x_source_id, x_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
            email = excluded.email, website = excluded.website, extra = excluded.extra,
            x_hash = excluded.x_hash",
    )
    .bind(&organization.id)
    .bind(&organization.name)
    .bind(&organization.description)
    .bind(&organization.email)
    .bind(&organization.website)
    .bind(json(&organization.extra))
    .bind(source)
    .bind(&organization.source_id)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM phone WHERE organization_id = $1")
        .bind(&organization.id)
        .execute(&mut **tx)
        .await?;
    for (position, phone) in organization.phones.iter().enumerate() {
        insert_phone(tx, Owner::Organization(&organization.id), position, phone).await?;
    }
    // Search text names the organisation: keep its services' text in step.
    let services: Vec<String> =
        sqlx::query_scalar("SELECT id FROM service WHERE organization_id = $1")
            .bind(&organization.id)
            .fetch_all(&mut **tx)
            .await?;
    for service in services {
        index_service_text(tx, &service).await?;
    }
    Ok(())
}

async fn write_location(
    tx: &mut Tx<'_>,
    source: &str,
    location: &Location,
    hash: &str,
) -> Result<()> {
    let first = location.addresses.first();
    let outcode = first.and_then(|a| crate::search::Area::outcode_of_postcode(&a.postal_code));
    let town = first
        .map(|a| a.city.trim().to_lowercase())
        .filter(|town| !town.is_empty());
    sqlx::query(
        "INSERT INTO location (id, location_type, organization_id, name, description, latitude,
            longitude, extra, x_step_free, x_outcode, x_town, x_source, x_source_id, x_hash)
         VALUES ($1, $2, (SELECT id FROM organization WHERE id = $3), $4, $5, $6, $7, $8, $9,
            $10, $11, $12, $13, $14)
         ON CONFLICT (id) DO UPDATE SET location_type = excluded.location_type,
            organization_id = excluded.organization_id, name = excluded.name,
            description = excluded.description, latitude = excluded.latitude,
            longitude = excluded.longitude, extra = excluded.extra,
            x_step_free = excluded.x_step_free, x_outcode = excluded.x_outcode,
            x_town = excluded.x_town, x_hash = excluded.x_hash",
    )
    .bind(&location.id)
    .bind(&location.location_type)
    .bind(&location.organization_id)
    .bind(&location.name)
    .bind(&location.description)
    .bind(location.latitude)
    .bind(location.longitude)
    .bind(json(&location.extra))
    .bind(location.step_free)
    .bind(outcode)
    .bind(town)
    .bind(source)
    .bind(&location.source_id)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    if !POSTGRES {
        sqlx::query(
            "DELETE FROM x_location_box WHERE id = (SELECT rowid FROM location WHERE id = $1)",
        )
        .bind(&location.id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO x_location_box
             SELECT rowid, latitude, latitude, longitude, longitude FROM location
             WHERE id = $1 AND latitude IS NOT NULL AND longitude IS NOT NULL",
        )
        .bind(&location.id)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("DELETE FROM address WHERE location_id = $1")
        .bind(&location.id)
        .execute(&mut **tx)
        .await?;
    for (position, address) in location.addresses.iter().enumerate() {
        insert_address(tx, &location.id, position, address).await?;
    }
    sqlx::query("DELETE FROM phone WHERE location_id = $1")
        .bind(&location.id)
        .execute(&mut **tx)
        .await?;
    for (position, phone) in location.phones.iter().enumerate() {
        insert_phone(tx, Owner::Location(&location.id), position, phone).await?;
    }
    Ok(())
}

async fn insert_address(
    tx: &mut Tx<'_>,
    location_id: &str,
    position: usize,
    address: &Address,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO address (id, location_id, address_1, address_2, city, region,
            state_province, postal_code, country, address_type, extra, x_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&address.id)
    .bind(location_id)
    .bind(&address.address_1)
    .bind(&address.address_2)
    .bind(&address.city)
    .bind(&address.region)
    .bind(&address.state_province)
    .bind(&address.postal_code)
    .bind(&address.country)
    .bind(&address.address_type)
    .bind(json(&address.extra))
    .bind(position as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

enum Owner<'a> {
    Organization(&'a str),
    Service(&'a str),
    Location(&'a str),
    ServiceAtLocation(&'a str),
}

async fn insert_phone(
    tx: &mut Tx<'_>,
    owner: Owner<'_>,
    position: usize,
    phone: &Phone,
) -> Result<()> {
    let (organization, service, location, link) = match owner {
        Owner::Organization(id) => (Some(id), None, None, None),
        Owner::Service(id) => (None, Some(id), None, None),
        Owner::Location(id) => (None, None, Some(id), None),
        Owner::ServiceAtLocation(id) => (None, None, None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO phone (id, organization_id, service_id, location_id, service_at_location_id,
            number, description, extra, x_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&phone.id)
    .bind(organization)
    .bind(service)
    .bind(location)
    .bind(link)
    .bind(&phone.number)
    .bind(&phone.description)
    .bind(json(&phone.extra))
    .bind(position as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_schedule(
    tx: &mut Tx<'_>,
    service_id: Option<&str>,
    link_id: Option<&str>,
    position: usize,
    schedule: &Schedule,
) -> Result<()> {
    let recurrence = schedule
        .recurrence
        .as_ref()
        .map(|r| serde_json::to_string(r).unwrap_or_default());
    sqlx::query(
        "INSERT INTO schedule (id, service_id, service_at_location_id, description, extra,
            x_recurrence, x_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&schedule.id)
    .bind(service_id)
    .bind(link_id)
    .bind(&schedule.description)
    .bind(json(&schedule.extra))
    .bind(recurrence)
    .bind(position as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_service(
    tx: &mut Tx<'_>,
    source: &str,
    service: &Service,
    hash: &str,
    options: &WriteOptions,
) -> Result<()> {
    // A new or changed listing waits for staff, unless the import publishes.
    let status = if options.publish {
        Moderation::Published
    } else {
        Moderation::Pending
    };
    let last_confirmed = service.last_confirmed.unwrap_or(options.today);
    let expires = service
        .expires
        .or_else(|| last_confirmed.checked_add_days(Days::new(u64::from(options.valid_for_days))));
    let dated = service.schedules.iter().any(|s| s.recurrence.is_some());
    sqlx::query(
        "INSERT INTO service (id, organization_id, name, description, url, email, status,
            fees_description, application_process, extra, x_free, x_online, x_dated, x_status,
            x_last_confirmed, x_expires, x_source, x_source_id, x_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19)
         ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id,
            name = excluded.name, description = excluded.description, url = excluded.url,
            email = excluded.email, status = excluded.status,
            fees_description = excluded.fees_description,
            application_process = excluded.application_process, extra = excluded.extra,
            x_free = excluded.x_free, x_online = excluded.x_online, x_dated = excluded.x_dated,
            x_status = excluded.x_status, x_last_confirmed = excluded.x_last_confirmed,
            x_expires = excluded.x_expires, x_hash = excluded.x_hash",
    )
    .bind(&service.id)
    .bind(&service.organization_id)
    .bind(&service.name)
    .bind(&service.description)
    .bind(&service.url)
    .bind(&service.email)
    .bind(&service.status)
    .bind(&service.fees_description)
    .bind(&service.application_process)
    .bind(json(&service.extra))
    .bind(service.free)
    .bind(service.online)
    .bind(dated)
    .bind(status.as_str())
    .bind(last_confirmed)
    .bind(expires)
    .bind(source)
    .bind(&service.source_id)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    for table in [
        "DELETE FROM phone WHERE service_id = $1",
        "DELETE FROM schedule WHERE service_id = $1",
        "DELETE FROM attribute WHERE service_id = $1",
        "DELETE FROM x_service_category WHERE service_id = $1",
    ] {
        sqlx::query(table)
            .bind(&service.id)
            .execute(&mut **tx)
            .await?;
    }
    for (position, phone) in service.phones.iter().enumerate() {
        insert_phone(tx, Owner::Service(&service.id), position, phone).await?;
    }
    for (position, schedule) in service.schedules.iter().enumerate() {
        insert_schedule(tx, Some(&service.id), None, position, schedule).await?;
    }
    for (position, attribute) in service.attributes.iter().enumerate() {
        insert_attribute(tx, &service.id, position, attribute).await?;
    }
    for category in &service.categories {
        sqlx::query(
            "INSERT INTO x_service_category (service_id, category, online) VALUES ($1, $2, $3)",
        )
        .bind(&service.id)
        .bind(category.slug())
        .bind(service.online)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn insert_attribute(
    tx: &mut Tx<'_>,
    service_id: &str,
    position: usize,
    attribute: &Attribute,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO attribute (id, service_id, taxonomy_term_id, value, extra, x_position)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&attribute.id)
    .bind(service_id)
    .bind(&attribute.taxonomy_term_id)
    .bind(&attribute.value)
    .bind(json(&attribute.extra))
    .bind(position as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_service_at_location(
    tx: &mut Tx<'_>,
    source: &str,
    link: &ServiceAtLocation,
    hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_at_location (id, service_id, location_id, description, extra,
            x_source, x_source_id, x_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id,
            location_id = excluded.location_id, description = excluded.description,
            extra = excluded.extra, x_hash = excluded.x_hash",
    )
    .bind(&link.id)
    .bind(&link.service_id)
    .bind(&link.location_id)
    .bind(&link.description)
    .bind(json(&link.extra))
    .bind(source)
    .bind(&link.source_id)
    .bind(hash)
    .execute(&mut **tx)
    .await?;
    for table in [
        "DELETE FROM phone WHERE service_at_location_id = $1",
        "DELETE FROM schedule WHERE service_at_location_id = $1",
    ] {
        sqlx::query(table).bind(&link.id).execute(&mut **tx).await?;
    }
    for (position, phone) in link.phones.iter().enumerate() {
        insert_phone(tx, Owner::ServiceAtLocation(&link.id), position, phone).await?;
    }
    for (position, schedule) in link.schedules.iter().enumerate() {
        insert_schedule(tx, None, Some(&link.id), position, schedule).await?;
    }
    if !link.schedules.is_empty() {
        sqlx::query("UPDATE service SET x_dated = TRUE WHERE id = $1")
            .bind(&link.service_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Marks an unchanged service as still listed by its source today.
async fn confirm(tx: &mut Tx<'_>, service_id: &str, today: NaiveDate) -> Result<()> {
    sqlx::query(
        "UPDATE service SET x_last_confirmed = $2
         WHERE id = $1 AND (x_last_confirmed IS NULL OR x_last_confirmed < $2)",
    )
    .bind(service_id)
    .bind(today)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Keeps the full-text index in step with a service and its organisation.
async fn index_service_text(tx: &mut Tx<'_>, service_id: &str) -> Result<()> {
    if POSTGRES {
        sqlx::query(
            "UPDATE service s SET x_search =
                setweight(to_tsvector('english', s.name), 'A')
                || setweight(to_tsvector('english', coalesce(s.description, '')), 'B')
                || setweight(to_tsvector('english', o.name), 'C')
             FROM organization o WHERE o.id = s.organization_id AND s.id = $1",
        )
        .bind(service_id)
        .execute(&mut **tx)
        .await?;
    } else {
        sqlx::query(
            "DELETE FROM x_service_text WHERE rowid = (SELECT rowid FROM service WHERE id = $1)",
        )
        .bind(service_id)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO x_service_text (rowid, name, description, organization)
             SELECT s.rowid, s.name, coalesce(s.description, ''), o.name
             FROM service s JOIN organization o ON o.id = s.organization_id WHERE s.id = $1",
        )
        .bind(service_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn current_horizon(tx: &mut Tx<'_>) -> Result<Option<Horizon>> {
    let row: Option<(NaiveDate, NaiveDate)> =
        sqlx::query_as("SELECT expanded_from, expanded_to FROM x_occurrence_horizon WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(first, last)| Horizon { first, last }))
}

async fn set_horizon(tx: &mut Tx<'_>, horizon: Horizon) -> Result<()> {
    sqlx::query(
        "INSERT INTO x_occurrence_horizon (id, expanded_from, expanded_to) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET expanded_from = excluded.expanded_from,
            expanded_to = excluded.expanded_to",
    )
    .bind(horizon.first)
    .bind(horizon.last)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Rebuilds one service's occurrences within the horizon from its rules.
async fn expand_service(tx: &mut Tx<'_>, service_id: &str, horizon: Horizon) -> Result<usize> {
    sqlx::query("DELETE FROM x_occurrence WHERE service_id = $1")
        .bind(service_id)
        .execute(&mut **tx)
        .await?;
    let schedules: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT sc.id, sc.service_at_location_id, sc.x_recurrence FROM schedule sc
         WHERE sc.x_recurrence IS NOT NULL AND (sc.service_id = $1 OR sc.service_at_location_id IN
            (SELECT id FROM service_at_location WHERE service_id = $1))",
    )
    .bind(service_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut written = 0;
    for (schedule_id, link_id, recurrence) in schedules {
        let Some(recurrence) = recurrence else {
            continue;
        };
        let recurrence: Recurrence = serde_json::from_str(&recurrence)
            .map_err(|err| DirectoryError::Corrupt(format!("schedule {schedule_id}: {err}")))?;
        let occurrences = recurrence
            .occurrences(
                horizon.first,
                horizon.last,
                crate::directory::MAX_OCCURRENCES_PER_SCHEDULE,
            )
            .map_err(|err| DirectoryError::Corrupt(format!("schedule {schedule_id}: {err}")))?;
        for chunk in occurrences.chunks(100) {
            let mut insert = QueryBuilder::<Db>::new(
                "INSERT INTO x_occurrence (schedule_id, service_id, service_at_location_id,
                    starts_at, ends_at, local_date, local_minute, all_day) ",
            );
            insert.push_values(chunk, |mut row, occurrence| {
                row.push_bind(schedule_id.clone())
                    .push_bind(service_id.to_owned())
                    .push_bind(link_id.clone())
                    .push_bind(occurrence.starts_at.timestamp())
                    .push_bind(occurrence.ends_at.map(|t| t.timestamp()))
                    .push_bind(occurrence.local_date)
                    .push_bind(i64::from(minute_of_day(occurrence.local_start)))
                    .push_bind(occurrence.all_day);
            });
            insert.build().execute(&mut **tx).await?;
        }
        written += occurrences.len();
    }
    Ok(written)
}

fn minute_of_day(time: chrono::NaiveTime) -> u32 {
    use chrono::Timelike;
    time.hour() * 60 + time.minute()
}

/// Rolls the occurrence table forward to `today`'s horizon, if it is not
/// there already; returns the number of occurrences written (0 when current).
pub async fn refresh_occurrences(pool: &Pool, today: NaiveDate, force: bool) -> Result<usize> {
    let wanted = Horizon::from_today(today);
    let mut tx = pool.begin().await?;
    if !force && current_horizon(&mut tx).await? == Some(wanted) {
        return Ok(0);
    }
    let services: Vec<String> =
        sqlx::query_scalar("SELECT id FROM service WHERE x_dated ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM x_occurrence")
        .execute(&mut *tx)
        .await?;
    let mut written = 0;
    for service in services {
        written += expand_service(&mut tx, &service, wanted).await?;
    }
    set_horizon(&mut tx, wanted).await?;
    tx.commit().await?;
    Ok(written)
}

/// Publishes every pending service from `source`; returns how many.
pub async fn publish_source(pool: &Pool, source: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE service SET x_status = 'published' WHERE x_source = $1 AND x_status = 'pending'",
    )
    .bind(source)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Loads outcode centroids, replacing the dataset's earlier copy.
pub async fn import_outcodes(
    pool: &Pool,
    dataset: &str,
    attribution: &str,
    rows: &[(String, f64, f64)],
) -> Result<usize> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM x_outcode WHERE dataset = $1")
        .bind(dataset)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO x_geo_dataset (name, attribution) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET attribution = excluded.attribution",
    )
    .bind(dataset)
    .bind(attribution)
    .execute(&mut *tx)
    .await?;
    for chunk in rows.chunks(200) {
        let mut insert = QueryBuilder::<Db>::new(
            "INSERT INTO x_outcode (outcode, latitude, longitude, dataset) ",
        );
        insert.push_values(chunk, |mut row, (outcode, latitude, longitude)| {
            row.push_bind(outcode.clone())
                .push_bind(*latitude)
                .push_bind(*longitude)
                .push_bind(dataset.to_owned());
        });
        insert.push(
            " ON CONFLICT (outcode) DO UPDATE SET latitude = excluded.latitude,
              longitude = excluded.longitude, dataset = excluded.dataset",
        );
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// The centre of an outcode: from the centroid data when loaded, else the
/// middle of the directory's own places in it.
pub async fn outcode_centre(pool: &Pool, outcode: &str) -> Result<Option<(f64, f64)>> {
    let known: Option<(f64, f64)> =
        sqlx::query_as("SELECT latitude, longitude FROM x_outcode WHERE outcode = $1")
            .bind(outcode)
            .fetch_optional(pool)
            .await?;
    if known.is_some() {
        return Ok(known);
    }
    let middle: (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT avg(latitude), avg(longitude) FROM location
         WHERE x_outcode = $1 AND latitude IS NOT NULL AND longitude IS NOT NULL",
    )
    .bind(outcode)
    .fetch_one(pool)
    .await?;
    Ok(middle.0.zip(middle.1))
}

/// The middle of the directory's places in a town (lower case), and whether
/// the directory knows the town at all.
pub async fn town_centre(pool: &Pool, town: &str) -> Result<(bool, Option<(f64, f64)>)> {
    let row: (i64, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT count(*), avg(latitude), avg(longitude) FROM location WHERE x_town = $1",
    )
    .bind(town)
    .fetch_one(pool)
    .await?;
    Ok((row.0 > 0, row.1.zip(row.2)))
}

/// One page of services matching `query`, ranked in SQL, and how many match
/// in all. `centre` is where distances are measured from.
///
/// Ranking: distance bands (2, 5, 10 km, further; remote services count as
/// 5 km), then the next start (undated services count as the start of
/// today), then remote last, then distance. A service at several places is
/// ranked at its best one. Distances here use the equirectangular
/// approximation, within a fraction of a per cent at these ranges.
pub async fn search_page(
    pool: &Pool,
    query: &SearchQuery,
    centre: Option<(f64, f64)>,
    today_starts_at: i64,
) -> Result<(Vec<Candidate>, usize)> {
    use crate::directory::query::Attendance;
    let (earliest, latest) = query.part_of_day.minutes();
    let not_before = query.not_before.map_or(i64::MIN, |t| t.timestamp());
    // MATERIALIZED: `next_start` is a correlated subquery and `ranked` reads
    // it three times (filter, window, order); inlined, SQLite evaluated it
    // once for each (see EXPLAIN QUERY PLAN), so every candidate paid for its
    // occurrence look-up several times over.
    let mut sql = QueryBuilder::<Db>::new("WITH hits AS MATERIALIZED (");
    // Services without dates (phone lines, drop-ins at any time) have no
    // occurrences: the CASE skips the look-up for them.
    let next_start = |sql: &mut QueryBuilder<Db>, at: Occurrences| {
        sql.push(
            "CASE WHEN s.x_dated THEN (SELECT min(o.starts_at) FROM x_occurrence o
              WHERE o.service_id = s.id",
        );
        match at {
            Occurrences::All => {}
            Occurrences::ServiceWide => {
                sql.push(" AND o.service_at_location_id IS NULL");
            }
            Occurrences::AtPlace(link) => {
                sql.push(" AND (o.service_at_location_id IS NULL OR o.service_at_location_id = ")
                    .push(link)
                    .push(")");
            }
        }
        sql.push(" AND o.local_date >= ")
            .push_bind(query.dates.first)
            .push(" AND o.local_date <= ")
            .push_bind(query.dates.last)
            .push(" AND o.local_minute >= ")
            .push_bind(i64::from(earliest))
            .push(" AND o.local_minute <= ")
            .push_bind(i64::from(latest))
            .push(" AND coalesce(o.ends_at, o.starts_at) >= ")
            .push_bind(not_before)
            .push(") END AS next_start");
    };
    // `service_id` is the column to test categories against: in the place
    // branch, `sal.service_id`, so SQLite can rule a place out before it
    // reads the service's row. `None` when the branch has already chosen
    // services by category.
    let filters = |sql: &mut QueryBuilder<Db>, service_id: Option<&str>| {
        push_shown(sql, query.today);
        if let Some(service_id) = service_id
            && !query.categories.is_empty()
        {
            sql.push(" AND EXISTS (SELECT 1 FROM x_service_category c WHERE c.service_id = ")
                .push(service_id)
                .push(" AND c.category IN (");
            let mut list = sql.separated(", ");
            for category in &query.categories {
                list.push_bind(category.slug());
            }
            sql.push("))");
        }
        if query.free_only {
            sql.push(" AND s.x_free");
        }
        if let Some(text) = query.text.as_deref() {
            push_text_match(sql, text);
        }
    };
    let places = query.attendance != Attendance::Online;
    let remote = query.attendance != Attendance::InPerson;
    if centre.is_none() && query.town.is_none() && !query.step_free_only {
        // Nothing asked of the place (no area, no step-free): every place of
        // a service ranks the same but for its next start, so rank whole
        // services, and choose the place to show for the page only. This
        // keeps a broad search (words alone, or "anywhere") from reading
        // every place of every match.
        //
        // A service at places ranks by its soonest occurrence anywhere; it
        // ranks before its own online row, which could only be later, so an
        // online row is needed only for services with no place at all.
        let placed = "EXISTS (SELECT 1 FROM service_at_location x WHERE x.service_id = s.id)";
        sql.push("SELECT s.id AS service_id, s.x_dated, s.x_online, ");
        if places {
            sql.push(placed);
        } else {
            sql.push("FALSE");
        }
        sql.push(" AS placed, ");
        next_start(
            &mut sql,
            if places {
                Occurrences::All
            } else {
                Occurrences::ServiceWide
            },
        );
        sql.push(" FROM service s WHERE TRUE");
        if !places {
            sql.push(" AND s.x_online");
        }
        filters(&mut sql, Some("s.id"));
        // The page first, then a place for each service on it: one where
        // the next occurrence is held, else the first.
        sql.push(
            "), page AS (SELECT service_id, placed, next_start, count(*) OVER () AS total,
                coalesce(next_start, ",
        )
        .push_bind(today_starts_at)
        .push(") AS starts FROM hits WHERE NOT (x_dated AND next_start IS NULL) AND ")
        // `placed` is read here rather than in `hits`, so that it is looked
        // up once for each service.
        .push(match (places, remote) {
            (true, true) => "(placed OR x_online)",
            (true, false) => "placed",
            (false, _) => "TRUE",
        })
        .push(" ORDER BY starts, NOT placed, service_id LIMIT ")
        .push_bind(query.limit as i64)
        .push(" OFFSET ")
        .push_bind(query.offset as i64)
        .push(
            "), chosen AS (SELECT page.*, CASE WHEN placed THEN (
                SELECT sal.id FROM service_at_location sal
                LEFT JOIN x_occurrence o ON o.service_id = sal.service_id
                    AND o.service_at_location_id = sal.id AND o.starts_at = page.next_start
                WHERE sal.service_id = page.service_id
                ORDER BY o.starts_at IS NULL, sal.id LIMIT 1) END AS link_id FROM page)
             SELECT chosen.service_id, chosen.link_id, l.latitude, l.longitude, chosen.next_start,
                chosen.total
             FROM chosen LEFT JOIN service_at_location sal ON sal.id = chosen.link_id
             LEFT JOIN location l ON l.id = sal.location_id
             ORDER BY chosen.starts, NOT chosen.placed, chosen.service_id",
        );
        return candidates(sql.build().fetch_all(pool).await?);
    }
    let mut branches = 0;
    if places {
        branches += 1;
        sql.push(
            "SELECT s.id AS service_id, sal.id AS link_id, l.latitude, l.longitude, s.x_dated,
                FALSE AS remote, ",
        );
        match centre {
            Some(centre) => squared_distance(&mut sql, centre),
            None => {
                sql.push("CAST(NULL AS DOUBLE PRECISION)");
            }
        };
        sql.push(" AS d2, ");
        next_start(&mut sql, Occurrences::AtPlace("sal.id"));
        sql.push(
            " FROM location l
              JOIN service_at_location sal ON sal.location_id = l.id
              JOIN service s ON s.id = sal.service_id
              WHERE TRUE",
        );
        filters(&mut sql, Some("sal.service_id"));
        if query.step_free_only {
            sql.push(" AND l.x_step_free");
        }
        if let Some(centre) = centre {
            push_within(&mut sql, centre, query.radius_km);
        } else if let Some(town) = &query.town {
            sql.push(" AND l.x_town = ").push_bind(town.clone());
        }
    }
    if remote {
        if branches > 0 {
            sql.push(" UNION ALL ");
        }
        sql.push(
            "SELECT s.id AS service_id, NULL AS link_id, CAST(NULL AS DOUBLE PRECISION) AS latitude,
                CAST(NULL AS DOUBLE PRECISION) AS longitude, s.x_dated, TRUE AS remote,
                CAST(NULL AS DOUBLE PRECISION) AS d2, ",
        );
        next_start(&mut sql, Occurrences::ServiceWide);
        sql.push(" FROM service s WHERE s.x_online");
        if !query.categories.is_empty() {
            // Straight to the remote services in these categories.
            sql.push(" AND s.id IN (SELECT service_id FROM x_service_category WHERE online AND category IN (");
            let mut list = sql.separated(", ");
            for category in &query.categories {
                list.push_bind(category.slug());
            }
            sql.push("))");
        }
        // The categories were matched just above.
        filters(&mut sql, None);
        if query.near.is_none() && places {
            // With no place asked for, services at places come from the
            // branch above; remote-only services have no place at all.
            sql.push(
                " AND NOT EXISTS (SELECT 1 FROM service_at_location x WHERE x.service_id = s.id)",
            );
        }
    }
    let band = if centre.is_some() {
        "CASE WHEN remote THEN 1 WHEN d2 IS NULL THEN 2 WHEN d2 <= 4 THEN 0 WHEN d2 <= 25 THEN 1
              WHEN d2 <= 100 THEN 2 ELSE 3 END"
    } else {
        "0"
    };
    sql.push("), ranked AS (SELECT hits.*, ")
        .push(band)
        .push(" AS band, coalesce(next_start, ")
        .push_bind(today_starts_at)
        .push(") AS starts, ROW_NUMBER() OVER (PARTITION BY service_id ORDER BY ")
        .push(band)
        .push(", coalesce(next_start, ")
        .push_bind(today_starts_at)
        .push(
            "), coalesce(d2, 1e12)) AS nth FROM hits WHERE NOT (x_dated AND next_start IS NULL))
           SELECT service_id, link_id, latitude, longitude, next_start, count(*) OVER () AS total
           FROM ranked WHERE nth = 1
           ORDER BY band, starts, remote, coalesce(d2, 1e12), service_id LIMIT ",
        )
        .push_bind(query.limit as i64)
        .push(" OFFSET ")
        .push_bind(query.offset as i64);
    candidates(sql.build().fetch_all(pool).await?)
}

/// ` AND` the service `s` matches `text`: PostgreSQL full-text search, or
/// SQLite FTS5 with each word quoted, so nothing typed is syntax.
fn push_text_match(sql: &mut QueryBuilder<Db>, text: &str) {
    if POSTGRES {
        sql.push(" AND s.x_search @@ websearch_to_tsquery('english', ")
            .push_bind(text.to_owned())
            .push(")");
    } else {
        sql.push(" AND s.rowid IN (SELECT rowid FROM x_service_text WHERE x_service_text MATCH ")
            .push_bind(fts5_query(text))
            .push(")");
    }
}

/// The squared distance of place `l` from `centre`, in km², from bound
/// numbers only.
fn squared_distance(sql: &mut QueryBuilder<Db>, (lat, lon): (f64, f64)) {
    let km_per_degree = 111.195;
    sql.push("((l.latitude - ")
        .push_bind(lat)
        .push(") * ")
        .push_bind(km_per_degree)
        .push(") * ((l.latitude - ")
        .push_bind(lat)
        .push(") * ")
        .push_bind(km_per_degree)
        .push(") + ((l.longitude - ")
        .push_bind(lon)
        .push(") * ")
        .push_bind(km_per_degree * lat.to_radians().cos())
        .push(") * ((l.longitude - ")
        .push_bind(lon)
        .push(") * ")
        .push_bind(km_per_degree * lat.to_radians().cos())
        .push(")");
}

/// ` AND` place `l` is within `radius_km` of `centre`: first inside the
/// bounding box, which the spatial index answers, then by distance.
fn push_within(sql: &mut QueryBuilder<Db>, centre: (f64, f64), radius_km: f64) {
    let [south, north, west, east] = crate::directory::query::bounding_box(centre, radius_km);
    if POSTGRES {
        sql.push(" AND l.latitude IS NOT NULL AND l.longitude IS NOT NULL AND point(l.longitude, l.latitude) <@ box(point(")
            .push_bind(west)
            .push(", ")
            .push_bind(south)
            .push("), point(")
            .push_bind(east)
            .push(", ")
            .push_bind(north)
            .push(")) AND ");
    } else {
        sql.push(" AND l.rowid IN (SELECT id FROM x_location_box WHERE min_latitude >= ")
            .push_bind(south)
            .push(" AND max_latitude <= ")
            .push_bind(north)
            .push(" AND min_longitude >= ")
            .push_bind(west)
            .push(" AND max_longitude <= ")
            .push_bind(east)
            .push(") AND ");
    }
    squared_distance(sql, centre);
    sql.push(" <= ").push_bind(radius_km * radius_km);
}

/// ` AND` the service `s` is one people may see on `today`: published by
/// staff, active, and not expired.
fn push_shown(sql: &mut QueryBuilder<Db>, today: NaiveDate) {
    sql.push(
        " AND s.x_status = 'published' AND s.status = 'active' AND (s.x_expires IS NULL OR s.x_expires >= ",
    )
    .push_bind(today)
    .push(")");
}

/// Binds `values` as a list for `IN (...)`; an empty list matches nothing.
fn push_list(sql: &mut QueryBuilder<Db>, values: &[&str]) {
    sql.push("(");
    if values.is_empty() {
        sql.push("NULL");
    }
    let mut items = sql.separated(", ");
    for value in values {
        items.push_bind(value.to_string());
    }
    sql.push(")");
}

/// One page of the services people may see that match `query`, as ids in
/// the list's order (see [`ServiceListQuery`]), and how many match in all.
/// `centre` is where `query.near` is, when it is given.
pub async fn list_page(
    pool: &Pool,
    query: &ServiceListQuery,
    centre: Option<(f64, f64)>,
) -> Result<(Vec<String>, usize)> {
    let mut sql = QueryBuilder::<Db>::new("");
    match centre {
        Some(centre) => {
            // Each service at its nearest place within reach, found from
            // the places (which the spatial index narrows) up.
            sql.push("WITH near AS (SELECT sal.service_id, min(");
            squared_distance(&mut sql, centre);
            sql.push(
                ") AS d2 FROM location l JOIN service_at_location sal ON sal.location_id = l.id
                 WHERE TRUE",
            );
            push_within(&mut sql, centre, query.radius_km);
            sql.push(
                " GROUP BY sal.service_id)
                 SELECT s.id, count(*) OVER () AS total
                 FROM service s JOIN near ON near.service_id = s.id WHERE TRUE",
            );
        }
        None => {
            sql.push("SELECT s.id, count(*) OVER () AS total FROM service s WHERE TRUE");
        }
    }
    push_shown(&mut sql, query.today);
    if let Some(text) = query.text.as_deref() {
        push_text_match(&mut sql, text);
    }
    if let Some(term) = &query.taxonomy_term_id {
        sql.push(" AND EXISTS (SELECT 1 FROM attribute a WHERE a.service_id = s.id AND a.taxonomy_term_id = ")
            .push_bind(term.clone())
            .push(")");
    }
    sql.push(" ORDER BY ");
    if centre.is_some() {
        sql.push("near.d2, ");
    }
    sql.push("s.name, s.id LIMIT ")
        .push_bind(query.limit as i64)
        .push(" OFFSET ")
        .push_bind(query.offset as i64);
    let mut total = 0;
    let mut ids = Vec::new();
    for row in sql.build().fetch_all(pool).await? {
        total = usize::try_from(row.try_get::<i64, _>("total")?).unwrap_or(0);
        ids.push(row.try_get("id")?);
    }
    Ok((ids, total))
}

/// Which of a service's occurrences give its next start.
#[derive(Clone, Copy)]
enum Occurrences {
    /// All of them: the service is ranked as a whole.
    All,
    /// Those of the service's own schedule, for its online row.
    ServiceWide,
    /// Those at the place in this column, and the service's own.
    AtPlace(&'static str),
}

/// The page of candidates and the total, from a search's rows.
fn candidates(rows: Vec<<Db as sqlx::Database>::Row>) -> Result<(Vec<Candidate>, usize)> {
    let mut total = 0;
    let mut page = Vec::with_capacity(rows.len());
    for row in rows {
        total = usize::try_from(row.try_get::<i64, _>("total")?).unwrap_or(0);
        page.push(Candidate {
            service_id: row.try_get("service_id")?,
            link_id: row.try_get("link_id")?,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
            next_start: row.try_get("next_start")?,
        });
    }
    Ok((page, total))
}

/// Words for SQLite FTS5: each word quoted (so nothing typed is syntax),
/// all required, the last a prefix.
fn fts5_query(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.to_lowercase()))
        .collect();
    match words.split_last() {
        Some((last, rest)) => {
            let mut all: Vec<String> = rest.to_vec();
            all.push(format!("{last}*"));
            all.join(" ")
        }
        None => "\"\"".to_owned(),
    }
}

/// Everything the result cards show, for a page of results, in its order.
///
/// Each kind of detail is fetched for the whole page at once, on one
/// connection: six queries for a page rather than six for each card,
/// since each query's round trip costs more than its work here.
pub async fn page_details(pool: &Pool, page: &[Candidate]) -> Result<Vec<PageDetail>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let mut connection = pool.acquire().await?;
    let connection = &mut *connection;
    let service_ids: Vec<&str> = page.iter().map(|hit| hit.service_id.as_str()).collect();
    let link_ids: Vec<&str> = page
        .iter()
        .filter_map(|hit| hit.link_id.as_deref())
        .collect();
    let list = push_list;

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT s.id, s.organization_id, s.name, s.description, s.url, s.email,
            s.fees_description, s.application_process, s.x_free, s.x_online,
            o.name AS organization, o.website, o.email AS organization_email
         FROM service s JOIN organization o ON o.id = s.organization_id WHERE s.id IN ",
    );
    list(&mut sql, &service_ids);
    let mut services = HashMap::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        services.insert(row.try_get::<String, _>("id")?, row);
    }
    let organization_ids: Vec<String> = services
        .values()
        .map(|row| row.try_get::<String, _>("organization_id"))
        .collect::<std::result::Result<_, _>>()?;
    let organization_ids: Vec<&str> = organization_ids.iter().map(String::as_str).collect();

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT sal.id, l.name, l.x_step_free, a.address_1, a.city, a.postal_code
         FROM service_at_location sal JOIN location l ON l.id = sal.location_id
         LEFT JOIN address a ON a.location_id = l.id AND a.x_position = 0
         WHERE sal.id IN ",
    );
    list(&mut sql, &link_ids);
    let mut places = HashMap::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        let id: String = row.try_get("id")?;
        let place = (
            row.try_get("name")?,
            row.try_get("x_step_free")?,
            row.try_get("address_1")?,
            row.try_get("city")?,
            row.try_get("postal_code")?,
        );
        places.insert(id, place);
    }

    // Each owner in its own branch: an OR across columns can defeat the
    // indexes. Owner 0 is a place, 1 a service, 2 an organisation.
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT 0 AS owner, service_at_location_id AS owner_id, number, description, x_position
         FROM phone WHERE service_at_location_id IN ",
    );
    list(&mut sql, &link_ids);
    sql.push(
        " UNION ALL SELECT 1, service_id, number, description, x_position FROM phone
          WHERE service_id IN ",
    );
    list(&mut sql, &service_ids);
    sql.push(
        " UNION ALL SELECT 2, organization_id, number, description, x_position FROM phone
          WHERE organization_id IN ",
    );
    list(&mut sql, &organization_ids);
    sql.push(" ORDER BY owner, owner_id, x_position");
    // Keyed by (owner kind, owner id).
    type ByOwner<T> = HashMap<(i32, String), Vec<T>>;
    let mut phones: ByOwner<(String, Option<String>)> = HashMap::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        phones
            .entry((row.try_get("owner")?, row.try_get("owner_id")?))
            .or_default()
            .push((row.try_get("number")?, row.try_get("description")?));
    }

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT 0 AS owner, service_at_location_id AS owner_id, description, x_recurrence,
            x_position
         FROM schedule WHERE service_at_location_id IN ",
    );
    list(&mut sql, &link_ids);
    sql.push(
        " UNION ALL SELECT 1, service_id, description, x_recurrence, x_position FROM schedule
          WHERE service_id IN ",
    );
    list(&mut sql, &service_ids);
    sql.push(" ORDER BY owner, owner_id, x_position");
    let mut schedules: ByOwner<(Option<String>, Option<String>)> = HashMap::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        schedules
            .entry((row.try_get("owner")?, row.try_get("owner_id")?))
            .or_default()
            .push((row.try_get("description")?, row.try_get("x_recurrence")?));
    }

    // The welcome facts the page's services have, by service.
    let terms: Vec<(String, WelcomeFact)> = WelcomeFact::ALL
        .iter()
        .map(|fact| (fact.term_id(), *fact))
        .collect();
    let term_ids: Vec<&str> = terms.iter().map(|(id, _)| id.as_str()).collect();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT service_id, taxonomy_term_id FROM attribute WHERE service_id IN ",
    );
    list(&mut sql, &service_ids);
    sql.push(" AND taxonomy_term_id IN ");
    list(&mut sql, &term_ids);
    let mut welcome: HashMap<String, Vec<WelcomeFact>> = HashMap::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        let term: String = row.try_get("taxonomy_term_id")?;
        if let Some((_, fact)) = terms.iter().find(|(id, _)| *id == term) {
            welcome
                .entry(row.try_get("service_id")?)
                .or_default()
                .push(*fact);
        }
    }

    let dated: Vec<&Candidate> = page.iter().filter(|hit| hit.next_start.is_some()).collect();
    let mut next = HashMap::new();
    if !dated.is_empty() {
        // Each service's occurrences are few: reading them all by service
        // and keeping the starts asked for is quicker than pairing in SQL.
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT service_id, starts_at, ends_at, local_date, local_minute, all_day
             FROM x_occurrence WHERE service_id IN ",
        );
        let dated_ids: Vec<&str> = dated.iter().map(|hit| hit.service_id.as_str()).collect();
        list(&mut sql, &dated_ids);
        sql.push(" AND starts_at IN (");
        let mut starts = sql.separated(", ");
        for hit in &dated {
            starts.push_bind(hit.next_start);
        }
        sql.push(")");
        for row in sql.build().fetch_all(&mut *connection).await? {
            let starts_at: i64 = row.try_get("starts_at")?;
            let key: (String, i64) = (row.try_get("service_id")?, starts_at);
            next.entry(key).or_insert(OccurrenceDetail {
                starts_at,
                ends_at: row.try_get("ends_at")?,
                local_date: row.try_get("local_date")?,
                local_minute: row.try_get("local_minute")?,
                all_day: row.try_get("all_day")?,
            });
        }
    }

    let mut details = Vec::with_capacity(page.len());
    for hit in page {
        // A service withdrawn since the page was ranked: as if it had gone
        // a moment sooner.
        let row = services
            .get(&hit.service_id)
            .ok_or(DirectoryError::Query(sqlx::Error::RowNotFound))?;
        let take_phones = |owner: i32, id: &str| {
            phones
                .get(&(owner, id.to_owned()))
                .cloned()
                .unwrap_or_default()
        };
        // The place's and the service's own numbers; the organisation's
        // only when the service gives no way in of its own.
        let mut card_phones = match hit.link_id.as_deref() {
            Some(link) => take_phones(0, link),
            None => Vec::new(),
        };
        card_phones.extend(take_phones(1, &hit.service_id));
        let service_email: Option<String> = row.try_get("email")?;
        let service_url: Option<String> = row.try_get("url")?;
        let own_way_in =
            !card_phones.is_empty() || service_email.is_some() || service_url.is_some();
        if !own_way_in {
            let organization: String = row.try_get("organization_id")?;
            card_phones.extend(take_phones(2, &organization));
        }
        let mut card_schedules = Vec::new();
        if let Some(link) = hit.link_id.as_deref() {
            card_schedules.extend(
                schedules
                    .get(&(0, link.to_owned()))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        card_schedules.extend(
            schedules
                .get(&(1, hit.service_id.clone()))
                .cloned()
                .unwrap_or_default(),
        );
        details.push(PageDetail {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            url: service_url.or(if own_way_in {
                None
            } else {
                row.try_get("website")?
            }),
            email: service_email.or(if own_way_in {
                None
            } else {
                row.try_get("organization_email")?
            }),
            fees_description: row.try_get("fees_description")?,
            application_process: row.try_get("application_process")?,
            free: row.try_get("x_free")?,
            online: row.try_get("x_online")?,
            organization: row.try_get("organization")?,
            place: hit
                .link_id
                .as_deref()
                .and_then(|link| places.get(link).cloned()),
            phones: card_phones,
            schedules: card_schedules,
            next: hit
                .next_start
                .and_then(|start| next.get(&(hit.service_id.clone(), start)).copied()),
            welcome: {
                let mut facts = welcome.remove(&hit.service_id).unwrap_or_default();
                facts.sort();
                facts.dedup();
                facts
            },
        });
    }
    Ok(details)
}

/// Services, whole, with everything they refer to: every published,
/// unexpired one for an export, only some of those people may see (a page
/// of the open data), or every one of an organization whatever its status
/// (its own API), reading only their records in the last two cases.
pub async fn load_services(
    pool: &Pool,
    today: NaiveDate,
    selection: Selection<'_>,
) -> Result<Batch> {
    use std::collections::BTreeSet;
    let mut connection = pool.acquire().await?;
    let connection = connection.acquire().await?;
    let mut batch = Batch::default();
    if matches!(selection, Selection::Shown([])) {
        return Ok(batch);
    }
    // All but an export: restrict each query to the records of the
    // services selected.
    let only = !matches!(selection, Selection::Published);
    let restrict = |sql: &mut QueryBuilder<Db>, column: &str, ids: &[&str]| {
        if only {
            sql.push(" AND ").push(column).push(" IN ");
            push_list(sql, ids);
        }
    };

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, organization_id, name, description, url, email, status, fees_description,
            application_process, extra, x_free, x_online, x_status, x_last_confirmed, x_expires,
            x_source_id
         FROM service s WHERE TRUE",
    );
    match selection {
        Selection::Published => {
            sql.push(" AND s.x_status = 'published' AND (s.x_expires IS NULL OR s.x_expires >= ")
                .push_bind(today)
                .push(")");
        }
        Selection::Shown(ids) => {
            push_shown(&mut sql, today);
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            sql.push(" AND s.id IN ");
            push_list(&mut sql, &ids);
        }
        Selection::OfOrganisation(organization_id) => {
            sql.push(" AND s.organization_id = ")
                .push_bind(organization_id.to_owned());
        }
    }
    sql.push(" ORDER BY name, id");
    let services = sql.build().fetch_all(&mut *connection).await?;
    let mut service_ids = BTreeSet::new();
    let mut organization_ids = BTreeSet::new();
    for row in &services {
        service_ids.insert(row.try_get::<String, _>("id")?);
        organization_ids.insert(row.try_get::<String, _>("organization_id")?);
    }
    let service_list: Vec<&str> = service_ids.iter().map(String::as_str).collect();
    let organization_list: Vec<&str> = organization_ids.iter().map(String::as_str).collect();

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, service_id, location_id, description, extra, x_source_id
         FROM service_at_location WHERE TRUE",
    );
    restrict(&mut sql, "service_id", &service_list);
    sql.push(" ORDER BY id");
    let mut links = Vec::new();
    let mut location_ids = BTreeSet::new();
    for row in sql.build().fetch_all(&mut *connection).await? {
        let service_id: String = row.try_get("service_id")?;
        if service_ids.contains(&service_id) {
            location_ids.insert(row.try_get::<String, _>("location_id")?);
            links.push(row);
        }
    }
    let link_ids: Vec<String> = links
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
    let link_list: Vec<&str> = link_ids.iter().map(String::as_str).collect();
    let location_list: Vec<&str> = location_ids.iter().map(String::as_str).collect();

    let owners = only.then(|| Owners {
        services: &service_list,
        organizations: &organization_list,
        locations: &location_list,
        links: &link_list,
    });
    let mut phones = phones_by_owner(&mut *connection, owners).await?;
    let mut schedules = schedules_by_owner(&mut *connection, owners).await?;
    let mut attributes: HashMap<String, Vec<Attribute>> = HashMap::new();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, service_id, taxonomy_term_id, value, extra FROM attribute WHERE TRUE",
    );
    restrict(&mut sql, "service_id", &service_list);
    sql.push(" ORDER BY x_position");
    for row in sql.build().fetch_all(&mut *connection).await? {
        attributes
            .entry(row.try_get("service_id")?)
            .or_default()
            .push(Attribute {
                id: row.try_get("id")?,
                taxonomy_term_id: row.try_get("taxonomy_term_id")?,
                value: row.try_get("value")?,
                extra: extra(&row)?,
            });
    }
    let mut categories: HashMap<String, BTreeSet<Category>> = HashMap::new();
    let mut sql =
        QueryBuilder::<Db>::new("SELECT service_id, category FROM x_service_category WHERE TRUE");
    restrict(&mut sql, "service_id", &service_list);
    for row in sql.build().fetch_all(&mut *connection).await? {
        let slug: String = row.try_get("category")?;
        if let Some(category) = Category::from_slug(&slug) {
            categories
                .entry(row.try_get("service_id")?)
                .or_default()
                .insert(category);
        }
    }
    let term_ids: BTreeSet<String> = attributes
        .values()
        .flatten()
        .map(|a| a.taxonomy_term_id.clone())
        .collect();

    for row in services {
        let id: String = row.try_get("id")?;
        let status: String = row.try_get("x_status")?;
        batch.services.push(Service {
            source_id: row.try_get("x_source_id")?,
            organization_id: row.try_get("organization_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            url: row.try_get("url")?,
            email: row.try_get("email")?,
            status: row.try_get("status")?,
            fees_description: row.try_get("fees_description")?,
            free: row.try_get("x_free")?,
            application_process: row.try_get("application_process")?,
            online: row.try_get("x_online")?,
            phones: phones.remove(&("service", id.clone())).unwrap_or_default(),
            schedules: schedules
                .remove(&("service", id.clone()))
                .unwrap_or_default(),
            attributes: attributes.remove(&id).unwrap_or_default(),
            categories: categories.remove(&id).unwrap_or_default(),
            moderation: Moderation::parse(&status).unwrap_or_default(),
            last_confirmed: row.try_get("x_last_confirmed")?,
            expires: row.try_get("x_expires")?,
            extra: extra(&row)?,
            id,
        });
    }

    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, name, description, email, website, extra, x_source_id FROM organization
         WHERE TRUE",
    );
    restrict(&mut sql, "id", &organization_list);
    sql.push(" ORDER BY name, id");
    for row in sql.build().fetch_all(&mut *connection).await? {
        let id: String = row.try_get("id")?;
        if !organization_ids.contains(&id) {
            continue;
        }
        batch.organizations.push(Organization {
            source_id: row.try_get("x_source_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            email: row.try_get("email")?,
            website: row.try_get("website")?,
            phones: phones
                .remove(&("organization", id.clone()))
                .unwrap_or_default(),
            extra: extra(&row)?,
            id,
        });
    }

    for row in links {
        let id: String = row.try_get("id")?;
        batch.service_at_locations.push(ServiceAtLocation {
            source_id: row.try_get("x_source_id")?,
            service_id: row.try_get("service_id")?,
            location_id: row.try_get("location_id")?,
            description: row.try_get("description")?,
            schedules: schedules
                .remove(&("service_at_location", id.clone()))
                .unwrap_or_default(),
            phones: phones
                .remove(&("service_at_location", id.clone()))
                .unwrap_or_default(),
            extra: extra(&row)?,
            id,
        });
    }

    let mut addresses: HashMap<String, Vec<Address>> = HashMap::new();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, location_id, address_1, address_2, city, region, state_province, postal_code,
            country, address_type, extra FROM address WHERE TRUE",
    );
    restrict(&mut sql, "location_id", &location_list);
    sql.push(" ORDER BY x_position");
    for row in sql.build().fetch_all(&mut *connection).await? {
        addresses
            .entry(row.try_get("location_id")?)
            .or_default()
            .push(Address {
                id: row.try_get("id")?,
                address_1: row.try_get("address_1")?,
                address_2: row.try_get("address_2")?,
                city: row.try_get("city")?,
                region: row.try_get("region")?,
                state_province: row.try_get("state_province")?,
                postal_code: row.try_get("postal_code")?,
                country: row.try_get("country")?,
                address_type: row.try_get("address_type")?,
                extra: extra(&row)?,
            });
    }
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, location_type, organization_id, name, description, latitude, longitude, extra,
            x_step_free, x_source_id FROM location WHERE TRUE",
    );
    restrict(&mut sql, "id", &location_list);
    sql.push(" ORDER BY id");
    for row in sql.build().fetch_all(&mut *connection).await? {
        let id: String = row.try_get("id")?;
        if !location_ids.contains(&id) {
            continue;
        }
        batch.locations.push(Location {
            source_id: row.try_get("x_source_id")?,
            location_type: row.try_get("location_type")?,
            organization_id: row.try_get("organization_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
            step_free: row.try_get("x_step_free")?,
            addresses: addresses.remove(&id).unwrap_or_default(),
            phones: phones.remove(&("location", id.clone())).unwrap_or_default(),
            extra: extra(&row)?,
            id,
        });
    }

    // An export carries every taxonomy term; a page only those its
    // services' attributes name.
    let term_list: Vec<&str> = term_ids.iter().map(String::as_str).collect();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, name, description, code, taxonomy_id, extra, x_source_id FROM taxonomy_term
         WHERE TRUE",
    );
    restrict(&mut sql, "id", &term_list);
    sql.push(" ORDER BY id");
    for row in sql.build().fetch_all(&mut *connection).await? {
        batch.taxonomy_terms.push(TaxonomyTerm {
            id: row.try_get("id")?,
            source_id: row.try_get("x_source_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            code: row.try_get("code")?,
            taxonomy_id: row.try_get("taxonomy_id")?,
            extra: extra(&row)?,
        });
    }
    let taxonomy_ids: BTreeSet<&str> = batch
        .taxonomy_terms
        .iter()
        .filter_map(|term| term.taxonomy_id.as_deref())
        .collect();
    let taxonomy_list: Vec<&str> = taxonomy_ids.into_iter().collect();
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT id, name, description, extra, x_source_id FROM taxonomy WHERE TRUE",
    );
    restrict(&mut sql, "id", &taxonomy_list);
    sql.push(" ORDER BY id");
    for row in sql.build().fetch_all(&mut *connection).await? {
        batch.taxonomies.push(Taxonomy {
            id: row.try_get("id")?,
            source_id: row.try_get("x_source_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            extra: extra(&row)?,
        });
    }
    Ok(batch)
}

fn extra(row: &<Db as sqlx::Database>::Row) -> Result<serde_json::Map<String, serde_json::Value>> {
    let text: String = row.try_get("extra")?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(DirectoryError::Corrupt(format!(
            "a record's extra fields are not a JSON object: {text:.60}"
        ))),
    }
}

type ByOwner<T> = HashMap<(&'static str, String), Vec<T>>;

/// The records whose phones and schedules a page needs.
#[derive(Clone, Copy)]
struct Owners<'a> {
    services: &'a [&'a str],
    organizations: &'a [&'a str],
    locations: &'a [&'a str],
    links: &'a [&'a str],
}

/// `select` for every row, or only for the rows of these owners, each
/// `(column, ids)` in its own branch, since an OR across columns can defeat
/// the indexes.
fn by_owners(select: &str, owners: Option<&[(&str, &[&str])]>) -> QueryBuilder<Db> {
    let mut sql = QueryBuilder::<Db>::new("");
    match owners {
        None => {
            sql.push(select);
        }
        Some(owners) => {
            for (index, (column, ids)) in owners.iter().enumerate() {
                if index > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(select).push(" WHERE ").push(*column).push(" IN ");
                push_list(&mut sql, ids);
            }
        }
    }
    sql.push(" ORDER BY x_position");
    sql
}

async fn phones_by_owner(
    connection: &mut <Db as sqlx::Database>::Connection,
    owners: Option<Owners<'_>>,
) -> Result<ByOwner<Phone>> {
    let mut phones: ByOwner<Phone> = HashMap::new();
    let mut sql = by_owners(
        "SELECT id, organization_id, service_id, location_id, service_at_location_id, number,
            description, extra, x_position FROM phone",
        owners
            .map(|o| {
                [
                    ("service_id", o.services),
                    ("organization_id", o.organizations),
                    ("location_id", o.locations),
                    ("service_at_location_id", o.links),
                ]
            })
            .as_ref()
            .map(|o| o.as_slice()),
    );
    for row in sql.build().fetch_all(&mut *connection).await? {
        let owner = owner_of(&row)?;
        phones.entry(owner).or_default().push(Phone {
            id: row.try_get("id")?,
            number: row.try_get("number")?,
            description: row.try_get("description")?,
            extra: extra(&row)?,
        });
    }
    Ok(phones)
}

async fn schedules_by_owner(
    connection: &mut <Db as sqlx::Database>::Connection,
    owners: Option<Owners<'_>>,
) -> Result<ByOwner<Schedule>> {
    let mut schedules: ByOwner<Schedule> = HashMap::new();
    let mut sql = by_owners(
        "SELECT id, service_id, service_at_location_id, description, extra, x_recurrence,
            x_position FROM schedule",
        owners
            .map(|o| {
                [
                    ("service_id", o.services),
                    ("service_at_location_id", o.links),
                ]
            })
            .as_ref()
            .map(|o| o.as_slice()),
    );
    for row in sql.build().fetch_all(&mut *connection).await? {
        let id: String = row.try_get("id")?;
        let recurrence: Option<String> = row.try_get("x_recurrence")?;
        let recurrence = match recurrence {
            Some(text) => Some(
                serde_json::from_str(&text)
                    .map_err(|err| DirectoryError::Corrupt(format!("schedule {id}: {err}")))?,
            ),
            None => None,
        };
        let owner = owner_of(&row)?;
        schedules.entry(owner).or_default().push(Schedule {
            id,
            description: row.try_get("description")?,
            recurrence,
            extra: extra(&row)?,
        });
    }
    Ok(schedules)
}

fn owner_of(row: &<Db as sqlx::Database>::Row) -> Result<(&'static str, String)> {
    for column in [
        "service_at_location_id",
        "service_id",
        "location_id",
        "organization_id",
    ] {
        if let Some(id) = row.try_get::<Option<String>, _>(column).ok().flatten() {
            let kind = column.trim_end_matches("_id");
            let kind = match kind {
                "service_at_location" => "service_at_location",
                "service" => "service",
                "location" => "location",
                _ => "organization",
            };
            return Ok((kind, id));
        }
    }
    Err(DirectoryError::Corrupt(
        "a phone or schedule belongs to nothing".to_owned(),
    ))
}

/// How many records of each kind the directory holds, and how many
/// services are published.
pub async fn counts(pool: &Pool) -> Result<BTreeMap<&'static str, i64>> {
    let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM organization), (SELECT count(*) FROM service),
                (SELECT count(*) FROM service WHERE x_status = 'published'),
                (SELECT count(*) FROM location), (SELECT count(*) FROM x_occurrence),
                (SELECT count(*) FROM x_outcode)",
    )
    .fetch_one(pool)
    .await?;
    Ok(BTreeMap::from([
        ("organizations", row.0),
        ("services", row.1),
        ("published services", row.2),
        ("locations", row.3),
        ("occurrences", row.4),
        ("outcodes", row.5),
    ]))
}

/// Writes one listing an organisation proposed and staff approved, inside
/// the caller's transaction (the moderation queue's): the batch's one
/// service, published, with its own locations, places and schedules.
///
/// Unlike [`write_batch`], records are matched by id, not by source, so a
/// listing first imported from elsewhere (the sample, a council feed) is
/// changed in place rather than duplicated:
/// - Organisations in the batch are not written: the listing's organisation
///   is already in the directory, and its record belongs to its source.
/// - The service is written under `batch.source` (the portal) with its id as
///   its source id: the organisation now keeps it, so a later import of its
///   old source reports it as taken rather than overwriting the approved
///   version.
/// - A location is written when it is new or already the organisation's own;
///   one that belongs to another organisation, or to none (a shared hall), is
///   linked to but left as it is.
/// - The service's places become exactly those in the batch. A place whose
///   id belongs to another service is refused.
/// - Taxonomies and terms are added when new and left alone otherwise.
/// - Approval confirms the listing: `x_last_confirmed` is `today`.
pub async fn publish_listing(tx: &mut Tx<'_>, batch: &Batch, today: NaiveDate) -> Result<()> {
    let [service] = batch.services.as_slice() else {
        return Err(DirectoryError::Listing(format!(
            "a listing is one service, and this has {}",
            batch.services.len()
        )));
    };
    let source = batch.source.as_str();
    let options = WriteOptions {
        publish: true,
        today,
        valid_for_days: crate::directory::DEFAULT_VALID_FOR_DAYS,
    };
    for taxonomy in &batch.taxonomies {
        sqlx::query(
            "INSERT INTO taxonomy (id, name, description, extra, x_source, x_source_id, x_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&taxonomy.id)
        .bind(&taxonomy.name)
        .bind(&taxonomy.description)
        .bind(json(&taxonomy.extra))
        .bind(source)
        .bind(&taxonomy.id)
        .bind(hash_of(taxonomy))
        .execute(&mut **tx)
        .await?;
    }
    for term in &batch.taxonomy_terms {
        sqlx::query(
            "INSERT INTO taxonomy_term (id, name, description, code, taxonomy_id, extra,
                x_source, x_source_id, x_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&term.id)
        .bind(&term.name)
        .bind(&term.description)
        .bind(&term.code)
        .bind(&term.taxonomy_id)
        .bind(json(&term.extra))
        .bind(source)
        .bind(&term.id)
        .bind(hash_of(term))
        .execute(&mut **tx)
        .await?;
    }
    for location in &batch.locations {
        let owner: Option<(Option<String>,)> =
            sqlx::query_as("SELECT organization_id FROM location WHERE id = $1")
                .bind(&location.id)
                .fetch_optional(&mut **tx)
                .await?;
        let ours = match owner {
            None => true,
            Some((owner,)) => owner.as_deref() == Some(service.organization_id.as_str()),
        };
        if ours {
            let location = Location {
                organization_id: Some(service.organization_id.clone()),
                source_id: location.id.clone(),
                ..location.clone()
            };
            let hash = hash_of(&location);
            write_location(tx, source, &location, &hash).await?;
            sqlx::query("UPDATE location SET x_source = $2, x_source_id = $1 WHERE id = $1")
                .bind(&location.id)
                .bind(source)
                .execute(&mut **tx)
                .await?;
        }
    }
    let service = Service {
        source_id: service.id.clone(),
        last_confirmed: Some(today),
        ..service.clone()
    };
    let hash = hash_of(&service);
    write_service(tx, source, &service, &hash, &options).await?;
    sqlx::query("UPDATE service SET x_source = $2, x_source_id = $1 WHERE id = $1")
        .bind(&service.id)
        .bind(source)
        .execute(&mut **tx)
        .await?;
    let kept: Vec<&str> = batch
        .service_at_locations
        .iter()
        .map(|link| link.id.as_str())
        .collect();
    let current: Vec<String> =
        sqlx::query_scalar("SELECT id FROM service_at_location WHERE service_id = $1")
            .bind(&service.id)
            .fetch_all(&mut **tx)
            .await?;
    for link_id in current.iter().filter(|id| !kept.contains(&id.as_str())) {
        sqlx::query("DELETE FROM service_at_location WHERE id = $1")
            .bind(link_id)
            .execute(&mut **tx)
            .await?;
    }
    for link in &batch.service_at_locations {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT service_id FROM service_at_location WHERE id = $1")
                .bind(&link.id)
                .fetch_optional(&mut **tx)
                .await?;
        if owner.is_some_and(|owner| owner != service.id) {
            return Err(DirectoryError::Listing(format!(
                "the place \"{}\" belongs to another service",
                link.id
            )));
        }
        let link = ServiceAtLocation {
            source_id: link.id.clone(),
            ..link.clone()
        };
        let hash = hash_of(&link);
        write_service_at_location(tx, source, &link, &hash).await?;
        sqlx::query("UPDATE service_at_location SET x_source = $2, x_source_id = $1 WHERE id = $1")
            .bind(&link.id)
            .bind(source)
            .execute(&mut **tx)
            .await?;
    }
    let horizon = current_horizon(tx)
        .await?
        .unwrap_or_else(|| Horizon::from_today(today));
    expand_service(tx, &service.id, horizon).await?;
    index_service_text(tx, &service.id).await?;
    set_horizon(tx, horizon).await?;
    Ok(())
}

/// Takes a listing down at its organisation's request, inside the caller's
/// transaction: its HSDS status becomes `inactive`, which every search
/// leaves out, while the record stays (and exports as inactive). Returns
/// false when there is no such service.
pub async fn withdraw_service(tx: &mut Tx<'_>, service_id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE service SET status = 'inactive' WHERE id = $1")
        .bind(service_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Confirms that one of an organisation's published, active services still
/// runs: it is confirmed `today` and shown until `valid_for_days` later.
/// Returns false when the organisation has no such service.
pub async fn confirm_service(
    pool: &Pool,
    organization_id: &str,
    service_id: &str,
    today: NaiveDate,
    valid_for_days: u32,
) -> Result<bool> {
    let expires = today.checked_add_days(Days::new(u64::from(valid_for_days)));
    let done = sqlx::query(
        "UPDATE service SET x_last_confirmed = $3, x_expires = $4
         WHERE id = $1 AND organization_id = $2 AND x_status = 'published'
            AND status = 'active'",
    )
    .bind(service_id)
    .bind(organization_id)
    .bind(today)
    .bind(expires)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// An organisation's own record, with its phones, if the directory has it.
pub async fn organization(pool: &Pool, id: &str) -> Result<Option<Organization>> {
    let row = sqlx::query(
        "SELECT id, name, description, email, website, extra, x_source_id
         FROM organization WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let phones = sqlx::query(
        "SELECT id, number, description, extra FROM phone
         WHERE organization_id = $1 ORDER BY x_position",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|phone| {
        Ok(Phone {
            id: phone.try_get("id")?,
            number: phone.try_get("number")?,
            description: phone.try_get("description")?,
            extra: extra(phone)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(Organization {
        id: row.try_get("id")?,
        source_id: row.try_get("x_source_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        email: row.try_get("email")?,
        website: row.try_get("website")?,
        phones,
        extra: extra(&row)?,
    }))
}

/// Writes an organisation's profile as it edited it in the portal: from
/// now on the record is the organisation's own (`source`, with its id as
/// its source id), so a later import of its old source does not overwrite
/// it.
pub async fn update_organization(
    pool: &Pool,
    source: &str,
    organization: &Organization,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let organization = Organization {
        source_id: organization.id.clone(),
        ..organization.clone()
    };
    let hash = hash_of(&organization);
    write_organization(&mut tx, source, &organization, &hash).await?;
    sqlx::query("UPDATE organization SET x_source = $2, x_source_id = $1 WHERE id = $1")
        .bind(&organization.id)
        .bind(source)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
