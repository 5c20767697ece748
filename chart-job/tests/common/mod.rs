//! Shared helpers of the `chart-job` end-to-end tests.
#![allow(dead_code)]

pub mod s3;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Asserts a failed run: exit code 1, exactly one stderr line that is an error,
/// containing `needle`, and no panic.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(errors.len(), 1, "one error line expected in: {stderr}");
    assert!(
        errors[0].contains(needle),
        "`{needle}` not in: {}",
        errors[0]
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
use std::sync::OnceLock;

/// Asserts a flag refused by the argument parser: exit code 2, a first stderr line
/// `error: invalid value …` containing `needle` (the flag and its value), no panic.
pub fn assert_refused_flag(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: invalid value"), "{stderr}");
    assert!(first.contains(needle), "`{needle}` not in: {first}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Asserts a successful run, showing its stderr otherwise.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `chart-job` with `args`.
pub fn chart_job(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("chart-job runs")
}

pub fn small_spec() -> sample_data::SampleSpec {
    sample_data::SampleSpec {
        plays_per_month: 3_000,
        ..sample_data::SampleSpec::small(5)
    }
}

/// Generated once for the whole test binary; tests that break data work on copies.
pub fn data() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        sample_data::generate(&small_spec(), dir.path()).unwrap();
        dir
    })
    .path()
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The data directory of a period's current version under a local output root
/// (`period_dir` is e.g. `month=2024-11`), resolved through `versions/` as readers do.
pub fn published_dir(out: &Path, period_dir: &str) -> std::path::PathBuf {
    let period = out.join("charts").join(period_dir);
    let mut versions: Vec<_> = fs::read_dir(period.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    versions.sort();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(versions.last().unwrap()).unwrap()).unwrap();
    period.join(manifest["directory"].as_str().unwrap())
}
