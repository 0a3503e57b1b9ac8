//! Reading an iCalendar (.ics) file of events into a [`Batch`].
//!
//! The calendar becomes one organisation; each event series (a VEVENT and
//! the VEVENTs with the same UID and a RECURRENCE-ID, which move or cancel
//! single instances of it) becomes one service with one schedule holding the
//! full rule; each LOCATION text becomes one location, shared by every event
//! held there, unless it is a link or says "online".
//!
//! The `icalendar` crate reads the structure (unfolding, components,
//! properties, parameters); this module reads the values, which the crate
//! leaves as text: dates with their TZID or VALUE=DATE, lists of EXDATEs and
//! RDATEs, durations and GEO.
//!
//! Invariant: a file that is not a whole iCalendar file (not one at all, or
//! cut short) is refused with the line where it goes wrong. Otherwise each
//! problem names the line of the event's BEGIN:VEVENT and its UID and
//! SUMMARY, and that event series is left out whole, with its changed
//! instances; the rest of the calendar is kept.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::{Component, ParseString, Property, read_calendar, unfold};
use regex::Regex;

use super::{ImportOptions, Parsed, Problem};
use crate::directory::model::{
    self, Address, Batch, Extra, Location, Moderation, Organization, Schedule, Service,
    ServiceAtLocation, Skipped,
};
use crate::directory::recurrence::{ChangedInstance, MINUTES_PER_DAY, Recurrence, local_instant};
use crate::search::Category;

/// Reads an iCalendar file into one organisation (the calendar), a service
/// per event series and a location per place. `Err` when the file is not a
/// whole iCalendar file; problems with single events are in
/// [`Parsed::problems`], those events left out.
pub fn parse(text: &str, options: &ImportOptions) -> Result<Parsed, Problem> {
    let text = text.trim_start_matches('\u{feff}');
    let lines = Lines::new(text);
    lines.check_whole_calendar()?;
    let unfolded = unfold(text);
    let calendar = read_calendar(&unfolded).map_err(|message| lines.syntax_problem(&message))?;

    let zones = Zones::new(&calendar.components);
    let calendar_text = |name: &str| {
        find(&calendar.properties, name)
            .map(text_value)
            .filter(|value| !value.is_empty())
    };
    let calendar_zone = calendar_text("X-WR-TIMEZONE").and_then(|name| zones.resolve(&name));
    let organization = Organization {
        id: model::record_id(&options.source, "organization", "calendar"),
        source_id: "calendar".to_owned(),
        name: calendar_text("X-WR-CALNAME").unwrap_or_else(|| options.source.clone()),
        description: calendar_text("X-WR-CALDESC").unwrap_or_default(),
        email: None,
        website: None,
        phones: Vec::new(),
        extra: Extra::new(),
    };

    let event_lines = lines.event_lines();
    let events: Vec<RawEvent> = calendar
        .components
        .iter()
        .filter(|component| component.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .enumerate()
        .map(|(index, component)| {
            // The parser keeps no positions, but it keeps the order: the
            // n-th VEVENT is the n-th BEGIN:VEVENT inside the calendar.
            let line = event_lines.get(index).copied().unwrap_or(0);
            RawEvent::read(component, line, &zones)
        })
        .collect();

    let mut builder = Builder {
        options,
        calendar_zone,
        organization_id: organization.id.clone(),
        parsed: Parsed::default(),
        locations_by_text: HashMap::new(),
    };
    builder.parsed.batch.source = options.source.clone();
    builder.parsed.batch.organizations.push(organization);
    let mut uids: Vec<&str> = Vec::new();
    let mut series: HashMap<&str, Vec<&RawEvent>> = HashMap::new();
    for event in &events {
        let members = series.entry(&event.uid).or_default();
        if members.is_empty() {
            uids.push(&event.uid);
        }
        members.push(event);
    }
    for uid in uids {
        if let Some(members) = series.get(uid) {
            builder.add_series(members);
        }
    }
    Ok(builder.parsed)
}

/// The file's lines as the parser sees them, after unfolding, each with the
/// line it starts on in the file, so problems name lines a person finds in
/// an editor.
struct Lines {
    /// (line number in the file, from 1; the unfolded text).
    unfolded: Vec<(usize, String)>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut unfolded: Vec<(usize, String)> = Vec::new();
        for (index, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // RFC 5545 folding: a line starting with a space or tab goes on
            // from the line before, as `icalendar::parser::unfold` reads it.
            match (line.strip_prefix([' ', '\t']), unfolded.last_mut()) {
                (Some(rest), Some((_, previous))) => previous.push_str(rest),
                _ => unfolded.push((index + 1, line.to_owned())),
            }
        }
        Lines { unfolded }
    }

    /// Refuses a file that does not start with BEGIN:VCALENDAR or does not
    /// end with END:VCALENDAR (a download cut short).
    fn check_whole_calendar(&self) -> Result<(), Problem> {
        let mut written = self
            .unfolded
            .iter()
            .filter(|(_, text)| !text.trim().is_empty());
        let whole = |line: usize, message: String| Problem {
            location: format!("line {line}"),
            record: None,
            message,
        };
        let Some((first_line, first)) = written.next() else {
            return Err(whole(1, "the file is empty".to_owned()));
        };
        if !first.trim().eq_ignore_ascii_case("BEGIN:VCALENDAR") {
            return Err(whole(
                *first_line,
                format!(
                    "this is not an iCalendar file: it should start with BEGIN:VCALENDAR, \
                     not \"{}\"",
                    shorten(first.trim())
                ),
            ));
        }
        let (last_line, last) = written
            .next_back()
            .map_or((*first_line, first), |(line, text)| (*line, text));
        if !last.trim().eq_ignore_ascii_case("END:VCALENDAR") {
            return Err(whole(
                last_line,
                "the file ends without END:VCALENDAR, so it looks cut short: \
                 download or export it again"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// A problem for the `icalendar` parser's error, which names a line of
    /// the unfolded text.
    fn syntax_problem(&self, message: &str) -> Problem {
        static AT_LINE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"at line (\d+)").expect("line pattern compiles"));
        let found = AT_LINE
            .captures(message)
            .and_then(|captures| captures[1].parse::<usize>().ok())
            .and_then(|number| self.unfolded.get(number.checked_sub(1)?));
        let Some((line, text)) = found else {
            return Problem {
                location: "line 1".to_owned(),
                record: None,
                message: "the iCalendar structure is broken somewhere: every BEGIN: needs \
                          its END: and every line a NAME:value"
                    .to_owned(),
            };
        };
        let text = text.trim();
        let message = if starts_with_ignore_case(text, "BEGIN:VCALENDAR") {
            "a second calendar starts here: import one calendar per file".to_owned()
        } else if starts_with_ignore_case(text, "END:") {
            format!(
                "\"{}\" does not close the part that is open here: is a line missing \
                 or mistyped?",
                shorten(text)
            )
        } else {
            format!(
                "this line cannot be read as iCalendar (\"{}\"): every line needs a \
                 NAME:value and every BEGIN: its END:",
                shorten(text)
            )
        };
        Problem {
            location: format!("line {line}"),
            record: None,
            message,
        }
    }

    /// The line of each BEGIN:VEVENT directly inside the calendar, in order.
    fn event_lines(&self) -> Vec<usize> {
        let mut depth = 0usize;
        let mut found = Vec::new();
        for (line, text) in &self.unfolded {
            let text = text.trim();
            if let Some(name) = strip_prefix_ignore_case(text, "BEGIN:") {
                depth += 1;
                if depth == 2 && name.trim().eq_ignore_ascii_case("VEVENT") {
                    found.push(*line);
                }
            } else if starts_with_ignore_case(text, "END:") {
                depth = depth.saturating_sub(1);
            }
        }
        found
    }
}

/// The time zones the calendar names: IANA names as they are, and others
/// (Outlook's Windows names, Mozilla's prefixed ones) through their
/// VTIMEZONE's X-LIC-LOCATION or a small table.
struct Zones {
    /// VTIMEZONE TZID to its X-LIC-LOCATION.
    locations: HashMap<String, String>,
}

impl Zones {
    fn new(components: &[Component<'_>]) -> Self {
        let locations = components
            .iter()
            .filter(|component| component.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
            .filter_map(|component| {
                let tzid = find(&component.properties, "TZID")?.val.as_str().trim();
                let location = find(&component.properties, "X-LIC-LOCATION")?.val.as_str();
                Some((tzid.to_owned(), location.trim().to_owned()))
            })
            .collect();
        Zones { locations }
    }

    fn resolve(&self, tzid: &str) -> Option<Tz> {
        let tzid = tzid.trim().trim_matches('"').trim();
        let iana = |name: &str| Tz::from_str(name.trim()).ok();
        if let Some(zone) = iana(tzid) {
            return Some(zone);
        }
        if let Some(zone) = self.locations.get(tzid).and_then(|name| iana(name)) {
            return Some(zone);
        }
        // "/mozilla.org/20050126_1/Europe/London", "/citadel.org/.../Europe/London".
        let from_suffix = tzid
            .match_indices('/')
            .find_map(|(at, _)| iana(&tzid[at + 1..]));
        if from_suffix.is_some() {
            return from_suffix;
        }
        let windows = WINDOWS_ZONES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(tzid))
            .and_then(|(_, name)| iana(name));
        if windows.is_some() {
            return windows;
        }
        // Outlook's display names: "(UTC+00:00) Dublin, Edinburgh, Lisbon, London".
        let lower = tzid.to_lowercase();
        (lower.contains("london") || lower.contains("edinburgh")).then_some(Tz::Europe__London)
    }
}

/// Windows time zone names that calendars from Outlook and Exchange use, for
/// the zones our users' calendars are likely to be in.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("UTC", "UTC"),
    ("Coordinated Universal Time", "UTC"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("Pacific Standard Time", "America/Los_Angeles"),
];

/// A date or time as an event gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stamp {
    /// VALUE=DATE: an all-day date.
    Date(NaiveDate),
    /// No zone at all: "the same wall-clock time wherever you are".
    Floating(NaiveDateTime),
    /// With TZID.
    Zoned(NaiveDateTime, Tz),
    /// Ending in Z.
    Utc(NaiveDateTime),
}

impl Stamp {
    /// The wall-clock time this is in `zone`.
    fn local_in(self, zone: Tz) -> NaiveDateTime {
        match self {
            Stamp::Date(date) => date.and_time(NaiveTime::MIN),
            Stamp::Floating(local) => local,
            // Kept as written, even in a daylight-saving gap, so the rule
            // sees the time that was meant.
            Stamp::Zoned(local, own) if own == zone => local,
            Stamp::Zoned(local, own) => {
                local_instant(own, local).with_timezone(&zone).naive_local()
            }
            Stamp::Utc(utc) => zone.from_utc_datetime(&utc).naive_local(),
        }
    }

    fn instant_in(self, zone: Tz) -> DateTime<Utc> {
        local_instant(zone, self.local_in(zone)).with_timezone(&Utc)
    }
}

/// How an event says it ends.
#[derive(Debug, Clone, Copy)]
enum End {
    Unsaid,
    At(Stamp),
    /// DURATION, in minutes.
    Lasts(i64),
}

/// One VEVENT as written, before it is put together with the others of its
/// series.
struct RawEvent {
    /// The line of its BEGIN:VEVENT.
    line: usize,
    uid: String,
    summary: Option<String>,
    /// It has a RECURRENCE-ID: it changes one instance of its series.
    is_instance: bool,
    /// Everything else, or what is wrong with it.
    details: Result<Details, String>,
}

struct Details {
    start: Stamp,
    end: End,
    recurrence_id: Option<Stamp>,
    rules: Vec<String>,
    extra_dates: Vec<Stamp>,
    excluded_dates: Vec<Stamp>,
    cancelled: bool,
    /// CLASS:PRIVATE or CONFIDENTIAL: not for publishing, whatever else it
    /// says (a calendar's appointments with people).
    private: bool,
    description: Option<String>,
    url: Option<String>,
    location: Option<String>,
    geo: Option<(f64, f64)>,
    categories: BTreeSet<Category>,
    free: Option<bool>,
}

impl RawEvent {
    fn read(component: &Component<'_>, line: usize, zones: &Zones) -> RawEvent {
        let properties = &component.properties;
        let summary = find(properties, "SUMMARY")
            .map(text_value)
            .filter(|summary| !summary.is_empty());
        let uid = find(properties, "UID")
            .map(|uid| uid.val.as_str().trim().to_owned())
            .filter(|uid| !uid.is_empty())
            // RFC 5545 requires a UID, but some feeds leave it out. The start
            // and name identify the event well enough to update it when the
            // file is imported again.
            .unwrap_or_else(|| {
                let start = find(properties, "DTSTART").map_or("", |p| p.val.as_str());
                format!(
                    "no-uid:{}:{}",
                    start.trim(),
                    summary.as_deref().unwrap_or("")
                )
            });
        RawEvent {
            line,
            uid,
            summary,
            is_instance: find(properties, "RECURRENCE-ID").is_some(),
            details: Details::read(properties, zones),
        }
    }

    /// How problems name this event: `event "uid" ("summary")`.
    fn record(&self) -> String {
        match &self.summary {
            Some(summary) => format!("event \"{}\" (\"{summary}\")", self.uid),
            None => format!("event \"{}\"", self.uid),
        }
    }

    fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            location: format!("line {}", self.line),
            record: Some(self.record()),
            message: message.into(),
        }
    }

    fn skipped(&self, reason: &str) -> Skipped {
        Skipped {
            record: format!("VEVENT \"{}\" at line {}", self.uid, self.line),
            reason: reason.to_owned(),
        }
    }
}

impl Details {
    fn read(properties: &[Property<'_>], zones: &Zones) -> Result<Details, String> {
        let single = |name: &str| -> Result<Option<Stamp>, String> {
            let Some(property) = find(properties, name) else {
                return Ok(None);
            };
            match stamps(property, zones)?.as_slice() {
                [stamp] => Ok(Some(*stamp)),
                _ => Err(format!(
                    "{name} \"{}\" should be one date or date and time",
                    shorten(property.val.as_str())
                )),
            }
        };
        let start =
            single("DTSTART")?.ok_or("it has no DTSTART, so there is no date to list it under")?;
        let end = match (single("DTEND")?, find(properties, "DURATION")) {
            (Some(end), _) => End::At(end),
            (None, Some(duration)) => End::Lasts(parse_duration(duration.val.as_str())?),
            (None, None) => End::Unsaid,
        };
        let list = |name: &str| -> Result<Vec<Stamp>, String> {
            let mut all = Vec::new();
            for property in find_all(properties, name) {
                all.extend(stamps(property, zones)?);
            }
            Ok(all)
        };
        let geo = find(properties, "GEO")
            .map(|geo| parse_geo(geo.val.as_str()))
            .transpose()?;
        let description = find(properties, "DESCRIPTION")
            .map(text_value)
            .or_else(|| find(properties, "X-ALT-DESC").map(text_value))
            .map(|text| plain_text(&text))
            .filter(|text| !text.is_empty());
        let categories = find_all(properties, "CATEGORIES")
            .flat_map(|property| property.val.as_str().split(','))
            .filter_map(|name| {
                let slug = name
                    .replace('\\', "")
                    .trim()
                    .to_lowercase()
                    .replace(' ', "-");
                Category::from_slug(&slug)
            })
            .collect();
        let status = find(properties, "STATUS").map(text_value);
        Ok(Details {
            start,
            end,
            recurrence_id: single("RECURRENCE-ID")?,
            rules: find_all(properties, "RRULE")
                .map(|rule| rule.val.as_str().trim().to_owned())
                .filter(|rule| !rule.is_empty())
                .collect(),
            extra_dates: list("RDATE")?,
            excluded_dates: list("EXDATE")?,
            cancelled: status.is_some_and(|status| status.eq_ignore_ascii_case("CANCELLED")),
            private: find(properties, "CLASS")
                .map(text_value)
                .is_some_and(|class| {
                    class.eq_ignore_ascii_case("PRIVATE")
                        || class.eq_ignore_ascii_case("CONFIDENTIAL")
                }),
            description,
            url: find(properties, "URL")
                .map(|url| url.val.as_str().trim().to_owned())
                .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
            location: find(properties, "LOCATION")
                .map(text_value)
                .filter(|location| !location.is_empty()),
            geo,
            categories,
            free: find(properties, "X-COST-TYPE")
                .map(text_value)
                .filter(|cost| cost.eq_ignore_ascii_case("free"))
                .map(|_| true),
        })
    }

    /// How long each occurrence lasts, in minutes: `None` when the event
    /// does not say or lasts no time at all; a whole day for a date with no
    /// end, as RFC 5545 says.
    fn duration_minutes(&self, zone: Tz) -> Result<Option<u32>, String> {
        let minutes = match (self.start, self.end) {
            (Stamp::Date(_), End::Unsaid) => return Ok(Some(MINUTES_PER_DAY)),
            (_, End::Unsaid) => return Ok(None),
            (_, End::Lasts(minutes)) => minutes,
            (Stamp::Date(start), End::At(Stamp::Date(end))) => {
                (end - start).num_days() * i64::from(MINUTES_PER_DAY)
            }
            (start, End::At(end)) => (end.instant_in(zone) - start.instant_in(zone)).num_minutes(),
        };
        if minutes < 0 {
            return Err("it ends (DTEND or DURATION) before it starts (DTSTART)".to_owned());
        }
        if minutes == 0 {
            return Ok(None);
        }
        u32::try_from(minutes)
            .map(Some)
            .map_err(|_| format!("it lasts {minutes} minutes, which cannot be right"))
    }
}

/// An event of a series, with its details known to be readable.
type Member<'e> = (&'e RawEvent, &'e Details);

/// Puts the events of each series together into records.
struct Builder<'a> {
    options: &'a ImportOptions,
    /// X-WR-TIMEZONE: the zone UTC and floating times are shown in.
    calendar_zone: Option<Tz>,
    organization_id: String,
    parsed: Parsed,
    /// LOCATION text to its index in `parsed.batch.locations`.
    locations_by_text: HashMap<String, usize>,
}

impl Builder<'_> {
    /// Adds one series: the VEVENTs sharing a UID.
    fn add_series(&mut self, members: &[&RawEvent]) {
        let mut problems: Vec<Problem> = Vec::new();
        let mut masters: Vec<Member> = Vec::new();
        let mut instances: Vec<Member> = Vec::new();
        for event in members {
            match &event.details {
                Err(err) => problems.push(event.problem(err)),
                Ok(details) if event.is_instance => instances.push((event, details)),
                Ok(details) => masters.push((event, details)),
            }
        }
        if let [(first, _), (second, _), ..] = masters.as_slice() {
            let lines: Vec<String> = masters
                .iter()
                .map(|(event, _)| event.line.to_string())
                .collect();
            problems.push(second.problem(format!(
                "UID appears twice, in the events at lines {} (first at line {}): give each \
                 event its own UID, or mark a changed instance with RECURRENCE-ID",
                lines.join(" and "),
                first.line
            )));
        }
        if !problems.is_empty() {
            self.parsed.problems.extend(problems);
            return;
        }
        let base = match masters.first() {
            Some(master) => *master,
            // Only changed instances of a series not in the file (shared
            // calendars export these): each one is an event in its own right.
            None => match instances.iter().find(|(_, details)| !details.cancelled) {
                Some(instance) => *instance,
                None => {
                    if let Some((event, _)) = instances.first() {
                        let skipped = event.skipped(
                            "it only cancels instances of a series that is not in the file",
                        );
                        self.parsed.batch.skipped.push(skipped);
                    }
                    return;
                }
            },
        };
        let (base, base_details) = base;
        if !base.is_instance && base_details.cancelled {
            let skipped = base.skipped("it is cancelled (STATUS:CANCELLED)");
            self.parsed.batch.skipped.push(skipped);
            return;
        }
        if base_details.private {
            let skipped = base.skipped("it is marked private (CLASS:PRIVATE or CONFIDENTIAL)");
            self.parsed.batch.skipped.push(skipped);
            return;
        }
        let Some(name) = base.summary.clone() else {
            let skipped = base.skipped("it has no SUMMARY, so there is no name to list it under");
            self.parsed.batch.skipped.push(skipped);
            return;
        };
        let zone = match base_details.start {
            Stamp::Zoned(_, zone) => zone,
            Stamp::Utc(_) => self.calendar_zone.unwrap_or(Tz::UTC),
            Stamp::Floating(_) | Stamp::Date(_) => self.calendar_zone.unwrap_or(Tz::Europe__London),
        };
        let recurrence = match series_recurrence(zone, (base, base_details), &masters, &instances) {
            Ok(recurrence) => recurrence,
            Err(problem) => {
                self.parsed.problems.push(problem);
                return;
            }
        };
        if let Err(err) = recurrence.validate() {
            self.parsed.problems.push(base.problem(err.to_string()));
            return;
        }
        let location = base_details.location.as_deref();
        let online = location.is_some_and(|text| ONLINE.is_match(text));
        let location_id = match location.filter(|_| !online) {
            Some(text) => match self.location(text, base_details.geo) {
                Ok(id) => Some(id),
                Err(message) => {
                    self.parsed.problems.push(base.problem(message));
                    return;
                }
            },
            None => None,
        };

        let source = &self.options.source;
        let uid = &base.uid;
        let service_id = model::record_id(source, "service", uid);
        let mut categories = self.options.categories.clone();
        categories.extend(base_details.categories.iter().copied());
        let schedule = Schedule {
            id: model::record_id(source, "schedule", uid),
            description: recurrence.summary(),
            recurrence: Some(recurrence),
            extra: Extra::new(),
        };
        self.parsed.batch.services.push(Service {
            id: service_id.clone(),
            source_id: uid.clone(),
            organization_id: self.organization_id.clone(),
            name,
            description: base_details.description.clone(),
            url: base_details.url.clone(),
            email: None,
            status: "active".to_owned(),
            fees_description: None,
            free: base_details.free,
            application_process: None,
            online,
            phones: Vec::new(),
            schedules: vec![schedule],
            attributes: Vec::new(),
            categories,
            moderation: Moderation::Pending,
            last_confirmed: None,
            expires: None,
            extra: Extra::new(),
        });
        if let Some(location_id) = location_id {
            self.parsed
                .batch
                .service_at_locations
                .push(ServiceAtLocation {
                    id: model::record_id(source, "service_at_location", uid),
                    source_id: uid.clone(),
                    service_id,
                    location_id,
                    description: None,
                    schedules: Vec::new(),
                    phones: Vec::new(),
                    extra: Extra::new(),
                });
        }
    }

    /// The id of the location for a LOCATION text, made the first time it
    /// is seen.
    fn location(&mut self, text: &str, geo: Option<(f64, f64)>) -> Result<String, String> {
        let batch: &mut Batch = &mut self.parsed.batch;
        if let Some(index) = self.locations_by_text.get(text) {
            let location = &mut batch.locations[*index];
            // One event may give GEO where another at the same place did not.
            if let (None, Some((latitude, longitude))) = (location.latitude, geo) {
                location.latitude = Some(latitude);
                location.longitude = Some(longitude);
            }
            return Ok(location.id.clone());
        }
        let source = &self.options.source;
        let source_id = format!("location:{text}");
        let id = model::record_id(source, "location", &source_id);
        let name = text.split(',').next().unwrap_or(text).trim().to_owned();
        let addresses = uk_address(text, &name)
            .map(|(address_1, city, postal_code)| Address {
                id: model::record_id(source, "address", &source_id),
                address_1,
                address_2: None,
                city,
                region: None,
                state_province: String::new(),
                postal_code,
                country: "GB".to_owned(),
                address_type: "physical".to_owned(),
                extra: Extra::new(),
            })
            .into_iter()
            .collect();
        self.locations_by_text
            .insert(text.to_owned(), batch.locations.len());
        batch.locations.push(Location {
            id: id.clone(),
            source_id,
            location_type: "physical".to_owned(),
            organization_id: Some(self.organization_id.clone()),
            name: Some(name),
            description: None,
            latitude: geo.map(|(latitude, _)| latitude),
            longitude: geo.map(|(_, longitude)| longitude),
            step_free: None,
            addresses,
            phones: Vec::new(),
            extra: Extra::new(),
        });
        Ok(id)
    }
}

/// The rule of a series in `zone`: the master's, with its changed
/// instances; or, with no master, the changed instances as dates.
fn series_recurrence(
    zone: Tz,
    (base, base_details): Member<'_>,
    masters: &[Member<'_>],
    instances: &[Member<'_>],
) -> Result<Recurrence, Problem> {
    let duration_minutes = base_details
        .duration_minutes(zone)
        .map_err(|err| base.problem(err))?;
    let all_day = matches!(base_details.start, Stamp::Date(_));
    let start = base_details.start.local_in(zone);
    // A bare date naming an instance of a timed series (EXDATE;VALUE=DATE,
    // as some calendars write) means the instance on that date.
    let instance_at = |stamp: Stamp| match stamp {
        Stamp::Date(date) if !all_day => date.and_time(start.time()),
        stamp => stamp.local_in(zone),
    };
    let local = |stamps: &[Stamp]| -> Vec<NaiveDateTime> {
        stamps.iter().map(|stamp| instance_at(*stamp)).collect()
    };
    let mut recurrence = Recurrence {
        timezone: zone.name().to_owned(),
        start,
        all_day,
        duration_minutes,
        rules: base_details.rules.clone(),
        extra_dates: local(&base_details.extra_dates),
        excluded_dates: local(&base_details.excluded_dates),
        changed: Vec::new(),
    };
    if masters.is_empty() {
        recurrence.rules.clear();
        recurrence.extra_dates = instances
            .iter()
            .filter(|(event, details)| !details.cancelled && !std::ptr::eq(*event, base))
            .map(|(_, details)| details.start.local_in(zone))
            .collect();
        return Ok(recurrence);
    }
    for (instance, instance_details) in instances {
        let Some(original) = instance_details.recurrence_id else {
            continue;
        };
        let start = (!instance_details.cancelled).then(|| instance_details.start.local_in(zone));
        recurrence.changed.push(ChangedInstance {
            original_start: instance_at(original),
            start,
            duration_minutes: instance_details
                .duration_minutes(zone)
                .map_err(|err| instance.problem(err))?,
        });
    }
    Ok(recurrence)
}

/// A LOCATION that is a link or a way of meeting online rather than a place.
static ONLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
          \b[a-z][a-z0-9+.-]*://                     # a link with a scheme
        | ^\s*www\.                                  # a link without one
        | ^\s*[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}   # a bare host name, such as
          (:[0-9]+)?(\s|/|$)                         #   mumble.example.org port 64738
        | \b(online|zoom)\b",
    )
    .expect("online pattern compiles")
});

/// A UK postcode, such as `HD1 2AB` or `hd12ab`.
static UK_POSTCODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})\b")
        .expect("postcode pattern compiles")
});

/// (address_1, city, postcode) when the text has a UK postcode: what comes
/// before the postcode is the address, its last comma-separated part the
/// town when there is more than one part.
fn uk_address(text: &str, name: &str) -> Option<(String, String, String)> {
    let captures = UK_POSTCODE.captures(text)?;
    let postcode = format!("{} {}", &captures[1], &captures[2]).to_uppercase();
    let whole = captures.get(0)?;
    let before: Vec<&str> = text[..whole.start()]
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    let (address, city) = match before.split_last() {
        Some((city, rest)) if !rest.is_empty() => (rest.join(", "), (*city).to_owned()),
        Some((only, _)) => ((*only).to_owned(), String::new()),
        None => (name.to_owned(), String::new()),
    };
    Some((address, city, postcode))
}

/// Every date in a date property (EXDATE and RDATE may list several), read
/// with its TZID or VALUE=DATE; the start of each VALUE=PERIOD.
fn stamps(property: &Property<'_>, zones: &Zones) -> Result<Vec<Stamp>, String> {
    let name = property.name.as_str().to_ascii_uppercase();
    let value_type = parameter(property, "VALUE").map(str::to_ascii_uppercase);
    let zone = match parameter(property, "TZID") {
        Some(tzid) => Some(zones.resolve(tzid).ok_or_else(|| {
            format!(
                "{name} has an unknown time zone (TZID={tzid}): use an IANA name such as \
                 Europe/London, or include a VTIMEZONE with X-LIC-LOCATION"
            )
        })?),
        None => None,
    };
    property
        .val
        .as_str()
        .split(',')
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            let value = match value_type.as_deref() {
                Some("PERIOD") => value.split('/').next().unwrap_or(value),
                _ => value,
            };
            parse_stamp(value, value_type.as_deref() == Some("DATE"), zone).ok_or_else(|| {
                format!(
                    "{name} \"{}\" is not a date (YYYYMMDD) or a date and time \
                     (YYYYMMDDTHHMMSS, with Z for UTC)",
                    shorten(value)
                )
            })
        })
        .collect()
}

fn parse_stamp(value: &str, date_only: bool, zone: Option<Tz>) -> Option<Stamp> {
    let digits = |text: &str| text.bytes().all(|byte| byte.is_ascii_digit());
    if date_only || (value.len() == 8 && digits(value)) {
        if value.len() != 8 || !digits(value) {
            return None;
        }
        return NaiveDate::parse_from_str(value, "%Y%m%d")
            .ok()
            .map(Stamp::Date);
    }
    let (local, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(local) => (local, true),
        None => (value, false),
    };
    let well_formed = local.len() == 15
        && digits(&local[..8])
        && local[8..9].eq_ignore_ascii_case("T")
        && digits(&local[9..]);
    if !well_formed {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(&local.to_ascii_uppercase(), "%Y%m%dT%H%M%S").ok()?;
    Some(match (utc, zone) {
        (true, _) => Stamp::Utc(naive),
        (false, Some(zone)) => Stamp::Zoned(naive, zone),
        (false, None) => Stamp::Floating(naive),
    })
}

/// A DURATION (`PT1H30M`, `P1D`, `P1W`) in minutes; negative ones are
/// returned as they are, for the caller to refuse.
fn parse_duration(text: &str) -> Result<i64, String> {
    static DURATION: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^([+-])?P(?:([0-9]+)W)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$",
        )
        .expect("duration pattern compiles")
    });
    let text = text.trim();
    let bad = || {
        format!(
            "DURATION \"{}\" is not a duration such as PT1H30M or P1D",
            shorten(text)
        )
    };
    let captures = DURATION.captures(text).ok_or_else(bad)?;
    let number = |index: usize| -> Result<i64, String> {
        captures.get(index).map_or(Ok(0), |found| {
            found.as_str().parse::<i64>().map_err(|_| bad())
        })
    };
    let seconds = number(2)? * 7 * 86_400
        + number(3)? * 86_400
        + number(4)? * 3_600
        + number(5)? * 60
        + number(6)?;
    let minutes = seconds / 60;
    Ok(
        if captures.get(1).is_some_and(|sign| sign.as_str() == "-") {
            -minutes
        } else {
            minutes
        },
    )
}

/// GEO `latitude;longitude`, refused when out of range.
fn parse_geo(text: &str) -> Result<(f64, f64), String> {
    let bad = || {
        format!(
            "GEO \"{}\" is not a latitude and longitude such as 53.6458;-1.7850",
            shorten(text)
        )
    };
    let (latitude, longitude) = text.split_once([';', ',']).ok_or_else(bad)?;
    let latitude: f64 = latitude.trim().parse().map_err(|_| bad())?;
    let longitude: f64 = longitude.trim().parse().map_err(|_| bad())?;
    if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
        return Err(format!(
            "GEO \"{}\" is out of range: latitude must be from -90 to 90 and longitude \
             from -180 to 180",
            shorten(text)
        ));
    }
    Ok((latitude, longitude))
}

/// A description as plain text: HTML (some feeds put it in DESCRIPTION,
/// others in X-ALT-DESC) is turned into text.
fn plain_text(text: &str) -> String {
    if super::html::looks_like_html(text) {
        super::html::to_text(text)
    } else {
        text.trim().to_owned()
    }
}

/// The first property with this name, whatever its case.
fn find<'p, 'a>(properties: &'p [Property<'a>], name: &str) -> Option<&'p Property<'a>> {
    find_all(properties, name).next()
}

fn find_all<'p, 'a>(
    properties: &'p [Property<'a>],
    name: &str,
) -> impl Iterator<Item = &'p Property<'a>> {
    properties
        .iter()
        .filter(move |property| property.name.as_str().eq_ignore_ascii_case(name))
}

fn parameter<'p>(property: &'p Property<'_>, key: &str) -> Option<&'p str> {
    property
        .params
        .iter()
        .find(|parameter| parameter.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|parameter| parameter.val.as_ref())
        .map(|value| value.as_str().trim())
}

/// A text value, unescaped (`\,` `\;` `\n`) and trimmed. The parser
/// unescapes the standard text properties itself, only when named in upper
/// case; X- properties and lower-case names are unescaped here.
fn text_value(property: &Property<'_>) -> String {
    let name = property.name.as_str();
    let unescaped_by_parser = !name.starts_with("X-") && !name.chars().any(char::is_lowercase);
    if unescaped_by_parser {
        property.val.as_str().trim().to_owned()
    } else {
        ParseString::from(property.val.as_str().to_owned())
            .unescape_text()
            .as_str()
            .trim()
            .to_owned()
    }
}

/// Text quoted in a message, cut to a readable length.
fn shorten(text: &str) -> String {
    const MOST: usize = 60;
    match text.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    strip_prefix_ignore_case(text, prefix).is_some()
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use chrono::NaiveDate;

    use super::*;
    use crate::directory::recurrence::Occurrence;

    fn options() -> ImportOptions {
        ImportOptions {
            source: "test-calendar".to_owned(),
            categories: BTreeSet::from([Category::SocialGroups]),
        }
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    /// The real calendars, or `None` (having said so) when they are absent.
    fn data_dir() -> Option<PathBuf> {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/ics"));
        if dir.is_dir() {
            Some(dir.to_path_buf())
        } else {
            eprintln!("skipped: ../shared/data is absent");
            None
        }
    }

    fn parse_data(name: &str) -> Option<Parsed> {
        let path = data_dir()?.join(name);
        let text = std::fs::read_to_string(&path).expect("the data file is readable UTF-8");
        Some(parse(&text, &options()).unwrap_or_else(|problem| panic!("{name}: {problem}")))
    }

    fn service<'p>(parsed: &'p Parsed, uid: &str) -> &'p Service {
        parsed
            .batch
            .services
            .iter()
            .find(|service| service.source_id == uid)
            .unwrap_or_else(|| panic!("no service for {uid}: {:?}", parsed.problems))
    }

    fn recurrence(service: &Service) -> &Recurrence {
        service.schedules[0]
            .recurrence
            .as_ref()
            .expect("an event's schedule has a rule")
    }

    fn occurrences(service: &Service, from: &str, to: &str) -> Vec<Occurrence> {
        recurrence(service)
            .occurrences(date(from), date(to), 1000)
            .expect("expands")
    }

    /// Starts as UTC instants, easy to read in a failure.
    fn starts(service: &Service, from: &str, to: &str) -> Vec<String> {
        occurrences(service, from, to)
            .iter()
            .map(|o| o.starts_at.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    fn calendar(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
    }

    #[test]
    fn every_real_calendar_parses_and_every_schedule_expands() {
        let Some(dir) = data_dir() else {
            return;
        };
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("the data folder is readable")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".ics"))
            .collect();
        names.sort();
        assert!(!names.is_empty());
        for name in names {
            let parsed = parse_data(&name).expect("present");
            let batch = &parsed.batch;
            eprintln!(
                "{name}: {} services, {} locations, {} skipped, {} problems",
                batch.services.len(),
                batch.locations.len(),
                batch.skipped.len(),
                parsed.problems.len()
            );
            for problem in &parsed.problems {
                eprintln!("  {problem}");
            }
            for skipped in &batch.skipped {
                eprintln!("  skipped {}: {}", skipped.record, skipped.reason);
            }
            for service in &batch.services {
                let rule = recurrence(service);
                rule.validate().expect("validated when parsed");
                rule.occurrences(date("2000-01-01"), date("2030-12-31"), 20_000)
                    .unwrap_or_else(|err| panic!("{name}: {}: {err}", service.name));
            }
            assert_eq!(batch.organizations.len(), 1);
            // Only the RFC's RDATE examples break the rules (no DTSTART).
            if name != "rfc_5545_RDATE_example.ics" {
                assert_eq!(parsed.problems, Vec::new(), "{name}");
            }
        }
    }

    #[test]
    fn last_friday_of_the_month_with_a_moved_instance() {
        let Some(parsed) = parse_data("issue_62_moved_event.ics") else {
            return;
        };
        assert_eq!(parsed.batch.organizations[0].name, "Partyborn Zeitgeist");
        assert_eq!(parsed.batch.services.len(), 1);
        let karaoke = service(&parsed, "38m812jicsrer5gorh3mlp7qhc@google.com");
        assert_eq!(karaoke.name, "Karaoke");
        let rule = recurrence(karaoke);
        assert_eq!(rule.timezone, "Europe/Berlin");
        assert_eq!(rule.rules, ["FREQ=MONTHLY;BYDAY=-1FR"]);
        assert_eq!(
            karaoke.schedules[0].description.as_deref(),
            Some("Last Friday of the month, 9:30pm")
        );
        // The 31 December instance moved to 17 December.
        assert_eq!(
            starts(karaoke, "2021-11-01", "2022-01-31"),
            [
                "2021-11-26T20:30Z",
                "2021-12-17T20:30Z",
                "2022-01-28T20:30Z"
            ]
        );
        // The HTML link in the description is now plain text.
        let description = karaoke.description.as_deref().unwrap_or_default();
        assert!(
            description.starts_with("Jeden letzten Freitag im Monat"),
            "{description}"
        );
        assert!(!description.contains("<a"), "{description}");
    }

    #[test]
    fn a_series_of_dates_with_no_rule_comes_from_rdate() {
        let Some(parsed) = parse_data("rdate_hackerpublicradio.ics") else {
            return;
        };
        let news = &parsed.batch.services[0];
        assert_eq!(news.name, "HPR Community News");
        // The location is a voice-chat server, not a place.
        assert!(news.online);
        assert!(parsed.batch.locations.is_empty());
        let rule = recurrence(news);
        assert!(rule.rules.is_empty());
        assert_eq!(rule.extra_dates.len(), 12);
        // UTC times are shown in the calendar's X-WR-TIMEZONE.
        assert_eq!(rule.timezone, "Europe/London");
        assert_eq!(rule.duration_minutes, Some(120));
        let found = starts(news, "2013-01-01", "2014-12-31");
        assert_eq!(found.len(), 12, "{found:?}");
        assert_eq!(found[0], "2013-08-03T19:00Z");
        assert_eq!(found[4], "2013-11-30T19:00Z");
        assert_eq!(found[11], "2014-07-05T19:00Z");
        let summer = occurrences(news, "2013-08-03", "2013-08-03");
        assert_eq!(
            summer[0].local_start,
            NaiveTime::from_hms_opt(20, 0, 0).expect("time")
        );
    }

    #[test]
    fn thunderbird_london_zone_and_changed_instances() {
        let Some(parsed) = parse_data("issue_223_thunderbird.ics") else {
            return;
        };
        let event = service(&parsed, "b143dcdc-2154-49a8-abea-5c64310ebabd");
        let rule = recurrence(event);
        assert_eq!(rule.timezone, "Europe/London");
        assert_eq!(rule.changed.len(), 2);
        // 09:00 British Summer Time is 08:00 UTC; the 24th moved to 11:00.
        assert_eq!(
            starts(event, "2025-04-01", "2025-04-30"),
            [
                "2025-04-23T08:00Z",
                "2025-04-24T10:00Z",
                "2025-04-25T08:00Z",
                "2025-04-26T08:00Z",
                "2025-04-27T08:00Z",
            ]
        );
    }

    #[test]
    fn a_london_vtimezone_gives_gmt_in_winter_and_bst_in_summer() {
        // An Outlook-style zone name, resolved through X-LIC-LOCATION.
        let text = calendar(
            "BEGIN:VTIMEZONE\r\nTZID:My London\r\nX-LIC-LOCATION:Europe/London\r\nEND:VTIMEZONE\r\n\
             BEGIN:VEVENT\r\nUID:walk@example.org\r\nSUMMARY:Walk and talk\r\n\
             DTSTART;TZID=My London:20260106T100000\r\nDTEND;TZID=My London:20260106T113000\r\n\
             RRULE:FREQ=WEEKLY;BYDAY=TU\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:tea@example.org\r\nSUMMARY:Tea\r\n\
             DTSTART;TZID=GMT Standard Time:20260106T150000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert_eq!(parsed.problems, Vec::new());
        let walk = service(&parsed, "walk@example.org");
        assert_eq!(recurrence(walk).timezone, "Europe/London");
        assert_eq!(
            starts(walk, "2026-01-06", "2026-01-06"),
            ["2026-01-06T10:00Z"]
        );
        assert_eq!(
            starts(walk, "2026-07-07", "2026-07-07"),
            ["2026-07-07T09:00Z"]
        );
        assert_eq!(
            walk.schedules[0].description.as_deref(),
            Some("Every Tuesday, 10am to 11:30am")
        );
        let tea = service(&parsed, "tea@example.org");
        assert_eq!(recurrence(tea).timezone, "Europe/London");
        assert_eq!(
            tea.schedules[0].description.as_deref(),
            Some("Tuesday 6 January, 3pm")
        );
    }

    #[test]
    fn google_export_with_excluded_dates_and_moved_instances() {
        let Some(parsed) = parse_data("machbar_16_feb_2019.ics") else {
            return;
        };
        assert_eq!(parsed.batch.organizations[0].name, "machBar - Öffentlich");
        let school = service(&parsed, "7g6502aejkun96i5fenfu6hvc1@google.com");
        // EXDATE 7 March.
        assert_eq!(
            starts(school, "2019-02-01", "2019-03-20"),
            ["2019-02-28T07:30Z", "2019-03-14T07:30Z"]
        );
        let repair = service(&parsed, "ome5r9735mpdoo3n6lpf8oi0c4@google.com");
        assert_eq!(recurrence(repair).changed.len(), 3);
        // RECURRENCE-ID 16 February moved to the 24th.
        assert_eq!(
            starts(repair, "2019-02-01", "2019-02-28"),
            ["2019-02-24T10:00Z"]
        );
        // Moved instances keep their own places in the file, but a service
        // has one: the series' own.
        let link = parsed
            .batch
            .service_at_locations
            .iter()
            .find(|link| link.source_id == "ome5r9735mpdoo3n6lpf8oi0c4@google.com")
            .expect("the repair café has a place");
        let place = parsed
            .batch
            .locations
            .iter()
            .find(|location| location.id == link.location_id)
            .expect("the link points at a location");
        assert_eq!(
            place.name.as_deref(),
            Some("Stadt- u. Landesbibliothek Potsdam im Bildungsforum")
        );
        // Several events at "machBar" share one location.
        let at_machbar = parsed
            .batch
            .locations
            .iter()
            .filter(|location| location.source_id == "location:machBar")
            .count();
        assert_eq!(at_machbar, 1);
    }

    #[test]
    fn bank_holidays_are_all_day_events_in_london() {
        let Some(parsed) = parse_data("england-and-wales.ics") else {
            return;
        };
        assert_eq!(parsed.batch.services.len(), 49);
        let new_year = service(&parsed, "ca6af7456b0088abad9a69f9f620f5ac-0@gov.uk");
        assert_eq!(new_year.name, "New Year’s Day");
        let rule = recurrence(new_year);
        assert!(rule.all_day);
        assert_eq!(rule.timezone, "Europe/London");
        assert_eq!(rule.duration_minutes, Some(24 * 60));
        assert_eq!(
            new_year.schedules[0].description.as_deref(),
            Some("Monday 2 January")
        );
        let day = occurrences(new_year, "2012-01-01", "2012-01-31");
        assert_eq!(day.len(), 1);
        assert!(day[0].all_day);
        assert_eq!(day[0].local_date, date("2012-01-02"));
        assert_eq!(day[0].starts_at.to_rfc3339(), "2012-01-02T00:00:00+00:00");
        let summer = service(&parsed, "ca6af7456b0088abad9a69f9f620f5ac-6@gov.uk");
        let day = occurrences(summer, "2012-08-01", "2012-08-31");
        assert_eq!(day[0].local_date, date("2012-08-27"));
        // Local midnight in summer time is 23:00 UTC the day before.
        assert_eq!(day[0].starts_at.to_rfc3339(), "2012-08-26T23:00:00+00:00");
    }

    #[test]
    fn a_file_cut_short_is_refused_with_its_last_line() {
        let text = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:a@example.org\n\
                    SUMMARY:Coffee morning\nDTSTART:20260101T100000\n";
        let problem = parse(text, &options()).expect_err("refused");
        assert_eq!(problem.location, "line 6");
        assert!(problem.message.contains("END:VCALENDAR"), "{problem}");
    }

    #[test]
    fn a_file_that_is_not_icalendar_is_refused_at_line_one() {
        let problem = parse("Name,Date\nCoffee,2026-01-01\n", &options()).expect_err("refused");
        assert_eq!(problem.location, "line 1");
        assert!(
            problem.message.contains("not an iCalendar file"),
            "{problem}"
        );
        let problem = parse("", &options()).expect_err("refused");
        assert_eq!(problem.location, "line 1");
    }

    #[test]
    fn a_broken_structure_is_refused_with_its_line() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:a@example.org\r\nDESCRIPTION:long\r\n  folded\r\n\
             DTSTART:20260101T100000\r\nEND:VTODO\r\n",
        );
        let problem = parse(&text, &options()).expect_err("refused");
        // The folded line counts: END:VTODO is line 9 of the file.
        assert_eq!(problem.location, "line 9", "{problem}");
        assert!(problem.message.contains("END:VTODO"), "{problem}");
    }

    #[test]
    fn a_bad_rule_is_a_problem_naming_the_event_and_leaves_only_it_out() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:good@example.org\r\nSUMMARY:Knit and natter\r\n\
             DTSTART:20260101T100000\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:bad@example.org\r\nSUMMARY:Men's shed\r\n\
             DTSTART:20260101T100000\r\nRRULE:FREQ=FORTNIGHTLY\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert_eq!(parsed.batch.services.len(), 1);
        assert_eq!(parsed.batch.services[0].name, "Knit and natter");
        let [problem] = parsed.problems.as_slice() else {
            panic!("one problem: {:?}", parsed.problems);
        };
        assert_eq!(problem.location, "line 10");
        assert_eq!(
            problem.record.as_deref(),
            Some("event \"bad@example.org\" (\"Men's shed\")")
        );
        assert!(problem.message.contains("FREQ=FORTNIGHTLY"), "{problem}");
    }

    #[test]
    fn a_uid_used_twice_is_a_problem_naming_both_lines() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:same@example.org\r\nSUMMARY:Lunch club\r\n\
             DTSTART:20260101T120000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:same@example.org\r\nSUMMARY:Lunch club\r\n\
             DTSTART:20260108T120000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert!(parsed.batch.services.is_empty());
        let [problem] = parsed.problems.as_slice() else {
            panic!("one problem: {:?}", parsed.problems);
        };
        assert_eq!(problem.location, "line 9");
        assert!(problem.message.contains("UID appears twice"), "{problem}");
        assert!(problem.message.contains("lines 4 and 9"), "{problem}");
    }

    #[test]
    fn broken_dates_zones_and_places_are_problems_with_their_event() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:no-start@example.org\r\nSUMMARY:A\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:bad-date@example.org\r\nSUMMARY:B\r\nDTSTART:2026-01-01\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:bad-zone@example.org\r\nSUMMARY:C\r\n\
             DTSTART;TZID=Mars/Olympus_Mons:20260101T100000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:bad-geo@example.org\r\nSUMMARY:D\r\nDTSTART:20260101T100000\r\n\
             LOCATION:Town Hall\r\nGEO:153.6;-1.78\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:backwards@example.org\r\nSUMMARY:E\r\n\
             DTSTART:20260101T100000\r\nDTEND:20260101T090000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert!(parsed.batch.services.is_empty());
        let seen: Vec<(String, String)> = parsed
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.record.clone().unwrap_or_default()))
            .collect();
        let expected = [
            ("line 4", "event \"no-start@example.org\" (\"A\")"),
            ("line 8", "event \"bad-date@example.org\" (\"B\")"),
            ("line 13", "event \"bad-zone@example.org\" (\"C\")"),
            ("line 18", "event \"bad-geo@example.org\" (\"D\")"),
            ("line 25", "event \"backwards@example.org\" (\"E\")"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(line, record)| ((*line).to_owned(), (*record).to_owned()))
            .collect();
        assert_eq!(seen, expected);
        let messages: Vec<&str> = parsed.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages[0].contains("no DTSTART"));
        assert!(messages[1].contains("\"2026-01-01\""));
        assert!(messages[2].contains("Mars/Olympus_Mons"));
        assert!(messages[3].contains("out of range"));
        assert!(messages[4].contains("before it starts"));
    }

    #[test]
    fn events_become_services_at_shared_places_with_uk_addresses() {
        let text = calendar(
            "X-WR-CALNAME:Kirklees Friends\r\nX-WR-CALDESC:Groups\\, walks and clubs\r\n\
             BEGIN:VEVENT\r\nUID:knit@example.org\r\nSUMMARY:Knit and natter\r\n\
             DESCRIPTION:<p>Bring <b>wool</b> &amp; a friend</p>\r\n\
             URL:https://example.org/knit\r\nCATEGORIES:Social groups,Crafts\r\n\
             LOCATION:St Paul's Hall\\, 12 Queen Street\\, Huddersfield\\, hd1 2sp\r\n\
             GEO:53.6458;-1.7850\r\nDTSTART;TZID=Europe/London:20260106T100000\r\n\
             DURATION:PT2H\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:choir@example.org\r\nSUMMARY:Community choir\r\n\
             LOCATION:St Paul's Hall\\, 12 Queen Street\\, Huddersfield\\, hd1 2sp\r\n\
             DTSTART;TZID=Europe/London:20260107T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:chat@example.org\r\nSUMMARY:Chat online\r\n\
             LOCATION:https://meet.example.org/chat\r\n\
             DTSTART;TZID=Europe/London:20260108T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:gone@example.org\r\nSUMMARY:Cancelled club\r\nSTATUS:CANCELLED\r\n\
             DTSTART;TZID=Europe/London:20260108T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:nameless@example.org\r\n\
             DTSTART;TZID=Europe/London:20260108T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:visit@example.org\r\nSUMMARY:Home visit\r\nCLASS:PRIVATE\r\n\
             DTSTART;TZID=Europe/London:20260108T150000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert_eq!(parsed.problems, Vec::new());
        let batch = &parsed.batch;
        assert_eq!(batch.source, "test-calendar");
        let organization = &batch.organizations[0];
        assert_eq!(organization.name, "Kirklees Friends");
        assert_eq!(organization.description, "Groups, walks and clubs");
        assert_eq!(organization.source_id, "calendar");
        assert_eq!(
            organization.id,
            model::record_id("test-calendar", "organization", "calendar")
        );

        let names: Vec<&str> = batch.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Knit and natter", "Community choir", "Chat online"]);
        let skipped: Vec<(&str, &str)> = batch
            .skipped
            .iter()
            .map(|s| (s.record.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 3);
        assert_eq!(skipped[0].0, "VEVENT \"gone@example.org\" at line 30");
        assert!(skipped[0].1.contains("cancelled"));
        assert_eq!(skipped[1].0, "VEVENT \"nameless@example.org\" at line 36");
        assert!(skipped[1].1.contains("SUMMARY"));
        // A private appointment is never listed.
        assert_eq!(skipped[2].0, "VEVENT \"visit@example.org\" at line 40");
        assert!(skipped[2].1.contains("private"), "{}", skipped[2].1);

        let knit = service(&parsed, "knit@example.org");
        assert_eq!(
            knit.id,
            model::record_id("test-calendar", "service", "knit@example.org")
        );
        assert_eq!(knit.organization_id, organization.id);
        assert_eq!(knit.description.as_deref(), Some("Bring wool & a friend"));
        assert_eq!(knit.url.as_deref(), Some("https://example.org/knit"));
        assert_eq!(knit.status, "active");
        assert_eq!(knit.moderation, Moderation::Pending);
        assert!(!knit.online);
        // The import's own category, and the file's that we know.
        assert_eq!(knit.categories, BTreeSet::from([Category::SocialGroups]));
        assert_eq!(
            knit.schedules[0].description.as_deref(),
            Some("Every Tuesday, 10am to 12pm")
        );
        assert_eq!(
            knit.schedules[0].id,
            model::record_id("test-calendar", "schedule", "knit@example.org")
        );

        let [place] = batch.locations.as_slice() else {
            panic!("one shared place: {:?}", batch.locations);
        };
        assert_eq!(place.name.as_deref(), Some("St Paul's Hall"));
        assert_eq!(
            place.source_id,
            "location:St Paul's Hall, 12 Queen Street, Huddersfield, hd1 2sp"
        );
        assert_eq!(
            (place.latitude, place.longitude),
            (Some(53.6458), Some(-1.785))
        );
        let [address] = place.addresses.as_slice() else {
            panic!("one address: {:?}", place.addresses);
        };
        assert_eq!(address.address_1, "St Paul's Hall, 12 Queen Street");
        assert_eq!(address.city, "Huddersfield");
        assert_eq!(address.postal_code, "HD1 2SP");
        assert_eq!(address.country, "GB");

        let links: Vec<(&str, &str)> = batch
            .service_at_locations
            .iter()
            .map(|l| (l.source_id.as_str(), l.location_id.as_str()))
            .collect();
        assert_eq!(
            links,
            [
                ("knit@example.org", place.id.as_str()),
                ("choir@example.org", place.id.as_str())
            ]
        );
        assert!(service(&parsed, "chat@example.org").online);
    }

    #[test]
    fn utc_times_are_shown_in_the_calendar_zone_and_floating_times_in_london() {
        let text = calendar(
            "X-WR-TIMEZONE:Europe/London\r\n\
             BEGIN:VEVENT\r\nUID:utc@example.org\r\nSUMMARY:Quiz\r\n\
             DTSTART:20260707T180000Z\r\nRRULE:FREQ=WEEKLY;UNTIL=20261231T235959Z\r\n\
             EXDATE:20260714T180000Z\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        let quiz = service(&parsed, "utc@example.org");
        let rule = recurrence(quiz);
        assert_eq!(rule.timezone, "Europe/London");
        assert_eq!(rule.start.to_string(), "2026-07-07 19:00:00");
        assert_eq!(
            quiz.schedules[0].description.as_deref(),
            Some("Every Tuesday, 7pm")
        );
        // 7pm local all year: 18:00 UTC in summer, 19:00 in winter.
        assert_eq!(
            starts(quiz, "2026-07-07", "2026-07-21"),
            ["2026-07-07T18:00Z", "2026-07-21T18:00Z"]
        );
        assert_eq!(
            starts(quiz, "2026-11-03", "2026-11-03"),
            ["2026-11-03T19:00Z"]
        );

        let floating = calendar(
            "BEGIN:VEVENT\r\nUID:f@example.org\r\nSUMMARY:Walk\r\n\
             DTSTART:20260707T100000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&floating, &options()).expect("parses");
        let walk = recurrence(service(&parsed, "f@example.org"));
        assert_eq!(walk.timezone, "Europe/London");
        assert_eq!(walk.start.to_string(), "2026-07-07 10:00:00");
    }

    #[test]
    fn a_cancelled_instance_is_left_out_of_its_series() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:s@example.org\r\nSUMMARY:Singing\r\n\
             DTSTART;TZID=Europe/London:20260105T140000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:s@example.org\r\nSUMMARY:Singing\r\nSTATUS:CANCELLED\r\n\
             RECURRENCE-ID;TZID=Europe/London:20260112T140000\r\n\
             DTSTART;TZID=Europe/London:20260112T140000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert_eq!(parsed.problems, Vec::new());
        let singing = service(&parsed, "s@example.org");
        assert_eq!(
            starts(singing, "2026-01-01", "2026-01-31"),
            ["2026-01-05T14:00Z", "2026-01-19T14:00Z"]
        );
    }

    #[test]
    fn dates_without_times_name_the_instances_of_a_timed_series() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:d@example.org\r\nSUMMARY:Darts\r\n\
             DTSTART;TZID=Europe/London:20260105T190000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
             EXDATE;VALUE=DATE:20260112,20260119\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        let darts = service(&parsed, "d@example.org");
        assert_eq!(
            starts(darts, "2026-01-01", "2026-01-31"),
            ["2026-01-05T19:00Z", "2026-01-26T19:00Z"]
        );
    }

    #[test]
    fn changed_instances_of_a_series_not_in_the_file_are_events_of_their_own() {
        let text = calendar(
            "BEGIN:VEVENT\r\nUID:o@example.org\r\nSUMMARY:Book club\r\n\
             RECURRENCE-ID:20260105T190000\r\nDTSTART:20260106T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:o@example.org\r\nSUMMARY:Book club\r\nSTATUS:CANCELLED\r\n\
             RECURRENCE-ID:20260112T190000\r\nDTSTART:20260112T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:o@example.org\r\nSUMMARY:Book club\r\n\
             RECURRENCE-ID:20260119T190000\r\nDTSTART:20260119T190000\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:c@example.org\r\nSUMMARY:Gone\r\nSTATUS:CANCELLED\r\n\
             RECURRENCE-ID:20260112T190000\r\nDTSTART:20260112T190000\r\nEND:VEVENT\r\n",
        );
        let parsed = parse(&text, &options()).expect("parses");
        assert_eq!(parsed.problems, Vec::new());
        let books = service(&parsed, "o@example.org");
        assert_eq!(
            starts(books, "2026-01-01", "2026-01-31"),
            ["2026-01-06T19:00Z", "2026-01-19T19:00Z"]
        );
        assert_eq!(parsed.batch.services.len(), 1);
        assert_eq!(parsed.batch.skipped.len(), 1);
        assert_eq!(
            parsed.batch.skipped[0].record,
            "VEVENT \"c@example.org\" at line 23"
        );
    }

    #[test]
    fn durations_and_dates_are_read_as_rfc_5545_writes_them() {
        assert_eq!(parse_duration("PT1H30M"), Ok(90));
        assert_eq!(parse_duration("P1D"), Ok(1440));
        assert_eq!(parse_duration("P1W"), Ok(7 * 1440));
        assert_eq!(parse_duration("P1DT2H"), Ok(1560));
        assert_eq!(parse_duration("-PT15M"), Ok(-15));
        assert!(parse_duration("1 hour").is_err());
        assert_eq!(
            parse_stamp("20260101", false, None),
            Some(Stamp::Date(date("2026-01-01")))
        );
        assert!(matches!(
            parse_stamp("20260101T100000Z", false, None),
            Some(Stamp::Utc(_))
        ));
        assert_eq!(parse_stamp("20261301", true, None), None);
        assert_eq!(parse_stamp("2026-01-01T10:00", false, None), None);
        assert_eq!(parse_geo("+51.76882;+14.32321"), Ok((51.76882, 14.32321)));
        assert!(parse_geo("51.7").is_err());
        assert!(parse_geo("12;200").is_err());
    }
}
