//! Directory searches: the filters, the ranking and the results.
//!
//! The store finds, ranks and pages services in one SQL statement (see
//! `backend::search_page`), so only a page of rows leaves the database;
//! this module holds the query, the result types and the distance sums.
//!
//! Ranking: nearest and soonest first. Results fall into distance bands
//! (within 2 km, 5 km, 10 km, further); within a band the soonest comes
//! first, then the nearest. Phone and online services rank as if they were
//! a short trip away (the 5 km band), and services without dates (a phone
//! line, a befriending scheme) as if they were on today.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};

use crate::search::{Area, Category, DateWindow, SearchRequest, When};

/// How far "near" reaches when nobody says: about six miles.
pub const DEFAULT_RADIUS_KM: f64 = 10.0;

/// A directory search, with every filter the directory understands.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Any of these; empty for all.
    pub categories: BTreeSet<Category>,
    /// Near an outcode or in a town; `None` for anywhere.
    pub near: Option<Area>,
    pub radius_km: f64,
    /// Set by the directory from `near` when it is a town: lower case.
    pub(crate) town: Option<String>,
    /// Local dates, inclusive.
    pub dates: DateRange,
    pub part_of_day: PartOfDay,
    pub free_only: bool,
    pub attendance: Attendance,
    pub step_free_only: bool,
    /// Words to look for in names and descriptions.
    pub text: Option<String>,
    /// For "show more": skip this many results.
    pub offset: usize,
    pub limit: usize,
    /// The local date the search is made on: nothing expired before it shows.
    pub today: NaiveDate,
    /// Leave out occurrences that have already ended (the current time),
    /// when known.
    pub not_before: Option<DateTime<Utc>>,
}

impl SearchQuery {
    /// A search for everything from `today` to the end of the occurrence
    /// horizon, ten at a time.
    pub fn new(today: NaiveDate) -> Self {
        SearchQuery {
            categories: BTreeSet::new(),
            near: None,
            radius_km: DEFAULT_RADIUS_KM,
            town: None,
            dates: DateRange::from_when(When::Any, today),
            part_of_day: PartOfDay::Any,
            free_only: false,
            attendance: Attendance::Any,
            step_free_only: false,
            text: None,
            offset: 0,
            limit: 10,
            today,
            not_before: None,
        }
    }

    /// The search a conversation asked for.
    pub fn from_request(request: &SearchRequest, today: NaiveDate) -> Self {
        let mut query = SearchQuery::new(today);
        query.categories.extend(request.category);
        query.near = request.area.clone();
        query.dates = DateRange::from_when(request.when, today);
        if let Some(radius) = request.radius_km {
            query.radius_km = f64::from(radius);
        }
        query.attendance = match (request.online_only, request.include_online) {
            (true, _) => Attendance::Online,
            (false, true) => Attendance::Any,
            (false, false) => Attendance::InPerson,
        };
        query.offset = usize::from(request.page) * usize::from(request.limit);
        query.limit = usize::from(request.limit);
        query
    }
}

/// A plain listing of the services people may see (published, active,
/// unexpired), for reuse by other directories: no dates and no ranking by
/// time, so a page holds the same services whenever it is asked for.
///
/// Services are in name order, or nearest first when `near` is given.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceListQuery {
    /// Words to look for in names and descriptions, as [`SearchQuery::text`].
    pub text: Option<String>,
    /// Only services with an attribute naming this taxonomy term.
    pub taxonomy_term_id: Option<String>,
    /// Only services at a place within `radius_km` of this area's centre.
    pub near: Option<Area>,
    pub radius_km: f64,
    /// Skip this many services.
    pub offset: usize,
    pub limit: usize,
    /// The local date: nothing that expired before it is listed.
    pub today: NaiveDate,
}

impl ServiceListQuery {
    /// Every service people may see on `today`, twenty at a time.
    pub fn new(today: NaiveDate) -> Self {
        ServiceListQuery {
            text: None,
            taxonomy_term_id: None,
            near: None,
            radius_km: DEFAULT_RADIUS_KM,
            offset: 0,
            limit: 20,
            today,
        }
    }
}

/// A page of a [`ServiceListQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceList {
    /// The page's services, whole, in the list's order, with what they
    /// refer to (organisations, places, taxonomy terms), for
    /// [`crate::directory::export::hsds_services`].
    pub page: super::model::Batch,
    /// How many services match in all.
    pub total: usize,
    /// Whether the area asked about has a centre the directory knows.
    pub area: AreaMatch,
}

/// An inclusive range of local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl DateRange {
    /// The dates a `When` covers; "any" runs to the horizon.
    pub fn from_when(when: When, today: NaiveDate) -> Self {
        let DateWindow { first, last } = when.window(today);
        let horizon = Horizon::from_today(today).last;
        DateRange {
            first,
            last: last.unwrap_or(horizon).min(horizon),
        }
    }
}

/// The part of the day an occurrence starts in, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartOfDay {
    #[default]
    Any,
    /// Starting from 9am and before 5pm.
    Daytime,
    /// Starting from 5pm.
    Evening,
}

impl PartOfDay {
    /// The first and last minute after midnight a start may fall on.
    pub(crate) fn minutes(self) -> (u32, u32) {
        match self {
            PartOfDay::Any => (0, 24 * 60 - 1),
            PartOfDay::Daytime => (9 * 60, 17 * 60 - 1),
            PartOfDay::Evening => (17 * 60, 24 * 60 - 1),
        }
    }
}

/// In person, remote, or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attendance {
    #[default]
    Any,
    InPerson,
    Online,
}

/// How far ahead occurrences are expanded: from yesterday (so "today" is
/// whole near midnight) to twelve weeks ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// Weeks of occurrences kept ahead of today.
pub const HORIZON_WEEKS: u64 = 12;

impl Horizon {
    pub fn from_today(today: NaiveDate) -> Self {
        Horizon {
            first: today.checked_sub_days(Days::new(1)).unwrap_or(today),
            last: today
                .checked_add_days(Days::new(HORIZON_WEEKS * 7))
                .unwrap_or(today),
        }
    }
}

/// A service (at its best place) on the page of results.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub service_id: String,
    pub link_id: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The next start in the window, seconds since 1970 UTC.
    pub next_start: Option<i64>,
}

/// The rest of what a card shows, fetched for the page only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageDetail {
    pub name: String,
    pub description: Option<String>,
    pub url: Option<String>,
    pub email: Option<String>,
    pub fees_description: Option<String>,
    pub application_process: Option<String>,
    pub free: Option<bool>,
    pub online: bool,
    pub organization: String,
    /// Location name, step-free, first address line, town, postcode.
    #[allow(clippy::type_complexity)]
    pub place: Option<(
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<String>,
    )>,
    /// Number and description, nearest first (place, service, organisation).
    pub phones: Vec<(String, Option<String>)>,
    /// Description and recurrence JSON of each schedule.
    pub schedules: Vec<(Option<String>, Option<String>)>,
    pub next: Option<OccurrenceDetail>,
    /// What the service's attributes say about being welcome.
    pub welcome: Vec<crate::directory::model::WelcomeFact>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OccurrenceDetail {
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub local_date: NaiveDate,
    pub local_minute: i64,
    pub all_day: bool,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// This page of results, best first.
    pub listings: Vec<Listing>,
    /// How many matched in all, for "show more".
    pub total: usize,
    /// Whether the place asked about is known.
    pub area: AreaMatch,
}

/// Whether the directory knows the place a search was near.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaMatch {
    NotGiven,
    Known,
    /// An outcode or town the directory has no place for: the person
    /// probably mistyped it, or it is outside the area we cover.
    Unknown,
}

/// One search result, as a card shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub service_id: String,
    pub title: String,
    pub description: Option<String>,
    pub organisation: String,
    /// `None` for phone and online services.
    pub place: Option<Place>,
    /// From the centre of the area searched, when both are known.
    pub distance_km: Option<f64>,
    pub online: bool,
    /// The next time it happens within the dates searched; `None` for
    /// services without dates.
    pub next: Option<NextTime>,
    /// The pattern in words, such as "Every Tuesday, 10am to 12pm".
    pub pattern: Option<String>,
    /// When an undated service is available, in the publisher's words.
    pub availability: Option<String>,
    pub cost: Option<String>,
    pub free: Option<bool>,
    /// Phone numbers, each with how to use it ("Text").
    pub phones: Vec<(String, Option<String>)>,
    pub email: Option<String>,
    pub url: Option<String>,
    pub how_to_join: Option<String>,
    /// Hearing loop, fine to come alone, someone will meet you.
    pub welcome: Vec<crate::directory::model::WelcomeFact>,
}

/// Where an activity happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub name: Option<String>,
    pub address: Option<String>,
    pub town: Option<String>,
    pub postcode: Option<String>,
    pub step_free: Option<bool>,
}

/// A dated occurrence, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTime {
    pub date: NaiveDate,
    pub start: Option<NaiveTime>,
    pub end: Option<NaiveTime>,
}

/// Distance between two points on the Earth, in kilometres (haversine).
pub fn distance_km(from: (f64, f64), to: (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lon1) = (from.0.to_radians(), from.1.to_radians());
    let (lat2, lon2) = (to.0.to_radians(), to.1.to_radians());
    let a = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// South, north, west and east edges of a box holding the circle.
pub(crate) fn bounding_box(centre: (f64, f64), radius_km: f64) -> [f64; 4] {
    let lat_span = radius_km / 111.0;
    let lon_span = radius_km / (111.0 * centre.0.to_radians().cos().abs().max(0.01));
    [
        centre.0 - lat_span,
        centre.0 + lat_span,
        centre.1 - lon_span,
        centre.1 + lon_span,
    ]
}

/// Reads a `--when` such as `this-week`, `evenings`, `this-weekend,daytime`
/// or `2026-12-01..2026-12-07`: the dates and the part of the day.
pub fn parse_when(text: &str, today: NaiveDate) -> Result<(DateRange, PartOfDay), String> {
    let mut dates = None;
    let mut part = PartOfDay::Any;
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let range = match word {
            "evenings" | "evening" => {
                part = PartOfDay::Evening;
                continue;
            }
            "daytime" => {
                part = PartOfDay::Daytime;
                continue;
            }
            _ => match When::from_slug(word) {
                Some(when) => DateRange::from_when(when, today),
                None => date_range(word, today)?,
            },
        };
        if dates.replace(range).is_some() {
            return Err(format!("\"{text}\" gives two sets of dates: give one"));
        }
    }
    Ok((
        dates.unwrap_or_else(|| DateRange::from_when(When::Any, today)),
        part,
    ))
}

fn date_range(word: &str, today: NaiveDate) -> Result<DateRange, String> {
    let unknown = || {
        format!(
            "\"{word}\" is not a time I know: use {}, evenings, daytime or \
             dates such as 2026-12-01..2026-12-07",
            When::all_slugs()
        )
    };
    let (first, last) = word.split_once("..").unwrap_or((word, word));
    let parse = |d: &str| d.trim().parse::<NaiveDate>().map_err(|_| unknown());
    let (first, last) = (parse(first)?, parse(last)?);
    let horizon = Horizon::from_today(today);
    if last < first {
        return Err(format!("\"{word}\" ends before it starts"));
    }
    if first > horizon.last || last < today {
        return Err(format!(
            "\"{word}\" is outside the dates I know about: from today to {}",
            horizon.last
        ));
    }
    Ok(DateRange {
        first: first.max(today),
        last: last.min(horizon.last),
    })
}

/// A listing as JSON, for `directory search --format json`.
pub fn listing_json(listing: &Listing) -> serde_json::Value {
    serde_json::json!({
        "service_id": listing.service_id,
        "name": listing.title,
        "description": listing.description,
        "organization": listing.organisation,
        "place": listing.place.as_ref().map(|p| serde_json::json!({
            "name": p.name, "address": p.address, "town": p.town,
            "postcode": p.postcode, "step_free": p.step_free,
        })),
        "distance_km": listing.distance_km.map(|d| (d * 10.0).round() / 10.0),
        "online": listing.online,
        "next": listing.next.map(|n| serde_json::json!({
            "date": n.date.to_string(),
            "start": n.start.map(|t| t.format("%H:%M").to_string()),
            "end": n.end.map(|t| t.format("%H:%M").to_string()),
        })),
        "pattern": listing.pattern,
        "availability": listing.availability,
        "cost": listing.cost,
        "free": listing.free,
        "phones": listing.phones.iter().map(|(n, d)| serde_json::json!({"number": n, "description": d})).collect::<Vec<_>>(),
        "email": listing.email,
        "url": listing.url,
        "how_to_join": listing.how_to_join,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUDDERSFIELD: (f64, f64) = (53.6458, -1.7850);
    const MARSDEN: (f64, f64) = (53.6010, -1.9290);

    #[test]
    fn distances_match_the_map() {
        let km = distance_km(HUDDERSFIELD, MARSDEN);
        assert!((10.0..11.0).contains(&km), "{km}");
        assert!(distance_km(HUDDERSFIELD, HUDDERSFIELD) < 1e-9);
    }

    #[test]
    fn the_box_holds_the_circle() {
        let [south, north, west, east] = bounding_box(HUDDERSFIELD, 10.0);
        for bearing in 0..36 {
            let angle = f64::from(bearing) * 10f64.to_radians();
            let point = (
                HUDDERSFIELD.0 + 9.9 / 111.0 * angle.cos(),
                HUDDERSFIELD.1 + 9.9 / (111.0 * HUDDERSFIELD.0.to_radians().cos()) * angle.sin(),
            );
            assert!(distance_km(HUDDERSFIELD, point) <= 10.0);
            assert!((south..=north).contains(&point.0) && (west..=east).contains(&point.1));
        }
    }

    #[test]
    fn when_reads_words_parts_of_the_day_and_date_ranges() {
        let today: NaiveDate = "2026-11-24".parse().unwrap();
        let (dates, part) = parse_when("this-week,evenings", today).unwrap();
        assert_eq!(dates.first, today);
        assert_eq!(dates.last, "2026-11-30".parse().unwrap());
        assert_eq!(part, PartOfDay::Evening);
        let (dates, _) = parse_when("2026-12-01..2026-12-07", today).unwrap();
        assert_eq!(
            (dates.first, dates.last),
            ("2026-12-01".parse().unwrap(), "2026-12-07".parse().unwrap())
        );
        assert!(
            parse_when("someday", today)
                .unwrap_err()
                .contains("not a time I know")
        );
        assert!(
            parse_when("2026-12-07..2026-12-01", today)
                .unwrap_err()
                .contains("ends before")
        );
        assert!(
            parse_when("today,tomorrow", today)
                .unwrap_err()
                .contains("two sets")
        );
    }
}
