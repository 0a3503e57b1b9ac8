//! The bundled sample directory: made-up Kirklees groups for demos and tests.
//!
//! Invariant: sample records carry the source `sample` and keep their ids,
//! so loading twice leaves the same directory as loading once.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::Deserialize;

use super::DirectoryError;
use super::model::{
    self, Address, Batch, Extra, Location, Moderation, Organization, Phone, Schedule, Service,
    ServiceAtLocation,
};
use super::recurrence::Recurrence;
use crate::search::Category;

/// The sample data, compiled into the binary so `--demo` works anywhere.
const SAMPLE: &str = include_str!("sample.toml");

/// Marks every sample record, so it can be told apart and replaced.
const SOURCE: &str = "sample";

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
    schedule: RawSchedule,
    cost: Option<String>,
    #[serde(default)]
    free: bool,
    contact: Option<String>,
    how_to_join: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    weekly: Option<String>,
    once: Option<String>,
    ongoing: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// The sample directory as a batch of records, ready to write.
pub(super) fn batch() -> Result<Batch, DirectoryError> {
    let sample: SampleFile =
        toml::from_str(SAMPLE).map_err(|err| DirectoryError::Sample(err.to_string()))?;
    let id = |kind: &str, key: &str| model::record_id(SOURCE, kind, key);
    let mut batch = Batch {
        source: SOURCE.to_owned(),
        ..Batch::default()
    };
    for org in &sample.organisation {
        batch.organizations.push(Organization {
            id: id("organization", &org.key),
            source_id: org.key.clone(),
            name: org.name.clone(),
            description: org.description.clone().unwrap_or_default(),
            email: org.email.clone(),
            website: org.website.clone(),
            phones: org
                .phone
                .iter()
                .map(|number| phone(&id("phone", &org.key), number, None))
                .collect(),
            extra: Extra::new(),
        });
    }
    for place in &sample.place {
        let address = place.address.as_ref().map(|line| Address {
            id: id("address", &place.key),
            address_1: line.clone(),
            address_2: None,
            city: place.area.clone(),
            region: None,
            state_province: "West Yorkshire".to_owned(),
            postal_code: place.postcode.clone().unwrap_or_default(),
            country: "GB".to_owned(),
            address_type: "physical".to_owned(),
            extra: Extra::new(),
        });
        batch.locations.push(Location {
            id: id("location", &place.key),
            source_id: place.key.clone(),
            location_type: "physical".to_owned(),
            organization_id: None,
            name: Some(place.name.clone()),
            description: None,
            latitude: place.latitude,
            longitude: place.longitude,
            step_free: place.step_free,
            addresses: address.into_iter().collect(),
            phones: Vec::new(),
            extra: Extra::new(),
        });
    }
    let places: HashMap<&str, String> = sample
        .place
        .iter()
        .map(|p| (p.key.as_str(), id("location", &p.key)))
        .collect();
    let organisations: HashMap<&str, String> = sample
        .organisation
        .iter()
        .map(|o| (o.key.as_str(), id("organization", &o.key)))
        .collect();

    for activity in &sample.activity {
        let key = format!("{}/{}", activity.organisation, activity.title);
        let broken = |why: String| DirectoryError::Sample(format!("activity \"{key}\": {why}"));
        let organization_id = organisations
            .get(activity.organisation.as_str())
            .ok_or_else(|| broken("unknown organisation".into()))?
            .clone();
        let mut categories = BTreeSet::new();
        for slug in &activity.categories {
            categories.insert(
                Category::from_slug(slug)
                    .ok_or_else(|| broken(format!("unknown category \"{slug}\"")))?,
            );
        }
        let schedule = schedule(&activity.schedule, id("schedule", &key)).map_err(broken)?;
        let (phones, email) = contact(
            activity.contact.as_deref().unwrap_or(""),
            &id("phone", &key),
        );
        let service_id = id("service", &key);
        batch.services.push(Service {
            id: service_id.clone(),
            source_id: key.clone(),
            organization_id,
            name: activity.title.clone(),
            description: activity.description.clone(),
            url: None,
            email,
            status: "active".to_owned(),
            fees_description: activity.cost.clone(),
            free: Some(activity.free),
            application_process: activity.how_to_join.clone(),
            online: activity.online || activity.place.is_none(),
            phones,
            schedules: vec![schedule],
            attributes: Vec::new(),
            categories,
            moderation: Moderation::Published,
            last_confirmed: None,
            expires: None,
            extra: Extra::new(),
        });
        if let Some(place) = &activity.place {
            let location_id = places
                .get(place.as_str())
                .ok_or_else(|| broken(format!("unknown place \"{place}\"")))?
                .clone();
            batch.service_at_locations.push(ServiceAtLocation {
                id: id("service_at_location", &key),
                source_id: key.clone(),
                service_id,
                location_id,
                description: None,
                schedules: Vec::new(),
                phones: Vec::new(),
                extra: Extra::new(),
            });
        }
    }
    Ok(batch)
}

/// A sample schedule as a rule: weekly from the first such day of 2026.
fn schedule(raw: &RawSchedule, id: String) -> Result<Schedule, String> {
    let time = |t: &Option<String>| -> Result<Option<NaiveTime>, String> {
        t.as_deref()
            .map(|t| NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| format!("bad time \"{t}\"")))
            .transpose()
    };
    let (start, end) = (time(&raw.start)?, time(&raw.end)?);
    let duration_minutes = start
        .zip(end)
        .and_then(|(s, e)| u32::try_from((e - s).num_minutes()).ok());
    let recurrence = |date: NaiveDate, rules: Vec<String>| -> Result<Recurrence, String> {
        let start = start.ok_or("a dated activity needs a start time")?;
        Ok(Recurrence {
            timezone: "Europe/London".to_owned(),
            start: date.and_time(start),
            all_day: false,
            duration_minutes,
            rules,
            extra_dates: Vec::new(),
            excluded_dates: Vec::new(),
            changed: Vec::new(),
        })
    };
    let (recurrence, description) = match (&raw.weekly, &raw.once, &raw.ongoing) {
        (Some(day), None, None) => {
            let weekday: Weekday = day
                .parse()
                .map_err(|_| format!("unknown weekday \"{day}\""))?;
            let first = NaiveDate::from_weekday_of_month_opt(2026, 1, weekday, 1)
                .ok_or("no such weekday")?;
            let byday = &format!("{weekday}").to_uppercase()[..2];
            (
                Some(recurrence(
                    first,
                    vec![format!("FREQ=WEEKLY;BYDAY={byday}")],
                )?),
                None,
            )
        }
        (None, Some(date), None) => {
            let date: NaiveDate = date.parse().map_err(|_| format!("bad date \"{date}\""))?;
            (Some(recurrence(date, Vec::new())?), None)
        }
        (None, None, Some(text)) => (None, Some(text.clone())),
        _ => return Err("schedule needs exactly one of weekly, once and ongoing".into()),
    };
    Ok(Schedule {
        id,
        description,
        recurrence,
        extra: Extra::new(),
    })
}

/// Splits "Text 07700 900236 or email play@example.com" into a phone (with
/// how to use it) and an email address.
fn contact(text: &str, phone_id: &str) -> (Vec<Phone>, Option<String>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let email = words
        .iter()
        .find(|w| w.contains('@'))
        .map(|w| w.trim_end_matches(['.', ',']).to_owned());
    let mut phones = Vec::new();
    let mut index = 0;
    while index < words.len() {
        if words[index].starts_with('0') && words[index].chars().all(|c| c.is_ascii_digit()) {
            let mut number = vec![words[index]];
            while let Some(next) = words.get(index + number.len())
                && next.chars().all(|c| c.is_ascii_digit())
            {
                number.push(next);
            }
            let verb = index
                .checked_sub(1)
                .map(|i| words[i])
                .filter(|w| ["Text", "Call", "Ring"].contains(w))
                .map(str::to_owned);
            let mut shown = number.join(" ");
            // Keep a note such as "(free to call)" with its number.
            let after = index + number.len();
            if words.get(after).is_some_and(|w| w.starts_with('(')) {
                let close = (after..words.len())
                    .find(|&i| words[i].ends_with(')'))
                    .unwrap_or(after);
                shown.push(' ');
                shown.push_str(&words[after..=close].join(" "));
            }
            phones.push(phone(
                &format!("{phone_id}-{}", phones.len() + 1),
                &shown,
                verb,
            ));
            index += number.len();
        } else {
            index += 1;
        }
    }
    (phones, email)
}

fn phone(id: &str, number: &str, description: Option<String>) -> Phone {
    Phone {
        id: model::derived_id(SOURCE, "phone", id),
        number: number.to_owned(),
        description,
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_directory_is_whole() {
        let batch = batch().unwrap();
        assert_eq!(batch.organizations.len(), 18);
        assert_eq!(batch.locations.len(), 19);
        assert_eq!(batch.services.len(), 45);
        assert!(batch.skipped.is_empty());
    }

    #[test]
    fn contact_text_becomes_phones_and_an_email() {
        let (phones, email) = contact("Text 07700 900236 or email play@club.example.com", "p");
        assert_eq!(phones.len(), 1);
        assert_eq!(phones[0].number, "07700 900236");
        assert_eq!(phones[0].description.as_deref(), Some("Text"));
        assert_eq!(email.as_deref(), Some("play@club.example.com"));
    }
}
