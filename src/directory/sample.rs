//! The bundled sample directory: made-up Kirklees groups for demos and tests.
//!
//! Invariant: sample records carry the source `sample`, and loading them
//! replaces every earlier sample record in one transaction, so loading twice
//! leaves the same directory as loading once.

use serde::Deserialize;
use sqlx::SqlitePool;

use super::DirectoryError;
use crate::search::{Area, Category};

/// The sample data, compiled into the binary so `--demo` works anywhere.
const SAMPLE: &str = include_str!("sample.toml");

/// Marks every sample record, so it can be told apart and replaced.
const SOURCE: &str = "sample";

/// How much was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSummary {
    pub organisations: usize,
    pub places: usize,
    pub activities: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleFile {
    organisation: Vec<Organisation>,
    place: Vec<Place>,
    activity: Vec<Activity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Organisation {
    key: String,
    name: String,
    description: Option<String>,
    website: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Place {
    key: String,
    name: String,
    address: Option<String>,
    postcode: Option<String>,
    area: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    step_free: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Activity {
    title: String,
    organisation: String,
    place: Option<String>,
    #[serde(default)]
    online: bool,
    categories: Vec<String>,
    description: Option<String>,
    schedule: Schedule,
    cost: Option<String>,
    #[serde(default)]
    free: bool,
    contact: Option<String>,
    how_to_join: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Schedule {
    weekly: Option<String>,
    once: Option<String>,
    ongoing: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

pub(super) async fn load(pool: &SqlitePool) -> Result<SampleSummary, DirectoryError> {
    let sample: SampleFile =
        toml::from_str(SAMPLE).map_err(|err| DirectoryError::Sample(err.to_string()))?;
    let mut tx = pool.begin().await?;
    // Activities and their categories go with their organisations (cascade).
    sqlx::query("DELETE FROM organisation WHERE source = ?1")
        .bind(SOURCE)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM place WHERE source = ?1")
        .bind(SOURCE)
        .execute(&mut *tx)
        .await?;

    let mut organisations = std::collections::HashMap::new();
    for org in &sample.organisation {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organisation (source, source_id, name, description, website, phone, email)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )
        .bind(SOURCE)
        .bind(&org.key)
        .bind(&org.name)
        .bind(&org.description)
        .bind(&org.website)
        .bind(&org.phone)
        .bind(&org.email)
        .fetch_one(&mut *tx)
        .await?;
        organisations.insert(org.key.as_str(), id);
    }

    let mut places = std::collections::HashMap::new();
    for place in &sample.place {
        let outcode = match place.postcode.as_deref().and_then(Area::parse) {
            Some(Area::Outcode(code)) => Some(code),
            _ => None,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO place (source, source_id, name, address, postcode, outcode, area,
                                latitude, longitude, step_free)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
        )
        .bind(SOURCE)
        .bind(&place.key)
        .bind(&place.name)
        .bind(&place.address)
        .bind(&place.postcode)
        .bind(outcode)
        .bind(&place.area)
        .bind(place.latitude)
        .bind(place.longitude)
        .bind(place.step_free)
        .fetch_one(&mut *tx)
        .await?;
        places.insert(place.key.as_str(), id);
    }

    for (number, activity) in sample.activity.iter().enumerate() {
        let broken =
            |why: String| DirectoryError::Sample(format!("activity \"{}\": {why}", activity.title));
        let organisation = *organisations
            .get(activity.organisation.as_str())
            .ok_or_else(|| {
                broken(format!(
                    "unknown organisation \"{}\"",
                    activity.organisation
                ))
            })?;
        let place = match &activity.place {
            Some(key) => Some(
                *places
                    .get(key.as_str())
                    .ok_or_else(|| broken(format!("unknown place \"{key}\"")))?,
            ),
            None => None,
        };
        let s = &activity.schedule;
        let (kind, weekday, on_date) = match (&s.weekly, &s.once, &s.ongoing) {
            (Some(day), None, None) => {
                let weekday: chrono::Weekday = day
                    .parse()
                    .map_err(|_| broken(format!("unknown weekday \"{day}\"")))?;
                ("weekly", Some(weekday.number_from_monday()), None)
            }
            (None, Some(date), None) => {
                date.parse::<chrono::NaiveDate>()
                    .map_err(|_| broken(format!("bad date \"{date}\"")))?;
                ("once", None, Some(date.as_str()))
            }
            (None, None, Some(_)) => ("ongoing", None, None),
            _ => {
                return Err(broken(
                    "schedule needs exactly one of weekly, once and ongoing".into(),
                ));
            }
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO activity (source, source_id, organisation_id, place_id, title,
                description, online, schedule_kind, weekday, on_date, start_time, end_time,
                availability, cost, free, contact, how_to_join)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             RETURNING id",
        )
        .bind(SOURCE)
        .bind(format!("activity-{}", number + 1))
        .bind(organisation)
        .bind(place)
        .bind(&activity.title)
        .bind(&activity.description)
        .bind(activity.online)
        .bind(kind)
        .bind(weekday)
        .bind(on_date)
        .bind(&s.start)
        .bind(&s.end)
        .bind(&s.ongoing)
        .bind(&activity.cost)
        .bind(activity.free)
        .bind(&activity.contact)
        .bind(&activity.how_to_join)
        .fetch_one(&mut *tx)
        .await?;
        for slug in &activity.categories {
            let category = Category::from_slug(slug)
                .ok_or_else(|| broken(format!("unknown category \"{slug}\"")))?;
            sqlx::query("INSERT INTO activity_category (activity_id, category) VALUES (?1, ?2)")
                .bind(id)
                .bind(category.slug())
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(SampleSummary {
        organisations: sample.organisation.len(),
        places: sample.place.len(),
        activities: sample.activity.len(),
    })
}
