//! What a person can search for: categories, areas and times.
//!
//! These types are shared by the flow engine (which builds a [`SearchRequest`]
//! from a person's answers) and the directory (which answers it). They hold no
//! I/O and no clock: [`When::window`] is given "today" by its caller.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The categories people can look for, chosen for loneliness signposting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Befriending,
    SocialGroups,
    PeerSupport,
    Bereavement,
    Carers,
    MentalWellbeing,
    OlderPeople,
    YoungPeople,
    Lgbtq,
    PhoneOnline,
    Volunteering,
    PhysicalActivity,
}

impl Category {
    pub const ALL: [Category; 12] = [
        Category::Befriending,
        Category::SocialGroups,
        Category::PeerSupport,
        Category::Bereavement,
        Category::Carers,
        Category::MentalWellbeing,
        Category::OlderPeople,
        Category::YoungPeople,
        Category::Lgbtq,
        Category::PhoneOnline,
        Category::Volunteering,
        Category::PhysicalActivity,
    ];

    /// The short name used in flow files, the database and the command line.
    pub fn slug(self) -> &'static str {
        match self {
            Category::Befriending => "befriending",
            Category::SocialGroups => "social-groups",
            Category::PeerSupport => "peer-support",
            Category::Bereavement => "bereavement",
            Category::Carers => "carers",
            Category::MentalWellbeing => "mental-wellbeing",
            Category::OlderPeople => "older-people",
            Category::YoungPeople => "young-people",
            Category::Lgbtq => "lgbtq",
            Category::PhoneOnline => "phone-online",
            Category::Volunteering => "volunteering",
            Category::PhysicalActivity => "physical-activity",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Category::ALL.into_iter().find(|c| c.slug() == slug)
    }

    /// Its name for people, as the portal's forms show it.
    pub fn label(self) -> &'static str {
        match self {
            Category::Befriending => "Befriending",
            Category::SocialGroups => "Social groups",
            Category::PeerSupport => "Peer support",
            Category::Bereavement => "Bereavement",
            Category::Carers => "Carers",
            Category::MentalWellbeing => "Mental wellbeing",
            Category::OlderPeople => "Older people",
            Category::YoungPeople => "Young people",
            Category::Lgbtq => "LGBTQ+",
            Category::PhoneOnline => "By phone or online",
            Category::Volunteering => "Volunteering",
            Category::PhysicalActivity => "Physical activity",
        }
    }

    /// A comma-separated list of every slug, for error messages.
    pub fn all_slugs() -> String {
        Category::ALL.map(Category::slug).join(", ")
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.slug())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// When a person would like to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum When {
    Today,
    Tomorrow,
    ThisWeek,
    ThisWeekend,
    #[default]
    Any,
}

/// An inclusive range of dates; `None` for either end means open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    pub first: NaiveDate,
    pub last: Option<NaiveDate>,
}

impl When {
    pub const ALL: [When; 5] = [
        When::Today,
        When::Tomorrow,
        When::ThisWeek,
        When::ThisWeekend,
        When::Any,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            When::Today => "today",
            When::Tomorrow => "tomorrow",
            When::ThisWeek => "this-week",
            When::ThisWeekend => "this-weekend",
            When::Any => "any",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        When::ALL.into_iter().find(|w| w.slug() == slug)
    }

    pub fn all_slugs() -> String {
        When::ALL.map(When::slug).join(", ")
    }

    /// The dates this covers, seen from `today` (a local date in the UK).
    ///
    /// "This week" is the next seven days, today included, because that is
    /// what people mean when they ask on a Friday. "This weekend" is the
    /// coming Saturday and Sunday, or what is left of the weekend we are in.
    pub fn window(self, today: NaiveDate) -> DateWindow {
        let plus = |days| today.checked_add_days(Days::new(days)).unwrap_or(today);
        let (first, last) = match self {
            When::Today => (today, Some(today)),
            When::Tomorrow => (plus(1), Some(plus(1))),
            When::ThisWeek => (today, Some(plus(6))),
            When::ThisWeekend => match today.weekday() {
                Weekday::Sat => (today, Some(plus(1))),
                Weekday::Sun => (today, Some(today)),
                other => {
                    let to_saturday = u64::from(5 - other.num_days_from_monday());
                    (plus(to_saturday), Some(plus(to_saturday + 1)))
                }
            },
            When::Any => (today, None),
        };
        DateWindow { first, last }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// Where a person would like to go: a town, or the first half of a postcode.
///
/// A full postcode typed by mistake is cut to its first half: the engine
/// keeps only that in the session, and only that reaches the directory.
#[derive(Clone, PartialEq, Eq)]
pub enum Area {
    /// An outward code such as `HD1` or `WF13`, in capitals.
    Outcode(String),
    /// A town or area name, in lower case.
    Town(String),
}

impl Area {
    /// Reads what a person typed; `None` when it is empty.
    pub fn parse(typed: &str) -> Option<Self> {
        let words: Vec<&str> = typed.split_whitespace().collect();
        let joined = words.join(" ");
        if joined.is_empty() {
            return None;
        }
        let first = words[0].to_ascii_uppercase();
        let is_outcode = |s: &str| {
            let bytes = s.as_bytes();
            let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            (1..=2).contains(&letters)
                && (2..=4).contains(&bytes.len())
                && bytes.get(letters).is_some_and(u8::is_ascii_digit)
                && bytes[letters..].iter().all(|b| b.is_ascii_alphanumeric())
        };
        let is_incode = |s: &str| {
            let b = s.as_bytes();
            b.len() == 3
                && b[0].is_ascii_digit()
                && b[1].is_ascii_alphabetic()
                && b[2].is_ascii_alphabetic()
        };
        match words.as_slice() {
            [one] if is_outcode(&first) => Some(Area::Outcode(first)),
            [_, second] if is_outcode(&first) && is_incode(second) => Some(Area::Outcode(first)),
            // "HD12SU": a full postcode without its space.
            [one] if one.is_ascii() && one.len() > 4 && is_incode(&one[one.len() - 3..]) => {
                let outcode = first[..first.len() - 3].to_owned();
                is_outcode(&outcode).then_some(Area::Outcode(outcode))
            }
            _ => Some(Area::Town(joined.to_lowercase())),
        }
    }
}

impl Area {
    /// If `typed` is a whole postcode ("HD1 2SU", "hd12su"), its first half
    /// in capitals; otherwise `None` (an outcode alone is not a postcode).
    pub fn outcode_of_postcode(typed: &str) -> Option<String> {
        let compact: String = typed.split_whitespace().collect();
        if compact.len() < 5 || compact.len() > 7 {
            return None;
        }
        match Area::parse(typed)? {
            Area::Outcode(code) if code.len() + 3 == compact.len() => Some(code),
            _ => None,
        }
    }
}

impl fmt::Debug for Area {
    // An area is something a person typed: keep it out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Area::Outcode(_) => f.write_str("Area::Outcode(<redacted>)"),
            Area::Town(_) => f.write_str("Area::Town(<redacted>)"),
        }
    }
}

/// A directory search built from a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub category: Option<Category>,
    pub area: Option<Area>,
    pub when: When,
    /// Include phone and online services that work from anywhere.
    pub include_online: bool,
    /// Only phone and online services.
    pub online_only: bool,
    /// How far from the area to look, when the flow says; otherwise the
    /// directory's default.
    pub radius_km: Option<u16>,
    /// At most this many results, 1 to 10.
    pub limit: u8,
    /// Which page of results, from 0, for "show more".
    pub page: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weekend_is_the_coming_saturday_and_sunday() {
        // 2026-11-24 is a Tuesday.
        let window = When::ThisWeekend.window(date("2026-11-24"));
        assert_eq!(window.first, date("2026-11-28"));
        assert_eq!(window.last, Some(date("2026-11-29")));
        let saturday = When::ThisWeekend.window(date("2026-11-28"));
        assert_eq!(
            (saturday.first, saturday.last),
            (date("2026-11-28"), Some(date("2026-11-29")))
        );
        let sunday = When::ThisWeekend.window(date("2026-11-29"));
        assert_eq!(
            (sunday.first, sunday.last),
            (date("2026-11-29"), Some(date("2026-11-29")))
        );
    }

    #[test]
    fn this_week_is_seven_days_from_today() {
        let window = When::ThisWeek.window(date("2026-11-27"));
        assert_eq!(
            (window.first, window.last),
            (date("2026-11-27"), Some(date("2026-12-03")))
        );
        assert_eq!(When::Any.window(date("2026-11-27")).last, None);
    }

    #[test]
    fn areas_keep_only_the_first_half_of_a_postcode() {
        assert_eq!(Area::parse(" hd1 "), Some(Area::Outcode("HD1".into())));
        assert_eq!(Area::parse("WF13"), Some(Area::Outcode("WF13".into())));
        assert_eq!(Area::parse("hd1 2su"), Some(Area::Outcode("HD1".into())));
        assert_eq!(Area::parse("HD12SU"), Some(Area::Outcode("HD1".into())));
        assert_eq!(
            Area::parse("Holme  Valley"),
            Some(Area::Town("holme valley".into()))
        );
        assert_eq!(Area::parse("Batley"), Some(Area::Town("batley".into())));
        assert_eq!(Area::parse("   "), None);
        assert_eq!(Area::parse("AB"), Some(Area::Town("ab".into())));
        assert_eq!(Area::parse("Ćęś€ą"), Some(Area::Town("ćęś€ą".into())));
    }

    #[test]
    fn only_whole_postcodes_are_cut_to_their_first_half() {
        assert_eq!(Area::outcode_of_postcode("hd1 2su"), Some("HD1".into()));
        assert_eq!(Area::outcode_of_postcode("WF132AB"), Some("WF13".into()));
        assert_eq!(Area::outcode_of_postcode("HD1"), None);
        assert_eq!(Area::outcode_of_postcode("Batley"), None);
        assert_eq!(Area::outcode_of_postcode("Holme Valley"), None);
    }

    #[test]
    fn area_debug_output_hides_what_was_typed() {
        let shown = format!("{:?}", Area::parse("Marsden"));
        assert!(!shown.to_lowercase().contains("marsden"), "{shown}");
    }

    #[test]
    fn every_slug_round_trips() {
        for c in Category::ALL {
            assert_eq!(Category::from_slug(c.slug()), Some(c));
        }
        for w in When::ALL {
            assert_eq!(When::from_slug(w.slug()), Some(w));
        }
    }
}
