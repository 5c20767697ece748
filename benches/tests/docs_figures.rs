//! The figures that appear both in `docs/PERFORMANCE.md` (written by `compare.py`) and in
//! prose elsewhere (README, the targets paragraph) agree. When `compare.py` rewrites its
//! section, this test names every sentence that still quotes the old run.

use std::path::Path;

fn read(relative: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The table `compare.py` writes between its markers in PERFORMANCE.md.
struct Measured {
    rows: Vec<Vec<String>>,
}

impl Measured {
    fn parse(performance: &str) -> Self {
        let start = performance
            .find("<!-- compare.py: 50000000 plays -->")
            .expect("compare.py's 50M section in PERFORMANCE.md");
        let end = start
            + performance[start..]
                .find("<!-- end -->")
                .expect("end marker");
        let rows = performance[start..end]
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("|---"))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect();
        Self { rows }
    }

    /// The cell of the row labelled `label`, in column `column` (0 is the first figure).
    fn cell(&self, label: &str, column: usize) -> &str {
        let row = self
            .rows
            .iter()
            .find(|r| r[0] == label)
            .unwrap_or_else(|| panic!("no row `{label}` in the compare.py table"));
        &row[column + 1]
    }

    fn number(&self, label: &str, column: usize) -> f64 {
        let cell = self.cell(label, column).trim_end_matches('×');
        cell.parse()
            .unwrap_or_else(|e| panic!("`{label}` column {column}: `{cell}`: {e}"))
    }
}

/// `1797` as `1,797`.
fn thousands(n: f64) -> String {
    let digits = format!("{n:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn assert_quotes(document: &str, text: &str, sentence: &str) {
    assert!(
        text.contains(sentence),
        "{document} should say `{sentence}` (the figures of compare.py's table in docs/PERFORMANCE.md)"
    );
}

#[test]
fn prose_quotes_the_measured_figures() {
    let performance = read("docs/PERFORMANCE.md");
    let readme = read("README.md");
    let m = Measured::parse(&performance);
    let publish = m.number("chart-job publish", 0);
    let kept = m.number("chart-job publish --day-digests, kept", 0);
    let kept_rss = m.number("chart-job publish --day-digests, kept", 2);
    let publish_rss = m.number("chart-job publish", 2);

    assert_quotes(
        "README.md",
        &readme.replace('\n', " "),
        &format!("at 50M plays, {kept:.1} s instead of {publish:.0} s"),
    );
    assert_quotes(
        "README.md",
        &readme.replace('\n', " "),
        &format!(
            "takes {:.1} s, {} `publish`",
            m.number("chart-job distribute (D-1)", 0),
            m.cell("distribute / publish", 0)
        ),
    );
    let targets = performance
        .split("Targets on this machine")
        .nth(1)
        .expect("a targets paragraph")
        .replace('\n', " ");
    for sentence in [
        format!(
            "{} from the plays, {} with digests kept",
            m.cell("chart-job / DuckDB", 0),
            m.cell("--day-digests, kept / DuckDB", 0)
        ),
        format!("with digests kept, {kept_rss:.0} MiB"),
        format!(
            "from the plays without a limit, {} MiB",
            thousands(publish_rss)
        ),
        format!(
            "met with digests kept, {}; {} from the plays",
            m.cell("--day-digests, kept / its scan floor", 0),
            m.cell("chart-job / its scan floor", 0)
        ),
        format!(
            "(met: {}, {:.2} s against {publish:.2} s)",
            m.cell("distribute / publish", 0),
            m.number("chart-job distribute (D-1)", 0)
        ),
    ] {
        assert_quotes("docs/PERFORMANCE.md's targets", &targets, &sentence);
    }
}

#[test]
fn thousands_separates_groups_of_three() {
    assert_eq!(thousands(540.0), "540");
    assert_eq!(thousands(1797.0), "1,797");
    assert_eq!(thousands(1234567.0), "1,234,567");
}
