//! `chart-job`: publishes the Golden Mic charts and coverage metrics.
//!
//! A thin command line over `chart-core`: it parses flags, sets up progress
//! reporting on stderr and prints a short summary on stdout. No chart logic lives here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use chart_core::analyst::Access;
use chart_core::publication::{Manifest, Outcome};
use chart_core::{
    DataRoot, GoldenMic, Location, Methodology, Period, Publication, StoreOptions, history,
    publish, verify,
};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

mod malloc;
mod output;
mod sql;

#[derive(Parser)]
#[command(
    name = "chart-job",
    version,
    about = "Publishes the Golden Mic (金麦榜) karaoke charts and market-coverage metrics",
    long_about = "Publishes the Golden Mic (金麦榜) karaoke charts - the hot-song and the new-song \
chart with movement, peak and months on chart - and the market-coverage metrics, computed with \
the GM-1 methodology from venues' play data stored as Parquet.\n\n\
Progress goes to stderr (set RUST_LOG=warn to silence it), a short summary to stdout. \
Errors are one line on stderr with a non-zero exit code."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish the charts and coverage of a month (or a year) from a data root.
    Publish(PublishArgs),
    /// Generate sample data if absent, publish its latest month and print the charts.
    Demo(DemoArgs),
    /// Generate report-calibrated sample data in the data contract.
    Generate(GenerateArgs),
    /// Ask your own questions in SQL: an interactive prompt, or -c / -f.
    #[command(
        long_about = "Ask your own questions of the play data in SQL (Apache DataFusion's dialect).\n\n\
Registered: the tables plays (partitioned by `date`: a filter on it prunes partitions), songs and \
venues; the views of queries/ (valid_plays, song_month_stats, ...); and the table functions \
hot_chart(period [, top_n [, province]]), new_chart(...), coverage(period [, province]) and \
coverage_by_province(period), which return exactly what `publish` writes.\n\n\
Without -c or -f, statements are read from a prompt (or from stdin when it is not a terminal): \
they end with `;` and may span lines; \\d lists tables, \\d NAME describes one, \\q quits. \
Scripts (-c, -f, piped stdin) stop at the first error with exit code 1; the prompt reports \
errors and goes on.\n\n\
Read-only unless --allow-writes: DDL, DML, COPY, CREATE EXTERNAL TABLE and SET are refused."
    )]
    Sql(SqlArgs),
    /// List the published versions of a month (or a year), oldest first.
    History(HistoryArgs),
    /// Re-read a published version and check every file against its manifest.
    Verify(VerifyArgs),
}

/// Settings for s3:// locations, over the AWS_* environment variables.
#[derive(Args, Clone, Default)]
struct StoreArgs {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:8333 (else AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// S3 region (else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    s3_region: Option<String>,
    /// Path-style addressing, endpoint/bucket/key (the default); false for bucket.endpoint/key.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    s3_path_style: Option<bool>,
    /// Give up on an unanswered connection after this long, e.g. 5s.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    s3_connect_timeout: String,
    /// Give up on a request, retries included, after this long, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    s3_request_timeout: String,
}

impl StoreArgs {
    fn options(&self) -> Result<StoreOptions> {
        Ok(StoreOptions {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            credentials: None,
            path_style: self.s3_path_style,
            connect_timeout: sql::parse_duration(&self.s3_connect_timeout)
                .context("--s3-connect-timeout")?,
            request_timeout: sql::parse_duration(&self.s3_request_timeout)
                .context("--s3-request-timeout")?,
        })
    }

    fn location(&self, text: &str) -> Result<Location> {
        Ok(Location::parse(text, &self.options()?)?)
    }
}

/// The period: a month or a year.
#[derive(Args)]
struct PeriodChoice {
    /// Month, as YYYY-MM (its business days; history from the earliest month with data).
    #[arg(
        long,
        value_name = "YYYY-MM",
        conflicts_with = "year",
        required_unless_present = "year"
    )]
    month: Option<String>,
    /// Year instead of a month, as YYYY (annual charts and coverage).
    #[arg(long, value_name = "YYYY")]
    year: Option<String>,
}

impl PeriodChoice {
    fn period(&self) -> Result<Period> {
        match (&self.month, &self.year) {
            (Some(m), _) => parse_period(m, "--month", chart_core::PeriodKind::Month),
            (None, Some(y)) => parse_period(y, "--year", chart_core::PeriodKind::Year),
            (None, None) => bail!("give --month YYYY-MM or --year YYYY"),
        }
    }
}

#[derive(Args)]
struct HistoryArgs {
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    out: String,
    #[command(flatten)]
    period: PeriodChoice,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct VerifyArgs {
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    out: String,
    #[command(flatten)]
    period: PeriodChoice,
    /// The version to check (default: the current one).
    #[arg(long, value_name = "N")]
    version: Option<u32>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct SqlArgs {
    /// Data root holding plays/date=YYYY-MM-DD/*.parquet, songs/*.parquet and venues/*.parquet
    /// (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    data: String,
    /// Run these statements and exit (`;`-separated; meta-commands such as \\d on their own line).
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        conflicts_with = "file"
    )]
    command: Option<String>,
    /// Run the statements of a file and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql|URL")]
    file: Option<String>,
    /// Result format.
    #[arg(long, value_enum, default_value_t = output::Format::Table)]
    format: output::Format,
    /// Write results to FILE (it appears only when every statement succeeded).
    #[arg(short = 'o', long = "output", value_name = "FILE|URL")]
    output: Option<String>,
    /// Allow statements that change the session or write files (DDL, DML, COPY, SET).
    #[arg(long)]
    allow_writes: bool,
    /// Memory for query execution, e.g. 512M or 2G; sorts, joins and aggregations spill
    /// to the temporary directory past it, others fail with "Resources exhausted".
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Cancel any statement that runs longer, e.g. 30s, 500ms, 5m.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    #[command(flatten)]
    methodology: MethodologyArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct PublishArgs {
    /// Data root holding plays/date=YYYY-MM-DD/*.parquet, songs/*.parquet and venues/*.parquet
    /// (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    data: String,
    #[command(flatten)]
    period: PeriodChoice,
    /// Output root (local path, file:// or s3://bucket/prefix): the period is published
    /// as a new version under OUT/charts/month=YYYY-MM/ (or year=YYYY/).
    #[arg(long, value_name = "DIR|URL")]
    out: String,
    /// Memory for query execution, e.g. 4G; sorts, joins and aggregations spill to the
    /// temporary directory past it. The process needs some more beside it (about 200 MiB
    /// at 50 million plays: see docs/PERFORMANCE.md).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Compute each day's partition on its own and merge the days (day digests: the
    /// same results; see docs/PERFORMANCE.md), in a temporary directory.
    #[arg(long)]
    by_day: bool,
    /// Keep the day digests under DIR|URL and reuse those of unchanged partitions in
    /// later runs (implies --by-day).
    #[arg(long, value_name = "DIR|URL")]
    day_digests: Option<String>,
    #[command(flatten)]
    methodology: MethodologyArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// GM-1 parameters; each flag overrides one default.
#[derive(Args, Clone)]
struct MethodologyArgs {
    /// Entries per chart.
    #[arg(long, value_name = "N", default_value_t = Methodology::default().top_n)]
    top_n: i64,
    /// Most plays counted per venue, room, song and business day.
    #[arg(long, value_name = "N", default_value_t = Methodology::default().room_cap)]
    room_cap: i64,
    /// Shortest play that counts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Methodology::default().min_played_ms)]
    min_played_ms: i32,
    /// New-song chart window: songs released in the last N days up to the period's last day.
    #[arg(long, value_name = "DAYS", default_value_t = Methodology::default().new_song_window_days)]
    new_song_window_days: i64,
    /// IANA time zone of the business day.
    #[arg(long, value_name = "TZ", default_value_t = Methodology::default().timezone)]
    timezone: String,
    /// Local time at which a business day starts (a night out before it belongs to the day before).
    #[arg(long, value_name = "HH:MM", default_value = "06:00")]
    day_start: String,
}

impl MethodologyArgs {
    fn methodology(&self) -> Result<Methodology> {
        let time = chrono::NaiveTime::parse_from_str(&self.day_start, "%H:%M")
            .with_context(|| format!("--day-start `{}` is not HH:MM", self.day_start))?;
        use chrono::Timelike;
        let methodology = Methodology {
            top_n: self.top_n,
            room_cap: self.room_cap,
            min_played_ms: self.min_played_ms,
            new_song_window_days: self.new_song_window_days,
            timezone: self.timezone.clone(),
            day_start_minutes: time.hour() * 60 + time.minute(),
            ..Methodology::default()
        };
        methodology.validate()?;
        Ok(methodology)
    }
}

#[derive(Args)]
struct DemoArgs {
    /// Where the sample data lives (generated there if absent).
    #[arg(long, value_name = "DIR", default_value = "sample")]
    data: PathBuf,
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL", default_value = "out")]
    out: String,
    /// Play events per month when generating the sample data.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().plays_per_month)]
    plays_per_month: usize,
    /// Songs in the catalogue when generating the sample data.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().catalogue_size)]
    catalogue: usize,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct GenerateArgs {
    /// Data root to write (local path, file:// or s3://bucket/prefix; its plays, songs and
    /// venues tables are replaced).
    #[arg(long, value_name = "DIR|URL")]
    out: String,
    /// Seed of every random choice: the same flags write the same data.
    #[arg(long, default_value_t = sample_data::SampleSpec::default().seed)]
    seed: u64,
    /// Play events per month.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().plays_per_month)]
    plays_per_month: usize,
    /// First month with plays.
    #[arg(long, value_name = "YYYY-MM", default_value = "2024-07")]
    first_month: String,
    /// Number of months with plays.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().months)]
    months: u32,
    /// Songs in the catalogue.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().catalogue_size)]
    catalogue: usize,
    /// Row order inside each business day's files.
    #[arg(long, value_enum, default_value_t = PlayOrderArg::from(sample_data::PlayOrder::default()))]
    play_order: PlayOrderArg,
    #[command(flatten)]
    store: StoreArgs,
}

/// `--play-order` values: the order of the rows inside a day's files.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PlayOrderArg {
    /// As the rooms' sessions were generated.
    Arrival,
    /// By venue, room and start time.
    VenueRoom,
    /// By song, venue, room and start time.
    Song,
}

impl From<sample_data::PlayOrder> for PlayOrderArg {
    fn from(order: sample_data::PlayOrder) -> Self {
        match order {
            sample_data::PlayOrder::Arrival => PlayOrderArg::Arrival,
            sample_data::PlayOrder::VenueRoom => PlayOrderArg::VenueRoom,
            sample_data::PlayOrder::Song => PlayOrderArg::Song,
        }
    }
}

impl From<PlayOrderArg> for sample_data::PlayOrder {
    fn from(order: PlayOrderArg) -> Self {
        match order {
            PlayOrderArg::Arrival => sample_data::PlayOrder::Arrival,
            PlayOrderArg::VenueRoom => sample_data::PlayOrder::VenueRoom,
            PlayOrderArg::Song => sample_data::PlayOrder::Song,
        }
    }
}

fn main() -> ExitCode {
    malloc::one_arena_per_core();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", sql::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Sql(args) => run_sql(args).await,
        Command::Publish(args) => {
            let period = args.period.period()?;
            let methodology = args.methodology.methodology()?;
            let data = args.store.location(&args.data)?;
            let out = args.store.location(&args.out)?;
            let memory_limit = args
                .memory_limit
                .as_deref()
                .map(sql::parse_size)
                .transpose()?;
            tracing::info!(data = %data, "reading the data root");
            let inputs = DataRoot::open_location(&data).await?.tables()?;
            let mut engine = GoldenMic::attach(session(memory_limit)?, inputs, methodology).await?;
            if let Some(digests) = &args.day_digests {
                engine = engine.with_day_digests(Some(args.store.location(digests)?));
            } else if args.by_day {
                engine = engine.with_day_digests(None);
            }
            let publication = publish(&engine, &period, &out).await?;
            print_summary(&publication)
        }
        Command::History(args) => {
            let period = args.period.period()?;
            let out = args.store.location(&args.out)?;
            print_history(&out, &period, &history(&out, &period).await?);
            Ok(())
        }
        Command::Verify(args) => {
            let period = args.period.period()?;
            let out = args.store.location(&args.out)?;
            let verified = verify(&out, &period, args.version).await?;
            let m = &verified.manifest;
            println!(
                "{} {} version {}: {} files, {} bytes match the manifest (sizes and SHA-256) in {}",
                m.period_kind.as_str(),
                m.period,
                m.version,
                m.outputs.len(),
                verified.bytes,
                verified.directory
            );
            Ok(())
        }
        Command::Demo(args) => {
            if !args.data.join("plays").is_dir() {
                let spec = sample_data::SampleSpec {
                    plays_per_month: args.plays_per_month,
                    catalogue_size: args.catalogue,
                    ..sample_data::SampleSpec::default()
                };
                tracing::info!(data = %args.data.display(), "generating sample data");
                sample_data::generate(&spec, &args.data)?;
            }
            let out = args.store.location(&args.out)?;
            let engine = GoldenMic::open(&args.data, Methodology::default()).await?;
            let last = *engine
                .data()
                .context("the demo reads files")?
                .play_days()
                .keys()
                .next_back()
                .context("the sample data has no plays")?;
            // The latest month that is complete: the last partition may be the first
            // morning of the following month.
            let latest =
                Period::containing(chart_core::PeriodKind::Month, last - chrono::Days::new(1));
            tracing::info!(period = %latest, "publishing the latest month");
            let publication = publish(&engine, &latest, &out).await?;
            print_summary(&publication)
        }
        Command::Generate(args) => {
            let first_month =
                NaiveDate::parse_from_str(&format!("{}-01", args.first_month), "%Y-%m-%d")
                    .with_context(|| {
                        format!("--first-month `{}` is not YYYY-MM", args.first_month)
                    })?;
            let spec = sample_data::SampleSpec {
                seed: args.seed,
                plays_per_month: args.plays_per_month,
                first_month,
                months: args.months,
                catalogue_size: args.catalogue,
                play_order: args.play_order.into(),
            };
            let out = args.store.location(&args.out)?;
            let summary = match out.local_path() {
                Some(dir) => sample_data::generate(&spec, &dir)?,
                None => {
                    // Generate locally, then upload file by file.
                    let staging =
                        tempfile::tempdir().context("cannot create a temporary directory")?;
                    let summary = sample_data::generate(&spec, staging.path())?;
                    upload_tree(staging.path(), &out).await?;
                    summary
                }
            };
            println!(
                "wrote {out}: {} venues, {} songs, {} play rows in {} files",
                summary.venues, summary.songs, summary.plays.rows, summary.plays.files
            );
            Ok(())
        }
    }
}

/// Copies every file under `dir` to the same relative path under `out`.
async fn upload_tree(dir: &Path, out: &Location) -> Result<()> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).with_context(|| next.display().to_string())? {
            let path = entry.with_context(|| next.display().to_string())?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .expect("listed under dir")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.write(&relative, bytes.into()).await?;
        }
    }
    Ok(())
}

/// The URL, when a path flag names an object in a store rather than a local file.
fn object_url(value: &str) -> Option<&str> {
    (value.contains("://") && !value.starts_with("file://")).then_some(value)
}

fn print_history(out: &Location, period: &Period, versions: &[Manifest]) {
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

async fn run_sql(args: SqlArgs) -> Result<()> {
    let methodology = args.methodology.methodology()?;
    let timeout = args
        .timeout
        .as_deref()
        .map(sql::parse_duration)
        .transpose()?;
    let memory_limit = args
        .memory_limit
        .as_deref()
        .map(sql::parse_size)
        .transpose()?;
    let script = match (&args.command, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(file)) => Some(match object_url(file) {
            None => std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?,
            Some(url) => {
                let bytes = args
                    .store
                    .location(url)?
                    .read("")
                    .await?
                    .with_context(|| format!("{url}: not found"))?;
                String::from_utf8(bytes.to_vec())
                    .with_context(|| format!("{url}: not UTF-8 text"))?
            }
        }),
        (None, None) => None,
    };
    let destination = match &args.output {
        None => None,
        Some(path) => Some(match object_url(path) {
            None => output::Destination::Local(PathBuf::from(path)),
            Some(url) => output::Destination::Store(args.store.location(url)?),
        }),
    };
    let ctx = session(memory_limit)?;
    let data = args.store.location(&args.data)?;
    let inputs = DataRoot::open_location(&data).await?.tables()?;
    let engine = GoldenMic::attach(ctx, inputs, methodology).await?;
    let access = if args.allow_writes {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let output = output::Output::new(args.format, destination)?;
    let shell = sql::Shell::new(engine, access, timeout, output);
    match script {
        Some(script) => {
            let lines: Vec<String> = script.lines().map(str::to_string).collect();
            shell.run_script(lines.into_iter().map(Ok)).await
        }
        None if sql::stdin_is_terminal() => shell.run_interactive(history_file()).await,
        None => shell.run_script(sql::lines(std::io::stdin().lock())).await,
    }
}

/// A session with the library's configuration and rewrite ([`chart_core::session_builder`]), and
/// a fair spill pool of `memory_limit` bytes when given.
fn session(memory_limit: Option<usize>) -> Result<SessionContext> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let mut config = chart_core::session_config();
    if let Some(limit) = memory_limit {
        // A sort reserves this much for merging its spills; keep it within small limits.
        let reservation = config.options().execution.sort_spill_reservation_bytes;
        config.options_mut().execution.sort_spill_reservation_bytes = reservation.min(limit / 4);
    }
    let state = chart_core::session_builder()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .build();
    Ok(SessionContext::new_with_state(state))
}

/// The prompt's history: `$CHART_JOB_HISTORY`, else `~/.chart_job_history`.
fn history_file() -> Option<PathBuf> {
    std::env::var_os("CHART_JOB_HISTORY")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".chart_job_history"))
        })
}

fn parse_period(value: &str, flag: &str, kind: chart_core::PeriodKind) -> Result<Period> {
    Period::parse_kind(kind, value).with_context(|| flag.to_string())
}

fn print_summary(publication: &Publication) -> Result<()> {
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
    let q = &m.data_quality;
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
    println!(
        "\nCoverage:\n{}",
        arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&publication.coverage))?
    );
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
