//! The directory's records, shaped after Open Referral HSDS 3.0.
//!
//! Importers turn a file into a [`Batch`] of these records; the store writes
//! a batch in one transaction; the exporter writes them back out as HSDS.
//! Nothing here does I/O.
//!
//! Invariant: every HSDS field a record arrived with is kept, either in a
//! typed field (the ones the bot searches or shows) or verbatim in `extra`
//! (the rest), so an export gives back what an import took in. Our own
//! additions are the `x_` fields of HSDS's extension rule: where a record came
//! from, its moderation status, its expiry, the categories people search by
//! and the full iCalendar rule of a schedule.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::recurrence::Recurrence;
use crate::search::Category;

/// HSDS fields we keep but do not look inside, by their HSDS names.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// Everything one file held, ready to be written in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Batch {
    /// Where the records came from, such as `kirklees-services` or `sample`:
    /// with each record's `source_id`, it is how a re-import finds the record
    /// it imported last time.
    pub source: String,
    pub organizations: Vec<Organization>,
    pub services: Vec<Service>,
    pub locations: Vec<Location>,
    pub service_at_locations: Vec<ServiceAtLocation>,
    pub taxonomies: Vec<Taxonomy>,
    pub taxonomy_terms: Vec<TaxonomyTerm>,
    /// Records the importer left out on purpose, each with its reason.
    pub skipped: Vec<Skipped>,
}

/// A record an importer left out, and why, in words for the person importing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Which record, as the person would find it in the file: `service
    /// "ac14…" ("Community Counselling")`, `VEVENT "abc@example" at line 40`.
    pub record: String,
    pub reason: String,
}

/// Whether staff have checked a listing. Only published services reach the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Moderation {
    #[default]
    Pending,
    Published,
    Rejected,
}

impl Moderation {
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Pending => "pending",
            Moderation::Published => "published",
            Moderation::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Moderation::Pending),
            "published" => Some(Moderation::Published),
            "rejected" => Some(Moderation::Rejected),
            _ => None,
        }
    }
}

/// HSDS `organization`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: String,
    pub source_id: String,
    pub name: String,
    /// Plain text: importers turn HTML into text before it gets here.
    pub description: String,
    pub email: Option<String>,
    pub website: Option<String>,
    pub phones: Vec<Phone>,
    pub extra: Extra,
}

/// HSDS `service`: what the bot calls an activity or a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub id: String,
    pub source_id: String,
    pub organization_id: String,
    pub name: String,
    /// Plain text.
    pub description: Option<String>,
    pub url: Option<String>,
    pub email: Option<String>,
    /// HSDS status: active, inactive, defunct or temporarily closed. Only
    /// active services are shown.
    pub status: String,
    /// HSDS `fees_description`, plain text, such as "£2 for tea and cake".
    pub fees_description: Option<String>,
    /// `x_free`: true when it costs nothing (HSDS expresses this only as text
    /// or cost options, so importers work it out where they can).
    pub free: Option<bool>,
    /// HSDS `application_process`: how to go along or join.
    pub application_process: Option<String>,
    /// `x_online`: can be used from anywhere, by phone or online.
    pub online: bool,
    pub phones: Vec<Phone>,
    pub schedules: Vec<Schedule>,
    pub attributes: Vec<Attribute>,
    /// `x_categories`: what people search by, from the importer's mapping of
    /// the record's taxonomy terms (and the `--category` of an import).
    pub categories: BTreeSet<Category>,
    /// `x_status`: set by the store, not the importer.
    pub moderation: Moderation,
    /// `x_last_confirmed`: when the organisation last said it is still right.
    pub last_confirmed: Option<NaiveDate>,
    /// `x_expires`: the last day the bot may show it without a new check.
    pub expires: Option<NaiveDate>,
    pub extra: Extra,
}

/// HSDS `location`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub id: String,
    pub source_id: String,
    /// HSDS `location_type`: physical, postal or virtual.
    pub location_type: String,
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// WGS84 degrees; importers refuse values out of range.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// `x_step_free`: from HSDS `accessibility` where it says so.
    pub step_free: Option<bool>,
    pub addresses: Vec<Address>,
    pub phones: Vec<Phone>,
    pub extra: Extra,
}

/// HSDS `address`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    pub id: String,
    pub address_1: String,
    pub address_2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub state_province: String,
    pub postal_code: String,
    pub country: String,
    /// physical, postal or virtual.
    pub address_type: String,
    pub extra: Extra,
}

/// HSDS `service_at_location`: a service offered at a place.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceAtLocation {
    pub id: String,
    pub source_id: String,
    pub service_id: String,
    pub location_id: String,
    pub description: Option<String>,
    pub schedules: Vec<Schedule>,
    pub phones: Vec<Phone>,
    pub extra: Extra,
}

/// HSDS `phone`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phone {
    pub id: String,
    pub number: String,
    pub description: Option<String>,
    pub extra: Extra,
}

/// HSDS `schedule`. The HSDS fields (freq, byday, opens_at, ...) stay in
/// `extra` as they came; `recurrence` is the full rule we expand from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub id: String,
    pub description: Option<String>,
    /// `x_recurrence`: `None` when the schedule is only words ("Ring to
    /// book") or opening hours we cannot place on a calendar.
    pub recurrence: Option<Recurrence>,
    pub extra: Extra,
}

/// HSDS `attribute`: a link from a record to a taxonomy term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    pub id: String,
    pub taxonomy_term_id: String,
    pub value: Option<String>,
    pub extra: Extra,
}

/// HSDS `taxonomy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Taxonomy {
    pub id: String,
    pub source_id: String,
    pub name: String,
    pub description: String,
    pub extra: Extra,
}

/// HSDS `taxonomy_term`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaxonomyTerm {
    pub id: String,
    pub source_id: String,
    pub name: String,
    pub description: String,
    pub code: Option<String>,
    pub taxonomy_id: Option<String>,
    pub extra: Extra,
}

/// The id a record gets in our directory: its own id when that is a UUID (as
/// HSDS asks), so exports keep the publisher's ids; otherwise (iCalendar
/// UIDs, sample keys) a UUID derived from where it came from, so importing
/// the same record again gives the same id.
pub fn record_id(source: &str, kind: &str, source_id: &str) -> String {
    if let Ok(uuid) = uuid::Uuid::parse_str(source_id)
        && source_id.len() == 36
    {
        return uuid.hyphenated().to_string();
    }
    derived_id(source, kind, source_id)
}

/// What a listing can say about being welcome, beyond step-free access: a
/// service attribute whose term has a fixed id in the "Signpost welcome"
/// taxonomy, the same in every directory whatever source it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WelcomeFact {
    HearingLoop,
    FineToComeAlone,
    SomeoneWillMeetYou,
}

impl WelcomeFact {
    pub const ALL: [WelcomeFact; 3] = [
        WelcomeFact::HearingLoop,
        WelcomeFact::FineToComeAlone,
        WelcomeFact::SomeoneWillMeetYou,
    ];

    /// The taxonomy its term belongs to.
    pub const TAXONOMY: &str = "Signpost welcome";

    /// Its short name in forms and in its term id.
    pub fn key(self) -> &'static str {
        match self {
            WelcomeFact::HearingLoop => "hearing_loop",
            WelcomeFact::FineToComeAlone => "come_alone",
            WelcomeFact::SomeoneWillMeetYou => "met_at_door",
        }
    }

    /// Its term's name.
    pub fn name(self) -> &'static str {
        match self {
            WelcomeFact::HearingLoop => "Hearing loop",
            WelcomeFact::FineToComeAlone => "Fine to come alone",
            WelcomeFact::SomeoneWillMeetYou => "Someone will meet you",
        }
    }

    /// How the bot's card says it.
    pub fn words(self) -> &'static str {
        match self {
            WelcomeFact::HearingLoop => "hearing loop",
            WelcomeFact::FineToComeAlone => "fine to come alone",
            WelcomeFact::SomeoneWillMeetYou => "someone will meet you",
        }
    }

    /// Its term's id.
    pub fn term_id(self) -> String {
        derived_id("signpost", "taxonomy_term", self.key())
    }
}

/// A UUID derived from the source, record kind and source id, whatever the
/// source id looks like.
pub fn derived_id(source: &str, kind: &str, source_id: &str) -> String {
    let name = format!("{source}\u{1f}{kind}\u{1f}{source_id}");
    uuid::Uuid::new_v5(&NAMESPACE, name.as_bytes())
        .hyphenated()
        .to_string()
}

/// Signpost's namespace for derived ids (a v4 UUID picked once, never changed).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f3c_1d2e_8a4b_4c7d_9e0f_1a2b_3c4d_5e6f);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_are_kept_and_other_ids_are_derived_the_same_way_every_time() {
        let kept = record_id("feed", "service", "AC148810-D857-441C-9679-408F346DE14B");
        assert_eq!(kept, "ac148810-d857-441c-9679-408f346de14b");
        let derived = record_id("cal", "service", "event-1@example.org");
        assert_eq!(derived, record_id("cal", "service", "event-1@example.org"));
        assert_ne!(
            derived,
            record_id("other", "service", "event-1@example.org")
        );
        assert_ne!(derived, record_id("cal", "location", "event-1@example.org"));
        assert!(uuid::Uuid::parse_str(&derived).is_ok());
    }
}
