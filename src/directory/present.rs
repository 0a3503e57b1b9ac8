//! Writing a search result out as a short card of plain text.
//!
//! The card says what it is, when, where, what it costs, whether there are
//! steps, and how to go or get in touch, in that order: the questions a
//! nervous first-timer asks. Channels escape the text for their own markup.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

use super::{Listing, NextTime};

/// Writes `listing` as a few short lines, as seen from `today`.
pub fn card(listing: &Listing, today: NaiveDate) -> String {
    let mut lines = vec![listing.title.clone()];
    if let Some(description) = listing.description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(shorten(description, 200));
    }
    lines.push(when(listing, today));
    lines.push(match &listing.place {
        Some(place) => {
            let mut parts: Vec<&str> = Vec::new();
            parts.extend(place.name.as_deref());
            parts.extend(place.address.as_deref());
            // Sample and hand-typed addresses often end with the town already.
            let address = place.address.as_deref().unwrap_or("").to_lowercase();
            if let Some(town) = place.town.as_deref()
                && !address.contains(&town.to_lowercase())
            {
                parts.push(town);
            }
            parts.extend(place.postcode.as_deref());
            let mut line = parts
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            if let Some(km) = listing.distance_km {
                line.push_str(&format!(" ({})", miles(km)));
            }
            line
        }
        None => "By phone or online, from anywhere".to_owned(),
    });
    let mut facts = Vec::new();
    match (&listing.cost, listing.free) {
        (Some(cost), _) if !cost.trim().is_empty() => facts.push(shorten(cost, 80)),
        (_, Some(true)) => facts.push("Free".to_owned()),
        _ => {}
    }
    match listing.place.as_ref().and_then(|p| p.step_free) {
        Some(true) => facts.push("step-free access".to_owned()),
        Some(false) => facts.push("no step-free access".to_owned()),
        None => {}
    }
    facts.extend(listing.welcome.iter().map(|fact| fact.words().to_owned()));
    if !facts.is_empty() {
        lines.push(facts.join(" · "));
    }
    let mut reach: Vec<String> = Vec::new();
    reach.extend(
        listing
            .how_to_join
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| shorten(s, 120)),
    );
    if let Some((number, how)) = listing.phones.first() {
        reach.push(format!("{} {number}", how.as_deref().unwrap_or("Call")));
    }
    reach.extend(listing.email.clone());
    if reach.len() < 3 {
        reach.extend(listing.url.clone());
    }
    if !reach.is_empty() {
        lines.push(reach.join(" · "));
    }
    lines.push(format!("Run by {}", listing.organisation));
    lines.join("\n")
}

/// The first `limit` characters or so, cut at a word, with an ellipsis.
pub(crate) fn shorten(text: &str, limit: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= limit {
        return text;
    }
    let cut: String = text.chars().take(limit).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

/// A distance as British people say it, from the middle of the place
/// searched for.
fn miles(km: f64) -> String {
    let miles = km * 0.621_371;
    if miles < 0.5 {
        "less than half a mile away".to_owned()
    } else if miles < 1.0 {
        "under a mile away".to_owned()
    } else if miles < 1.5 {
        "about a mile away".to_owned()
    } else {
        format!("about {} miles away", miles.round())
    }
}

fn when(listing: &Listing, today: NaiveDate) -> String {
    match (&listing.next, &listing.pattern) {
        (Some(next), Some(pattern)) => {
            format!("{pattern}; next {}", next_time(next, today, false))
        }
        (Some(next), None) => capitalise(&next_time(next, today, true)),
        (None, _) => listing
            .availability
            .clone()
            .unwrap_or_else(|| "Any day: get in touch to arrange".to_owned()),
    }
}

/// "today, 10am to 12pm", "on Tuesday 1 December, 2pm"; `with_time` adds the
/// times (a pattern already has them).
fn next_time(next: &NextTime, today: NaiveDate, with_time: bool) -> String {
    let day = relative_day(next.date, today);
    let day = if with_time {
        day.strip_prefix("on ").unwrap_or(&day).to_owned()
    } else {
        day
    };
    match (with_time, next.start) {
        (true, Some(start)) => format!("{day}, {}", times(start, next.end)),
        _ => day,
    }
}

/// "10am", "6:30pm", "12pm".
pub fn clock(time: NaiveTime) -> String {
    let (pm, hour) = time.hour12();
    let suffix = if pm { "pm" } else { "am" };
    match time.minute() {
        0 => format!("{hour}{suffix}"),
        minute => format!("{hour}:{minute:02}{suffix}"),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn times(start: NaiveTime, end: Option<NaiveTime>) -> String {
    match end {
        Some(end) => format!("{} to {}", clock(start), clock(end)),
        None => clock(start),
    }
}

/// "today", "tomorrow", or "on Thursday 26 November" (with the year when it
/// is not this year).
fn relative_day(date: NaiveDate, today: NaiveDate) -> String {
    if date == today {
        return "today".to_owned();
    }
    if today.succ_opt() == Some(date) {
        return "tomorrow".to_owned();
    }
    let month = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ][date.month0() as usize];
    let day = weekday_name(date.weekday().num_days_from_monday());
    if date.year() == today.year() {
        format!("on {day} {} {month}", date.day())
    } else {
        format!("on {day} {} {month} {}", date.day(), date.year())
    }
}

fn weekday_name(days_from_monday: u32) -> &'static str {
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ][days_from_monday as usize % 7]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Place;

    fn knit_and_natter() -> Listing {
        Listing {
            service_id: "knit".into(),
            title: "Knit and Natter".into(),
            description: None,
            organisation: "Library Friends".into(),
            place: Some(Place {
                name: Some("Huddersfield Library".into()),
                address: Some("Princess Alexandra Walk".into()),
                town: Some("Huddersfield".into()),
                postcode: Some("HD1 2SU".into()),
                step_free: Some(true),
            }),
            distance_km: Some(1.0),
            online: false,
            next: Some(NextTime {
                date: "2026-12-01".parse().unwrap(),
                start: NaiveTime::from_hms_opt(10, 0, 0),
                end: NaiveTime::from_hms_opt(12, 0, 0),
            }),
            pattern: Some("Every Tuesday, 10am to 12pm".into()),
            availability: None,
            cost: None,
            free: Some(true),
            phones: vec![("01632 960101".into(), None)],
            email: None,
            url: None,
            how_to_join: Some("Just turn up".into()),
            welcome: Vec::new(),
        }
    }

    #[test]
    fn a_card_says_what_when_where_cost_access_and_how_to_join() {
        let today = "2026-11-25".parse().unwrap();
        assert_eq!(
            card(&knit_and_natter(), today),
            "Knit and Natter\n\
             Every Tuesday, 10am to 12pm; next on Tuesday 1 December\n\
             Huddersfield Library, Princess Alexandra Walk, Huddersfield, HD1 2SU (under a mile away)\n\
             Free · step-free access\n\
             Just turn up · Call 01632 960101\n\
             Run by Library Friends"
        );
    }

    #[test]
    fn one_off_events_start_with_a_capital() {
        let mut listing = knit_and_natter();
        listing.pattern = None;
        listing.next = Some(NextTime {
            date: "2027-01-23".parse().unwrap(),
            start: NaiveTime::from_hms_opt(10, 30, 0),
            end: None,
        });
        let today = "2026-11-25".parse().unwrap();
        assert!(card(&listing, today).contains("\nSaturday 23 January 2027, 10:30am\n"));
        listing.next = Some(NextTime {
            date: today,
            start: NaiveTime::from_hms_opt(18, 0, 0),
            end: NaiveTime::from_hms_opt(19, 30, 0),
        });
        assert!(card(&listing, today).contains("\nToday, 6pm to 7:30pm\n"));
    }

    #[test]
    fn services_without_dates_say_when_they_are_available() {
        let mut listing = knit_and_natter();
        listing.next = None;
        listing.pattern = None;
        listing.place = None;
        listing.availability = Some("Every day, 8am to 8pm".into());
        let shown = card(&listing, "2026-11-25".parse().unwrap());
        assert!(shown.contains("\nEvery day, 8am to 8pm\nBy phone or online, from anywhere\n"));
    }

    #[test]
    fn long_descriptions_are_cut_at_a_word() {
        let long = "word ".repeat(100);
        let short = shorten(&long, 20);
        assert_eq!(short, "word word word word…");
    }

    #[test]
    fn dates_next_year_carry_the_year() {
        let today: NaiveDate = "2026-12-30".parse().unwrap();
        assert_eq!(
            relative_day("2026-12-31".parse().unwrap(), today),
            "tomorrow"
        );
        assert_eq!(
            relative_day("2027-01-23".parse().unwrap(), today),
            "on Saturday 23 January 2027"
        );
    }
}
