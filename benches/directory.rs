//! Directory search latency on a generated directory of 10,000 services and
//! about 100,000 occurrences, on SQLite and (when
//! SIGNPOST_TEST_POSTGRES_URL is set) PostgreSQL.
//!
//! Run: `cargo bench --bench directory` (add `-- --quick` for fewer rounds).
//! It prints p50 and p99 latency for the bot's typical queries. It is a
//! measurement, not a test: nothing here fails on a slow machine.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime};
use signpost::directory::model::{
    Address, Batch, Extra, Location, Moderation, Organization, Schedule, Service, ServiceAtLocation,
};
use signpost::directory::query::parse_when;
use signpost::directory::recurrence::Recurrence;
use signpost::directory::{Directory, SearchQuery, WriteOptions};
use signpost::search::{Area, Category};

const SERVICES: usize = 10_000;
const OUTCODES: usize = 60;

/// A small, repeatable random number generator (xorshift64*), so every run
/// builds the same directory.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: [&str; 16] = [
    "walk",
    "lunch",
    "coffee",
    "knitting",
    "choir",
    "gardening",
    "chess",
    "art",
    "reading",
    "football",
    "cooking",
    "crafts",
    "dance",
    "history",
    "men's shed",
    "tea",
];

/// A fifth of the places in a dense, West Yorkshire-sized area (2,000
/// services where a real national directory would have a few hundred), the
/// rest spread over England.
fn position(random: &mut Random) -> (f64, f64) {
    if random.below(5) == 0 {
        (random.between(53.5, 53.9), random.between(-2.0, -1.3))
    } else {
        (random.between(50.5, 55.0), random.between(-3.5, 0.5))
    }
}

fn generate(today: NaiveDate) -> (Batch, Vec<(String, f64, f64)>) {
    let mut random = Random(0x5167_9057);
    let mut batch = Batch {
        source: "bench".into(),
        ..Batch::default()
    };
    let id = |kind: &str, n: usize| {
        signpost::directory::model::derived_id("bench", kind, &n.to_string())
    };
    for n in 0..SERVICES / 10 {
        batch.organizations.push(Organization {
            id: id("organization", n),
            source_id: format!("org-{n}"),
            name: format!("Community group {n}"),
            description: "A local charity.".into(),
            email: None,
            website: None,
            phones: Vec::new(),
            extra: Extra::new(),
        });
    }
    for n in 0..SERVICES {
        let word = WORDS[random.below(WORDS.len())];
        let mut categories = BTreeSet::new();
        categories.insert(Category::ALL[random.below(Category::ALL.len())]);
        categories.insert(Category::ALL[random.below(Category::ALL.len())]);
        // Four in five meet weekly; the rest are phone and online services
        // without dates.
        let dated = n % 5 != 4;
        let schedules = if dated {
            let weekday = random.below(7) as u32;
            let start = today
                .checked_sub_days(chrono::Days::new(30 + u64::from(weekday)))
                .unwrap()
                .and_time(NaiveTime::from_hms_opt(9 + random.below(11) as u32, 0, 0).unwrap());
            vec![Schedule {
                id: id("schedule", n),
                description: None,
                recurrence: Some(Recurrence {
                    timezone: "Europe/London".into(),
                    start,
                    all_day: false,
                    duration_minutes: Some(90),
                    rules: vec!["FREQ=WEEKLY".into()],
                    extra_dates: Vec::new(),
                    excluded_dates: Vec::new(),
                    changed: Vec::new(),
                }),
                extra: Extra::new(),
            }]
        } else {
            Vec::new()
        };
        batch.services.push(Service {
            id: id("service", n),
            source_id: format!("service-{n}"),
            organization_id: id("organization", n / 10),
            name: format!(
                "{} {word} group",
                ["Friendly", "Weekly", "Open", "Community"][n % 4]
            ),
            description: Some(format!(
                "A relaxed {word} session where newcomers are welcome. Number {n}."
            )),
            url: None,
            email: None,
            status: "active".into(),
            fees_description: None,
            free: Some(n % 3 == 0),
            application_process: Some("Just turn up".into()),
            online: !dated,
            phones: Vec::new(),
            schedules,
            attributes: Vec::new(),
            categories,
            moderation: Moderation::Published,
            last_confirmed: None,
            expires: None,
            extra: Extra::new(),
        });
        if dated {
            let (latitude, longitude) = position(&mut random);
            batch.locations.push(Location {
                id: id("location", n),
                source_id: format!("location-{n}"),
                location_type: "physical".into(),
                organization_id: None,
                name: Some(format!("Hall {n}")),
                description: None,
                latitude: Some(latitude),
                longitude: Some(longitude),
                step_free: Some(n % 2 == 0),
                addresses: vec![Address {
                    id: id("address", n),
                    address_1: format!("{n} High Street"),
                    address_2: None,
                    city: "Town".into(),
                    region: None,
                    state_province: "England".into(),
                    postal_code: String::new(),
                    country: "GB".into(),
                    address_type: "physical".into(),
                    extra: Extra::new(),
                }],
                phones: Vec::new(),
                extra: Extra::new(),
            });
            batch.service_at_locations.push(ServiceAtLocation {
                id: id("service_at_location", n),
                source_id: format!("service-{n}"),
                service_id: id("service", n),
                location_id: id("location", n),
                description: None,
                schedules: Vec::new(),
                phones: Vec::new(),
                extra: Extra::new(),
            });
        }
    }
    let outcodes = (0..OUTCODES)
        .map(|n| {
            let (lat, lon) = position(&mut random);
            (format!("BN{n}"), lat, lon)
        })
        .collect();
    (batch, outcodes)
}

struct Figures {
    name: &'static str,
    p50: Duration,
    p99: Duration,
    mean_results: f64,
}

async fn measure(
    directory: &Directory,
    name: &'static str,
    rounds: usize,
    make: impl Fn(usize) -> SearchQuery,
) -> Figures {
    // Warm the caches first, as a running bot's would be.
    for round in 0..rounds / 10 {
        directory.search(&make(round)).await.expect("search works");
    }
    let mut times = Vec::with_capacity(rounds);
    let mut results = 0;
    for round in 0..rounds {
        let query = make(round);
        let started = Instant::now();
        let found = directory.search(&query).await.expect("search works");
        times.push(started.elapsed());
        results += found.total;
    }
    times.sort();
    Figures {
        name,
        p50: times[times.len() / 2],
        p99: times[(times.len() * 99 / 100).min(times.len() - 1)],
        mean_results: results as f64 / rounds as f64,
    }
}

async fn run(backend: &str, url: &str, rounds: usize) {
    let today: NaiveDate = "2026-11-24".parse().unwrap();
    let directory = Directory::open(url).await.expect("the database opens");
    let (batch, outcodes) = generate(today);
    let started = Instant::now();
    let options = WriteOptions {
        publish: true,
        ..WriteOptions::new(today)
    };
    directory
        .write(&batch, &options)
        .await
        .expect("the directory loads");
    directory
        .import_outcodes("bench", "generated", &outcodes)
        .await
        .unwrap();
    let loaded = started.elapsed();
    let counts = directory.counts().await.unwrap();
    println!(
        "\n{backend}: {} services, {} occurrences, loaded in {:.1} s",
        counts["services"],
        counts["occurrences"],
        loaded.as_secs_f64()
    );

    let this_week = parse_when("this-week", today).unwrap().0;
    let figures = [
        measure(&directory, "near + category + this week", rounds, |round| {
            let mut query = SearchQuery::new(today);
            query.near = Some(Area::Outcode(format!("BN{}", round % OUTCODES)));
            query
                .categories
                .insert(Category::ALL[round % Category::ALL.len()]);
            query.dates = this_week;
            query.limit = 5;
            query
        })
        .await,
        measure(&directory, "text search", rounds, |round| {
            let mut query = SearchQuery::new(today);
            query.text = Some(WORDS[round % WORDS.len()].to_owned());
            query.limit = 5;
            query
        })
        .await,
        measure(&directory, "near + this week, evenings", rounds, |round| {
            let mut query = SearchQuery::new(today);
            query.near = Some(Area::Outcode(format!("BN{}", round % OUTCODES)));
            (query.dates, query.part_of_day) = parse_when("this-week,evenings", today).unwrap();
            query.limit = 5;
            query
        })
        .await,
    ];
    println!(
        "{:<30} {:>10} {:>10} {:>14}",
        "query", "p50", "p99", "mean matches"
    );
    for f in figures {
        println!(
            "{:<30} {:>8.2}ms {:>8.2}ms {:>14.1}",
            f.name,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.mean_results
        );
    }
    directory.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 200 } else { 2000 };
    let folder = tempfile::tempdir().expect("a temporary folder");
    // SIGNPOST_BENCH_SQLITE keeps the generated database, for a closer look.
    let file = std::env::var("SIGNPOST_BENCH_SQLITE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| folder.path().join("bench.db"));
    let _ = std::fs::remove_file(&file);
    let url = format!("sqlite://{}", file.display());
    run("SQLite", &url, rounds).await;

    match std::env::var("SIGNPOST_TEST_POSTGRES_URL")
        .ok()
        .filter(|_| !std::env::args().any(|a| a == "--sqlite-only"))
    {
        Some(server) => {
            let name = format!("signpost_bench_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&server)
                .await
                .expect("PostgreSQL is running");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .expect("creating the bench database");
            let url = match server.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => server.clone(),
            };
            run("PostgreSQL", &url, rounds).await;
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
        }
        None => println!("\nPostgreSQL: skipped (SIGNPOST_TEST_POSTGRES_URL is not set)"),
    }
}
