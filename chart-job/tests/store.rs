//! Publication on local directories and on a real S3-compatible server
//! (SeaweedFS, see `common/s3.rs`), end to end through `chart-job`: atomic versions
//! under SIGKILL, racing publishers, unchanged and changed inputs, `history`,
//! `verify`, reading data back from S3, and bad store configuration.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chart_core::{Location, Period};
use common::assert_one_line_error;
use common::s3::{self, server};
use rand::{Rng, SeedableRng};

const MONTH: &str = "2024-11";

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Where a test keeps its data root and output root.
enum Target {
    Local(tempfile::TempDir),
    S3(String),
}

impl Target {
    /// A local target with a copy of the test data.
    fn local() -> Target {
        let dir = tempfile::tempdir().unwrap();
        common::copy_dir(common::data(), &dir.path().join("data"));
        Target::Local(dir)
    }

    /// A prefix of the S3 server's bucket with a copy of the test data.
    fn s3(prefix: &str) -> Target {
        let target = Target::S3(format!("{prefix}-{}", std::process::id()));
        upload(common::data(), &target.location("data"));
        target
    }

    /// `data`, `out`, … under this target, as a flag value.
    fn url(&self, name: &str) -> String {
        match self {
            Target::Local(dir) => dir.path().join(name).display().to_string(),
            Target::S3(prefix) => format!("s3://{}/{prefix}/{name}", s3::BUCKET),
        }
    }

    fn location(&self, name: &str) -> Location {
        match self {
            Target::Local(dir) => Location::local(dir.path().join(name)).unwrap(),
            Target::S3(prefix) => server().location(&format!("{prefix}/{name}")),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        match self {
            Target::Local(_) => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_chart-job"));
                command.args(args).env("RUST_LOG", "info");
                command
            }
            Target::S3(_) => server().command(args),
        }
    }

    fn publish_command(&self, data: &str, out: &str) -> Command {
        self.command(&[
            "publish",
            "--data",
            &self.url(data),
            "--month",
            MONTH,
            "--out",
            &self.url(out),
        ])
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The current version of the month under `out`, if any.
    fn current_version(&self, out: &str) -> Option<u32> {
        let period: Period = MONTH.parse().unwrap();
        block_on(chart_core::history(&self.location(out), &period))
            .unwrap()
            .last()
            .map(|m| m.version)
    }

    fn verify(&self, out: &str, version: Option<u32>) -> Output {
        let out = self.url(out);
        let mut args = vec!["verify", "--out", &out, "--month", MONTH];
        let version = version.map(|v| v.to_string());
        if let Some(v) = &version {
            args.extend(["--version", v]);
        }
        self.run(&args)
    }

    /// Puts a late play (a new one-row file) into the November data of `data`.
    fn add_late_play(&self, data: &str, event_id: &str) {
        let day = common::data().join("plays/date=2024-11-15");
        let source = std::fs::read_dir(&day)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let bytes = sample_data::late_play(&source, event_id).unwrap();
        block_on(self.location(data).write(
            &format!("plays/date=2024-11-15/{event_id}.parquet"),
            bytes.into(),
        ))
        .unwrap();
    }

    /// Every object under `name` with its size and last modification.
    fn objects(&self, name: &str) -> Vec<(String, u64, String)> {
        block_on(self.location(name).list())
            .unwrap()
            .into_iter()
            .map(|o| (o.location.to_string(), o.size, o.last_modified.to_rfc3339()))
            .collect()
    }

    /// The current version's files under `out`, by name, with their bytes.
    fn published_files(&self, out: &str) -> Vec<(String, Vec<u8>)> {
        let period: Period = MONTH.parse().unwrap();
        let out = self.location(out);
        let versions = block_on(chart_core::history(&out, &period)).unwrap();
        let manifest = versions.last().unwrap();
        let dir = chart_core::publication::period_location(&out, &period).join(&manifest.directory);
        manifest
            .outputs
            .iter()
            .map(|f| {
                let bytes = block_on(dir.read(&f.path)).unwrap().unwrap();
                (format!("{}/{}", manifest.directory, f.path), bytes.to_vec())
            })
            .collect()
    }
}

/// Copies a local directory tree to a location.
fn upload(dir: &Path, to: &Location) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for e in std::fs::read_dir(next).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                block_on(to.write(&relative, std::fs::read(&path).unwrap().into())).unwrap();
            }
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(output)
}

/// Runs a publish to completion, returning its duration and how long it spent
/// from its "writing" log line to its exit.
fn timed_publish(mut command: Command) -> (Duration, Duration) {
    let start = Instant::now();
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut writing = None;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains(" writing") && writing.is_none() {
            writing = Some(Instant::now());
        }
    }
    assert!(child.wait().unwrap().success());
    let end = Instant::now();
    (
        end - start,
        end - writing.expect("the publisher logs `writing`"),
    )
}

/// Kills `chart-job publish` with SIGKILL at 20 random points, each run publishing
/// new inputs (one more late play), half of the points anywhere in the run and half
/// in its writing phase. After each kill the month is absent or at the version before
/// or (when the run got to the end) the one after, and `verify` passes; then a run
/// completes.
fn survives_sigkill(target: &Target) {
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("kill points: KILL_SEED={seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (span, writing_span) = timed_publish(target.publish_command("data", "scratch"));
    let (mut killed_before_commit, mut killed_while_writing, mut completed) = (0, 0, 0);
    let data_files = || {
        target
            .objects(&format!("out/charts/month={MONTH}/data"))
            .len()
    };
    for point in 0..20 {
        target.add_late_play("data", &format!("late-{point}"));
        let before = target.current_version("out");
        let files_before = data_files();
        let mut command = target.publish_command("data", "out");
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        if point % 2 == 0 {
            std::thread::sleep(span.mul_f64(rng.random_range(0.0..1.0)));
        } else {
            let deadline = Instant::now() + span * 5;
            while Instant::now() < deadline {
                match received.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) if line.contains(" writing") => break,
                    Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            std::thread::sleep(writing_span.mul_f64(rng.random_range(0.0..0.6)));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let after = target.current_version("out");
        let next = before.map_or(1, |v| v + 1);
        assert!(
            after == before || after == Some(next),
            "point {point}: version {after:?} after a kill, {before:?} before"
        );
        if after == before {
            killed_before_commit += 1;
            if data_files() > files_before {
                killed_while_writing += 1;
            }
        } else {
            completed += 1;
        }
        if after.is_some() {
            assert_success(&target.verify("out", None));
        }
        assert!(
            status.code().is_none() || after == Some(next),
            "point {point}: a run that exited by itself published"
        );
    }
    eprintln!(
        "of 20 kills: {killed_before_commit} before the manifest (month unchanged; \
         {killed_while_writing} of them after some files were written), {completed} after the run completed"
    );
    assert!(
        killed_before_commit >= 5,
        "too few kills landed during runs"
    );
    let last = target.current_version("out");
    let output = target.publish_command("data", "out").output().unwrap();
    let summary = assert_success(&output);
    let now = target.current_version("out");
    // The next version (version 1 when every kill landed before the first commit),
    // or the same one when nothing changed.
    let next = last.map_or(1, |v| v + 1);
    assert!(
        now == Some(next) || (now == last && summary.contains("unchanged")),
        "after the kills: version {now:?}, {last:?} before; {summary}"
    );
    assert_success(&target.verify("out", None));
}

#[test]
fn local_publication_survives_sigkill() {
    survives_sigkill(&Target::local());
}

#[test]
fn s3_publication_survives_sigkill() {
    survives_sigkill(&Target::s3("sigkill"));
}

/// Four publishers of the same inputs at once make one version; two publishers
/// of different inputs at once make one version each.
fn racing_publishers(target: &Target) {
    let children: Vec<_> = (0..4)
        .map(|_| {
            target
                .publish_command("data", "out")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let summaries: Vec<String> = outputs.iter().map(assert_success).collect();
    let published = summaries
        .iter()
        .filter(|s| s.contains("published as version 1"))
        .count();
    assert_eq!(published, 1, "{summaries:#?}");
    assert_eq!(
        summaries.iter().filter(|s| s.contains("unchanged")).count(),
        3,
        "{summaries:#?}"
    );
    assert_eq!(target.current_version("out"), Some(1));
    assert_success(&target.verify("out", None));
    let lost_the_race = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("published concurrently"))
        .count();
    eprintln!("{lost_the_race} of 4 publishers lost the race for version 1's manifest");
    assert!(lost_the_race >= 1, "the conditional put was not exercised");

    // Different inputs: `data` and `late` (the same plus a late play).
    match target {
        Target::Local(dir) => common::copy_dir(&dir.path().join("data"), &dir.path().join("late")),
        Target::S3(_) => upload(common::data(), &target.location("late")),
    }
    target.add_late_play("late", "late-race");
    let children: Vec<_> = ["data", "late"]
        .into_iter()
        .map(|data| {
            target
                .publish_command(data, "raced")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(assert_success(&output).contains("published as version"));
    }
    let period: Period = MONTH.parse().unwrap();
    let versions = block_on(chart_core::history(&target.location("raced"), &period)).unwrap();
    assert_eq!(versions.len(), 2);
    assert_ne!(versions[0].input_digest, versions[1].input_digest);
    assert!(versions[1].changes.is_some());
    for version in [1, 2] {
        assert_success(&target.verify("raced", Some(version)));
    }
}

#[test]
fn local_racing_publishers() {
    racing_publishers(&Target::local());
}

#[test]
fn s3_racing_publishers() {
    racing_publishers(&Target::s3("race"));
}

/// Publishing unchanged inputs writes nothing; the same inputs elsewhere give the
/// same bytes; a late play makes version 2, listed by `history`, with version 1
/// still verifiable.
fn unchanged_and_late_play(target: &Target) {
    let first = assert_success(&target.publish_command("data", "out").output().unwrap());
    assert!(first.contains("published as version 1"), "{first}");
    let before = target.objects("out");
    let again = assert_success(&target.publish_command("data", "out").output().unwrap());
    assert!(
        again.contains("unchanged: inputs identical to version 1"),
        "{again}"
    );
    assert_eq!(
        target.objects("out"),
        before,
        "an unchanged month was rewritten"
    );

    assert_success(
        &target
            .publish_command("data", "elsewhere")
            .output()
            .unwrap(),
    );
    assert_eq!(
        target.published_files("elsewhere"),
        target.published_files("out"),
        "the same inputs gave other bytes"
    );

    target.add_late_play("data", "late-1");
    let second = assert_success(&target.publish_command("data", "out").output().unwrap());
    assert!(second.contains("published as version 2"), "{second}");
    let out = target.url("out");
    let history = assert_success(&target.run(&["history", "--out", &out, "--month", MONTH]));
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 3, "{history}");
    assert!(lines[0].starts_with("version"), "{history}");
    assert!(lines[1].contains("first version"), "{history}");
    assert!(
        lines[2].contains("1 input files added, play rows +1") && lines[2].ends_with("(current)"),
        "{history}"
    );
    for version in [Some(1), Some(2), None] {
        let verified = assert_success(&target.verify("out", version));
        assert!(
            verified.contains(&format!(
                "month 2024-11 version {}: 12 files",
                version.unwrap_or(2)
            )),
            "{verified}"
        );
    }
    // The site, rendered from this store into it, then again: nothing rewritten.
    let site = target.url("site");
    let rendered = assert_success(&target.run(&["site", "--out", &out, "--site", &site]));
    assert!(rendered.contains("1 months, 0 years"), "{rendered}");
    let again = assert_success(&target.run(&["site", "--out", &out, "--site", &site]));
    assert!(again.contains(" 0 written, "), "{again}");
    let index = block_on(target.location("site").read("index.html"))
        .unwrap()
        .unwrap();
    let index = String::from_utf8(index.to_vec()).unwrap();
    assert!(index.contains(">v2<"), "the index shows version 2: {index}");
    let never = assert_success(&target.run(&["history", "--out", &out, "--month", "2024-10"]));
    assert!(
        never.contains("2024-10 has no published version under"),
        "{never}"
    );
    assert_one_line_error(
        &target.run(&["verify", "--out", &out, "--month", "2024-10"]),
        "2024-10 is not published under",
    );
}

#[test]
fn local_unchanged_and_late_play() {
    unchanged_and_late_play(&Target::local());
}

#[test]
fn s3_unchanged_and_late_play() {
    unchanged_and_late_play(&Target::s3("versions"));
}

#[test]
fn data_generated_on_s3_reads_back_like_local_data() {
    let target = Target::S3(format!("generated-{}", std::process::id()));
    let spec = common::small_spec();
    let data = target.url("data");
    let generated = assert_success(&target.run(&[
        "generate",
        "--out",
        &data,
        "--seed",
        &spec.seed.to_string(),
        "--plays-per-month",
        &spec.plays_per_month.to_string(),
        "--first-month",
        "2024-10",
        "--months",
        &spec.months.to_string(),
        "--catalogue",
        &spec.catalogue_size.to_string(),
    ]));
    assert!(
        generated.starts_with(&format!("wrote {data}:")),
        "{generated}"
    );
    let query = "SELECT count(*) AS plays, count(DISTINCT venue_id) AS venues FROM plays WHERE date >= '2024-11-01'";
    let on_s3 =
        assert_success(&target.run(&["sql", "--data", &data, "--format", "csv", "-c", query]));
    let local = assert_success(&common::chart_job(&[
        "sql",
        "--data",
        common::data().to_str().unwrap(),
        "--format",
        "csv",
        "-c",
        query,
    ]));
    assert_eq!(on_s3, local);

    // A script read from S3, its result written to S3; a failing script writes nothing.
    block_on(
        target
            .location("queries/count.sql")
            .write("", format!("{query};\n").into_bytes().into()),
    )
    .unwrap();
    let script = target.url("queries/count.sql");
    let result = target.url("results/count.csv");
    assert_success(&target.run(&[
        "sql", "--data", &data, "--format", "csv", "-f", &script, "-o", &result,
    ]));
    let written = block_on(target.location("results/count.csv").read(""))
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&written), local);
    let failed = target.url("results/failed.csv");
    assert_one_line_error(
        &target.run(&[
            "sql",
            "--data",
            &data,
            "-c",
            "SELECT 1; SELECT nope FROM plays",
            "-o",
            &failed,
        ]),
        "nope",
    );
    assert!(
        target
            .objects("results")
            .iter()
            .all(|(name, _, _)| !name.ends_with("failed.csv"))
    );
    assert_one_line_error(
        &target.run(&[
            "sql",
            "--data",
            &data,
            "-f",
            &target.url("queries/absent.sql"),
        ]),
        "queries/absent.sql: not found",
    );

    // The table function over S3 data prints what publish wrote to S3.
    assert_success(&target.publish_command("data", "out").output().unwrap());
    let hot = target
        .published_files("out")
        .into_iter()
        .find(|(name, _)| name.ends_with("/hot.csv"))
        .unwrap()
        .1;
    let printed = assert_success(&target.run(&[
        "sql",
        "--data",
        &data,
        "--format",
        "csv",
        "-c",
        "SELECT * FROM hot_chart('2024-11')",
    ]));
    assert_eq!(printed.as_bytes(), hot.as_slice());
}

/// Runs `chart-job` against the S3 server with `args`, returning its output and
/// how long it took.
fn timed(mut command: Command) -> (Output, Duration) {
    let start = Instant::now();
    let output = command.output().unwrap();
    (output, start.elapsed())
}

#[test]
fn bad_store_configuration_fails_fast_with_one_line() {
    let target = Target::s3("badconfig");
    let data = target.url("data");
    let month = ["--month", MONTH];
    let bound = Duration::from_secs(30);

    let (output, took) = timed(
        target.command(
            &[
                &["publish", "--data", &data, "--out", "gs://bucket/charts"][..],
                &month[..],
            ]
            .concat(),
        ),
    );
    assert_one_line_error(&output, "gs://bucket/charts: unknown scheme `gs://`");
    assert!(took < bound);

    let (output, took) = timed(
        target.command(
            &[
                &["publish", "--data", &data, "--out", "s3:///charts"][..],
                &month[..],
            ]
            .concat(),
        ),
    );
    assert_one_line_error(&output, "no bucket");
    assert!(took < bound);

    let missing = format!("s3://no-such-bucket-{}/charts", std::process::id());
    let (output, took) = timed(
        target.command(
            &[
                &["publish", "--data", &data, "--out", &missing][..],
                &month[..],
            ]
            .concat(),
        ),
    );
    assert_one_line_error(&output, "NoSuchBucket: the bucket does not exist");
    assert!(took < bound, "{took:?}");
    let (output, _) = timed(target.command(&["history", "--out", &missing, "--month", MONTH]));
    assert_one_line_error(&output, "NoSuchBucket");

    let mut wrong_secret = target.command(
        &[
            &["publish", "--data", &data, "--out", &target.url("out")][..],
            &month[..],
        ]
        .concat(),
    );
    wrong_secret.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let (output, took) = timed(wrong_secret);
    assert_one_line_error(&output, "access denied");
    assert!(took < bound, "{took:?}");

    // Local data, S3 output with the wrong secret: refused before any work.
    let mut wrong_secret = target.command(
        &[
            &[
                "publish",
                "--data",
                common::data().to_str().unwrap(),
                "--out",
                &target.url("out"),
            ][..],
            &month[..],
        ]
        .concat(),
    );
    wrong_secret.env("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    let (output, took) = timed(wrong_secret);
    assert_one_line_error(&output, "access denied");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("computing"));
    assert!(took < bound, "{took:?}");
    assert!(target.objects("out").is_empty(), "something was written");

    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (output, took) = timed({
        let mut command = Command::new(env!("CARGO_BIN_EXE_chart-job"));
        command
            .args(["publish", "--data", common::data().to_str().unwrap()])
            .args(["--out", "s3://charts/unreachable", "--month", MONTH])
            .args(["--s3-endpoint", &format!("http://127.0.0.1:{port}")])
            .env("AWS_ACCESS_KEY_ID", s3::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", s3::SECRET_KEY);
        command
    });
    assert_one_line_error(&output, "cannot reach the endpoint");
    assert!(took < bound, "{took:?}");
    assert!(
        target
            .objects("")
            .iter()
            .all(|(name, _, _)| !name.contains("unreachable"))
    );

    let (output, _) = timed({
        let mut command = Command::new(env!("CARGO_BIN_EXE_chart-job"));
        command.args([
            "history",
            "--out",
            "s3://charts/x",
            "--month",
            MONTH,
            "--s3-endpoint",
            "ftp://x",
        ]);
        command
    });
    assert_one_line_error(
        &output,
        "endpoint `ftp://x` is not an http:// or https:// URL",
    );
}
