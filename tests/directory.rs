//! The SQLite directory with the sample data: each test gets its own
//! database file, created and migrated from scratch.

use chrono::NaiveDate;
use signpost::directory::{Directory, Listing, Schedule};
use signpost::search::{Area, Category, SearchRequest, When};

/// A fresh, migrated database holding the sample directory. The directory
/// is dropped with the folder at the end of the test.
async fn sample_directory() -> (tempfile::TempDir, Directory) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let directory = Directory::open(&url)
        .await
        .expect("database opens and migrates");
    directory.load_sample().await.expect("sample loads");
    (dir, directory)
}

fn request(area: Option<&str>, category: Option<Category>, when: When) -> SearchRequest {
    SearchRequest {
        category,
        area: area.and_then(Area::parse),
        when,
        include_online: false,
        limit: 10,
    }
}

fn tuesday() -> NaiveDate {
    "2026-11-24".parse().unwrap()
}

fn titles(listings: &[Listing]) -> Vec<&str> {
    listings.iter().map(|l| l.title.as_str()).collect()
}

#[tokio::test]
async fn the_sample_has_enough_variety_to_demonstrate_the_bot() {
    let (_dir, directory) = sample_directory().await;
    let counts = directory.counts().await.unwrap();
    assert!(counts.activities >= 30, "{counts:?}");
    let mut categories_used = 0;
    for category in Category::ALL {
        let found = directory
            .search(
                &SearchRequest {
                    include_online: true,
                    ..request(None, Some(category), When::Any)
                },
                tuesday(),
            )
            .await
            .unwrap();
        if !found.is_empty() {
            categories_used += 1;
        }
    }
    assert!(
        categories_used >= 8,
        "only {categories_used} categories have activities"
    );
    for town in [
        "Huddersfield",
        "Dewsbury",
        "Batley",
        "Holmfirth",
        "Mirfield",
        "Cleckheaton",
    ] {
        let found = directory
            .search(&request(Some(town), None, When::Any), tuesday())
            .await
            .unwrap();
        assert!(!found.is_empty(), "nothing in {town}");
        assert!(
            found.iter().all(|l| l.place.as_ref().unwrap().area == town),
            "{town}: {:?}",
            titles(&found)
        );
    }
}

#[tokio::test]
async fn loading_the_sample_twice_leaves_one_copy() {
    let (_dir, directory) = sample_directory().await;
    let once = directory.counts().await.unwrap();
    directory.load_sample().await.unwrap();
    assert_eq!(directory.counts().await.unwrap(), once);
}

#[tokio::test]
async fn social_groups_in_hd1_today_include_knit_and_natter() {
    let (_dir, directory) = sample_directory().await;
    let found = directory
        .search(
            &request(Some("hd1"), Some(Category::SocialGroups), When::Today),
            tuesday(),
        )
        .await
        .unwrap();
    assert!(
        titles(&found).contains(&"Knit and Natter"),
        "{:?}",
        titles(&found)
    );
    for listing in &found {
        assert_eq!(listing.next_date, Some(tuesday()));
        assert!(matches!(
            listing.schedule,
            Schedule::Weekly {
                weekday: chrono::Weekday::Tue,
                ..
            } | Schedule::Once { .. }
        ));
        assert_eq!(
            listing
                .place
                .as_ref()
                .unwrap()
                .postcode
                .as_deref()
                .map(|p| &p[..4]),
            Some("HD1 ")
        );
    }
}

#[tokio::test]
async fn a_full_postcode_searches_by_its_first_half() {
    let (_dir, directory) = sample_directory().await;
    let by_outcode = directory
        .search(&request(Some("HD1"), None, When::Any), tuesday())
        .await
        .unwrap();
    let by_postcode = directory
        .search(&request(Some("hd1 2su"), None, When::Any), tuesday())
        .await
        .unwrap();
    assert!(!by_outcode.is_empty());
    assert_eq!(by_outcode, by_postcode);
}

#[tokio::test]
async fn results_come_soonest_first_within_the_window() {
    let (_dir, directory) = sample_directory().await;
    let found = directory
        .search(
            &request(Some("Huddersfield"), None, When::ThisWeek),
            tuesday(),
        )
        .await
        .unwrap();
    let dates: Vec<NaiveDate> = found.iter().filter_map(|l| l.next_date).collect();
    assert!(dates.len() >= 3, "{:?}", titles(&found));
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    let last = tuesday() + chrono::Days::new(6);
    assert!(
        dates.iter().all(|d| *d >= tuesday() && *d <= last),
        "{dates:?}"
    );
}

#[tokio::test]
async fn this_weekend_means_saturday_and_sunday() {
    let (_dir, directory) = sample_directory().await;
    let found = directory
        .search(&request(None, None, When::ThisWeekend), tuesday())
        .await
        .unwrap();
    assert!(!found.is_empty());
    for listing in &found {
        let day = listing.next_date.map(|d| d.format("%Y-%m-%d").to_string());
        assert!(
            matches!(
                day.as_deref(),
                Some("2026-11-28") | Some("2026-11-29") | None
            ),
            "{} on {day:?}",
            listing.title
        );
    }
}

#[tokio::test]
async fn phone_and_online_services_show_only_when_asked_for() {
    let (_dir, directory) = sample_directory().await;
    let without = directory
        .search(
            &request(None, Some(Category::PhoneOnline), When::Any),
            tuesday(),
        )
        .await
        .unwrap();
    assert!(
        without.iter().all(|l| l.place.is_some()),
        "{:?}",
        titles(&without)
    );
    let with = directory
        .search(
            &SearchRequest {
                include_online: true,
                ..request(None, Some(Category::PhoneOnline), When::Any)
            },
            tuesday(),
        )
        .await
        .unwrap();
    assert!(
        with.iter().any(|l| l.place.is_none()),
        "{:?}",
        titles(&with)
    );
}

#[tokio::test]
async fn an_unknown_town_finds_nothing_rather_than_everything() {
    let (_dir, directory) = sample_directory().await;
    let found = directory
        .search(&request(Some("Narnia"), None, When::Any), tuesday())
        .await
        .unwrap();
    assert!(found.is_empty(), "{:?}", titles(&found));
}

#[tokio::test]
async fn past_one_off_events_are_never_shown() {
    let (_dir, directory) = sample_directory().await;
    let late: NaiveDate = "2027-06-01".parse().unwrap();
    let found = directory
        .search(
            &SearchRequest {
                include_online: true,
                ..request(None, None, When::Any)
            },
            late,
        )
        .await
        .unwrap();
    assert!(found.len() <= 10);
    for listing in &found {
        if let Schedule::Once { date, .. } = listing.schedule {
            assert!(date >= late, "{} on {date}", listing.title);
        }
    }
}

#[tokio::test]
async fn a_postgres_url_is_refused_with_a_clear_message() {
    let err = Directory::open("postgres://localhost/test")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("PostgreSQL is not supported yet"),
        "{err}"
    );
}
