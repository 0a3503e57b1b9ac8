//! The moderation queue on both backends: organisations propose listings,
//! staff approve or reject them, and the bot's searches show only what was
//! approved.

mod common;

use chrono::NaiveDate;
use serde_json::{Value, json};

use common::TestDatabase;
use signpost::accounts::{Account, Accounts, Email, Password};
use signpost::database::Database;
use signpost::directory::export::hsds_services;
use signpost::directory::{Directory, SearchQuery};
use signpost::moderation::{ChangeKind, ChangeStatus, Moderation, ModerationError, Proposal};

/// 2026-12-01 09:00 UTC, seconds since 1970.
const NOW: i64 = 1_796_115_600;
const MINUTE: i64 = 60;

/// A Tuesday.
fn today() -> NaiveDate {
    "2026-12-01".parse().unwrap()
}

/// The new listing's id, as an organisation's own system would give it.
const PURL_ID: &str = "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a01";

/// Everything a test needs: the sample directory, a member of staff and an
/// account for each of two organisations.
struct Portal {
    directory: Directory,
    accounts: Accounts,
    moderation: Moderation,
    staff: Account,
    organisation: Account,
    organization_id: String,
    other: Account,
    other_organization_id: String,
}

async fn portal(db: &TestDatabase) -> Portal {
    let database = Database::open(&db.url).await.unwrap();
    let directory = Directory::new(database.clone());
    directory.load_sample(today()).await.unwrap();
    let published = directory.published(today()).await.unwrap();
    // Two organisations that each have a service.
    let mut owners: Vec<String> = published
        .services
        .iter()
        .map(|s| s.organization_id.clone())
        .collect();
    owners.dedup();
    let (organization_id, other_organization_id) = (owners[0].clone(), owners[1].clone());
    let accounts = Accounts::new(database.clone());
    let link = accounts
        .add_staff(&email("staff@kirklees.gov.uk"), NOW)
        .await
        .unwrap();
    let staff = accounts
        .set_password(&link.token, password(), NOW)
        .await
        .unwrap();
    let organisation_account = async |address: &str, organization_id: &str| {
        let link = accounts
            .invite_organisation(&staff, &email(address), organization_id, NOW)
            .await
            .unwrap();
        accounts
            .set_password(&link.token, password(), NOW)
            .await
            .unwrap()
    };
    let organisation = organisation_account("hello@group.org.uk", &organization_id).await;
    let other = organisation_account("hello@other.org.uk", &other_organization_id).await;
    Portal {
        directory,
        accounts,
        moderation: Moderation::new(database),
        staff,
        organisation,
        organization_id,
        other,
        other_organization_id,
    }
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn password() -> Password {
    Password::parse("a calm and long passphrase").unwrap()
}

/// A knitting club every Thursday morning at Batley library, as HSDS 3.0.
fn weekly_purl_club(organization_id: &str) -> Value {
    json!({
        "id": PURL_ID,
        "name": "Purl club",
        "description": "Bring your needles, or borrow ours; tea and biscuits.",
        "status": "active",
        "organization_id": organization_id,
        "x_categories": ["hobbies"],
        "service_at_locations": [{
            "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a02",
            "location": {
                "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a03",
                "name": "Batley Library",
                "location_type": "physical",
                "latitude": 53.7166,
                "longitude": -1.6356,
                "addresses": [{
                    "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a04",
                    "address_1": "Market Place",
                    "city": "Batley",
                    "state_province": "West Yorkshire",
                    "postal_code": "WF17 5DA",
                    "country": "GB",
                    "address_type": "physical"
                }]
            }
        }],
        "schedules": [{
            "id": "5f0c2a9e-3b7d-4c1e-8a6f-2d9b4e7c1a05",
            "freq": "WEEKLY",
            "byday": "TH",
            "opens_at": "10:00",
            "closes_at": "12:00"
        }]
    })
}

/// What a search for `words` finds: each result's service id and title.
async fn search(directory: &Directory, words: &str) -> Vec<(String, String)> {
    let mut query = SearchQuery::new(today());
    query.text = Some(words.to_owned());
    directory
        .search(&query)
        .await
        .unwrap()
        .listings
        .into_iter()
        .map(|listing| (listing.service_id, listing.title))
        .collect()
}

/// The organisation's first published service, as HSDS JSON (what the
/// portal would give it to edit), with its id and name.
async fn own_service(portal: &Portal) -> (Value, String, String) {
    let mut published = portal.directory.published(today()).await.unwrap();
    published
        .services
        .retain(|s| s.organization_id == portal.organization_id);
    published.services.truncate(1);
    let service = published.services[0].clone();
    let mut listing = hsds_services(&published);
    (listing[0].take(), service.id, service.name)
}

backend_tests! {
    async fn a_weekly_event_is_found_only_after_staff_approve_it(db: TestDatabase) {
        let portal = portal(&db).await;
        let proposal = Proposal::Add(weekly_purl_club(&portal.organization_id));
        let change = portal.moderation.submit(&portal.organisation, &proposal, NOW).await.unwrap();
        assert!(search(&portal.directory, "purl").await.is_empty());

        let queue = portal.moderation.queue(&portal.staff).await.unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0].id, change);
        assert_eq!(queue[0].kind, ChangeKind::Add);
        assert_eq!(queue[0].service_name, "Purl club");
        assert_eq!(queue[0].submitted_at, NOW);
        assert!(!queue[0].organization_name.is_empty());

        portal.moderation.approve(&portal.staff, change, today(), NOW + MINUTE).await.unwrap();
        let mut query = SearchQuery::new(today());
        query.text = Some("purl".to_owned());
        let found = portal.directory.search(&query).await.unwrap().listings;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].service_id, PURL_ID);
        let next = found[0].next.as_ref().expect("a next date");
        assert_eq!(next.date, "2026-12-03".parse::<NaiveDate>().unwrap(), "the next Thursday");
        assert_eq!(next.start, chrono::NaiveTime::from_hms_opt(10, 0, 0));
        assert_eq!(found[0].place.as_ref().and_then(|p| p.name.as_deref()), Some("Batley Library"));

        assert!(portal.moderation.queue(&portal.staff).await.unwrap().is_empty());
        let mine = portal.moderation.changes_for(&portal.organisation).await.unwrap();
        assert_eq!(mine[0].status, ChangeStatus::Approved);
        assert_eq!(mine[0].decided_at, Some(NOW + MINUTE));
    }

    async fn a_rejection_gives_the_organisation_its_reason_and_shows_nothing(db: TestDatabase) {
        let portal = portal(&db).await;
        let proposal = Proposal::Add(weekly_purl_club(&portal.organization_id));
        let change = portal.moderation.submit(&portal.organisation, &proposal, NOW).await.unwrap();

        let blank = portal.moderation.reject(&portal.staff, change, "   ", NOW).await.unwrap_err();
        assert!(matches!(blank, ModerationError::Invalid(_)), "{blank}");
        portal
            .moderation
            .reject(&portal.staff, change, "  Please say which room in the library.  ", NOW + MINUTE)
            .await
            .unwrap();

        let mine = portal.moderation.changes_for(&portal.organisation).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].status, ChangeStatus::Rejected);
        assert_eq!(mine[0].reason.as_deref(), Some("Please say which room in the library."));
        assert!(search(&portal.directory, "purl").await.is_empty());

        let again = portal.moderation.approve(&portal.staff, change, today(), NOW).await.unwrap_err();
        assert!(
            matches!(again, ModerationError::AlreadyDecided { status: ChangeStatus::Rejected, .. }),
            "{again}"
        );
        assert!(again.to_string().contains("already been rejected"), "{again}");
    }

    async fn an_edit_leaves_the_published_version_showing_until_it_is_approved(db: TestDatabase) {
        let portal = portal(&db).await;
        let (mut listing, service_id, old_name) = own_service(&portal).await;
        listing["name"] = json!("Tuesday marmalade morning");
        let change = portal
            .moderation
            .submit(&portal.organisation, &Proposal::Edit(listing), NOW)
            .await
            .unwrap();

        let shown = search(&portal.directory, &old_name).await;
        assert!(shown.contains(&(service_id.clone(), old_name.clone())), "{shown:?}");
        assert!(search(&portal.directory, "marmalade").await.is_empty());

        portal.moderation.approve(&portal.staff, change, today(), NOW + MINUTE).await.unwrap();
        let shown = search(&portal.directory, "marmalade").await;
        assert_eq!(
            shown,
            vec![(service_id.clone(), "Tuesday marmalade morning".to_owned())]
        );
        // Changed in place: one service under that id, the organisation
        // unchanged and not duplicated.
        let published = portal.directory.published(today()).await.unwrap();
        assert_eq!(published.services.iter().filter(|s| s.id == service_id).count(), 1);
        let sample = signpost::directory::sample_batch().unwrap();
        assert_eq!(published.organizations.len(), sample.organizations.len());
        let organisation = |batch: &signpost::directory::model::Batch| {
            batch.organizations.iter().find(|o| o.id == portal.organization_id).cloned()
        };
        assert_eq!(organisation(&published), organisation(&sample));
        // Loading the sample again does not undo the approved change.
        portal.directory.load_sample(today()).await.unwrap();
        assert_eq!(search(&portal.directory, "marmalade").await.len(), 1);

        let twice = portal.moderation.approve(&portal.staff, change, today(), NOW).await.unwrap_err();
        assert!(
            matches!(twice, ModerationError::AlreadyDecided { status: ChangeStatus::Approved, .. }),
            "{twice}"
        );
    }

    async fn a_withdrawn_listing_stops_being_shown_once_approved(db: TestDatabase) {
        let portal = portal(&db).await;
        let (_, service_id, name) = own_service(&portal).await;
        let withdraw = Proposal::Withdraw { service_id: service_id.clone() };
        let change = portal.moderation.submit(&portal.organisation, &withdraw, NOW).await.unwrap();
        assert_eq!(
            portal.moderation.queue(&portal.staff).await.unwrap()[0].service_name,
            name
        );
        assert!(search(&portal.directory, &name).await.iter().any(|(id, _)| *id == service_id));

        portal.moderation.approve(&portal.staff, change, today(), NOW).await.unwrap();
        assert!(!search(&portal.directory, &name).await.iter().any(|(id, _)| *id == service_id));
        let published = portal.directory.published(today()).await.unwrap();
        let kept = published.services.iter().find(|s| s.id == service_id);
        assert_eq!(kept.map(|s| s.status.as_str()), Some("inactive"));
    }

    async fn an_organisation_cannot_touch_another_organisations_services(db: TestDatabase) {
        let portal = portal(&db).await;
        let (listing, service_id, _) = own_service(&portal).await;
        let refused = [
            Proposal::Withdraw { service_id: service_id.clone() },
            Proposal::Edit(listing),
            Proposal::Add(weekly_purl_club(&portal.organization_id)),
        ];
        for proposal in &refused {
            let error = portal.moderation.submit(&portal.other, proposal, NOW).await.unwrap_err();
            assert!(matches!(error, ModerationError::NotAllowed(_)), "{error}");
        }
        let unknown = Proposal::Withdraw { service_id: "no-such-service".to_owned() };
        let error = portal.moderation.submit(&portal.other, &unknown, NOW).await.unwrap_err();
        assert!(matches!(error, ModerationError::UnknownService { .. }), "{error}");
        // Adding under an id that is already someone's service is refused too.
        let mut taken = weekly_purl_club(&portal.other_organization_id);
        taken["id"] = json!(service_id);
        let error = portal.moderation.submit(&portal.other, &Proposal::Add(taken), NOW).await.unwrap_err();
        assert!(error.to_string().contains("already a service"), "{error}");
        assert!(portal.moderation.queue(&portal.staff).await.unwrap().is_empty());
    }

    async fn only_staff_see_the_queue_and_decide(db: TestDatabase) {
        let portal = portal(&db).await;
        let proposal = Proposal::Add(weekly_purl_club(&portal.organization_id));
        let change = portal.moderation.submit(&portal.organisation, &proposal, NOW).await.unwrap();
        let moderation = &portal.moderation;
        let organisation = &portal.organisation;
        let refusals = [
            moderation.queue(organisation).await.map(|_| ()),
            moderation.approve(organisation, change, today(), NOW).await,
            moderation.reject(organisation, change, "no", NOW).await,
        ];
        for refusal in refusals {
            let error = refusal.unwrap_err();
            assert!(matches!(error, ModerationError::NotAllowed(_)), "{error}");
            assert!(error.to_string().starts_with("only staff can"), "{error}");
        }
        let error = moderation.submit(&portal.staff, &proposal, NOW).await.unwrap_err();
        assert!(matches!(error, ModerationError::NotAllowed(_)), "{error}");
        assert!(moderation.changes_for(&portal.staff).await.is_err());
        assert!(search(&portal.directory, "purl").await.is_empty());
        let unknown = moderation.approve(&portal.staff, change + 100, today(), NOW).await.unwrap_err();
        assert!(matches!(unknown, ModerationError::UnknownChange { .. }), "{unknown}");
    }

    async fn an_invalid_listing_is_refused_naming_the_record_and_nothing_is_stored(db: TestDatabase) {
        let portal = portal(&db).await;
        let mut listing = weekly_purl_club(&portal.organization_id);
        listing["schedules"][0]["opens_at"] = json!("ten o'clock");
        let error = portal
            .moderation
            .submit(&portal.organisation, &Proposal::Add(listing), NOW)
            .await
            .unwrap_err();
        let ModerationError::InvalidListing(problems) = &error else {
            panic!("expected the importer's problems, got {error}");
        };
        let message = error.to_string();
        assert!(
            problems.iter().any(|p| p.record.as_deref().is_some_and(|r| r.contains(PURL_ID))),
            "{message}"
        );
        assert!(message.contains("opens_at"), "{message}");
        assert!(message.contains("is not a time"), "{message}");

        let mut nameless = weekly_purl_club(&portal.organization_id);
        nameless.as_object_mut().unwrap().remove("name");
        let error = portal
            .moderation
            .submit(&portal.organisation, &Proposal::Add(nameless), NOW)
            .await
            .unwrap_err();
        assert!(matches!(error, ModerationError::InvalidListing(_)), "{error}");
        assert!(error.to_string().contains("name"), "{error}");

        assert!(portal.moderation.changes_for(&portal.organisation).await.unwrap().is_empty());
        assert!(portal.accounts.audit(Some(&format!("service:{PURL_ID}")), 10).await.unwrap().is_empty());
    }

    async fn a_newer_proposal_supersedes_one_still_waiting(db: TestDatabase) {
        let portal = portal(&db).await;
        let first = Proposal::Add(weekly_purl_club(&portal.organization_id));
        let first = portal.moderation.submit(&portal.organisation, &first, NOW).await.unwrap();
        let mut better = weekly_purl_club(&portal.organization_id);
        better["name"] = json!("Purl and zigzag club");
        let second = portal
            .moderation
            .submit(&portal.organisation, &Proposal::Add(better), NOW + MINUTE)
            .await
            .unwrap();

        let queue = portal.moderation.queue(&portal.staff).await.unwrap();
        assert_eq!(queue.iter().map(|c| c.id).collect::<Vec<_>>(), vec![second]);
        let mine = portal.moderation.changes_for(&portal.organisation).await.unwrap();
        let statuses: Vec<(i64, ChangeStatus)> = mine.iter().map(|c| (c.id, c.status)).collect();
        assert_eq!(
            statuses,
            vec![(second, ChangeStatus::Waiting), (first, ChangeStatus::Superseded)]
        );
        let error = portal.moderation.approve(&portal.staff, first, today(), NOW).await.unwrap_err();
        assert!(
            matches!(error, ModerationError::AlreadyDecided { status: ChangeStatus::Superseded, .. }),
            "{error}"
        );
        portal.moderation.approve(&portal.staff, second, today(), NOW + 2 * MINUTE).await.unwrap();
        let found = search(&portal.directory, "zigzag").await;
        assert_eq!(found, vec![(PURL_ID.to_owned(), "Purl and zigzag club".to_owned())]);
    }

    async fn every_submission_and_decision_is_recorded_with_who_and_what(db: TestDatabase) {
        let portal = portal(&db).await;
        let proposal = Proposal::Add(weekly_purl_club(&portal.organization_id));
        let first = portal.moderation.submit(&portal.organisation, &proposal, NOW).await.unwrap();
        portal.moderation.reject(&portal.staff, first, "Add the room, please.", NOW + MINUTE).await.unwrap();
        let second = portal.moderation.submit(&portal.organisation, &proposal, NOW + 2 * MINUTE).await.unwrap();
        portal.moderation.approve(&portal.staff, second, today(), NOW + 3 * MINUTE).await.unwrap();

        let events = portal.accounts.audit(Some(&format!("service:{PURL_ID}")), 10).await.unwrap();
        let seen: Vec<(i64, Option<&str>, &str)> = events
            .iter()
            .map(|e| (e.at, e.by.as_deref(), e.action.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (NOW + 3 * MINUTE, Some("staff@kirklees.gov.uk"), "listing change approved"),
                (NOW + 2 * MINUTE, Some("hello@group.org.uk"), "listing change submitted"),
                (NOW + MINUTE, Some("staff@kirklees.gov.uk"), "listing change rejected"),
                (NOW, Some("hello@group.org.uk"), "listing change submitted"),
            ]
        );
        let rejected = events[2].detail.as_deref().unwrap_or_default();
        assert!(rejected.contains("Add the room, please."), "{rejected}");
        let submitted = events[3].detail.as_deref().unwrap_or_default();
        assert!(submitted.contains("add \"Purl club\""), "{submitted}");
    }
}

backend_tests! {
    async fn a_listing_at_a_shared_place_links_to_it_without_changing_it(db: TestDatabase) {
        let portal = portal(&db).await;
        let published = portal.directory.published(today()).await.unwrap();
        let hall = published
            .locations
            .iter()
            .find(|l| l.organization_id.is_none() && l.name.is_some())
            .expect("the sample has places no organisation owns")
            .clone();
        let mut listing = weekly_purl_club(&portal.organization_id);
        listing["service_at_locations"][0]["location"]["id"] = json!(hall.id);
        listing["service_at_locations"][0]["location"]["name"] = json!("Renamed by a listing");
        let change = portal
            .moderation
            .submit(&portal.organisation, &Proposal::Add(listing), NOW)
            .await
            .unwrap();
        portal.moderation.approve(&portal.staff, change, today(), NOW).await.unwrap();

        let published = portal.directory.published(today()).await.unwrap();
        let after = published.locations.iter().find(|l| l.id == hall.id);
        assert_eq!(after, Some(&hall));
        let mut query = SearchQuery::new(today());
        query.text = Some("purl".to_owned());
        let found = portal.directory.search(&query).await.unwrap().listings;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].place.as_ref().and_then(|p| p.name.clone()), hall.name);
    }
}
