//! Writing a search result out as a short card of plain text.
//!
//! The card says what it is, when, where, what it costs, whether there are
//! steps, and how to go or get in touch, in that order: the questions a
//! nervous first-timer asks. Channels escape the text for their own markup.

use chrono::{Datelike, NaiveDate, NaiveTime};

use super::{Listing, Schedule};

/// Writes `listing` as a few short lines, as seen from `today`.
pub fn card(listing: &Listing, today: NaiveDate) -> String {
    let mut lines = vec![listing.title.clone()];
    if let Some(description) = listing.description.as_deref().filter(|d| !d.is_empty()) {
        lines.push(description.to_owned());
    }
    lines.push(when(listing, today));
    lines.push(match &listing.place {
        Some(place) => {
            let mut parts = vec![place.name.as_str()];
            parts.extend(place.address.as_deref());
            parts.extend(place.postcode.as_deref());
            parts.join(", ")
        }
        None => "By phone or online, from anywhere".to_owned(),
    });
    let mut facts = Vec::new();
    match (&listing.cost, listing.free) {
        (Some(cost), _) if !cost.is_empty() => facts.push(cost.clone()),
        (_, true) => facts.push("Free".to_owned()),
        _ => {}
    }
    match listing.place.as_ref().and_then(|p| p.step_free) {
        Some(true) => facts.push("step-free access".to_owned()),
        Some(false) => facts.push("not step-free".to_owned()),
        None => {}
    }
    if !facts.is_empty() {
        lines.push(facts.join(" · "));
    }
    let join: Vec<&str> = [listing.how_to_join.as_deref(), listing.contact.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if !join.is_empty() {
        lines.push(join.join(" · "));
    }
    lines.push(format!("Run by {}", listing.organisation));
    lines.join("\n")
}

fn when(listing: &Listing, today: NaiveDate) -> String {
    match &listing.schedule {
        Schedule::Weekly {
            weekday,
            start,
            end,
        } => {
            let day = weekday_name(weekday.num_days_from_monday());
            let next = match listing.next_date {
                Some(date) => format!(", next {}", relative_day(date, today)),
                None => String::new(),
            };
            format!("{day}s {}{next}", times(*start, *end))
        }
        Schedule::Once { date, start, end } => {
            let day = relative_day(*date, today);
            let day = day.strip_prefix("on ").unwrap_or(&day);
            format!("{}, {}", capitalise(day), times(*start, *end))
        }
        Schedule::Ongoing { availability } => availability.clone(),
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
        Some(end) => format!("{} to {}", start.format("%H:%M"), end.format("%H:%M")),
        None => format!("from {}", start.format("%H:%M")),
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
            title: "Knit and Natter".into(),
            description: None,
            organisation: "Library Friends".into(),
            place: Some(Place {
                name: "Huddersfield Library".into(),
                address: Some("Princess Alexandra Walk, Huddersfield".into()),
                postcode: Some("HD1 2SU".into()),
                area: "Huddersfield".into(),
                step_free: Some(true),
            }),
            schedule: Schedule::Weekly {
                weekday: chrono::Weekday::Tue,
                start: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(12, 0, 0),
            },
            next_date: Some("2026-12-01".parse().unwrap()),
            cost: Some("Free".into()),
            free: true,
            contact: Some("Call 01632 960101".into()),
            how_to_join: Some("Just turn up".into()),
        }
    }

    #[test]
    fn a_card_says_what_when_where_cost_access_and_how_to_join() {
        let today = "2026-11-25".parse().unwrap();
        assert_eq!(
            card(&knit_and_natter(), today),
            "Knit and Natter\n\
             Tuesdays 10:00 to 12:00, next on Tuesday 1 December\n\
             Huddersfield Library, Princess Alexandra Walk, Huddersfield, HD1 2SU\n\
             Free · step-free access\n\
             Just turn up · Call 01632 960101\n\
             Run by Library Friends"
        );
    }

    #[test]
    fn one_off_events_start_with_a_capital() {
        let mut listing = knit_and_natter();
        listing.schedule = Schedule::Once {
            date: "2027-01-23".parse().unwrap(),
            start: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            end: None,
        };
        let today = "2026-11-25".parse().unwrap();
        assert!(card(&listing, today).contains("\nSaturday 23 January 2027, from 10:00\n"));
        listing.schedule = Schedule::Once {
            date: today,
            start: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            end: None,
        };
        assert!(card(&listing, today).contains("\nToday, from 10:00\n"));
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
