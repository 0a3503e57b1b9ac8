//! Importing real data and bad data, on both backends: every file in
//! ../shared/data imports (or skips records with reasons), importing again
//! changes nothing, a bad file changes nothing, and the export validates
//! against the HSDS 3.0 schema.

mod common;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use signpost::directory::import::{self, Format, ImportOptions};
use signpost::directory::{Directory, SearchQuery, WriteOptions};

#[path = "common/hsds_schema.rs"]
mod hsds_schema;

fn today() -> NaiveDate {
    "2026-11-24".parse().unwrap()
}

fn options(source: &str) -> ImportOptions {
    ImportOptions {
        source: source.to_owned(),
        ..ImportOptions::default()
    }
}

/// Every importable file in the shared data, with a source name each.
fn shared_files() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for (folder, extension) in [
        ("hsds-spec/examples", "json"),
        ("oruk-profile/examples", "json"),
        ("oruk-feeds", "json"),
        ("ics", "ics"),
    ] {
        let Some(dir) = common::shared_data(folder) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        paths.sort();
        for path in paths {
            let source = format!("{folder}/{}", path.file_stem().unwrap().to_string_lossy());
            files.push((path, source));
        }
        let datapackage = dir.join("csv");
        if datapackage.join("services.csv").is_file() {
            files.push((datapackage, format!("{folder}/csv")));
        }
    }
    files
}

async fn import_file(
    directory: &Directory,
    path: &Path,
    source: &str,
    publish: bool,
) -> (Format, signpost::directory::ImportSummary) {
    let (format, mut parsed) = import::read(path, &options(source), today())
        .unwrap_or_else(|problem| panic!("{}: refused: {problem}", path.display()));
    // One file is known to hold records no one could list: the RFC 5545
    // RDATE example gives dates but no DTSTART. It imports with
    // --skip-invalid; every other file must have no problems at all.
    let problems: Vec<String> = parsed.problems.iter().map(|p| p.to_string()).collect();
    if path.ends_with("rfc_5545_RDATE_example.ics") {
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(
            problems.iter().all(|p| p.contains("it has no DTSTART")),
            "{problems:#?}"
        );
        parsed.problems.clear();
    }
    assert!(
        parsed.problems.is_empty(),
        "{}: {problems:#?}",
        path.display()
    );
    let options = WriteOptions {
        publish,
        ..WriteOptions::new(today())
    };
    let summary = directory
        .write(&parsed.batch, &options)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (format, summary)
}

/// Everything in the directory, as an export and counts, to compare before
/// and after.
async fn snapshot(
    directory: &Directory,
) -> (String, std::collections::BTreeMap<&'static str, i64>) {
    let batch = directory.published(today()).await.unwrap();
    let json = signpost::directory::export::hsds_services(&batch);
    (json.to_string(), directory.counts().await.unwrap())
}

backend_tests! {
    async fn every_shared_file_imports_and_importing_again_changes_nothing(db: TestDatabase) {
        let directory = db.directory().await;
        let files = shared_files();
        if files.is_empty() {
            return;
        }
        for (path, source) in &files {
            let (format, summary) = import_file(&directory, path, source, true).await;
            let added: usize = summary.counts.values().map(|c| c.added).sum();
            println!("{} ({}): {added} added, {} skipped", path.display(), format.describe(), summary.skipped.len());
            for skipped in &summary.skipped {
                println!("  skipped {}: {}", skipped.record, skipped.reason);
                assert!(!skipped.reason.trim().is_empty());
            }
        }
        let before = snapshot(&directory).await;
        for (path, source) in &files {
            let (_, again) = import_file(&directory, path, source, true).await;
            assert!(again.changed_nothing(), "{}: {again:?}", path.display());
        }
        assert_eq!(snapshot(&directory).await, before);
        // The council feeds are big: most of their services made it in.
        let counts = directory.counts().await.unwrap();
        assert!(counts["services"] > 1400, "{counts:?}");
    }

    async fn formats_are_detected_from_content(db: TestDatabase) {
        let _ = db;
        for (folder, file, expected) in [
            ("hsds-spec/examples", "service_full.json", Format::HsdsJson),
            ("hsds-spec/examples", "csv", Format::HsdsDatapackage),
            ("oruk-feeds", "bristol-2024-12.json", Format::OrukFeed),
            ("ics", "issue_62_moved_event.ics", Format::ICalendar),
        ] {
            let Some(dir) = common::shared_data(folder) else { return };
            let (format, _) = import::read(&dir.join(file), &options("t"), today()).unwrap();
            assert_eq!(format, expected, "{file}");
        }
    }

    async fn the_export_validates_against_the_hsds_schema(db: TestDatabase) {
        let Some(schema) = common::shared_data("hsds-spec/schema") else { return };
        let directory = db.directory().await;
        directory.load_sample(today()).await.unwrap();
        for (path, source) in shared_files() {
            import_file(&directory, &path, &source, true).await;
        }
        let batch = directory.published(today()).await.unwrap();
        let json = signpost::directory::export::hsds_services(&batch);
        assert!(json.as_array().unwrap().len() > 1000);
        let errors = hsds_schema::service_list_errors(&schema, &json);
        assert!(errors.is_empty(), "{} errors, first: {:#?}", errors.len(), &errors[..errors.len().min(10)]);
    }

    async fn imported_events_are_found_on_their_dates(db: TestDatabase) {
        let Some(dir) = common::shared_data("ics") else { return };
        let directory = db.directory().await;
        // "Last Friday of the month" with one moved instance.
        let (_, summary) = import_file(&directory, &dir.join("issue_62_moved_event.ics"), "moved", true).await;
        assert_eq!(summary.counts["services"].added, 1);
        let mut query = SearchQuery::new(today());
        query.limit = 10;
        let found = directory.search(&query).await.unwrap();
        // Whatever the file's dates, nothing shown is before today.
        for listing in &found.listings {
            if let Some(next) = listing.next {
                assert!(next.date >= today());
            }
        }
    }

    async fn a_bad_file_changes_nothing(db: TestDatabase) {
        let directory = db.directory().await;
        directory.load_sample(today()).await.unwrap();
        let before = snapshot(&directory).await;
        let folder = tempfile::tempdir().unwrap();
        let bad_files = [
            ("truncated.json", "[{\"id\": \"5b1e3c2a-0000-4000-8000-000000000001\", \"name\": \"Lunch"),
            ("truncated.ics", "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:a\nSUMMARY:Lunch\nDTSTART:20261201T120000Z\n"),
            ("notes.txt", "Tuesday lunch club at the library, 12 till 2"),
            ("picture.png", "\u{89}PNG\r\n\u{1a}\n"),
        ];
        for (name, content) in bad_files {
            let path = folder.path().join(name);
            std::fs::write(&path, content).unwrap();
            let refused = import::read(&path, &options("bad"), today());
            assert!(refused.is_err(), "{name} should be refused");
            let problem = refused.unwrap_err().to_string();
            assert!(!problem.is_empty(), "{name}");
        }
        // A file with a good record and bad ones: refused whole by default.
        let mixed = folder.path().join("mixed.ics");
        std::fs::write(
            &mixed,
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n\
             BEGIN:VEVENT\r\nUID:good@test\r\nSUMMARY:Good lunch\r\nDTSTART:20261201T120000Z\r\nDTEND:20261201T130000Z\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:busy@test\r\nSUMMARY:Every second\r\nDTSTART:20261201T120000Z\r\nRRULE:FREQ=SECONDLY\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:broken@test\r\nSUMMARY:Broken rule\r\nDTSTART:20261201T120000Z\r\nRRULE:FREQ=FORTNIGHTLY\r\nEND:VEVENT\r\n\
             END:VCALENDAR\r\n",
        )
        .unwrap();
        let (_, parsed) = import::read(&mixed, &options("mixed"), today()).unwrap();
        let problems: Vec<String> = parsed.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("busy@test")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("broken@test")), "{problems:#?}");
        assert_eq!(parsed.batch.services.len(), 1, "only the good event is left");
        assert_eq!(snapshot(&directory).await, before);
    }
}
