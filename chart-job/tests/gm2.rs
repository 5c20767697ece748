//! `--methodology GM-2` end to end: publishing editions, the screening flags, reviewers'
//! decisions, and the screened chart as a SQL table function.

mod common;

use std::fs;

use common::{assert_ok, assert_one_line_error, chart_job, copy_dir, data};

/// The current back-test version's data directory of December 2024.
fn backtest_dir(out: &std::path::Path) -> std::path::PathBuf {
    let period = out.join("backtests/month=2024-12");
    let mut versions: Vec<_> = fs::read_dir(period.join("versions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(versions.last().unwrap()).unwrap()).unwrap();
    period.join(manifest["directory"].as_str().unwrap())
}

fn manifest(out: &std::path::Path, version: u32) -> serde_json::Value {
    let path = out.join(format!(
        "backtests/month=2024-12/versions/{version:06}.json"
    ));
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn publish_gm2_editions() {
    let root = tempfile::tempdir().unwrap();
    copy_dir(data(), root.path());
    let out = tempfile::tempdir().unwrap();
    let publish = |extra: &[&str]| {
        let mut args = vec![
            "publish",
            "--data",
            root.path().to_str().unwrap(),
            "--month",
            "2024-12",
            "--out",
            out.path().to_str().unwrap(),
            "--methodology",
            "GM-2",
            "--min-venues",
            "2",
            "--bootstrap-resamples",
            "20",
        ];
        args.extend_from_slice(extra);
        chart_job(&args)
    };
    // December 2024 is before GM-2 takes effect: only a back-test.
    assert_one_line_error(&publish(&[]), "2024-12: GM-2 takes effect from 2025-01");
    assert_ok(&publish(&["--backtest"]));
    let first = manifest(out.path(), 1);
    assert_eq!(first["product"], "backtest");
    assert_eq!(first["methodology"]["version"], "GM-2");
    assert_eq!(first["methodology"]["screening"]["min_venues"], 2);
    assert_eq!(first["methodology"]["screening"]["bootstrap_resamples"], 20);
    assert_eq!(first["edition"]["reason"], "first edition");
    let dir = backtest_dir(out.path());
    for table in [
        "hot",
        "hot_bubbling_under",
        "transparency",
        "holds",
        "edition_changes",
    ] {
        assert!(dir.join(format!("{table}.csv")).exists(), "{table}");
    }
    let hot = fs::read_to_string(dir.join("hot.csv")).unwrap();
    assert!(
        hot.lines().next().unwrap().contains("score_raw")
            && hot.lines().next().unwrap().contains("rank_low"),
        "{hot}"
    );
    // The parameters travel in every file too.
    let json = fs::read_to_string(dir.join("transparency.json")).unwrap();
    assert!(
        json.contains("\"min_venues\":2"),
        "{}",
        &json[..400.min(json.len())]
    );

    // A data fix: the next edition needs --reason.
    fs::remove_file(root.path().join("plays/date=2024-12-05/part-0.parquet")).unwrap();
    assert_one_line_error(&publish(&["--backtest"]), "needs its reason (--reason)");
    assert!(
        !out.path()
            .join("backtests/month=2024-12/versions/000002.json")
            .exists()
    );
    assert_ok(&publish(&[
        "--backtest",
        "--reason",
        "5 December withdrawn",
    ]));
    let second = manifest(out.path(), 2);
    assert_eq!(second["edition"]["reason"], "5 December withdrawn");
    assert_eq!(second["edition"]["compared_with"], 1);
    let changes = fs::read_to_string(backtest_dir(out.path()).join("edition_changes.csv")).unwrap();
    assert!(
        changes.starts_with("reason,compared_with_version,chart,song_id,rank_before,rank_after"),
        "{changes}"
    );
    assert_eq!(
        changes.lines().count() - 1,
        second["edition"]["changed_entries"].as_u64().unwrap() as usize
    );
    // Both editions of the back-test stay readable and intact.
    for version in ["1", "2"] {
        assert_ok(&chart_job(&[
            "verify",
            "--out",
            out.path().to_str().unwrap(),
            "--month",
            "2024-12",
            "--product",
            "backtest",
            "--version",
            version,
        ]));
    }
    assert_ok(&chart_job(&[
        "history",
        "--out",
        out.path().to_str().unwrap(),
        "--month",
        "2024-12",
        "--product",
        "backtest",
    ]));
}

#[test]
fn gm2_flags_need_gm2_and_are_checked() {
    let root = data().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let base = [
        "publish",
        "--data",
        root,
        "--month",
        "2024-12",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        chart_job(&args)
    };
    assert_one_line_error(
        &run(&["--min-venues", "3"]),
        "--min-venues is a GM-2 parameter: add --methodology GM-2",
    );
    assert_one_line_error(
        &run(&[
            "--methodology",
            "GM-2",
            "--backtest",
            "--confidence-percent",
            "120",
        ]),
        "confidence_percent must be <= 100, got 120",
    );
    let year = chart_job(&[
        "publish",
        "--data",
        root,
        "--year",
        "2024",
        "--out",
        out.path().to_str().unwrap(),
        "--methodology",
        "GM-2",
    ]);
    assert_one_line_error(&year, "2024: GM-2's charts are monthly");
    let output = run(&["--methodology", "GM-3"]);
    assert_eq!(output.status.code(), Some(2));
    let decisions = out.path().join("decisions.toml");
    fs::write(
        &decisions,
        "[[decision]]\nkind = \"room\"\nid = \"V1\"\nday = 2024-12-01\ndecision = \"include\"\nreason = \"x\"\n",
    )
    .unwrap();
    assert_one_line_error(
        &run(&[
            "--methodology",
            "GM-2",
            "--review-decisions",
            decisions.to_str().unwrap(),
        ]),
        "review decision 1: kind must be venue or vendor",
    );
    fs::write(
        &decisions,
        "[[decision]]\nkind = \"venue\"\nday = \"yesterday\"\n",
    )
    .unwrap();
    assert_one_line_error(
        &run(&[
            "--methodology",
            "GM-2",
            "--review-decisions",
            decisions.to_str().unwrap(),
        ]),
        "decisions.toml",
    );
}

#[test]
fn the_screened_chart_in_sql() {
    let root = data().to_str().unwrap();
    let output = chart_job(&[
        "sql",
        "--data",
        root,
        "--format",
        "csv",
        "-c",
        "SELECT rank, song_id, section FROM hot_chart('2024-12', 10, NULL, 'GM-2') ORDER BY rank LIMIT 3",
    ]);
    assert_ok(&output);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("rank,song_id,section\n1,"), "{text}");
    // In a GM-2 session, NULL means GM-2 and gm_param reads its parameters.
    let output = chart_job(&[
        "sql",
        "--data",
        root,
        "--methodology",
        "GM-2",
        "--format",
        "csv",
        "-c",
        "SELECT gm_param('min_venues') AS v, (SELECT COUNT(*) FROM new_chart('2024-12') WHERE section = 'chart') AS n",
    ]);
    assert_ok(&output);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("v,n\n5,"), "{text}");
    let output = chart_job(&[
        "sql",
        "--data",
        root,
        "-c",
        "SELECT * FROM hot_chart('2024-12', 10, NULL, 'GM-3')",
    ]);
    assert_one_line_error(
        &output,
        "the methodology must be 'GM-1', 'GM-2' or NULL, got 'GM-3'",
    );
}
