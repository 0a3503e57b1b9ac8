//! An activity as an organisation describes it in the portal's form, and
//! the HSDS 3.0 listing it becomes.
//!
//! The form asks what a nervous first-timer would ask, in plain fields:
//! what it is, when, where, what it costs, whether they can get in and will
//! be welcome, and how to go. [`ActivityForm`] holds the fields as typed, so
//! a form with a problem comes back as it was sent; [`ActivityForm::check`]
//! reads them into an [`Activity`] or names each problem by its field; and
//! [`Activity::to_listing`] writes the one-service HSDS JSON the moderation
//! queue takes (where the directory's importer checks it again).
//! [`ActivityForm::from_listing`] fills the form from a service in the
//! directory, for editing.
//!
//! Invariants:
//! - Pure: no I/O and no clock; today's date and a place's map position are
//!   passed in.
//! - Standard HSDS fields say whatever HSDS can (`freq`, `byday`,
//!   `opens_at`, addresses), so other directories read the listing; our
//!   `x_` extensions carry the rest (`x_recurrence` with the dates left
//!   out, `x_categories`, `x_step_free`, `x_free`, `x_online`), as the
//!   exporter writes them and the importer reads them back.
//! - The place, schedule and phone of a service have ids derived from the
//!   service's, so an edit replaces them rather than adding more.
//! - A service the form cannot show faithfully (several places or times, a
//!   rule it does not offer) is not offered for editing here:
//!   [`ActivityForm::from_listing`] says why instead of losing anything.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use serde_json::{Map, Value, json};

use crate::directory::model::{Batch, Service, WelcomeFact, derived_id};
use crate::directory::recurrence::Recurrence;
use crate::directory::shorten;
use crate::search::{Area, Category};

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The longest short text (cost, how to join, place name, address), in
/// characters.
pub const MAX_SHORT_CHARS: usize = 300;
/// The longest web address, in characters.
pub const MAX_URL_CHARS: usize = 500;
/// The most dates an activity can be left out on.
pub const MAX_DATES_LEFT_OUT: usize = 60;

/// The time zone every activity's times are in.
const TIME_ZONE: &str = "Europe/London";

/// How often an activity happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Once,
    Weekly,
    Fortnightly,
    /// Every month on the same week and weekday as the first date: "the
    /// first Tuesday", or "the last Friday" from a fifth week.
    Monthly,
}

impl Repeat {
    pub const ALL: [Repeat; 4] = [
        Repeat::Once,
        Repeat::Weekly,
        Repeat::Fortnightly,
        Repeat::Monthly,
    ];

    /// The form's value for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Once => "once",
            Repeat::Weekly => "weekly",
            Repeat::Fortnightly => "fortnightly",
            Repeat::Monthly => "monthly",
        }
    }

    /// What the form's choice says.
    pub fn label(self) -> &'static str {
        match self {
            Repeat::Once => "Just once",
            Repeat::Weekly => "Every week",
            Repeat::Fortnightly => "Every two weeks",
            Repeat::Monthly => "Every month, on the same week and day (such as the first Tuesday)",
        }
    }

    fn parse(text: &str) -> Option<Repeat> {
        Repeat::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What the form says about getting in and being welcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Welcome {
    pub step_free: bool,
    pub hearing_loop: bool,
    pub fine_to_come_alone: bool,
    pub someone_will_meet_you: bool,
}

/// The form's fields as typed, for showing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityForm {
    pub title: String,
    pub description: String,
    /// Category slugs ticked.
    pub categories: BTreeSet<String>,
    /// "place" or "online".
    pub where_: String,
    pub place_name: String,
    pub address: String,
    pub town: String,
    pub postcode: String,
    /// A [`Repeat`] value.
    pub repeat: String,
    /// The (first) date, as typed.
    pub date: String,
    pub starts: String,
    pub ends: String,
    /// The last date, if it stops.
    pub until: String,
    /// Dates it does not happen on, as typed.
    pub not_on: String,
    pub cost: String,
    pub free: bool,
    pub welcome: Welcome,
    pub how_to_join: String,
    pub phone: String,
    pub email: String,
    pub booking_url: String,
}

impl Default for ActivityForm {
    fn default() -> Self {
        ActivityForm {
            title: String::new(),
            description: String::new(),
            categories: BTreeSet::new(),
            where_: "place".to_owned(),
            place_name: String::new(),
            address: String::new(),
            town: String::new(),
            postcode: String::new(),
            repeat: Repeat::Weekly.as_str().to_owned(),
            date: String::new(),
            starts: String::new(),
            ends: String::new(),
            until: String::new(),
            not_on: String::new(),
            cost: String::new(),
            free: false,
            welcome: Welcome::default(),
            how_to_join: String::new(),
            phone: String::new(),
            email: String::new(),
            booking_url: String::new(),
        }
    }
}

/// A problem with one field, to show beside it and in the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's name (and id) in the form.
    pub field: &'static str,
    pub message: String,
}

/// Where an activity happens.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: Option<String>,
    pub address: String,
    pub town: String,
    /// A full postcode in capitals with its space, or an outcode alone.
    pub postcode: String,
    pub outcode: String,
}

/// When an activity happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    pub repeat: Repeat,
    pub first: NaiveDate,
    pub starts: NaiveTime,
    pub ends: Option<NaiveTime>,
    pub until: Option<NaiveDate>,
    pub not_on: Vec<NaiveDate>,
}

/// An activity, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub title: String,
    pub description: Option<String>,
    pub categories: BTreeSet<Category>,
    /// `None` for an activity by phone or online.
    pub place: Option<Place>,
    pub when: When,
    pub cost: Option<String>,
    pub free: bool,
    pub welcome: Welcome,
    pub how_to_join: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub booking_url: Option<String>,
}

impl ActivityForm {
    /// Reads a submitted form's fields. Ticked boxes arrive as
    /// `category-SLUG`, `free`, `step_free` and the welcome fields.
    pub fn from_fields(fields: &HashMap<String, String>) -> ActivityForm {
        let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let ticked = |name: &str| fields.contains_key(name);
        ActivityForm {
            title: text("title"),
            description: text("description"),
            categories: Category::ALL
                .iter()
                .map(|c| c.slug())
                .filter(|slug| ticked(&format!("category-{slug}")))
                .map(str::to_owned)
                .collect(),
            where_: text("where"),
            place_name: text("place_name"),
            address: text("address"),
            town: text("town"),
            postcode: text("postcode"),
            repeat: text("repeat"),
            date: text("date"),
            starts: text("starts"),
            ends: text("ends"),
            until: text("until"),
            not_on: text("not_on"),
            cost: text("cost"),
            free: ticked("free"),
            welcome: Welcome {
                step_free: ticked("step_free"),
                hearing_loop: ticked("hearing_loop"),
                fine_to_come_alone: ticked("come_alone"),
                someone_will_meet_you: ticked("met_at_door"),
            },
            how_to_join: text("how_to_join"),
            phone: text("phone"),
            email: text("email"),
            booking_url: text("booking_url"),
        }
    }

    /// The dates as a date field shows them (2027-01-14), where they can be
    /// read: a browser blanks a date field given any other form.
    pub fn with_dates_for_fields(mut self) -> ActivityForm {
        for field in [&mut self.date, &mut self.until] {
            if let Some(date) = parse_date(field) {
                *field = date.format("%Y-%m-%d").to_string();
            }
        }
        self
    }

    /// Checks every field against `today`, giving the activity or every
    /// problem found, in the form's order.
    pub fn check(&self, today: NaiveDate) -> Result<Activity, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &'static str, message: String| {
            problems.push(FieldProblem { field, message });
        };

        let title = self.title.trim();
        if title.is_empty() {
            problem("title", "Enter the activity's name.".to_owned());
        } else if title.chars().count() > MAX_TITLE_CHARS {
            problem(
                "title",
                format!("The name must be {MAX_TITLE_CHARS} characters or fewer."),
            );
        }
        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            problem(
                "description",
                format!("The description must be {MAX_DESCRIPTION_CHARS} characters or fewer."),
            );
        }
        let categories: BTreeSet<Category> = self
            .categories
            .iter()
            .filter_map(|slug| Category::from_slug(slug))
            .collect();
        if categories.is_empty() {
            problem(
                "categories",
                "Choose at least one kind of activity, so people looking for it find it."
                    .to_owned(),
            );
        }

        let online = self.where_ == "online";
        let mut place = None;
        if !online {
            let address = self.address.trim();
            let town = self.town.trim();
            if address.is_empty() {
                problem(
                    "address",
                    "Enter the address, such as \"St Paul's Hall, Market Street\".".to_owned(),
                );
            }
            if town.is_empty() {
                problem(
                    "town",
                    "Enter the town, such as \"Huddersfield\".".to_owned(),
                );
            }
            let postcode = normalise_postcode(&self.postcode);
            if postcode.is_none() {
                problem(
                    "postcode",
                    "Enter the postcode, such as HD1 2RS, or at least its first part, such as HD1."
                        .to_owned(),
                );
            }
            for (field, value, label) in [
                ("place_name", self.place_name.trim(), "place's name"),
                ("address", address, "address"),
                ("town", town, "town"),
            ] {
                if value.chars().count() > MAX_SHORT_CHARS {
                    problem(
                        field,
                        format!("The {label} must be {MAX_SHORT_CHARS} characters or fewer."),
                    );
                }
            }
            if let Some((postcode, outcode)) = postcode {
                place = Some(Place {
                    name: non_empty(&self.place_name),
                    address: address.to_owned(),
                    town: town.to_owned(),
                    postcode,
                    outcode,
                });
            }
        }

        let repeat = Repeat::parse(&self.repeat);
        if repeat.is_none() {
            problem("repeat", "Choose how often it happens.".to_owned());
        }
        let first = match parse_date(&self.date) {
            Some(date) => Some(date),
            None => {
                problem(
                    "date",
                    "Enter the date, or the first date if it repeats, such as 14/01/2027."
                        .to_owned(),
                );
                None
            }
        };
        if let (Some(first), Some(Repeat::Once)) = (first, repeat)
            && first < today
        {
            problem(
                "date",
                "The date is in the past: enter the day it happens.".to_owned(),
            );
        }
        let starts = parse_time(&self.starts);
        if starts.is_none() {
            problem(
                "starts",
                "Enter the time it starts, such as 10:30.".to_owned(),
            );
        }
        let ends = match self.ends.trim() {
            "" => None,
            typed => match parse_time(typed) {
                None => {
                    problem(
                        "ends",
                        "Enter the time it ends, such as 12:00, or leave it empty.".to_owned(),
                    );
                    None
                }
                // An end before the start is the next morning: 20:00 to 01:00.
                Some(ends) if starts == Some(ends) => {
                    problem(
                        "ends",
                        "It must end at a different time from when it starts: check the times."
                            .to_owned(),
                    );
                    None
                }
                Some(ends) => Some(ends),
            },
        };
        let repeating = repeat.is_some_and(|r| r != Repeat::Once);
        let until = match self.until.trim() {
            "" => None,
            _ if !repeating => None,
            typed => match parse_date(typed) {
                None => {
                    problem(
                        "until",
                        "Enter the last date, such as 30/06/2027, or leave it empty.".to_owned(),
                    );
                    None
                }
                Some(until) if first.is_some_and(|first| until < first) => {
                    problem(
                        "until",
                        "The last date is before the first: check the dates.".to_owned(),
                    );
                    None
                }
                Some(until) if until < today => {
                    problem(
                        "until",
                        "The last date has passed, so nobody would see it: check the date, or leave it empty."
                            .to_owned(),
                    );
                    None
                }
                Some(until) => Some(until),
            },
        };
        let mut not_on = Vec::new();
        if repeating {
            for typed in self
                .not_on
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|t| !t.is_empty())
            {
                match parse_date(typed) {
                    Some(date) => not_on.push(date),
                    None => {
                        problem(
                            "not_on",
                            format!(
                                "\"{}\" is not a date: write each date like 23/12/2026, one per line.",
                                shorten(typed, 20)
                            ),
                        );
                        break;
                    }
                }
            }
            not_on.sort();
            not_on.dedup();
            let outside = not_on.iter().find(|date| {
                first.is_some_and(|first| **date < first)
                    || until.is_some_and(|until| **date > until)
            });
            if let Some(date) = outside {
                problem(
                    "not_on",
                    format!(
                        "{} is outside the dates it runs: check the dates it does not happen.",
                        date.format("%d/%m/%Y")
                    ),
                );
            }
            if not_on.len() > MAX_DATES_LEFT_OUT {
                problem(
                    "not_on",
                    format!("Give at most {MAX_DATES_LEFT_OUT} dates it does not happen on."),
                );
            }
        }

        let cost = self.cost.trim();
        if cost.chars().count() > MAX_SHORT_CHARS {
            problem(
                "cost",
                format!("The cost must be {MAX_SHORT_CHARS} characters or fewer."),
            );
        }
        let how_to_join = self.how_to_join.trim();
        if how_to_join.chars().count() > MAX_SHORT_CHARS {
            problem(
                "how_to_join",
                format!("How to join must be {MAX_SHORT_CHARS} characters or fewer."),
            );
        }
        let phone = self.phone.trim();
        if !phone.is_empty() && (phone.chars().count() > 30 || !is_phone_number(phone)) {
            problem(
                "phone",
                "Enter a phone number, such as 01484 123456, or leave it empty.".to_owned(),
            );
        }
        let email = self.email.trim();
        if !email.is_empty() && crate::accounts::Email::parse(email).is_err() {
            problem(
                "email",
                "Enter an email address, such as hello@example.org, or leave it empty.".to_owned(),
            );
        }
        let booking_url = self.booking_url.trim();
        if !booking_url.is_empty()
            && (booking_url.chars().count() > MAX_URL_CHARS || !is_web_address(booking_url))
        {
            problem(
                "booking_url",
                format!(
                    "Enter a web address starting https://, up to {MAX_URL_CHARS} characters, or leave it empty."
                ),
            );
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        let (Some(repeat), Some(first), Some(starts)) = (repeat, first, starts) else {
            unreachable!("a missing repeat, date or start time is a problem above");
        };
        Ok(Activity {
            title: title.to_owned(),
            description: non_empty(description),
            categories,
            place,
            when: When {
                repeat,
                first,
                starts,
                ends,
                until,
                not_on,
            },
            cost: non_empty(cost),
            free: self.free,
            welcome: self.welcome,
            how_to_join: non_empty(how_to_join),
            phone: non_empty(phone),
            email: non_empty(email),
            booking_url: non_empty(booking_url),
        })
    }

    /// The form for editing `service_id` of `batch` (a batch holding the
    /// service and what it refers to), or why this form cannot edit it.
    pub fn from_listing(batch: &Batch, service_id: &str) -> Result<ActivityForm, String> {
        let service = batch
            .services
            .iter()
            .find(|s| s.id == service_id)
            .ok_or_else(|| "there is no such service".to_owned())?;
        let links: Vec<_> = batch
            .service_at_locations
            .iter()
            .filter(|link| link.service_id == service.id)
            .collect();
        if links.len() > 1 {
            return Err("it is held at more than one place".to_owned());
        }
        let schedules: Vec<_> = service
            .schedules
            .iter()
            .chain(links.iter().flat_map(|link| &link.schedules))
            .collect();
        let [schedule] = schedules.as_slice() else {
            return Err(if schedules.is_empty() {
                "it has no dated times".to_owned()
            } else {
                "it has more than one set of times".to_owned()
            });
        };
        let Some(rule) = &schedule.recurrence else {
            return Err("its times are not dated".to_owned());
        };
        let (repeat, first) = repeat_of(rule)?;
        if rule.timezone != TIME_ZONE {
            return Err(format!("its times are in the {} time zone", rule.timezone));
        }
        if service.phones.len() > 1 {
            return Err("it has more than one phone number".to_owned());
        }
        // The form has an end time, not a length: up to a day, past
        // midnight if need be.
        let ends = match rule.duration_minutes {
            None => None,
            Some(minutes) if minutes > 0 && minutes < 24 * 60 => Some(
                rule.start
                    .time()
                    .overflowing_add_signed(chrono::Duration::minutes(i64::from(minutes)))
                    .0,
            ),
            Some(_) => return Err("each time lasts a day or more".to_owned()),
        };
        let mut form = ActivityForm {
            title: service.name.clone(),
            description: service.description.clone().unwrap_or_default(),
            categories: service
                .categories
                .iter()
                .map(|c| c.slug().to_owned())
                .collect(),
            where_: if links.is_empty() { "online" } else { "place" }.to_owned(),
            repeat: repeat.as_str().to_owned(),
            date: first.format("%Y-%m-%d").to_string(),
            starts: rule.start.time().format("%H:%M").to_string(),
            ends: ends
                .map(|e| e.format("%H:%M").to_string())
                .unwrap_or_default(),
            until: until_of(rule)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            not_on: rule
                .excluded_dates
                .iter()
                .map(|d| d.date().format("%d/%m/%Y").to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            cost: service.fees_description.clone().unwrap_or_default(),
            free: service.free == Some(true),
            welcome: welcome_of(service),
            how_to_join: service.application_process.clone().unwrap_or_default(),
            phone: service
                .phones
                .first()
                .map(|p| p.number.clone())
                .unwrap_or_default(),
            email: service.email.clone().unwrap_or_default(),
            booking_url: service.url.clone().unwrap_or_default(),
            ..ActivityForm::default()
        };
        if form.free && form.cost == "Free" {
            form.cost.clear();
        }
        if let Some(link) = links.first() {
            let location = batch
                .locations
                .iter()
                .find(|l| l.id == link.location_id)
                .ok_or_else(|| "its place is missing".to_owned())?;
            form.place_name = location.name.clone().unwrap_or_default();
            form.welcome.step_free = location.step_free == Some(true);
            if let Some(address) = location.addresses.first() {
                form.address = address.address_1.clone();
                form.town = address.city.clone();
                form.postcode = address.postal_code.clone();
            }
        }
        Ok(form)
    }
}

/// A rule this form offers, read back: how often, and the first date.
fn repeat_of(rule: &Recurrence) -> Result<(Repeat, NaiveDate), String> {
    let first = rule.start.date();
    let cannot = || "its times follow a rule this form does not offer".to_owned();
    if rule.all_day || !rule.extra_dates.is_empty() || !rule.changed.is_empty() {
        return Err(cannot());
    }
    let repeat = match rule.rules.as_slice() {
        [] => Repeat::Once,
        [one] => {
            let parts: HashMap<&str, &str> = one
                .split(';')
                .filter_map(|part| part.split_once('='))
                .collect();
            let allowed = ["FREQ", "INTERVAL", "BYDAY", "UNTIL", "WKST"];
            if parts.keys().any(|k| !allowed.contains(k)) {
                return Err(cannot());
            }
            let interval = parts.get("INTERVAL").copied().unwrap_or("1");
            let day = weekday_code(first.weekday());
            match (parts.get("FREQ").copied(), interval, parts.get("BYDAY")) {
                (Some("WEEKLY"), "1", None) => Repeat::Weekly,
                (Some("WEEKLY"), "1", Some(by)) if *by == day => Repeat::Weekly,
                (Some("WEEKLY"), "2", None) => Repeat::Fortnightly,
                (Some("WEEKLY"), "2", Some(by)) if *by == day => Repeat::Fortnightly,
                (Some("MONTHLY"), "1", Some(by)) if *by == monthly_by_day(first) => Repeat::Monthly,
                _ => return Err(cannot()),
            }
        }
        _ => return Err(cannot()),
    };
    Ok((repeat, first))
}

/// The rule's last date, from its UNTIL.
fn until_of(rule: &Recurrence) -> Option<NaiveDate> {
    let one = rule.rules.first()?;
    let until = one
        .split(';')
        .find_map(|part| part.strip_prefix("UNTIL="))?;
    NaiveDate::parse_from_str(until.get(..8)?, "%Y%m%d").ok()
}

/// The welcome facts a service's attributes record.
fn welcome_of(service: &Service) -> Welcome {
    let has = |fact: WelcomeFact| {
        let id = fact.term_id();
        service.attributes.iter().any(|a| a.taxonomy_term_id == id)
    };
    Welcome {
        step_free: false,
        hearing_loop: has(WelcomeFact::HearingLoop),
        fine_to_come_alone: has(WelcomeFact::FineToComeAlone),
        someone_will_meet_you: has(WelcomeFact::SomeoneWillMeetYou),
    }
}

impl Welcome {
    fn has(&self, fact: WelcomeFact) -> bool {
        match fact {
            WelcomeFact::HearingLoop => self.hearing_loop,
            WelcomeFact::FineToComeAlone => self.fine_to_come_alone,
            WelcomeFact::SomeoneWillMeetYou => self.someone_will_meet_you,
        }
    }
}

impl Activity {
    /// The one-service HSDS 3.0 listing for `service_id` of
    /// `organization_id`. `position` is the place's map position
    /// (latitude, longitude), so people searching near it find it.
    pub fn to_listing(
        &self,
        organization_id: &str,
        service_id: &str,
        position: Option<(f64, f64)>,
    ) -> Value {
        let child = |kind: &str| derived_id("portal", kind, service_id);
        let mut service = Map::new();
        service.insert("id".into(), json!(service_id));
        service.insert("organization_id".into(), json!(organization_id));
        service.insert("name".into(), json!(self.title));
        if let Some(description) = &self.description {
            service.insert("description".into(), json!(description));
        }
        service.insert("status".into(), json!("active"));
        if let Some(url) = &self.booking_url {
            service.insert("url".into(), json!(url));
        }
        if let Some(email) = &self.email {
            service.insert("email".into(), json!(email));
        }
        match (&self.cost, self.free) {
            (Some(cost), _) => {
                service.insert("fees_description".into(), json!(cost));
            }
            (None, true) => {
                service.insert("fees_description".into(), json!("Free"));
            }
            (None, false) => {}
        }
        if self.free || self.cost.is_some() {
            service.insert("x_free".into(), json!(self.free));
        }
        if let Some(how) = &self.how_to_join {
            service.insert("application_process".into(), json!(how));
        }
        service.insert("x_online".into(), json!(self.place.is_none()));
        service.insert(
            "x_categories".into(),
            json!(self.categories.iter().map(|c| c.slug()).collect::<Vec<_>>()),
        );
        if let Some(phone) = &self.phone {
            service.insert(
                "phones".into(),
                json!([{"id": child("phone"), "number": phone}]),
            );
        }
        let attributes: Vec<Value> = WelcomeFact::ALL
            .into_iter()
            .filter(|fact| self.welcome.has(*fact))
            .map(|fact| {
                json!({
                    "id": derived_id("portal", &format!("attribute-{}", fact.key()), service_id),
                    "taxonomy_term": {
                        "id": fact.term_id(),
                        "name": fact.name(),
                        "description": fact.name(),
                        "taxonomy": WelcomeFact::TAXONOMY,
                    },
                })
            })
            .collect();
        if !attributes.is_empty() {
            service.insert("attributes".into(), Value::Array(attributes));
        }
        service.insert(
            "schedules".into(),
            json!([self.schedule(&child("schedule"))]),
        );
        if let Some(place) = &self.place {
            let mut location = json!({
                "id": child("location"),
                "location_type": "physical",
                "addresses": [{
                    "id": child("address"),
                    "address_1": place.address,
                    "city": place.town,
                    "state_province": "",
                    "postal_code": place.postcode,
                    "country": "GB",
                    "address_type": "physical",
                }],
            });
            if let Some(name) = &place.name {
                location["name"] = json!(name);
            }
            if self.welcome.step_free {
                location["x_step_free"] = json!(true);
            }
            if let Some((latitude, longitude)) = position {
                location["latitude"] = json!(latitude);
                location["longitude"] = json!(longitude);
            }
            service.insert(
                "service_at_locations".into(),
                json!([{"id": child("service_at_location"), "location": location}]),
            );
        }
        Value::Object(service)
    }

    /// The HSDS schedule: standard fields for other directories, and the
    /// whole rule with its left-out dates in `x_recurrence`.
    fn schedule(&self, id: &str) -> Value {
        let when = &self.when;
        let mut rules = Vec::new();
        let mut schedule = json!({
            "id": id,
            "dtstart": when.first.format("%Y-%m-%d").to_string(),
            "opens_at": when.starts.format("%H:%M").to_string(),
            "description": self.when_words(),
        });
        if let Some(ends) = when.ends {
            schedule["closes_at"] = json!(ends.format("%H:%M").to_string());
        }
        let (freq, interval, by_day) = match when.repeat {
            Repeat::Once => (None, 1, String::new()),
            Repeat::Weekly => (
                Some("WEEKLY"),
                1,
                weekday_code(when.first.weekday()).to_owned(),
            ),
            Repeat::Fortnightly => (
                Some("WEEKLY"),
                2,
                weekday_code(when.first.weekday()).to_owned(),
            ),
            Repeat::Monthly => (Some("MONTHLY"), 1, monthly_by_day(when.first)),
        };
        if let Some(freq) = freq {
            schedule["freq"] = json!(freq);
            schedule["interval"] = json!(interval);
            schedule["byday"] = json!(by_day);
            let mut rule = format!("FREQ={freq};INTERVAL={interval};BYDAY={by_day}");
            if let Some(until) = when.until {
                schedule["until"] = json!(until.format("%Y-%m-%d").to_string());
                // The end of the last day in UTC, as the importer writes it.
                rule.push_str(&format!(
                    ";UNTIL={}",
                    crate::directory::import::hsds::utc_end_of_day(until)
                ));
            }
            rules.push(rule);
        }
        let recurrence = Recurrence {
            timezone: TIME_ZONE.to_owned(),
            start: when.first.and_time(when.starts),
            all_day: false,
            duration_minutes: when.ends.map(|ends| minutes_between(when.starts, ends)),
            rules,
            extra_dates: Vec::new(),
            excluded_dates: when
                .not_on
                .iter()
                .map(|date| date.and_time(when.starts))
                .collect(),
            changed: Vec::new(),
        };
        schedule["x_recurrence"] = serde_json::to_value(&recurrence).unwrap_or(Value::Null);
        schedule
    }

    /// When it happens, in words: "Every week on Tuesday, 10:00 to 12:00".
    pub fn when_words(&self) -> String {
        let when = &self.when;
        let day = weekday_name(when.first.weekday());
        let mut words = match when.repeat {
            Repeat::Once => format!("On {}", when.first.format("%A %-d %B %Y")),
            Repeat::Weekly => format!("Every {day}"),
            Repeat::Fortnightly => {
                format!("Every other {day}, from {}", when.first.format("%-d %B %Y"))
            }
            Repeat::Monthly => format!("The {} {day} of every month", nth_words(when.first)),
        };
        words.push_str(&format!(", {}", when.starts.format("%H:%M")));
        if let Some(ends) = when.ends {
            words.push_str(&format!(" to {}", ends.format("%H:%M")));
        }
        if let Some(until) = when.until {
            words.push_str(&format!(", until {}", until.format("%-d %B %Y")));
        }
        words
    }
}

/// Minutes from `starts` to `ends`, the next day when `ends` is earlier.
fn minutes_between(starts: NaiveTime, ends: NaiveTime) -> u32 {
    let minutes = (ends - starts).num_minutes();
    (if minutes <= 0 {
        minutes + 24 * 60
    } else {
        minutes
    }) as u32
}

/// Adds to a listing made by [`Activity::to_listing`] the attributes of
/// the service it replaces that the form does not show (taxonomy terms
/// from a council's feed, say), so an edit keeps them.
pub fn keep_other_attributes(listing: &mut Value, existing: &Service) {
    let welcome: Vec<String> = WelcomeFact::ALL.iter().map(|f| f.term_id()).collect();
    let kept: Vec<Value> = existing
        .attributes
        .iter()
        .filter(|attribute| !welcome.contains(&attribute.taxonomy_term_id))
        .map(|attribute| {
            let mut kept = json!({
                "id": attribute.id,
                "taxonomy_term_id": attribute.taxonomy_term_id,
            });
            if let Some(value) = &attribute.value {
                kept["value"] = json!(value);
            }
            kept
        })
        .collect();
    if kept.is_empty() {
        return;
    }
    match listing.get_mut("attributes").and_then(Value::as_array_mut) {
        Some(attributes) => attributes.extend(kept),
        None => listing["attributes"] = Value::Array(kept),
    }
}

/// A new service's id: a random UUID, from the operating system.
pub fn new_service_id() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A date as a date field sends it (2027-01-14) or as people type it
/// (14/01/2027, 14-1-2027, 14.01.27).
pub fn parse_date(typed: &str) -> Option<NaiveDate> {
    let typed = typed.trim();
    if let Ok(date) = NaiveDate::parse_from_str(typed, "%Y-%m-%d") {
        return Some(date);
    }
    let parts: Vec<&str> = typed.split(['/', '-', '.']).collect();
    let [day, month, year] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month: u32 = month.parse().ok()?;
    let year: i32 = match year.len() {
        2 => 2000 + year.parse::<i32>().ok()?,
        4 => year.parse().ok()?,
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, month, day)
}

/// A time as a time field sends it (10:30) or as people type it (10.30).
fn parse_time(typed: &str) -> Option<NaiveTime> {
    let typed = typed.trim().replace('.', ":");
    NaiveTime::parse_from_str(&typed, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&typed, "%H:%M:%S"))
        .ok()
}

/// A full postcode (capitals, one space) and its outcode, or an outcode
/// alone twice.
fn normalise_postcode(typed: &str) -> Option<(String, String)> {
    let typed = typed.trim();
    if let Some(outcode) = Area::outcode_of_postcode(typed) {
        let compact: String = typed.split_whitespace().collect::<String>().to_uppercase();
        let incode = &compact[outcode.len()..];
        return Some((format!("{outcode} {incode}"), outcode));
    }
    match Area::parse(typed)? {
        Area::Outcode(outcode) if !typed.contains(char::is_whitespace) => {
            Some((outcode.clone(), outcode))
        }
        _ => None,
    }
}

/// A phone number as people write one: 7 to 15 digits, with spaces,
/// brackets, hyphens or a leading plus.
pub fn is_phone_number(typed: &str) -> bool {
    let digits = typed.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && typed
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-".contains(c))
}

/// An http or https address with a host name.
pub fn is_web_address(typed: &str) -> bool {
    url::Url::parse(typed).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| h.contains('.'))
    })
}

fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Which week of its month a date is in: 1 to 4, or -1 for a fifth week
/// (which not every month has, so "the last").
fn week_of_month(date: NaiveDate) -> i32 {
    match (date.day() - 1) / 7 + 1 {
        5 => -1,
        n => n as i32,
    }
}

/// The monthly rule's BYDAY for a date: `1TU` for the first Tuesday.
fn monthly_by_day(date: NaiveDate) -> String {
    format!("{}{}", week_of_month(date), weekday_code(date.weekday()))
}

fn nth_words(date: NaiveDate) -> &'static str {
    match week_of_month(date) {
        1 => "first",
        2 => "second",
        3 => "third",
        4 => "fourth",
        _ => "last",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::import::{ImportOptions, hsds};

    const ORG: &str = "5e1f0000-0000-4000-8000-0000000000a1";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    }

    fn weekly() -> ActivityForm {
        ActivityForm {
            title: "Tuesday tea & chat".to_owned(),
            description: "Tea, cake and a friendly welcome.".to_owned(),
            categories: ["social-groups".to_owned(), "older-people".to_owned()].into(),
            where_: "place".to_owned(),
            place_name: "St Paul's Hall".to_owned(),
            address: "Market Street".to_owned(),
            town: "Huddersfield".to_owned(),
            postcode: "hd1 2rs".to_owned(),
            repeat: "weekly".to_owned(),
            date: "2026-12-08".to_owned(),
            starts: "10:00".to_owned(),
            ends: "12:00".to_owned(),
            until: "2027-06-29".to_owned(),
            not_on: "22/12/2026, 29/12/2026".to_owned(),
            cost: "£2, tea included".to_owned(),
            free: false,
            welcome: Welcome {
                step_free: true,
                hearing_loop: true,
                fine_to_come_alone: true,
                someone_will_meet_you: false,
            },
            how_to_join: "Just turn up".to_owned(),
            phone: "01484 123456".to_owned(),
            email: "tea@example.org".to_owned(),
            booking_url: "https://example.org/tea".to_owned(),
        }
    }

    /// The listing as the moderation queue's importer reads it.
    fn imported(listing: &Value) -> Batch {
        let options = ImportOptions {
            source: "portal".to_owned(),
            ..ImportOptions::default()
        };
        let parsed = hsds::parse(listing, &options).expect("a listing the importer reads");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert!(
            parsed.batch.skipped.is_empty(),
            "{:?}",
            parsed.batch.skipped
        );
        parsed.batch
    }

    fn problems(form: &ActivityForm) -> Vec<(&'static str, String)> {
        form.check(today())
            .expect_err("a problem")
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect()
    }

    #[test]
    fn a_weekly_activity_reaches_the_directory_and_comes_back_to_the_form_unchanged() {
        let form = weekly();
        let activity = form.check(today()).expect("a good form");
        let listing = activity.to_listing(
            ORG,
            "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01",
            Some((53.6458, -1.7850)),
        );
        let batch = imported(&listing);
        let service = &batch.services[0];
        assert_eq!(service.name, "Tuesday tea & chat");
        assert_eq!(service.organization_id, ORG);
        assert!(service.categories.contains(&Category::OlderPeople));
        let rule = service.schedules[0].recurrence.as_ref().expect("dated");
        assert_eq!(
            rule.rules[0],
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=TU;UNTIL=20270629T225959Z"
        );
        assert_eq!(rule.excluded_dates.len(), 2);
        assert_eq!(batch.locations[0].step_free, Some(true));
        assert_eq!(batch.locations[0].latitude, Some(53.6458));
        assert_eq!(listing["schedules"][0]["byday"], "TU");
        assert_eq!(
            listing["schedules"][0]["description"],
            "Every Tuesday, 10:00 to 12:00, until 29 June 2027"
        );

        let back = ActivityForm::from_listing(&batch, &service.id).expect("editable");
        let expected = ActivityForm {
            postcode: "HD1 2RS".to_owned(),
            not_on: "22/12/2026\n29/12/2026".to_owned(),
            ..form
        };
        assert_eq!(back, expected);
    }

    #[test]
    fn a_monthly_activity_keeps_its_week_of_the_month() {
        let form = ActivityForm {
            repeat: "monthly".to_owned(),
            date: "01/12/2026".to_owned(),
            until: String::new(),
            not_on: String::new(),
            ..weekly()
        };
        let activity = form.check(today()).unwrap();
        assert_eq!(
            activity.when_words(),
            "The first Tuesday of every month, 10:00 to 12:00"
        );
        let listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        assert_eq!(listing["schedules"][0]["byday"], "1TU");
        let batch = imported(&listing);
        let back = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap();
        assert_eq!(back.repeat, "monthly");
        assert_eq!(back.date, "2026-12-01");

        // A fifth week is "the last", as not every month has one.
        let last = ActivityForm {
            date: "2026-12-29".to_owned(),
            ..form
        };
        let activity = last.check(today()).unwrap();
        assert!(activity.when_words().starts_with("The last Tuesday"));
        let listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        assert_eq!(listing["schedules"][0]["byday"], "-1TU");
    }

    #[test]
    fn a_fortnightly_and_a_one_off_activity_read_back_as_they_were_given() {
        for (repeat, words) in [
            (
                "fortnightly",
                "Every other Tuesday, from 8 December 2026, 10:00 to 12:00",
            ),
            ("once", "On Tuesday 8 December 2026, 10:00 to 12:00"),
        ] {
            let form = ActivityForm {
                repeat: repeat.to_owned(),
                until: String::new(),
                not_on: String::new(),
                ..weekly()
            };
            let activity = form.check(today()).unwrap();
            assert_eq!(activity.when_words(), words);
            let batch =
                imported(&activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None));
            let back = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap();
            assert_eq!(back.repeat, repeat);
        }
    }

    #[test]
    fn an_online_activity_has_no_place() {
        let form = ActivityForm {
            where_: "online".to_owned(),
            address: String::new(),
            town: String::new(),
            postcode: String::new(),
            ..weekly()
        };
        let listing = form.check(today()).unwrap().to_listing(
            ORG,
            "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01",
            None,
        );
        assert_eq!(listing["x_online"], true);
        let batch = imported(&listing);
        assert!(batch.locations.is_empty());
        let back = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap();
        assert_eq!(back.where_, "online");
    }

    #[test]
    fn an_empty_form_names_each_field_it_needs() {
        let form = ActivityForm::default();
        let fields: Vec<&str> = problems(&form)
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(
            fields,
            [
                "title",
                "categories",
                "address",
                "town",
                "postcode",
                "date",
                "starts"
            ]
        );
    }

    #[test]
    fn wrong_values_are_named_with_what_to_do() {
        let form = ActivityForm {
            ends: "10:00".to_owned(),
            until: "2026-12-01".to_owned(),
            not_on: "22/12/2026 Christmas".to_owned(),
            phone: "call us".to_owned(),
            email: "tea at example".to_owned(),
            booking_url: "javascript:alert(1)".to_owned(),
            postcode: "Huddersfield".to_owned(),
            ..weekly()
        };
        let found = problems(&form);
        let fields: Vec<&str> = found.iter().map(|(field, _)| *field).collect();
        assert_eq!(
            fields,
            [
                "postcode",
                "ends",
                "until",
                "not_on",
                "phone",
                "email",
                "booking_url"
            ]
        );
        assert!(
            found[3].1.contains("\"Christmas\" is not a date"),
            "{}",
            found[3].1
        );
        assert!(found[6].1.contains("https://"), "{}", found[6].1);

        let past = ActivityForm {
            repeat: "once".to_owned(),
            date: "2026-11-30".to_owned(),
            ..weekly()
        };
        assert_eq!(
            problems(&past),
            [(
                "date",
                "The date is in the past: enter the day it happens.".to_owned()
            )]
        );
    }

    #[test]
    fn dates_that_cannot_be_right_are_named() {
        let ended = ActivityForm {
            date: "2026-06-02".to_owned(),
            until: "2026-11-24".to_owned(),
            not_on: String::new(),
            ..weekly()
        };
        let found = problems(&ended);
        assert_eq!(found.len(), 1);
        assert!(
            found[0].1.starts_with("The last date has passed"),
            "{found:?}"
        );
        let outside = ActivityForm {
            not_on: "01/12/2026\n22/12/2026".to_owned(),
            ..weekly()
        };
        assert_eq!(
            problems(&outside),
            [(
                "not_on",
                "01/12/2026 is outside the dates it runs: check the dates it does not happen."
                    .to_owned()
            )]
        );
    }

    #[test]
    fn an_evening_that_ends_after_midnight_lasts_into_the_next_day() {
        let form = ActivityForm {
            starts: "20:00".to_owned(),
            ends: "01:00".to_owned(),
            ..weekly()
        };
        let activity = form.check(today()).unwrap();
        assert!(
            activity
                .when_words()
                .starts_with("Every Tuesday, 20:00 to 01:00")
        );
        let listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        let batch = imported(&listing);
        let rule = batch.services[0].schedules[0].recurrence.as_ref().unwrap();
        assert_eq!(rule.duration_minutes, Some(300));
        let back = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap();
        assert_eq!(
            (back.starts.as_str(), back.ends.as_str()),
            ("20:00", "01:00")
        );
    }

    #[test]
    fn times_in_another_zone_or_a_second_phone_are_not_offered_for_editing() {
        let activity = weekly().check(today()).unwrap();
        let mut listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        listing["schedules"][0]["x_recurrence"]["timezone"] = json!("UTC");
        let batch = imported(&listing);
        let why = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap_err();
        assert_eq!(why, "its times are in the UTC time zone");

        let mut listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        listing["phones"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "second", "number": "07700 900000"}));
        let batch = imported(&listing);
        let why = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap_err();
        assert_eq!(why, "it has more than one phone number");
    }

    #[test]
    fn an_edit_keeps_the_attributes_the_form_does_not_show() {
        let activity = weekly().check(today()).unwrap();
        let mut listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        listing["attributes"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "council-term", "taxonomy_term_id": "5e1f0000-0000-4000-8000-00000000ffff"}));
        let before = imported(&listing);
        let mut edited = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        keep_other_attributes(&mut edited, &before.services[0]);
        let after = imported(&edited);
        let terms = |batch: &Batch| {
            let mut terms: Vec<String> = batch.services[0]
                .attributes
                .iter()
                .map(|a| a.taxonomy_term_id.clone())
                .collect();
            terms.sort();
            terms
        };
        assert_eq!(terms(&after), terms(&before));
        assert_eq!(
            terms(&after).len(),
            3,
            "two welcome facts and the council's term"
        );
    }

    #[test]
    fn a_service_the_form_cannot_show_is_not_offered_for_editing() {
        let activity = weekly().check(today()).unwrap();
        let mut listing = activity.to_listing(ORG, "0b8f4c52-5d5e-4a8e-9a57-0d2f7c1d9e01", None);
        let second = listing["schedules"][0].clone();
        listing["schedules"].as_array_mut().unwrap().push(second);
        listing["schedules"][1]["id"] = json!("another");
        let batch = imported(&listing);
        let why = ActivityForm::from_listing(&batch, &batch.services[0].id).unwrap_err();
        assert_eq!(why, "it has more than one set of times");
    }

    #[test]
    fn dates_and_times_are_read_as_people_type_them() {
        let date = NaiveDate::from_ymd_opt(2027, 1, 14).unwrap();
        for typed in [
            "2027-01-14",
            "14/01/2027",
            "14/1/27",
            "14.01.2027",
            " 14-01-2027 ",
        ] {
            assert_eq!(parse_date(typed), Some(date), "{typed}");
        }
        assert_eq!(parse_date("31/02/2027"), None);
        assert_eq!(parse_time("10.30"), NaiveTime::from_hms_opt(10, 30, 0));
        assert_eq!(
            normalise_postcode("hd12rs"),
            Some(("HD1 2RS".to_owned(), "HD1".to_owned()))
        );
        assert_eq!(
            normalise_postcode("wf13"),
            Some(("WF13".to_owned(), "WF13".to_owned()))
        );
        assert_eq!(normalise_postcode("Dewsbury"), None);
    }

    #[test]
    fn new_service_ids_are_random_uuids() {
        let (a, b) = (new_service_id(), new_service_id());
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }
}
