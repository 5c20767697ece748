//! What the subcommands print on stdout.

use anyhow::Result;
use arrow::array::RecordBatch;
use chart_core::publication::{Manifest, Outcome};
use chart_core::{DistributionPublication, Location, Period, Publication};

/// What closing a day did.
pub fn print_day_closed(day: chrono::NaiveDate, closed: &chart_ingest::day_close::DayClosed) {
    let compaction = match &closed.compacted {
        Some(m) => format!(
            "compacted {} files ({} rows) into {}",
            m.replaces.len(),
            m.rows,
            m.written.len()
        ),
        None => format!("{} files, nothing to compact", closed.files.len()),
    };
    println!(
        "{day}: {compaction}; digests computed: {}; replaced files removed: {}, retained: {}; {:.2} s",
        closed.digests_computed,
        closed.removal.removed.len(),
        closed.removal.retained.len(),
        closed.took.as_secs_f64()
    );
}

/// What `site` wrote.
pub fn print_site(site: &Location, report: &chart_site::SiteReport) {
    let w = &report.written;
    println!(
        "site {site}: {} months, {} years, {} files: {} written, {} unchanged, {} removed",
        report.months,
        report.years,
        report.files,
        w.written.len(),
        w.unchanged,
        w.removed.len()
    );
}

/// Prints the versions of a period, oldest first.
pub fn print_history(out: &Location, period: &Period, versions: &[Manifest]) {
    if versions.is_empty() {
        println!("{period} has no published version under {out}");
        return;
    }
    println!(
        "{:>7}  {:<24}  {:<16}  {:>6}  {:>11}  {:<10}  changes",
        "version", "published", "input digest", "inputs", "play rows", "data"
    );
    for (i, m) in versions.iter().enumerate() {
        let current = if i + 1 == versions.len() {
            " (current)"
        } else {
            ""
        };
        let changes = match &m.changes {
            None => "first version".to_string(),
            Some(c) => {
                let mut parts = Vec::new();
                for (n, what) in [
                    (c.inputs_added.len(), "input files added"),
                    (c.inputs_removed.len(), "removed"),
                    (c.inputs_modified.len(), "modified"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {what}"));
                    }
                }
                if c.methodology_changed {
                    parts.push("methodology changed".into());
                }
                if c.publisher_changed {
                    parts.push("publisher changed".into());
                }
                parts.push(format!(
                    "play rows {:+}",
                    m.input_rows.plays - c.previous_input_rows.plays
                ));
                parts.push(format!("{} output files changed", c.outputs_changed.len()));
                parts.join(", ")
            }
        };
        println!(
            "{:>7}  {:<24}  {:<16}  {:>6}  {:>11}  {:<10}  {changes}{current}",
            m.version,
            m.run.finished_at,
            &m.input_digest[..16],
            m.inputs.len(),
            m.input_rows.plays,
            m.directory.trim_start_matches("data/"),
        );
    }
}

/// Prints what a publication did, its top 10 of both charts and the coverage.
pub fn print_summary(publication: &Publication) -> Result<()> {
    let m = &publication.manifest;
    let what = match publication.outcome {
        Outcome::Published => "published as version",
        Outcome::Unchanged => "unchanged: inputs identical to version",
    };
    println!(
        "Golden Mic {} {} ({}) {what} {} in {}",
        m.period_kind.as_str(),
        m.period,
        m.methodology.version,
        m.version,
        publication.directory
    );
    for (name, chart) in [
        ("Hot songs 热歌榜", &publication.hot),
        ("New songs 新歌榜", &publication.new),
    ] {
        println!("\n{name}: top 10 of {}", chart.num_rows());
        println!("{}", top10(chart)?);
    }
    if let Some(q) = &m.data_quality {
        println!(
            "\nPlays: {} rows received, {} valid ({} re-sent copies, {} short, {} unknown song, {} unknown venue, {} missing a value)",
            q.rows_received,
            q.valid_plays,
            q.duplicate_copies,
            q.short_play,
            q.unknown_song,
            q.unknown_venue,
            q.missing_value
        );
    }
    println!(
        "\nCoverage:\n{}",
        arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&publication.coverage))?
    );
    Ok(())
}

/// Prints what a distribution did: its reconciliation and the ten largest statements.
pub fn print_distribution(publication: &DistributionPublication) -> Result<()> {
    let m = &publication.manifest;
    let what = match publication.outcome {
        Outcome::Published => "published as version",
        Outcome::Unchanged => "unchanged: inputs identical to version",
    };
    let version = m.distribution.as_ref().map_or("?", |d| d.version.as_str());
    println!(
        "Distribution {} {} ({version}, plays counted under {}) {what} {} in {}",
        m.period_kind.as_str(),
        m.period,
        m.methodology.version,
        m.version,
        publication.directory
    );
    if let Some(reconciliation) = publication.table("reconciliation") {
        let columns = [
            "collected_fen",
            "management_fee_fen",
            "works_share_fen",
            "distributed_direct_fen",
            "distributed_sampled_fen",
            "reserve_fen",
        ];
        let indices: Vec<usize> = columns
            .iter()
            .map(|c| reconciliation.schema().index_of(c))
            .collect::<Result<_, _>>()?;
        println!(
            "\nReconciliation (fen; collected = the other five):\n{}",
            arrow::util::pretty::pretty_format_batches(&[reconciliation.project(&indices)?])?
        );
    }
    if let Some(statements) = publication.table("statements") {
        let top = statements.slice(0, statements.num_rows().min(11));
        println!(
            "\nStatements: the works payee and the 10 largest of {} rights holders\n{}",
            statements.num_rows().saturating_sub(1),
            arrow::util::pretty::pretty_format_batches(&[top])?
        );
    }
    Ok(())
}

fn top10(chart: &RecordBatch) -> Result<String> {
    let columns = [
        "rank",
        "title",
        "artist",
        "score",
        "venues",
        "prev_rank",
        "movement",
    ];
    let indices: Vec<usize> = columns
        .iter()
        .map(|c| chart.schema().index_of(c))
        .collect::<Result<_, _>>()?;
    let top = chart.project(&indices)?.slice(0, chart.num_rows().min(10));
    Ok(arrow::util::pretty::pretty_format_batches(&[top])?.to_string())
}
