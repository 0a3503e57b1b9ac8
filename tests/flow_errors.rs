//! Every kind of flow problem, each shown by a small broken flow folder.
//!
//! A case in `tests/flow-errors/cases/` is added to a copy of the valid
//! folder `tests/flow-errors/base/` (as `<case>.toml`, or under the name
//! given by a `# file: NAME` line, or removing the file named by a
//! `# remove: NAME` line). Its `# expect: ` lines list every problem
//! `signpost flows check` must report, in order, with file, line and column.
//! To fill them in after a deliberate change of wording, run
//!
//! ```text
//! UPDATE_EXPECT=1 cargo test --test flow_errors
//! ```
//!
//! and read the diff: each line must still point at the right place.

use std::path::{Path, PathBuf};

use signpost::flow::check_dir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/flow-errors")
}

fn directive<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("# {name}: ")))
        .map(str::trim)
}

/// Copies a folder and the folders in it (the base has `safety/`).
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, target).unwrap();
        }
    }
}

/// Builds the folder for one case and returns what the check reports.
fn check_case(case: &Path, text: &str) -> (bool, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    copy_folder(&root().join("base"), dir.path());
    if let Some(removed) = directive(text, "remove") {
        std::fs::remove_file(dir.path().join(removed)).unwrap();
    }
    let name = directive(text, "file")
        .map(str::to_owned)
        .unwrap_or_else(|| case.file_name().unwrap().to_string_lossy().into_owned());
    std::fs::write(dir.path().join(&name), text).unwrap();
    let (flows, diagnostics) = check_dir(dir.path());
    let prefix = format!("{}/", dir.path().display());
    let lines = diagnostics
        .iter()
        .map(|d| d.to_string().replacen(&prefix, "", 1))
        .collect();
    (flows.is_some(), lines)
}

#[test]
fn the_base_folder_is_valid_with_no_warnings() {
    let (flows, diagnostics) = check_dir(&root().join("base"));
    assert!(flows.is_some() && diagnostics.is_empty(), "{diagnostics}");
}

#[test]
fn every_broken_flow_is_reported_with_its_file_line_and_column() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected a case for every kind of problem"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let expected: Vec<String> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# expect: "))
            .map(str::to_owned)
            .collect();
        // The expectations are comments, so they do not change line numbers
        // when rewritten: strip them before checking.
        let body: String = text
            .lines()
            .filter(|line| !line.starts_with("# expect: "))
            .map(|line| format!("{line}\n"))
            .collect();
        let header_lines = expected.len();
        let (loaded, actual) = check_case(case, &with_blank_header(&body, header_lines));
        let has_error = actual.iter().any(|line| line.contains(": error: "));
        if update {
            let mut rewritten: String = actual.iter().map(|l| format!("# expect: {l}\n")).collect();
            rewritten.push_str(&body);
            if rewritten != text {
                std::fs::write(case, rewritten).unwrap();
            }
            continue;
        }
        if actual != expected {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  actual:\n    {}",
                case.display(),
                expected.join("\n    "),
                actual.join("\n    ")
            ));
        }
        if loaded == has_error {
            failures.push(format!(
                "{}: flows {} although the report has {} error",
                case.display(),
                if loaded { "loaded" } else { "did not load" },
                if has_error { "an" } else { "no" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Keeps line numbers stable: the expectations sit at the top of the file,
/// so the body is checked with the same number of lines in front of it.
fn with_blank_header(body: &str, lines: usize) -> String {
    let mut text = "#\n".repeat(lines);
    text.push_str(body);
    text
}
