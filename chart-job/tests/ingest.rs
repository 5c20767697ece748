//! `chart-job serve` and `chart-job replay` end to end: the sample data sent through
//! the service lands a data root that publishes the same charts, byte for byte; and
//! under load, SIGKILL at random points loses no acknowledged play and lands none twice,
//! on local disk and on an S3 server.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_ok, chart_job, copy_dir, data, published_dir};
use rand::{Rng, SeedableRng};

/// The sample data's vendors and a token for each; plays without a vendor are sent by
/// the last one.
const VENDORS: [(&str, &str); 5] = [
    ("雷石", "tok-leishi-000000000000"),
    ("点石", "tok-dianshi-00000000000"),
    ("视易", "tok-shiyi-0000000000000"),
    ("音圆", "tok-yinyuan-00000000000"),
    ("其他", "tok-other-0000000000000"),
];

/// Writes `vendors.toml` (hashes) and `tokens.toml` (tokens) into `dir`.
fn vendor_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut vendors = String::new();
    let mut tokens = String::new();
    for (name, token) in VENDORS {
        vendors.push_str(&format!(
            "[[vendor]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
            chart_ingest::vendors::token_sha256(token)
        ));
        tokens.push_str(&format!("\"{name}\" = \"{token}\"\n"));
    }
    let (v, t) = (dir.join("vendors.toml"), dir.join("tokens.toml"));
    std::fs::write(&v, vendors).unwrap();
    std::fs::write(&t, tokens).unwrap();
    (v, t)
}

/// Where the service lands: a local directory or a prefix of the test S3 server.
enum Target {
    Local(PathBuf),
    S3(String),
}

impl Target {
    fn root(&self) -> String {
        match self {
            Target::Local(p) => p.to_str().unwrap().to_string(),
            Target::S3(prefix) => format!("s3://{}/{prefix}", common::s3::BUCKET),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        match self {
            Target::Local(_) => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_chart-job"));
                c.args(args).env("RUST_LOG", "warn");
                c
            }
            Target::S3(_) => {
                let mut c = common::s3::server().command(args);
                c.env("RUST_LOG", "warn");
                c
            }
        }
    }

    /// Compaction markers under `plays/`.
    fn compaction_markers(&self) -> usize {
        let location = match self {
            Target::Local(p) => chart_core::Location::local(p).unwrap(),
            Target::S3(prefix) => common::s3::server().location(prefix),
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(location.join("plays").list())
            .unwrap()
            .iter()
            .filter(|o| o.location.as_ref().contains("/_compaction-"))
            .count()
    }

    /// Copies the source's songs and venues next to the landed plays.
    fn add_catalogue(&self) {
        match self {
            Target::Local(p) => {
                for table in ["songs", "venues"] {
                    copy_dir(&data().join(table), &p.join(table));
                }
            }
            Target::S3(prefix) => {
                let location = common::s3::server().location(prefix);
                let runtime = tokio::runtime::Runtime::new().unwrap();
                for table in ["songs", "venues"] {
                    for entry in std::fs::read_dir(data().join(table)).unwrap() {
                        let path = entry.unwrap().path();
                        let name =
                            format!("{table}/{}", path.file_name().unwrap().to_str().unwrap());
                        let bytes = std::fs::read(&path).unwrap();
                        runtime
                            .block_on(location.write(&name, bytes.into()))
                            .unwrap();
                    }
                }
            }
        }
    }
}

/// A running `chart-job serve`.
struct Server {
    child: Child,
    url: String,
}

fn start_server(target: &Target, vendors: &Path, wal: &Path, listen: &str) -> Server {
    start_server_with(target, vendors, wal, listen, &[])
}

fn start_server_with(
    target: &Target,
    vendors: &Path,
    wal: &Path,
    listen: &str,
    extra: &[&str],
) -> Server {
    let mut child = target
        .command(
            &[
                &[
                    "serve",
                    "--data",
                    &target.root(),
                    "--listen",
                    listen,
                    "--vendors",
                    vendors.to_str().unwrap(),
                    "--wal",
                    wal.to_str().unwrap(),
                    "--late-window",
                    "3650d",
                    "--land-every",
                    "300ms",
                    "--land-rows",
                    "2000",
                ][..],
                extra,
            ]
            .concat(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("serve printed `{first}`"))
        .to_string();
    Server { child, url }
}

impl Server {
    /// SIGTERM: the service lands its log and exits 0.
    fn terminate(mut self) {
        unsafe_kill(self.child.id(), "TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve after SIGTERM: {status}");
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn replay(target: &Target, url: &str, tokens: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "replay",
        "--data",
        data().to_str().unwrap(),
        "--to",
        url,
        "--tokens",
        tokens.to_str().unwrap(),
        "--fallback-vendor",
        "其他",
    ];
    args.extend_from_slice(extra);
    // The replay reads the local source; only the service needs the S3 flags.
    let _ = target;
    let mut c = Command::new(env!("CARGO_BIN_EXE_chart-job"));
    c.args(args).env("RUST_LOG", "warn");
    c
}

/// The plays of a data root as sorted CSV lines (without `vod_vendor`, which the
/// service sets to the authenticated vendor).
fn plays_of(target_args: &Target, root: &str) -> Vec<String> {
    let output = target_args
        .command(&[
            "sql",
            "--data",
            root,
            "--format",
            "csv",
            "-c",
            "SELECT event_id, venue_id, room_id, song_id, started_at, played_ms, date FROM plays \
             ORDER BY event_id, venue_id, room_id, song_id, started_at, played_ms, date",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn charts_of(target: &Target, root: &str) -> String {
    let output = target
        .command(&[
            "sql",
            "--data",
            root,
            "--format",
            "csv",
            "-c",
            "SELECT * FROM hot_chart('2024-11'); SELECT * FROM new_chart('2024-12'); \
             SELECT * FROM coverage('2024-11'); SELECT * FROM data_quality ORDER BY period_kind, period",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    String::from_utf8(output.stdout).unwrap()
}

fn acknowledged(output: &std::process::Output) -> BTreeMap<String, u64> {
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let mut counts = BTreeMap::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_end_matches([',', ';']);
        if let Some(n) = i.checked_sub(1).and_then(|p| words[p].parse::<u64>().ok()) {
            counts.insert(w.to_string(), n);
        }
        if w == "sent" {
            counts.insert("sent".into(), words[i + 1].parse().unwrap());
        }
    }
    counts
}

#[test]
fn replayed_sample_data_publishes_the_same_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (vendors, tokens) = vendor_files(dir.path());
    let landed = dir.path().join("landed");
    let target = Target::Local(landed.clone());
    let server = start_server(&target, &vendors, &dir.path().join("wal"), "127.0.0.1:0");
    let output = replay(
        &target,
        &server.url,
        &tokens,
        &[
            "--vendors",
            "8",
            "--batch",
            "250",
            "--duplicates",
            "0.2",
            "--malformed",
            "0.1",
        ],
    )
    .output()
    .unwrap();
    assert_ok(&output);
    let counts = acknowledged(&output);
    let source_rows = plays_of(
        &Target::Local(data().to_path_buf()),
        data().to_str().unwrap(),
    )
    .len() as u64
        - 1;
    assert_eq!(counts["sent"], source_rows, "{counts:?}");
    assert_eq!(counts["acknowledged"], source_rows, "{counts:?}");
    assert!(
        counts["duplicate"] > 0 && counts["rejected"] > 0,
        "{counts:?}"
    );
    server.terminate();
    target.add_catalogue();

    let out_source = dir.path().join("out-source");
    let out_landed = dir.path().join("out-landed");
    for (root, out) in [
        (data().to_path_buf(), &out_source),
        (landed.clone(), &out_landed),
    ] {
        for (flag, period) in [("--month", "2024-11"), ("--month", "2024-12")] {
            assert_ok(&chart_job(&[
                "publish",
                "--data",
                root.to_str().unwrap(),
                flag,
                period,
                "--out",
                out.to_str().unwrap(),
            ]));
        }
    }
    for period in ["month=2024-11", "month=2024-12"] {
        let (a, b) = (
            published_dir(&out_source, period),
            published_dir(&out_landed, period),
        );
        let mut names: Vec<_> = std::fs::read_dir(&a)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert!(names.len() >= 6, "{names:?}");
        for name in names {
            assert_eq!(
                std::fs::read(a.join(&name)).unwrap(),
                std::fs::read(b.join(&name)).unwrap(),
                "{period}/{}: the landed data publishes other bytes",
                name.to_string_lossy()
            );
        }
    }
}

/// How the service is stopped mid-load.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGKILL: nothing is finished; the log is replayed at the next start.
    Kill,
    /// SIGTERM: in-flight requests finish, the log lands, exit 0.
    Term,
}

/// SIGKILLs the service at 20 random points while the simulator sends (and retries),
/// then checks that every play landed exactly once and the charts are the source's.
fn survives_sigkill(target: Target) {
    survives(target, Stop::Kill, 20);
}

/// Days closed all the time: every pass compacts what landed since (grace 0, no
/// retention), so stops also fall in the middle of compactions.
const CLOSE_ALWAYS: [&str; 6] = [
    "--day-grace",
    "0s",
    "--day-close-every",
    "100ms",
    "--compaction-retain",
    "0s",
];

/// Stops the service `times` times at random points while the simulator sends (and
/// retries) and days are compacted, then checks that every play landed exactly once
/// and the charts are the source's.
fn survives(target: Target, stop: Stop, times: usize) {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("crash test seed {seed} (CRASH_SEED={seed} replays it)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (vendors, tokens) = vendor_files(dir.path());
    let wal = dir.path().join("wal");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = start_server_with(&target, &vendors, &wal, &listen, &CLOSE_ALWAYS);
    let url = server.url.clone();
    let sender = replay(
        &target,
        &url,
        &tokens,
        &[
            "--vendors",
            "8",
            "--batch",
            "100",
            "--rate",
            "1500",
            "--timeout",
            "2s",
            "--give-up-after",
            "120s",
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    for _ in 0..times {
        std::thread::sleep(Duration::from_millis(rng.random_range(50..400)));
        match stop {
            Stop::Kill => server.sigkill(),
            Stop::Term => server.terminate(),
        }
        server = start_server_with(&target, &vendors, &wal, &listen, &CLOSE_ALWAYS);
    }
    let output = sender.wait_with_output().unwrap();
    assert_ok(&output);
    eprintln!(
        "{times} × {stop:?} in {:?}; replay: {}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stdout)
    );
    server.terminate();
    target.add_catalogue();

    let source = Target::Local(data().to_path_buf());
    let expected = plays_of(&source, data().to_str().unwrap());
    let landed = plays_of(&target, &target.root());
    assert_eq!(
        landed.len(),
        expected.len(),
        "every acknowledged play landed exactly once"
    );
    assert!(
        landed == expected,
        "the landed plays differ from the source's"
    );
    assert_eq!(
        charts_of(&target, &target.root()),
        charts_of(&source, data().to_str().unwrap())
    );
    assert!(
        target.compaction_markers() > 0,
        "no day was compacted during the test"
    );
}

#[test]
fn local_landing_survives_sigkill_under_load() {
    let dir = tempfile::tempdir().unwrap();
    survives_sigkill(Target::Local(dir.path().join("landed")));
}

#[test]
fn sigterm_under_load_lands_everything_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    survives(Target::Local(dir.path().join("landed")), Stop::Term, 5);
}

#[test]
fn s3_landing_survives_sigkill_under_load() {
    survives_sigkill(Target::S3(format!("ingest-{}", std::process::id())));
}

/// `GET path` on a running service, the body.
fn get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of an unlabelled metric.
fn metric(url: &str, name: &str) -> f64 {
    let text = get(url, "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn serve_refuses_bad_day_close_and_page_flags() {
    for (flag, value, needle) in [
        ("--recompact-after", "0", "'0' for '--recompact-after <N>'"),
        (
            "--site-url",
            "charts.example",
            "'charts.example' for '--site-url <URL>': expected http://…, https://… or a path",
        ),
        ("--site-url", "//charts.example", "'//charts.example' for"),
        ("--day-grace", "soon", "'soon' for '--day-grace <DURATION>'"),
        (
            "--day-close-memory",
            "lots",
            "'lots' for '--day-close-memory <SIZE>'",
        ),
    ] {
        let output = chart_job(&[
            "serve",
            "--data",
            "/no/such/root",
            "--wal",
            "/no/such/wal",
            "--vendors",
            "/no/such/vendors.toml",
            flag,
            value,
        ]);
        common::assert_refused_flag(&output, needle);
    }
}

/// Days closed by the service are compacted (the same plays, only compacted files
/// left) and digested; `publish --day-digests` of a month then reads no play, only
/// digests, and publishes the bytes the plays publish.
#[test]
fn closed_days_are_compacted_and_publish_reads_only_their_digests() {
    let dir = tempfile::tempdir().unwrap();
    let (vendors, tokens) = vendor_files(dir.path());
    let landed = dir.path().join("landed");
    let digests = dir.path().join("digests");
    let target = Target::Local(landed.clone());
    target.add_catalogue();
    let close = [
        "--day-grace",
        "0s",
        "--day-close-every",
        "200ms",
        "--day-digests",
        digests.to_str().unwrap(),
        "--compaction-retain",
        "0s",
        "--recompact-after",
        "1",
    ];
    let wal = dir.path().join("wal");
    let server = start_server_with(&target, &vendors, &wal, "127.0.0.1:0", &close);
    let output = replay(
        &target,
        &server.url,
        &tokens,
        &["--vendors", "4", "--batch", "500"],
    )
    .output()
    .unwrap();
    assert_ok(&output);
    // Days closed while plays for them were still arriving; stopping lands the rest.
    assert!(metric(&server.url, "ingest_day_close_passes_total") >= 1.0);
    server.terminate();

    // The next start closes what is left; two finished passes: nothing more to do.
    let server = start_server_with(&target, &vendors, &wal, "127.0.0.1:0", &close);
    let deadline = Instant::now() + Duration::from_secs(120);
    let passes = metric(&server.url, "ingest_day_close_passes_total");
    while metric(&server.url, "ingest_day_close_passes_total") < passes + 2.0 {
        assert!(Instant::now() < deadline, "no quiet point within 2 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(metric(&server.url, "ingest_day_close_failures_total"), 0.0);
    server.terminate();

    let days: Vec<PathBuf> = std::fs::read_dir(landed.join("plays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(days.len() > 50, "{} days", days.len());
    for day in &days {
        for entry in std::fs::read_dir(day).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                name.starts_with("compacted-") || name.starts_with("_compaction-"),
                "{}: {name} left after the day closed",
                day.display()
            );
        }
    }
    let source = Target::Local(data().to_path_buf());
    assert_eq!(
        plays_of(&target, landed.to_str().unwrap()),
        plays_of(&source, data().to_str().unwrap()),
        "compaction kept every play once"
    );

    let out_digests = dir.path().join("out-digests");
    let out_source = dir.path().join("out-source");
    let published = Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args([
            "publish",
            "--data",
            landed.to_str().unwrap(),
            "--month",
            "2024-11",
            "--out",
            out_digests.to_str().unwrap(),
            "--day-digests",
            digests.to_str().unwrap(),
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_ok(&published);
    let log = String::from_utf8_lossy(&published.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("materialised from day digests"))
        .unwrap_or_else(|| panic!("no day digest report in\n{log}"));
    assert!(
        line.contains("computed: 0,"),
        "publish computed digests: {line}"
    );
    assert!(line.contains("shared_units: 0,"), "{line}");
    assert_ok(&chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--month",
        "2024-11",
        "--out",
        out_source.to_str().unwrap(),
    ]));
    let (a, b) = (
        published_dir(&out_source, "month=2024-11"),
        published_dir(&out_digests, "month=2024-11"),
    );
    for entry in std::fs::read_dir(&a).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap(),
            "{}: the digests publish other bytes than the plays",
            name.to_string_lossy()
        );
    }
}

/// A request over HTTP/1.1: its status and body.
fn request(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let address = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    (
        status,
        response.split_once("\r\n\r\n").unwrap().1.to_string(),
    )
}

/// Waits until every acknowledged play has landed and is in the live refresh served.
fn live_quiet_point(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let state = [
            "ingest_wal_unlanded_bytes",
            "ingest_live_building",
            "ingest_live_unpublished",
            "ingest_live_builds_total",
        ]
        .map(|m| metric(url, m));
        assert!(
            Instant::now() < deadline,
            "no quiet point within 3 minutes: {state:?}"
        );
        let landed = metric(url, "ingest_wal_unlanded_bytes") == 0.0;
        if landed
            && metric(url, "ingest_live_building") == 0.0
            && metric(url, "ingest_live_unpublished") == 0.0
            && request(url, "GET", "/v1/charts/hot", &[], "").0 == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `chart-job sql` over the landed data root, as JSON rows.
fn sql_rows(root: &Path, query: &str) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args([
            "sql",
            "--data",
            root.to_str().unwrap(),
            "--format",
            "json",
            "-c",
            query,
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_ok(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The live charts and coverage of the month equal `chart-job sql`'s over the landed
/// root, national and for `province`.
fn check_live(url: &str, root: &Path, province: &str, headers: &[(&str, &str)], at: &str) {
    let columns = [
        "rank",
        "song_id",
        "title",
        "artist",
        "score",
        "plays",
        "venues",
        "rooms",
        "prev_rank",
        "peak_rank",
        "months_on_chart",
        "movement",
    ];
    let pick = |row: &serde_json::Value, columns: &[&str]| -> Vec<serde_json::Value> {
        columns
            .iter()
            .map(|c| row.get(*c).cloned().unwrap_or(serde_json::Value::Null))
            .collect()
    };
    let encoded = province.replace(' ', "%20");
    let asks = [
        ("hot", "", "hot_chart('2024-12')".to_string()),
        ("new", "", "new_chart('2024-12')".to_string()),
        (
            "hot",
            &*format!("&province={encoded}"),
            format!("hot_chart('2024-12', 100, '{province}')"),
        ),
        (
            "new",
            &*format!("&province={encoded}"),
            format!("new_chart('2024-12', 100, '{province}')"),
        ),
    ];
    for (chart, extra, function) in asks {
        let (status, body) = request(
            url,
            "GET",
            &format!("/v1/charts/{chart}?period=2024-12{extra}"),
            headers,
            "",
        );
        assert_eq!(status, 200, "{at}: {chart}{extra}: {body}");
        let live: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(live["period"], "2024-12");
        assert_eq!(live["methodology"]["version"], "GM-1", "{body}");
        assert!(
            live["as_of"]["latest_play"]
                .as_str()
                .unwrap()
                .starts_with("2024-12-"),
            "{body}"
        );
        let want = sql_rows(root, &format!("SELECT * FROM {function}"));
        assert!(!want.is_empty(), "{at}: {function} is empty");
        let got: Vec<_> = live["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| pick(r, &columns))
            .collect();
        let want: Vec<_> = want.iter().map(|r| pick(r, &columns)).collect();
        assert_eq!(got, want, "{at}: {chart}{extra} against {function}");
    }
    let coverage_columns = [
        "licensed_venues",
        "connected_venues",
        "coverage_share",
        "cities",
        "rooms",
        "new_venues",
        "new_venues_prev",
        "new_venues_growth",
        "active_venues",
        "active_rooms",
    ];
    for (extra, function) in [
        (String::new(), "coverage('2024-12')".to_string()),
        (
            format!("&province={encoded}"),
            format!("coverage('2024-12', '{province}')"),
        ),
    ] {
        let (status, body) = request(
            url,
            "GET",
            &format!("/v1/coverage?period=2024-12{extra}"),
            headers,
            "",
        );
        assert_eq!(status, 200, "{at}: coverage{extra}: {body}");
        let live: serde_json::Value = serde_json::from_str(&body).unwrap();
        let want = sql_rows(root, &format!("SELECT * FROM {function}"));
        assert_eq!(
            pick(&live["rows"][0], &coverage_columns),
            pick(&want[0], &coverage_columns),
            "{at}: coverage{extra}"
        );
    }
}

/// The live pages as `serve --site-url /site` serves them (their behaviour in a browser
/// is chart-site's browser test).
fn check_live_pages(url: &str) {
    let (status, page) = request(url, "GET", "/live/hot.html", &[], "");
    assert_eq!(status, 200, "{page}");
    for needle in [
        r#"data-stream="../v1/charts/hot/stream""#,
        r#"<a href="/site/coverage.html">"#,
        r#"<script src="live.js" defer></script>"#,
    ] {
        assert!(page.contains(needle), "{needle} not in {page}");
    }
    for (path, status) in [
        ("/live/new.html", 200),
        ("/live/live.js", 200),
        ("/live/style.css", 200),
        ("/live/favicon.svg", 200),
        ("/live", 308),
        ("/live/index.html", 404),
    ] {
        assert_eq!(request(url, "GET", path, &[], "").0, status, "{path}");
    }
}

/// The live charts: at quiet points of a replay (at its end, after late plays for a
/// closed day, after a restart) they equal what the landed data root computes; their
/// errors; readers' tokens; the event stream; the live pages.
#[test]
fn live_charts_equal_the_landed_month_at_quiet_points() {
    let dir = tempfile::tempdir().unwrap();
    let (vendors, tokens) = vendor_files(dir.path());
    let landed = dir.path().join("landed");
    let target = Target::Local(landed.clone());
    target.add_catalogue();
    let wal = dir.path().join("wal");
    let live = [
        "--live-refresh",
        "100ms",
        "--day-grace",
        "2h",
        "--day-close-every",
        "200ms",
    ];
    let first = [&live[..], &["--site-url", "/site"]].concat();
    let server = start_server_with(&target, &vendors, &wal, "127.0.0.1:0", &first);
    let output = replay(
        &target,
        &server.url,
        &tokens,
        &["--vendors", "4", "--batch", "500"],
    )
    .output()
    .unwrap();
    assert_ok(&output);
    live_quiet_point(&server.url);
    let province = sql_rows(
        &landed,
        "SELECT province FROM coverage_by_province('2024-12') ORDER BY active_rooms DESC, province LIMIT 1",
    )[0]["province"]
        .as_str()
        .unwrap()
        .to_string();
    check_live(&server.url, &landed, &province, &[], "after the replay");
    check_live_pages(&server.url);

    // Clear statuses.
    for (path, status, says) in [
        (
            "/v1/charts/hot?period=2024-11",
            404,
            "2024-11 is not the live month (2024-12)",
        ),
        ("/v1/charts/hot?top=0", 400, "top must be 1 to 100, got 0"),
        ("/v1/charts/hot?top=x", 400, "invalid top `x`"),
        (
            "/v1/charts/hot?period=2024-13",
            400,
            "invalid period `2024-13`",
        ),
        ("/v1/charts/hot?region=x", 400, "unknown parameter `region`"),
        ("/v1/charts/old", 404, "unknown chart `old`"),
        (
            "/v1/charts/hot?province=Atlantis",
            404,
            "unknown province `Atlantis`",
        ),
        (
            "/v1/coverage?province=Atlantis",
            404,
            "unknown province `Atlantis`",
        ),
    ] {
        let (got, body) = request(&server.url, "GET", path, &[], "");
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }

    // Late plays for a closed day: the month is built again and counts them.
    let builds = metric(&server.url, "ingest_live_builds_total");
    let song = sql_rows(&landed, "SELECT song_id FROM hot_chart('2024-12', 1)")[0]["song_id"]
        .as_str()
        .unwrap()
        .to_string();
    let venue = sql_rows(
        &landed,
        "SELECT venue_id FROM venues ORDER BY venue_id LIMIT 1",
    )[0]["venue_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{{\"event_id\":\"late-{i}\",\"venue_id\":\"{venue}\",\"room_id\":\"R-late\",\
                 \"song_id\":\"{song}\",\"started_at\":\"2024-12-02T21:0{i}:00+08:00\",\"played_ms\":200000}}\n"
            )
        })
        .collect();
    let (status, body) = request(
        &server.url,
        "POST",
        "/v1/plays",
        &[
            ("Authorization", &format!("Bearer {}", VENDORS[0].1)),
            ("Idempotency-Key", "late-plays"),
            ("Content-Type", "application/x-ndjson"),
        ],
        &lines,
    );
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(&server.url, "ingest_live_builds_total") <= builds {
        assert!(Instant::now() < deadline, "the late plays built nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    live_quiet_point(&server.url);
    assert!(metric(&server.url, "ingest_live_rows_rebuilding_total") >= 3.0);
    check_live(&server.url, &landed, &province, &[], "after late plays");
    server.terminate();

    // A restart with readers: the same figures, for a reader's token only.
    let readers = dir.path().join("readers.toml");
    std::fs::write(
        &readers,
        format!(
            "[[vendor]]\nname = \"press\"\ntoken_sha256 = \"{}\"\n",
            chart_ingest::vendors::token_sha256("tok-press-0000000000000")
        ),
    )
    .unwrap();
    let with_readers = [&live[..], &["--chart-readers", readers.to_str().unwrap()]].concat();
    let server = start_server_with(&target, &vendors, &wal, "127.0.0.1:0", &with_readers);
    let deadline = Instant::now() + Duration::from_secs(120);
    let reader = [("Authorization", "Bearer tok-press-0000000000000")];
    while request(&server.url, "GET", "/v1/charts/hot", &reader, "").0 != 200 {
        assert!(Instant::now() < deadline, "the month was not built again");
        std::thread::sleep(Duration::from_millis(100));
    }
    check_live(&server.url, &landed, &province, &reader, "after a restart");
    for headers in [
        &[][..],
        &[("Authorization", "Bearer tok-leishi-000000000000")][..],
    ] {
        let (status, body) = request(&server.url, "GET", "/v1/charts/hot", headers, "");
        assert_eq!(status, 401, "{headers:?}: {body}");
    }

    // The event stream: the chart at once.
    let address = server.url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    use std::io::Write;
    write!(
        stream,
        "GET /v1/charts/hot/stream?top=3 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer tok-press-0000000000000\r\n\r\n"
    )
    .unwrap();
    let mut reader_lines = BufReader::new(stream);
    let mut event = Vec::new();
    loop {
        let mut line = String::new();
        reader_lines.read_line(&mut line).unwrap();
        if line.starts_with("data: ") || line.starts_with("event: ") {
            event.push(line.trim().to_string());
        }
        if line.starts_with("data: ") {
            break;
        }
    }
    assert_eq!(event[0], "event: chart", "{event:?}");
    let data: serde_json::Value =
        serde_json::from_str(event[1].strip_prefix("data: ").unwrap()).unwrap();
    let top3 = sql_rows(&landed, "SELECT song_id FROM hot_chart('2024-12', 3)");
    let streamed: Vec<&serde_json::Value> = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["song_id"])
        .collect();
    let want: Vec<&serde_json::Value> = top3.iter().map(|r| &r["song_id"]).collect();
    assert_eq!(streamed, want);
    server.terminate();
}
