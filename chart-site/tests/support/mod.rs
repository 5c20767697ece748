//! Sample data for six months, published once per test binary, and readers of the
//! published CSV files and of the rendered site that do not use the crate's code.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chart_core::{GoldenMic, Location, Methodology, Period, publish};

/// The months of the sample data.
pub const MONTHS: [&str; 6] = [
    "2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12",
];

/// A data root of six months and an output root where they and the year 2024 are
/// published: `(data, out)`.
pub fn published() -> (&'static Path, &'static Path) {
    static DIRS: OnceLock<(tempfile::TempDir, tempfile::TempDir)> = OnceLock::new();
    let (data, out) = DIRS.get_or_init(|| {
        let data = tempfile::tempdir().unwrap();
        sample_data::generate(&spec(), data.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let periods: Vec<&str> = MONTHS.iter().copied().chain(["2024"]).collect();
        run(publish_periods(data.path(), out.path(), &periods));
        (data, out)
    });
    (data.path(), out.path())
}

/// The sample data's spec: six months from July 2024.
pub fn spec() -> sample_data::SampleSpec {
    sample_data::SampleSpec {
        months: 6,
        first_month: chrono_month(2024, 7),
        ..sample_data::SampleSpec::small(31)
    }
}

fn chrono_month(year: i32, month: u32) -> sample_data::NaiveDate {
    sample_data::NaiveDate::from_ymd_opt(year, month, 1).unwrap()
}

/// Publishes `periods` of `data` under `out`.
pub async fn publish_periods(data: &Path, out: &Path, periods: &[&str]) {
    let engine = GoldenMic::open(data, Methodology::default()).await.unwrap();
    let out = Location::local(out).unwrap();
    for period in periods {
        publish(&engine, &period.parse::<Period>().unwrap(), &out)
            .await
            .unwrap();
    }
}

/// Runs a future to completion on a runtime of its own.
pub fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file below `dir`: relative path → bytes.
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                into.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// The data directory of a period's current version under a local output root.
pub fn current_dir(out: &Path, period: &str) -> PathBuf {
    let versions = out.join(format!(
        "charts/{}={period}/versions",
        if period.len() == 4 { "year" } else { "month" }
    ));
    let mut names: Vec<_> = std::fs::read_dir(&versions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(names.last().unwrap()).unwrap()).unwrap();
    versions
        .parent()
        .unwrap()
        .join(manifest["directory"].as_str().unwrap())
}

/// The rows of a published CSV file, by column name (a plain reader: fields may be
/// quoted, with `""` inside).
pub fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = split_csv(lines.next().unwrap());
    lines
        .map(|line| header.iter().cloned().zip(split_csv(line)).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}
