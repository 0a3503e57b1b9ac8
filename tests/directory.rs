//! The directory, on both backends: each test runs once on a fresh SQLite
//! file and once on a fresh PostgreSQL database (when
//! SIGNPOST_TEST_POSTGRES_URL is set), through the public API.

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDate;
use common::TestDatabase;
use signpost::directory::query::parse_when;
use signpost::directory::{
    AreaMatch, Attendance, Directory, Listing, PartOfDay, SearchQuery, WriteOptions,
};
use signpost::search::{Area, Category};

/// Tuesday 24 November 2026.
fn tuesday() -> NaiveDate {
    "2026-11-24".parse().unwrap()
}

async fn sample(db: &TestDatabase) -> Directory {
    let directory = db.directory().await;
    directory
        .load_sample(tuesday())
        .await
        .expect("sample loads");
    directory
}

fn query(near: Option<&str>, categories: &[Category], when: &str) -> SearchQuery {
    let mut query = SearchQuery::new(tuesday());
    query.near = near.and_then(Area::parse);
    query.categories = categories.iter().copied().collect();
    (query.dates, query.part_of_day) = parse_when(when, tuesday()).unwrap();
    query.limit = 50;
    query
}

fn titles(listings: &[Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.title.as_str()).collect()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

backend_tests! {
    async fn social_groups_near_hd1_this_week_are_the_right_occurrences(db: TestDatabase) {
        let directory = sample(&db).await;
        let found = directory
            .search(&query(Some("HD1"), &[Category::SocialGroups], "this-week"))
            .await
            .unwrap();
        assert_eq!(found.area, AreaMatch::Known);
        let by_title: Vec<(&str, Option<NaiveDate>)> = found
            .listings
            .iter()
            .map(|l| (l.title.as_str(), l.next.map(|n| n.date)))
            .collect();
        // Weekly groups in Huddersfield fall on their next day within the
        // seven days from Tuesday 24 November.
        for (title, day) in [
            ("Knit and Natter", "2026-11-24"),
            ("Greenhead Park Health Walk", "2026-11-27"),
            ("Saturday Blokes' Brew", "2026-11-28"),
            ("Sunday Tea Dance", "2026-11-29"),
            ("Monday Cuppa Club", "2026-11-30"),
        ] {
            assert!(
                by_title.contains(&(title, Some(date(day)))),
                "{title} on {day} missing from {by_title:?}"
            );
        }
        // Every result at a place is near HD1; the rest are phone and online.
        for listing in &found.listings {
            if listing.place.is_none() {
                assert!(listing.online, "{}", listing.title);
                continue;
            }
            let km = listing.distance_km.expect("in-person results have a distance");
            assert!(km <= 10.0, "{} is {km} km away", listing.title);
        }
        // Within the nearest band, the soonest comes first.
        assert_eq!(found.listings[0].title, "Knit and Natter");
    }

    async fn loading_the_sample_twice_changes_nothing(db: TestDatabase) {
        let directory = sample(&db).await;
        let before = directory.counts().await.unwrap();
        let again = directory.load_sample(tuesday()).await.unwrap();
        assert!(again.changed_nothing(), "{again:?}");
        assert_eq!(again.counts["services"].unchanged, 45);
        assert_eq!(directory.counts().await.unwrap(), before);
    }

    async fn the_sample_has_enough_variety_to_demonstrate_the_bot(db: TestDatabase) {
        let directory = sample(&db).await;
        let mut categories_used = 0;
        for category in Category::ALL {
            let found = directory.search(&query(None, &[category], "any")).await.unwrap();
            if found.total > 0 {
                categories_used += 1;
            }
        }
        assert!(categories_used >= 8, "only {categories_used} categories have activities");
        for town in ["Huddersfield", "Dewsbury", "Batley", "Holmfirth", "Mirfield", "Cleckheaton"] {
            let mut near_town = query(Some(town), &[], "any");
            near_town.attendance = Attendance::InPerson;
            let found = directory.search(&near_town).await.unwrap();
            assert_eq!(found.area, AreaMatch::Known, "{town}");
            let first = found.listings.first().unwrap_or_else(|| panic!("nothing in {town}"));
            assert_eq!(
                first.place.as_ref().and_then(|p| p.town.as_deref()),
                Some(town),
                "{town}: {:?}",
                titles(&found.listings)
            );
        }
    }

    async fn unknown_places_are_reported_rather_than_searched_everywhere(db: TestDatabase) {
        let directory = sample(&db).await;
        for place in ["Atlantis", "ZZ99"] {
            let found = directory.search(&query(Some(place), &[], "any")).await.unwrap();
            assert_eq!(found.area, AreaMatch::Unknown, "{place}");
            assert!(found.listings.is_empty());
        }
    }

    async fn this_weekend_means_saturday_and_sunday(db: TestDatabase) {
        let directory = sample(&db).await;
        let found = directory.search(&query(Some("HD1"), &[], "this-weekend")).await.unwrap();
        let dates: BTreeSet<NaiveDate> =
            found.listings.iter().filter_map(|l| l.next.map(|n| n.date)).collect();
        assert!(!dates.is_empty());
        assert!(dates.iter().all(|d| *d == date("2026-11-28") || *d == date("2026-11-29")), "{dates:?}");
    }

    async fn evenings_and_daytime_follow_local_start_times(db: TestDatabase) {
        let directory = sample(&db).await;
        let evening = directory.search(&query(None, &[], "this-week,evenings")).await.unwrap();
        assert!(titles(&evening.listings).contains(&"Board Games Evening"));
        for listing in evening.listings.iter().filter(|l| l.next.is_some()) {
            let start = listing.next.unwrap().start.unwrap();
            assert!(start >= chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(), "{}", listing.title);
        }
        let daytime = directory.search(&query(None, &[], "this-week,daytime")).await.unwrap();
        assert!(!titles(&daytime.listings).contains(&"Board Games Evening"));
        assert!(titles(&daytime.listings).contains(&"Knit and Natter"));
        assert_eq!(parse_when("daytime", tuesday()).unwrap().1, PartOfDay::Daytime);
    }

    async fn phone_and_online_services_show_only_when_asked_for(db: TestDatabase) {
        let directory = sample(&db).await;
        let mut in_person = query(Some("HD1"), &[Category::Befriending], "any");
        in_person.attendance = Attendance::InPerson;
        let found = directory.search(&in_person).await.unwrap();
        assert!(found.listings.iter().all(|l| l.place.is_some()));
        let mut online = in_person.clone();
        online.attendance = Attendance::Online;
        let found = directory.search(&online).await.unwrap();
        assert!(found.total > 0);
        assert!(found.listings.iter().all(|l| l.online));
    }

    async fn past_one_off_events_are_never_shown(db: TestDatabase) {
        let directory = db.directory().await;
        let later = date("2027-02-01");
        directory.load_sample(later).await.unwrap();
        let mut query = SearchQuery::new(later);
        query.limit = 100;
        let found = directory.search(&query).await.unwrap();
        assert!(!titles(&found.listings).contains(&"Volunteering Fair"), "the fair was in January");
        assert!(!titles(&found.listings).contains(&"Christmas Day Lunch"));
    }

    async fn text_search_finds_words_in_names_and_descriptions(db: TestDatabase) {
        let directory = sample(&db).await;
        let mut search = query(None, &[], "any");
        search.text = Some("walks".into());
        let found = directory.search(&search).await.unwrap();
        assert!(titles(&found.listings).contains(&"Greenhead Park Health Walk"), "{:?}", titles(&found.listings));
        search.text = Some("\"; DROP TABLE service; --".into());
        let found = directory.search(&search).await.unwrap();
        assert_eq!(found.total, 0);
        assert!(directory.counts().await.unwrap()["services"] > 0);
    }

    async fn pages_continue_without_repeats(db: TestDatabase) {
        let directory = sample(&db).await;
        let mut first = query(None, &[], "any");
        first.limit = 5;
        let page_one = directory.search(&first).await.unwrap();
        let mut second = first.clone();
        second.offset = 5;
        let page_two = directory.search(&second).await.unwrap();
        assert_eq!(page_one.total, page_two.total);
        assert_eq!(page_one.listings.len(), 5);
        let one: BTreeSet<&str> = page_one.listings.iter().map(|l| l.service_id.as_str()).collect();
        assert!(page_two.listings.iter().all(|l| !one.contains(l.service_id.as_str())));
    }

    async fn only_published_unexpired_services_are_shown(db: TestDatabase) {
        let directory = db.directory().await;
        let batch = signpost::directory::sample_batch().unwrap();
        let summary = directory.write(&batch, &WriteOptions::new(tuesday())).await.unwrap();
        assert_eq!(summary.counts["services"].added, 45);
        assert_eq!(directory.search(&query(None, &[], "any")).await.unwrap().total, 0, "pending must not show");
        assert_eq!(directory.publish_source("sample").await.unwrap(), 45);
        assert!(directory.search(&query(None, &[], "any")).await.unwrap().total > 0);
        // Listings expire 183 days after they were last confirmed.
        let mut later = query(None, &[], "any");
        later.today = date("2027-06-01");
        later.dates = parse_when("any", date("2027-06-01")).unwrap().0;
        assert_eq!(directory.search(&later).await.unwrap().total, 0, "expired must not show");
    }

    async fn outcode_centres_come_from_the_geo_data_when_loaded(db: TestDatabase) {
        let directory = sample(&db).await;
        // Put HD1's centre in Dewsbury: the nearest results follow it.
        let rows = vec![("HD1".to_owned(), 53.6905, -1.6290)];
        directory.import_outcodes("test", "test data", &rows).await.unwrap();
        let mut near = query(Some("HD1"), &[], "any");
        near.attendance = Attendance::InPerson;
        let found = directory.search(&near).await.unwrap();
        let first = found.listings.first().unwrap();
        assert_eq!(first.place.as_ref().unwrap().town.as_deref(), Some("Dewsbury"));
    }

    async fn a_service_at_two_places_shows_the_place_of_its_next_meeting(db: TestDatabase) {
        let directory = db.directory().await;
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("two-places.json");
        std::fs::write(&file, TWO_PLACES).unwrap();
        let options = signpost::directory::import::ImportOptions {
            source: "two-places".to_owned(),
            ..Default::default()
        };
        let (_, parsed) = signpost::directory::import::read(&file, &options, tuesday()).unwrap();
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let write = WriteOptions { publish: true, ..WriteOptions::new(tuesday()) };
        directory.write(&parsed.batch, &write).await.unwrap();
        let place_and_day = |found: &signpost::directory::SearchResults| {
            assert_eq!(found.total, 1, "one service, however many places");
            let listing = &found.listings[0];
            (
                listing.place.as_ref().and_then(|p| p.name.clone()).unwrap_or_default(),
                listing.next.map(|n| n.date),
            )
        };
        // From Tuesday, Thursday in Batley comes before Monday in Dewsbury.
        let found = directory.search(&query(None, &[], "any")).await.unwrap();
        assert_eq!(place_and_day(&found), ("Batley Library".to_owned(), Some(date("2026-11-26"))));
        // The same by words, and from Friday, when Dewsbury's Monday is next.
        let mut from_friday = query(None, &[], "any");
        from_friday.text = Some("lunch".into());
        from_friday.dates.first = date("2026-11-27");
        let found = directory.search(&from_friday).await.unwrap();
        assert_eq!(place_and_day(&found), ("Dewsbury Town Hall".to_owned(), Some(date("2026-11-30"))));
    }
}

/// One lunch club meeting in two towns on different days, in HSDS 3.0.
const TWO_PLACES: &str = r#"{
  "id": "7d1c2a52-0000-4000-8000-000000000001",
  "name": "Travelling Lunch Club",
  "description": "A friendly lunch, in Batley on Thursdays and Dewsbury on Mondays.",
  "status": "active",
  "organization": {"id": "7d1c2a52-0000-4000-8000-000000000002", "name": "Lunch Friends", "description": "Lunches."},
  "service_at_locations": [
    {
      "id": "7d1c2a52-0000-4000-8000-000000000011",
      "schedules": [{"id": "7d1c2a52-0000-4000-8000-000000000021", "freq": "WEEKLY", "byday": "TH",
        "dtstart": "2026-11-01", "opens_at": "12:00:00", "closes_at": "14:00:00"}],
      "location": {"id": "7d1c2a52-0000-4000-8000-000000000031", "location_type": "physical",
        "name": "Batley Library", "latitude": 53.7167, "longitude": -1.6356,
        "addresses": [{"id": "7d1c2a52-0000-4000-8000-000000000041", "address_1": "Market Place",
          "city": "Batley", "region": "West Yorkshire", "postal_code": "WF17 5DA", "country": "GB", "address_type": "physical"}]}
    },
    {
      "id": "7d1c2a52-0000-4000-8000-000000000012",
      "schedules": [{"id": "7d1c2a52-0000-4000-8000-000000000022", "freq": "WEEKLY", "byday": "MO",
        "dtstart": "2026-11-01", "opens_at": "12:00:00", "closes_at": "14:00:00"}],
      "location": {"id": "7d1c2a52-0000-4000-8000-000000000032", "location_type": "physical",
        "name": "Dewsbury Town Hall", "latitude": 53.6910, "longitude": -1.6300,
        "addresses": [{"id": "7d1c2a52-0000-4000-8000-000000000042", "address_1": "Wakefield Old Road",
          "city": "Dewsbury", "region": "West Yorkshire", "postal_code": "WF12 8DG", "country": "GB", "address_type": "physical"}]}
    }
  ]
}"#;
