//! The real `signpost` binary, driven as a person or a script would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn signpost() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signpost"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    // Keep the tests independent of the machine's environment.
    for (name, _) in std::env::vars() {
        if name.starts_with("SIGNPOST_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `signpost chat` with `input` on standard input.
fn chat(args: &[&str], input: &[u8]) -> Output {
    let mut child = signpost()
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("signpost starts");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("output is UTF-8")
}

#[test]
fn the_readme_pipe_example_shows_the_menu_then_the_first_question() {
    let output = chat(&["--demo", "--date", "2026-11-24"], b"/start\n1\n");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with("(Demo: the directory holds made-up sample data"),
        "{stdout}"
    );
    assert!(
        stdout.contains("I'm Signpost, an automated service"),
        "{stdout}"
    );
    assert!(stdout.contains("\n1. Find something to do\n"), "{stdout}");
    assert!(stdout.contains("Which area would suit you?"), "{stdout}");
    assert!(stdout.contains("\n1. Huddersfield\n"), "{stdout}");
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

#[test]
fn the_privacy_answer_says_how_long_a_quiet_conversation_is_kept_as_set() {
    let said = |minutes: Option<&str>| {
        let mut command = signpost();
        if let Some(minutes) = minutes {
            command.env("SIGNPOST_SESSION__IDLE_MINUTES", minutes);
        }
        let mut child = command
            .args(["chat", "--demo", "--date", "2026-11-24"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("signpost starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"/privacy\n")
            .unwrap();
        text(&child.wait_with_output().unwrap().stdout)
    };
    assert!(said(None).contains("forgotten after 30 minutes of quiet"));
    assert!(said(Some("45")).contains("forgotten after 45 minutes of quiet"));
    assert!(said(Some("120")).contains("forgotten after 2 hours of quiet"));
}

#[test]
fn a_few_exchanges_find_knit_and_natter_on_a_tuesday() {
    let output = chat(
        &["--demo", "--date", "2026-11-24"],
        b"/start\n1\nHuddersfield\nMeet people\ntoday\n",
    );
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("Knit and Natter\n")
            && stdout.contains("Every Tuesday, 10am to 12pm; next today\nHuddersfield Library"),
        "{stdout}"
    );
}

#[test]
fn output_is_the_same_for_the_same_input_and_date() {
    let input = b"hello\n2\n1\n/menu\n1\nhd1\n1\n3\n";
    let first = chat(&["--demo", "--date", "2026-11-24"], input);
    let second = chat(&["--demo", "--date", "2026-11-24"], input);
    assert_eq!(first.stdout, second.stdout);
    let env_date = signpost_with_env_date(input);
    assert_eq!(
        first.stdout, env_date.stdout,
        "SIGNPOST_CHAT__DATE fixes the date too"
    );
}

fn signpost_with_env_date(input: &[u8]) -> Output {
    let mut child = signpost()
        .args(["chat", "--demo"])
        .env("SIGNPOST_CHAT__DATE", "2026-11-24")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_console_survives_blank_long_binary_and_control_input() {
    let mut input = Vec::new();
    input.extend_from_slice(b"\n\n   \n/start\n");
    input.extend_from_slice(&vec![b'x'; 5000]);
    input.push(b'\n');
    input.extend_from_slice(&vec![b'y'; 200_000]);
    input.push(b'\n');
    input.extend_from_slice(b"\xff\xfe\xc3\x28 hello \xe2\x82\n");
    input.extend_from_slice(b"\x1b[2J\x07\x00\x08menu\r\n");
    input.extend_from_slice("😀🙂 ∑ ßtraße\n".as_bytes());
    input.extend_from_slice(b"1"); // no final line break
    let output = chat(&["--demo", "--date", "2026-11-24"], &input);
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.matches("That message is a bit long for me").count(),
        2,
        "{stdout}"
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "control characters echoed"
    );
    assert!(
        stdout.contains("Sorry, I didn't understand that"),
        "{stdout}"
    );
    // The last line, without a line break, still chooses option 1.
    assert!(
        stdout.trim_end().ends_with("9. I need urgent help"),
        "{stdout}"
    );
    assert!(stdout.contains("Which area would suit you?"), "{stdout}");
    assert!(text(&output.stderr).is_empty(), "{}", text(&output.stderr));
}

#[test]
fn a_broken_flow_is_refused_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("flows"),
        dir.path(),
    );
    let find = dir.path().join("find.toml");
    let original = std::fs::read_to_string(&find).unwrap();
    let broken = original.replacen("go = \"when\"", "go = \"wehn\"", 1);
    assert_ne!(original, broken, "find.toml has a go = \"when\" to break");
    std::fs::write(&find, &broken).unwrap();
    let line = broken.lines().position(|l| l.contains("\"wehn\"")).unwrap() + 1;

    let check = signpost()
        .args(["flows", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let stdout = text(&check.stdout);
    let expected = format!("{}:{line}:", find.display());
    assert!(
        stdout.contains(&expected),
        "wanted {expected} in:\n{stdout}"
    );
    assert!(
        stdout.contains("to unknown step \"wehn\" (did you mean \"when\"?)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 error(s)"), "{stdout}");

    let chat = signpost()
        .arg("--flows")
        .arg(dir.path())
        .args(["chat", "--demo"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(chat.status.code(), Some(1));
    assert!(
        chat.stdout.is_empty(),
        "chat must not start: {}",
        text(&chat.stdout)
    );
    let stderr = text(&chat.stderr);
    assert!(
        stderr.contains(&expected) && stderr.contains("signpost flows check"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_flows_pass_the_check() {
    let output = signpost().args(["flows", "check"]).output().unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stdout).contains("are ready, with no problems."),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn migrate_and_load_sample_work_on_a_fresh_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let migrate = signpost()
        .args(["--database", &url, "migrate"])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    assert!(text(&migrate.stdout).contains("The database is up to date"));
    for expected in [
        "services: 45 added",
        "services: 0 added, 0 updated, 45 unchanged",
    ] {
        let load = signpost()
            .args(["--database", &url, "directory", "load-sample"])
            .output()
            .unwrap();
        assert!(load.status.success(), "{}", text(&load.stderr));
        assert!(
            text(&load.stdout).contains(expected),
            "{}",
            text(&load.stdout)
        );
    }
    let output = {
        let mut child = signpost()
            .args(["--database", &url, "chat", "--date", "2026-11-24"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"/start\n1\n1\n1\n1\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout.matches("Knit and Natter\n").count(),
        1,
        "loading twice must not duplicate:\n{stdout}"
    );
}

#[test]
fn safety_eval_prints_the_figures_and_passes_on_our_phrases() {
    let phrases = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/safety/phrases.tsv");
    let output = signpost()
        .args(["safety", "eval"])
        .arg(&phrases)
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    for expected in ["crisis", "check_in", "no_crisis", "recall", "targets:"] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("NOT MET"), "{stdout}");
    // Texts are printed only when asked for.
    assert!(!stdout.contains("cuppa"), "{stdout}");
}

#[test]
fn safety_eval_explains_a_file_without_labels() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unlabelled.tsv");
    std::fs::write(&file, "item_id\ttext\nA1\thello\n").unwrap();
    let output = signpost()
        .args(["safety", "eval"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("no `label` column"), "{stderr}");
}

#[test]
fn a_bad_setting_is_one_clear_error_naming_the_key() {
    let output = signpost()
        .args(["flows", "check"])
        .env("SIGNPOST_SESSION__IDLE_MINUTES", "half an hour")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: invalid configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("session.idle_minutes"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn every_command_has_useful_help() {
    for args in [
        &["--help"][..],
        &["chat", "--help"],
        &["flows", "--help"],
        &["flows", "check", "--help"],
        &["migrate", "--help"],
        &["serve", "--help"],
        &["web", "--help"],
        &["directory", "--help"],
        &["directory", "load-sample", "--help"],
        &["safety", "eval", "--help"],
        &["stats", "--help"],
        &["stats", "rollup", "--help"],
        &["staff", "add", "--help"],
    ] {
        let output = signpost().args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let help = text(&output.stdout);
        assert!(help.contains("Usage: signpost"), "{args:?}: {help}");
        assert!(
            help.contains("--database <URL>"),
            "{args:?} lacks the global options: {help}"
        );
    }
    let chat = text(&signpost().args(["chat", "--help"]).output().unwrap().stdout);
    assert!(
        chat.contains("--demo") && chat.contains("--date <YYYY-MM-DD>"),
        "{chat}"
    );
}

#[test]
fn serve_without_a_token_says_what_to_set() {
    let output = signpost().arg("serve").output().unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("SIGNPOST_TELEGRAM__TOKEN"), "{stderr}");
    assert!(stderr.contains("BotFather"), "{stderr}");
    assert!(stderr.contains("signpost web"), "{stderr}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_file() {
            std::fs::copy(&path, target).unwrap();
        } else if path.is_dir() {
            // The safety patterns and support lines live in flows/safety/.
            copy_dir(&path, &target);
        }
    }
}

/// A fresh database file holding the sample directory, and its URL.
fn sample_database() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let load = signpost()
        .args(["--database", &url, "directory", "load-sample"])
        .output()
        .unwrap();
    assert!(load.status.success(), "{}", text(&load.stderr));
    (dir, url)
}

#[test]
fn directory_search_near_hd1_this_week_lists_social_groups_with_their_dates() {
    let (_dir, url) = sample_database();
    let search = |format: &str| {
        signpost()
            .args(["--database", &url, "directory", "search", "--near", "HD1"])
            .args(["--when", "this-week", "--category", "social-groups"])
            .args(["--date", "2026-11-24", "--format", format])
            .output()
            .unwrap()
    };
    let output = search("text");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(" found; showing 1 to "), "{stdout}");
    assert!(
        stdout.contains("Knit and Natter\n") && stdout.contains("next today"),
        "{stdout}"
    );

    let output = search("json");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    let dated: Vec<(&str, &str)> = results
        .iter()
        .filter(|r| !r["next"].is_null())
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["next"]["date"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        dated.contains(&("Knit and Natter", "2026-11-24")),
        "{dated:?}"
    );
    assert!(
        dated.contains(&("Sunday Tea Dance", "2026-11-29")),
        "{dated:?}"
    );
    assert!(
        dated
            .iter()
            .all(|(_, date)| ("2026-11-24".."2026-12-01").contains(date)),
        "{dated:?}"
    );
}

#[test]
fn an_unknown_place_or_time_gets_a_helpful_answer() {
    let (_dir, url) = sample_database();
    let output = signpost()
        .args(["--database", &url, "directory", "search", "--near", "ZZ9"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(text(&output.stdout).starts_with("I don't know that place."));
    let output = signpost()
        .args([
            "--database",
            &url,
            "directory",
            "search",
            "--when",
            "soonish",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("\"soonish\" is not a time I know"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_broken_file_is_refused_with_where_and_nothing_changes() {
    let (dir, url) = sample_database();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "[{\"id\": \"1\", \"name\": \"Lunch club\",").unwrap();
    let export = || {
        signpost()
            .args(["--database", &url, "directory", "export"])
            .output()
            .unwrap()
            .stdout
    };
    let before = export();
    let output = signpost()
        .args(["--database", &url, "directory", "import"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("refused: line 1, column "), "{stdout}");
    assert!(stdout.contains("Nothing was imported"), "{stdout}");
    assert_eq!(export(), before);
}

#[test]
fn export_writes_the_published_directory_as_hsds_json() {
    let (dir, url) = sample_database();
    let file = dir.path().join("export.json");
    let output = signpost()
        .args([
            "--database",
            &url,
            "directory",
            "export",
            "--format",
            "hsds-json",
            "-o",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let services = json.as_array().unwrap();
    assert_eq!(services.len(), 45);
    assert!(
        services
            .iter()
            .all(|s| s["organization"]["name"].is_string())
    );
}

#[test]
fn geo_import_loads_outcode_centres_and_refuses_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("geo.db").display());
    let good = dir.path().join("centres.csv");
    std::fs::write(
        &good,
        "outcode,lat,lon\nHD1,53.645,-1.785\nWF13,53.69,-1.63\n",
    )
    .unwrap();
    let output = signpost()
        .args(["--database", &url, "geo", "import"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Loaded 2 outcode centres as \"centres\""));
    assert!(text(&output.stdout).contains("Attribution: Contains OS data"));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "outcode,lat,lon\nHD1,153.645,-1.785\n").unwrap();
    let output = signpost()
        .args(["--database", &url, "geo", "import"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("line 2: HD1: latitude 153.645 is out of range"),
        "{}",
        text(&output.stderr)
    );
}

/// Runs `signpost chat` over the database at `url` as if on `date`.
fn chat_on(url: &str, date: &str, input: &[u8]) {
    let mut child = signpost()
        .args(["--database", url, "chat", "--date", date])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("signpost starts");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
}

/// `signpost stats` as CSV, one map of column to value per line.
fn stats_csv(url: &str, args: &[&str]) -> Vec<std::collections::HashMap<String, String>> {
    let output = signpost()
        .args(["--database", url, "stats", "--format", "csv"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn stats_shows_scripted_conversations_suppressed_rounded_and_urgent_help_only_by_month() {
    let (_dir, url) = sample_database();
    let find = "/start\n1\n1\n/stop\n";
    let urgent_by_button = "/start\n9\n/stop\n";
    let urgent_by_command = "/urgent\n/stop\n";
    // 23 November: 9 people look for something in Huddersfield and 4 ask
    // for urgent help; 24 November: 3 look, 5 ask for urgent help.
    let day_one = find.repeat(9) + &urgent_by_button.repeat(2) + &urgent_by_command.repeat(2);
    chat_on(&url, "2026-11-23", day_one.as_bytes());
    let day_two = find.repeat(3) + &urgent_by_button.repeat(5);
    chat_on(&url, "2026-11-24", day_two.as_bytes());

    let args = ["--from", "2026-11-23", "--to", "2026-11-24", "--by", "day"];
    let lines = stats_csv(&url, &args);
    let shown = |section: &str, period: &str, event: &str, column: (&str, &str)| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["section"] == section && l["period"] == period && l["event"] == event)
            .filter(|l| column.0.is_empty() || l[column.0] == column.1)
            .map(|l| l["shown"].clone())
            .collect()
    };
    let any = ("", "");
    let console = ("channel", "console");
    // 13 and 8 conversations a day; the total is rounded from 21, not
    // added up from the rounded days.
    assert_eq!(
        shown("period", "2026-11-23", "conversation_started", console),
        ["15"]
    );
    assert_eq!(
        shown("period", "2026-11-24", "conversation_started", console),
        ["10"]
    );
    assert_eq!(
        shown("event total", "", "conversation_started", any),
        ["20"]
    );
    // "Huddersfield" was chosen 9 times and then 3: 10, then fewer than 8.
    let huddersfield = lines
        .iter()
        .filter(|l| l["event"] == "option_chosen" && l["flow"] == "find" && l["step"] == "area")
        .map(|l| {
            (
                l["section"].as_str(),
                l["period"].as_str(),
                l["count"].as_str(),
                l["shown"].as_str(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        huddersfield,
        [
            ("total", "", "10", "10"),
            ("period", "2026-11-23", "10", "10"),
            ("period", "2026-11-24", "", "<8"),
        ]
    );
    // Urgent help: 9 in all, only for the month, never by day or by button.
    assert_eq!(shown("period", "2026-11", "urgent_help_shown", any), ["10"]);
    assert_eq!(shown("event total", "", "urgent_help_shown", any), ["10"]);
    for line in &lines {
        let urgent = line["event"] == "urgent_help_shown" || line["event"] == "check_in_shown";
        assert!(
            !urgent || line["period"].is_empty() || line["period"] == "2026-11",
            "urgent help split by day: {line:?}"
        );
        assert!(
            !(line["event"] == "option_chosen" && line["option"] == "9"),
            "the urgent help button is counted: {line:?}"
        );
        assert!(
            line["flow"] != "urgent" && line["command"] != "urgent",
            "{line:?}"
        );
    }

    // Rolled up into months, the same totals come back.
    let rollup = signpost()
        .args([
            "--database",
            &url,
            "stats",
            "rollup",
            "--date",
            "2027-03-01",
        ])
        .output()
        .unwrap();
    assert!(rollup.status.success(), "{}", text(&rollup.stderr));
    assert!(
        text(&rollup.stdout).contains("before 2026-12-01"),
        "{}",
        text(&rollup.stdout)
    );
    let lines = stats_csv(&url, &args);
    let conversations: Vec<_> = lines
        .iter()
        .filter(|l| l["event"] == "conversation_started" && l["section"] != "total")
        .map(|l| {
            (
                l["section"].as_str(),
                l["period"].as_str(),
                l["shown"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        conversations,
        [("event total", "", "20"), ("period", "2026-11", "20")]
    );

    // The table and JSON say the same.
    let table = signpost()
        .args(["--database", &url, "stats"])
        .args(args)
        .output()
        .unwrap();
    let table = text(&table.stdout);
    assert!(table.contains("Counts of 1 to 7 show as <8"), "{table}");
    let json = signpost()
        .args(["--database", &url, "stats", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let total = json["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "conversation_started" && t["dimensions"].is_null())
        .unwrap();
    assert_eq!(
        (total["count"].as_u64(), total["shown"].as_str()),
        (Some(20), Some("20"))
    );
}

#[test]
fn a_scripted_week_of_conversations_is_reported_by_day_and_week_with_small_numbers_hidden() {
    let (_dir, url) = sample_database();
    // Monday 16 to Sunday 22 November: so many people each day look for
    // something to do in Huddersfield; one a day types a town instead.
    let find = "/start\n1\n1\n/stop\n";
    let typed = "/start\n1\nZorbleton\n1\n5\n/stop\n";
    let week = [
        ("2026-11-16", 3),
        ("2026-11-17", 9),
        ("2026-11-18", 12),
        ("2026-11-19", 0),
        ("2026-11-20", 7),
        ("2026-11-21", 8),
        ("2026-11-22", 13),
    ];
    for (day, finds) in week {
        chat_on(&url, day, (find.repeat(finds) + typed).as_bytes());
    }
    let range = ["--from", "2026-11-16", "--to", "2026-11-22"];
    let started = |by: &str| -> Vec<(String, String)> {
        let mut args = range.to_vec();
        args.extend(["--by", by]);
        stats_csv(&url, &args)
            .into_iter()
            .filter(|l| l["section"] == "period" && l["event"] == "conversation_started")
            .map(|l| (l["period"].clone(), l["shown"].clone()))
            .collect()
    };
    // One more conversation each day, for the typed town: 4, 10, 13, 1, 8,
    // 9 and 14; 59 in the week.
    let day = |d: &str, shown: &str| (d.to_owned(), shown.to_owned());
    assert_eq!(
        started("day"),
        [
            day("2026-11-16", "<8"),
            day("2026-11-17", "10"),
            day("2026-11-18", "15"),
            day("2026-11-19", "<8"),
            day("2026-11-20", "10"),
            day("2026-11-21", "10"),
            day("2026-11-22", "15"),
        ]
    );
    assert_eq!(started("week"), [day("2026-W47", "60")]);
    // The typed town is counted as "typed", one a day, seven in all.
    let typed_searches: Vec<String> = stats_csv(&url, &range)
        .into_iter()
        .filter(|l| l["section"] == "total" && l["event"] == "search_made" && l["area"] == "typed")
        .map(|l| l["shown"].clone())
        .collect();
    assert_eq!(typed_searches, ["<8"]);
    let everything = signpost()
        .args(["--database", &url, "stats", "--format", "csv"])
        .args(range)
        .output()
        .unwrap();
    assert!(!text(&everything.stdout).contains("Zorbleton"));
}

#[test]
fn staff_add_prints_a_one_time_link_and_refuses_a_bad_address() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("portal.db").display());
    let add = |args: &[&str]| {
        signpost()
            .args(["--database", &url, "staff", "add"])
            .args(args)
            .output()
            .unwrap()
    };
    let link_in = |output: &Output| -> String {
        assert!(output.status.success(), "{}", text(&output.stderr));
        let out = text(&output.stdout);
        assert!(
            out.contains("Staff account for staff@kirklees.gov.uk is ready")
                && out.contains("works once, for 72 hours"),
            "{out}"
        );
        out.lines()
            .find(|l| l.starts_with("https://portal.example.org/setup/"))
            .unwrap_or_else(|| panic!("no link in {out}"))
            .to_owned()
    };
    let base = ["--base-url", "https://portal.example.org/"];
    let first = link_in(&add(&[&["Staff@Kirklees.gov.uk"][..], &base].concat()));
    let second = link_in(&add(&[&["staff@kirklees.gov.uk"][..], &base].concat()));
    assert_ne!(first, second, "asking again gives a new link");
    let token = first.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 64);

    let bad = add(&["staff at kirklees"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("\"staff at kirklees\" is not an email address"),
        "{}",
        text(&bad.stderr)
    );
    let bad_base = add(&["a@b.org", "--base-url", "portal"]);
    assert!(!bad_base.status.success());
    assert!(text(&bad_base.stderr).contains("is not a web address"));
}

#[test]
fn stats_refuses_a_range_that_ends_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("stats.db").display());
    let output = signpost()
        .args([
            "--database",
            &url,
            "stats",
            "--from",
            "2026-11-24",
            "--to",
            "2026-11-01",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("give the earlier date first"),
        "{}",
        text(&output.stderr)
    );
}
