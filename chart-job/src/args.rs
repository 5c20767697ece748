//! The command line: every subcommand's flags, parsed and checked by clap's value
//! parsers (periods, sizes, durations, times of day), so that a bad flag is refused
//! with its name before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chart_core::methodology::money::Share;
use chart_core::methodology::screening::{ReviewDecisions, Screening};
use chart_core::{
    DistributionMethodology, Location, Methodology, Period, PeriodKind, Product, StoreOptions,
};
use clap::{Args, Parser, Subcommand};

use crate::output;

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Publish the charts and coverage of a month (or a year) from a data root.
    Publish(PublishArgs),
    /// Generate sample data if absent, publish its latest month and print the charts.
    Demo(DemoArgs),
    /// Generate report-calibrated sample data in the data contract.
    Generate(GenerateArgs),
    /// Ask your own questions in SQL: an interactive prompt, or -c / -f.
    #[command(
        long_about = "Ask your own questions of the play data in SQL (Apache DataFusion's dialect).\n\n\
Registered: the tables plays (partitioned by `date`: a filter on it prunes partitions), songs, \
venues and fees (when present); the views of queries/ (valid_plays, song_month_stats, ...); and \
the table functions hot_chart(period [, top_n [, province]]), new_chart(...), \
coverage(period [, province]), coverage_by_province(period) and \
distribution(period [, rights_holder_id]), which return exactly what `publish` and `distribute` write.\n\n\
Without -c or -f, statements are read from a prompt (or from stdin when it is not a terminal): \
they end with `;` and may span lines; \\d lists tables, \\d NAME describes one, \\q quits. \
Scripts (-c, -f, piped stdin) stop at the first error with exit code 1; the prompt reports \
errors and goes on.\n\n\
Read-only unless --allow-writes: DDL, DML, COPY, CREATE EXTERNAL TABLE and SET are refused."
    )]
    Sql(SqlArgs),
    /// Distribute a month's (or a year's) licence fees to rights holders under D-1.
    #[command(
        long_about = "Distribute a month's (or a year's) licence fees to rights holders under D-1, \
in integer fen, and publish the statements, lines, venues and reconciliation as a new version \
under OUT/distribution/month=YYYY-MM/.\n\n\
Each fee pays its business line's management fee; the works share of the rest goes to the works \
payee; the rest follows the plays counted at the venue (the chart flags set the counting rules, \
e.g. --room-cap), or, for a venue without counted plays, its province's (else the country's) \
counted plays, labelled as sampled. Songs without a rights holder, venues not in the register \
and months without plays go to the reserve. Every split is by largest remainder."
    )]
    Distribute(DistributeArgs),
    /// List the published versions of a month (or a year), oldest first.
    History(HistoryArgs),
    /// Close business days now, as `serve` does once they are over: compact their files
    /// and, with --day-digests, keep their digests.
    #[command(
        long_about = "Close business days now, as `serve` does once they are over: each day's files \
are compacted into compacted-N-<inputs>-PPPP.parquet files sorted by venue, room and start time and \
committed by the marker _compaction-N.json (readers count every play once at every step); with \
--day-digests DIR|URL the day's digest is computed and kept there for `publish --day-digests`. \
Files replaced by earlier compactions are removed once --compaction-retain has passed. Safe to \
run again, and after a crash at any point."
    )]
    Compact(CompactArgs),
    /// Render a static website of every published month and year.
    #[command(
        long_about = "Render a static website of every published month and year from the published \
versions' files (never recomputed): an index, a page per period for the hot and the new chart, a \
page per charted song with its rank history, and a coverage page. Pages are self-contained (no \
request leaves the site), byte-identical for the same versions, and only files whose bytes \
changed are written; pages no longer part of the site are removed. --templates DIR overrides \
the built-in templates (base.html, plots.html, index.html, chart.html, chart_head.html, \
song.html, coverage.html, style.css, favicon.svg) with the files found there; --live-url links every \
page to the live chart that `serve` serves (/live/hot.html)."
    )]
    Site(SiteArgs),
    /// Re-read a published version and check every file against its manifest.
    Verify(VerifyArgs),
    /// Receive live plays from VOD vendors over HTTP and land them in a data root.
    #[command(
        long_about = "Receive live plays from VOD vendors over HTTP and land them in a data root.\n\n\
POST /v1/plays takes a batch (NDJSON, or an Arrow IPC stream; gzip or zstd allowed) with \
`Authorization: Bearer <vendor token>` and `Idempotency-Key: <batch id>`; the reply comes only \
after the accepted plays are synced to the write-ahead log. The log lands as \
plays/date=<business day>/*.parquet (rejected lines as rejects/date=<day>/*.parquet) every \
--land-every or --land-rows. GET /healthz, /readyz and /metrics (Prometheus) are for operators. \
The month to date is served as JSON (GET /v1/charts/hot, /v1/charts/new, /v1/coverage), as \
server-sent events (/v1/charts/hot/stream) and as pages that follow them (GET /live/hot.html, \
/live/new.html). SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, land the \
log, exit 0."
    )]
    Serve(Box<ServeArgs>),
    /// Send a data root's plays to a running `serve`, as VOD vendors would.
    Replay(ReplayArgs),
    /// Serve analyst SQL to BI tools over the PostgreSQL wire protocol and Arrow Flight SQL, read-only.
    #[command(
        long_about = "Serve analyst SQL to BI tools (psql, DBeaver, Metabase, Superset, Grafana, \
ODBC) over the PostgreSQL wire protocol (--pg, the default) and to Arrow-native clients (ADBC, \
JDBC) over Arrow Flight SQL (--flight): each connection (each Flight SQL login) gets its own \
session with everything `chart-job sql` registers, plus the pg_catalog and information_schema \
tools query. Users log in with SCRAM-SHA-256 (PostgreSQL) or a Basic-auth handshake (Flight SQL) \
against --users (salted hashes: see `chart-job hash-password`); with --tls-cert every client \
must use TLS. Every statement is read-only whatever the protocol; each \
query has --query-memory and --timeout; past --max-connections a client is told \"too many \
clients\". SIGTERM or Ctrl-C stops it."
    )]
    ServeSql(ServeSqlArgs),
    /// Print a users.toml entry for `serve-sql`, reading the password from stdin.
    HashPassword(HashPasswordArgs),
}

/// Settings for s3:// locations, over the AWS_* environment variables.
#[derive(Args, Clone, Default)]
pub struct StoreArgs {
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
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    s3_connect_timeout: Duration,
    /// Give up on a request, retries included, after this long, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    s3_request_timeout: Duration,
}

impl StoreArgs {
    fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            credentials: None,
            path_style: self.s3_path_style,
            connect_timeout: self.s3_connect_timeout,
            request_timeout: self.s3_request_timeout,
        }
    }

    /// A local path, `file://` or `s3://` URL as a location.
    pub fn location(&self, text: &str) -> Result<Location> {
        Ok(Location::parse(text, &self.options())?)
    }
}

/// The period: a month or a year.
#[derive(Args)]
pub struct PeriodChoice {
    /// Month, as YYYY-MM (its business days; history from the earliest month with data).
    #[arg(
        long,
        value_name = "YYYY-MM",
        conflicts_with = "year",
        required_unless_present = "year",
        value_parser = month
    )]
    pub month: Option<Period>,
    /// Year instead of a month, as YYYY (annual charts and coverage).
    #[arg(long, value_name = "YYYY", value_parser = year)]
    pub year: Option<Period>,
}

impl PeriodChoice {
    /// The month or the year given.
    pub fn period(&self) -> Result<Period> {
        self.month
            .or(self.year)
            .context("give --month YYYY-MM or --year YYYY")
    }
}

/// `--product`: what a version publishes.
#[derive(Clone, Copy, Default, clap::ValueEnum)]
pub enum ProductArg {
    /// The charts and coverage (`publish`).
    #[default]
    Charts,
    /// The distribution of licence fees (`distribute`).
    Distribution,
    /// Back-tests: charts of months before their methodology takes effect (`publish --backtest`).
    Backtest,
}

impl From<ProductArg> for Product {
    fn from(product: ProductArg) -> Self {
        match product {
            ProductArg::Charts => Product::Charts,
            ProductArg::Distribution => Product::Distribution,
            ProductArg::Backtest => Product::Backtest,
        }
    }
}

#[derive(Args)]
pub struct CompactArgs {
    /// Data root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    /// A business day to close, YYYY-MM-DD, or a month, YYYY-MM, for each of its days
    /// with plays (repeat the flag for more).
    #[arg(long = "day", value_name = "YYYY-MM-DD|YYYY-MM", required = true)]
    pub days: Vec<String>,
    /// Keep each day's digest here (the location `publish --day-digests` is given).
    #[arg(long, value_name = "DIR|URL")]
    pub day_digests: Option<String>,
    /// Remove the files earlier compactions replaced once this long has passed.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_or_zero)]
    pub compaction_retain: Duration,
    /// Memory a day's compaction may use for its sort (it spills to the temporary
    /// directory past it), as `serve --day-close-memory`.
    #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = size)]
    pub day_close_memory: usize,
    #[command(flatten)]
    pub methodology: MethodologyArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct SiteArgs {
    /// Output root the charts are published under (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    /// Where the site is written (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub site: String,
    /// A directory of templates to use instead of the built-in ones (each missing file
    /// is built in).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The live chart's page (`serve`'s /live/hot.html: http://…, https://… or a path),
    /// linked from every page's header.
    #[arg(long, value_name = "URL", value_parser = page_url)]
    pub live_url: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    #[command(flatten)]
    pub period: PeriodChoice,
    /// What was published.
    #[arg(long, value_enum, default_value_t = ProductArg::Charts)]
    pub product: ProductArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    #[command(flatten)]
    pub period: PeriodChoice,
    /// The version to check (default: the current one).
    #[arg(long, value_name = "N")]
    pub version: Option<u32>,
    /// What was published.
    #[arg(long, value_enum, default_value_t = ProductArg::Charts)]
    pub product: ProductArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct SqlArgs {
    /// Data root holding plays/date=YYYY-MM-DD/*.parquet, songs/*.parquet and venues/*.parquet
    /// (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    /// Run these statements and exit (`;`-separated; meta-commands such as \\d on their own line).
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        conflicts_with = "file"
    )]
    pub command: Option<String>,
    /// Run the statements of a file and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql|URL")]
    pub file: Option<String>,
    /// Result format.
    #[arg(long, value_enum, default_value_t = output::Format::Table)]
    pub format: output::Format,
    /// Write results to FILE (it appears only when every statement succeeded).
    #[arg(short = 'o', long = "output", value_name = "FILE|URL")]
    pub output: Option<String>,
    /// Allow statements that change the session or write files (DDL, DML, COPY, SET).
    #[arg(long)]
    pub allow_writes: bool,
    /// Memory for query execution, e.g. 512M or 2G; sorts, joins and aggregations spill
    /// to the temporary directory past it, others fail with "Resources exhausted".
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub memory_limit: Option<usize>,
    /// Cancel any statement that runs longer, e.g. 30s, 500ms, 5m.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub methodology: MethodologyArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct PublishArgs {
    /// Data root holding plays/date=YYYY-MM-DD/*.parquet, songs/*.parquet and venues/*.parquet
    /// (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    #[command(flatten)]
    pub period: PeriodChoice,
    /// Output root (local path, file:// or s3://bucket/prefix): the period is published
    /// as a new version under OUT/charts/month=YYYY-MM/ (or year=YYYY/).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    /// Memory for query execution, e.g. 4G; sorts, joins and aggregations spill to the
    /// temporary directory past it. The process needs some more beside it (about 200 MiB
    /// at 50 million plays: see docs/PERFORMANCE.md).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub memory_limit: Option<usize>,
    /// Compute each day's partition on its own and merge the days (day digests: the
    /// same results; see docs/PERFORMANCE.md), in a temporary directory.
    #[arg(long)]
    pub by_day: bool,
    /// Keep the day digests under DIR|URL and reuse those of unchanged partitions in
    /// later runs (implies --by-day).
    #[arg(long, value_name = "DIR|URL")]
    pub day_digests: Option<String>,
    /// Why this version is published: required for a GM-2 month already published (a
    /// correction: late data, a review decision, a data fix), recorded in its edition.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Publish a month before the methodology takes effect (GM-2: from 2025-01) as a
    /// back-test, under OUT/backtests/ (labelled so in its manifest), never as its charts.
    #[arg(long)]
    pub backtest: bool,
    #[command(flatten)]
    pub methodology: MethodologyArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct DistributeArgs {
    /// Data root holding plays, songs, venues and fees/*.parquet (local path, file:// or
    /// s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    #[command(flatten)]
    pub period: PeriodChoice,
    /// Output root (local path, file:// or s3://bucket/prefix): the period is published
    /// as a new version under OUT/distribution/month=YYYY-MM/ (or year=YYYY/).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    /// Memory for query execution, e.g. 4G (as for publish).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub memory_limit: Option<usize>,
    /// A business line's management fee, e.g. ktv=27% or bgm=25% (repeatable; adds to
    /// or replaces D-1's ktv=27%, mini_ktv=30%, vod=30%).
    #[arg(long, value_name = "LINE=SHARE", value_parser = line_share)]
    pub management_fee: Vec<(String, Share)>,
    /// The works payee's share of each venue's net, e.g. 36% or 116.85/324.89.
    #[arg(long, value_name = "SHARE", value_parser = share)]
    pub works_share: Option<Share>,
    /// Who receives the works share.
    #[arg(long, value_name = "ID")]
    pub works_payee: Option<String>,
    #[command(flatten)]
    pub methodology: MethodologyArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl DistributeArgs {
    /// D-1 with these flags, checked.
    pub fn distribution_methodology(&self) -> Result<DistributionMethodology> {
        let mut methodology = DistributionMethodology {
            counting: self.methodology.methodology()?,
            ..DistributionMethodology::default()
        };
        for (line, rate) in &self.management_fee {
            methodology.management_fee.insert(line.clone(), *rate);
        }
        if let Some(works) = self.works_share {
            methodology.works_share = works;
        }
        if let Some(payee) = &self.works_payee {
            methodology.works_payee = payee.clone();
        }
        methodology.validate()?;
        Ok(methodology)
    }
}

/// `--works-share`: an exact share.
fn share(value: &str) -> Result<Share, String> {
    value.parse::<Share>().map_err(|e| e.to_string())
}

/// `--management-fee`: `LINE=SHARE`.
fn line_share(value: &str) -> Result<(String, Share), String> {
    let (line, rate) = value
        .split_once('=')
        .ok_or_else(|| "expected LINE=SHARE, e.g. ktv=27%".to_string())?;
    if line.trim().is_empty() {
        return Err("expected LINE=SHARE, e.g. ktv=27%: the line is empty".to_string());
    }
    Ok((line.trim().to_string(), share(rate)?))
}

/// The methodology and its parameters; each flag overrides one default.
#[derive(Args, Clone)]
pub struct MethodologyArgs {
    /// Methodology version: GM-1, or GM-2 (GM-1 screened for manipulation, with rank
    /// intervals and a transparency report; monthly charts only).
    #[arg(long = "methodology", value_name = "VERSION", default_value = "GM-1",
          value_parser = ["GM-1", "GM-2"])]
    pub version: String,
    /// Entries per chart.
    #[arg(long, value_name = "N", default_value_t = Methodology::default().top_n)]
    pub top_n: i64,
    /// Most plays counted per venue, room, song and business day.
    #[arg(long, value_name = "N", default_value_t = Methodology::default().room_cap)]
    pub room_cap: i64,
    /// Shortest play that counts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Methodology::default().min_played_ms)]
    pub min_played_ms: i32,
    /// New-song chart window: songs released in the last N days up to the period's last day.
    #[arg(long, value_name = "DAYS", default_value_t = Methodology::default().new_song_window_days)]
    pub new_song_window_days: i64,
    /// IANA time zone of the business day.
    #[arg(long, value_name = "TZ", default_value_t = Methodology::default().timezone)]
    pub timezone: String,
    /// Local time at which a business day starts (a night out before it belongs to the day before).
    #[arg(long, value_name = "HH:MM", default_value = "06:00", value_parser = day_start)]
    pub day_start: u32,
    #[command(flatten)]
    pub screening: ScreeningArgs,
}

/// GM-2's parameters (with `--methodology GM-2` only); each flag overrides one default.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "GM-2 screening (with --methodology GM-2)")]
pub struct ScreeningArgs {
    /// A play of the same room and song this soon after a counted one is a re-send [default: 5000].
    #[arg(long, value_name = "MS")]
    pub resend_window_ms: Option<i64>,
    /// A play overlaps when it starts this much before the previous one ends [default: 5000].
    #[arg(long, value_name = "MS")]
    pub overlap_tolerance_ms: Option<i64>,
    /// A room-day with this share of overlapping plays counts nothing [default: 30].
    #[arg(long, value_name = "PERCENT")]
    pub overlap_share_percent: Option<i64>,
    /// Rooms with plays in this many clock hours of a day are flagged for review [default: 20].
    #[arg(long, value_name = "HOURS")]
    pub max_active_hours: Option<i64>,
    /// Songs in this many venues have their top venues cut [default: 3].
    #[arg(long, value_name = "N")]
    pub concentration_min_venues: Option<i64>,
    /// How many top venues are cut [default: 2].
    #[arg(long, value_name = "N")]
    pub concentration_top: Option<i64>,
    /// ...to the mean of this many next venues [default: 10].
    #[arg(long, value_name = "N")]
    pub concentration_next: Option<i64>,
    /// Ranked only with plays in this many venues [default: 5]...
    #[arg(long, value_name = "N")]
    pub min_venues: Option<i64>,
    /// ...of this many cities [default: 2].
    #[arg(long, value_name = "N")]
    pub min_cities: Option<i64>,
    /// Hold a venue-day or vendor-day past this many times its median share [default: 5].
    #[arg(long, value_name = "K")]
    pub hold_factor: Option<i64>,
    /// Never hold a day with fewer valid plays [default: 50].
    #[arg(long, value_name = "N")]
    pub hold_min_plays: Option<i64>,
    /// The trailing window of the median, in business days [default: 28].
    #[arg(long, value_name = "DAYS")]
    pub hold_window_days: Option<i64>,
    /// With fewer days of own history, compare with the province's venues (or all vendors) [default: 7].
    #[arg(long, value_name = "DAYS")]
    pub hold_min_history_days: Option<i64>,
    /// Entries published after the chart as bubbling under [default: 25].
    #[arg(long, value_name = "N")]
    pub bubbling_under: Option<i64>,
    /// Bootstrap resamples of the venues for the rank intervals (0: none) [default: 200].
    #[arg(long, value_name = "N")]
    pub bootstrap_resamples: Option<i64>,
    /// Seed of the resamples [default: 2024].
    #[arg(long, value_name = "SEED")]
    pub bootstrap_seed: Option<u64>,
    /// Coverage of the rank intervals [default: 90].
    #[arg(long, value_name = "PERCENT")]
    pub confidence_percent: Option<i64>,
    /// Reviewers' decisions on held days: a TOML file of `[[decision]]` tables with kind
    /// (venue or vendor), id, day, decision (include or exclude) and reason.
    #[arg(long, value_name = "FILE")]
    pub review_decisions: Option<PathBuf>,
}

impl ScreeningArgs {
    /// The flags given, by name.
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        let mut note = |name: &'static str, set: bool| {
            if set {
                given.push(name);
            }
        };
        note("--resend-window-ms", self.resend_window_ms.is_some());
        note(
            "--overlap-tolerance-ms",
            self.overlap_tolerance_ms.is_some(),
        );
        note(
            "--overlap-share-percent",
            self.overlap_share_percent.is_some(),
        );
        note("--max-active-hours", self.max_active_hours.is_some());
        note(
            "--concentration-min-venues",
            self.concentration_min_venues.is_some(),
        );
        note("--concentration-top", self.concentration_top.is_some());
        note("--concentration-next", self.concentration_next.is_some());
        note("--min-venues", self.min_venues.is_some());
        note("--min-cities", self.min_cities.is_some());
        note("--hold-factor", self.hold_factor.is_some());
        note("--hold-min-plays", self.hold_min_plays.is_some());
        note("--hold-window-days", self.hold_window_days.is_some());
        note(
            "--hold-min-history-days",
            self.hold_min_history_days.is_some(),
        );
        note("--bubbling-under", self.bubbling_under.is_some());
        note("--bootstrap-resamples", self.bootstrap_resamples.is_some());
        note("--bootstrap-seed", self.bootstrap_seed.is_some());
        note("--confidence-percent", self.confidence_percent.is_some());
        note("--review-decisions", self.review_decisions.is_some());
        given
    }

    /// GM-2's parameters: the defaults with these flags over them.
    fn screening(&self) -> Result<Screening> {
        let d = Screening::default();
        let decisions = match &self.review_decisions {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                ReviewDecisions::parse(&path.display().to_string(), &text)?
            }
            None => Vec::new(),
        };
        Ok(Screening {
            resend_window_ms: self.resend_window_ms.unwrap_or(d.resend_window_ms),
            overlap_tolerance_ms: self.overlap_tolerance_ms.unwrap_or(d.overlap_tolerance_ms),
            overlap_share_percent: self
                .overlap_share_percent
                .unwrap_or(d.overlap_share_percent),
            max_active_hours: self.max_active_hours.unwrap_or(d.max_active_hours),
            concentration_min_venues: self
                .concentration_min_venues
                .unwrap_or(d.concentration_min_venues),
            concentration_top: self.concentration_top.unwrap_or(d.concentration_top),
            concentration_next: self.concentration_next.unwrap_or(d.concentration_next),
            min_venues: self.min_venues.unwrap_or(d.min_venues),
            min_cities: self.min_cities.unwrap_or(d.min_cities),
            hold_factor: self.hold_factor.unwrap_or(d.hold_factor),
            hold_min_plays: self.hold_min_plays.unwrap_or(d.hold_min_plays),
            hold_window_days: self.hold_window_days.unwrap_or(d.hold_window_days),
            hold_min_history_days: self
                .hold_min_history_days
                .unwrap_or(d.hold_min_history_days),
            bubbling_under: self.bubbling_under.unwrap_or(d.bubbling_under),
            bootstrap_resamples: self.bootstrap_resamples.unwrap_or(d.bootstrap_resamples),
            bootstrap_seed: self.bootstrap_seed.unwrap_or(d.bootstrap_seed),
            confidence_percent: self.confidence_percent.unwrap_or(d.confidence_percent),
            review_decisions: decisions,
        })
    }
}

impl MethodologyArgs {
    /// The methodology of these flags, checked.
    pub fn methodology(&self) -> Result<Methodology> {
        let base = Methodology::named(&self.version)?;
        let screening = match &base.screening {
            Some(_) => Some(self.screening.screening()?),
            None => {
                if let Some(flag) = self.screening.given().first() {
                    bail!("{flag} is a GM-2 parameter: add --methodology GM-2");
                }
                None
            }
        };
        let methodology = Methodology {
            top_n: self.top_n,
            room_cap: self.room_cap,
            min_played_ms: self.min_played_ms,
            new_song_window_days: self.new_song_window_days,
            timezone: self.timezone.clone(),
            day_start_minutes: self.day_start,
            screening,
            ..base
        };
        methodology.validate()?;
        Ok(methodology)
    }
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where the sample data lives (generated there if absent).
    #[arg(long, value_name = "DIR", default_value = "sample")]
    pub data: PathBuf,
    /// Output root (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL", default_value = "out")]
    pub out: String,
    /// Play events per month when generating the sample data.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().plays_per_month)]
    pub plays_per_month: usize,
    /// Songs in the catalogue when generating the sample data.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().catalogue_size)]
    pub catalogue: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Data root to write (local path, file:// or s3://bucket/prefix; its plays, songs and
    /// venues tables are replaced).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    /// Seed of every random choice: the same flags write the same data.
    #[arg(long, default_value_t = sample_data::SampleSpec::default().seed)]
    pub seed: u64,
    /// Play events per month.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().plays_per_month)]
    pub plays_per_month: usize,
    /// First month with plays.
    #[arg(long, value_name = "YYYY-MM", default_value = "2024-07", value_parser = month)]
    pub first_month: Period,
    /// Number of months with plays.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().months)]
    pub months: u32,
    /// Songs in the catalogue.
    #[arg(long, value_name = "N", default_value_t = sample_data::SampleSpec::default().catalogue_size)]
    pub catalogue: usize,
    /// Row order inside each business day's files.
    #[arg(long, value_enum, default_value_t = PlayOrderArg::from(sample_data::PlayOrder::default()))]
    pub play_order: PlayOrderArg,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `--play-order` values: the order of the rows inside a day's files.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum PlayOrderArg {
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

/// `--month`: `YYYY-MM`.
fn month(value: &str) -> Result<Period, String> {
    Period::parse_kind(PeriodKind::Month, value).map_err(|e| e.to_string())
}

/// `--year`: `YYYY`.
fn year(value: &str) -> Result<Period, String> {
    Period::parse_kind(PeriodKind::Year, value).map_err(|e| e.to_string())
}

/// `--day-start`: `HH:MM`, as minutes after midnight.
fn day_start(value: &str) -> Result<u32, String> {
    use chrono::Timelike;
    let time = chrono::NaiveTime::parse_from_str(value, "%H:%M")
        .map_err(|_| "expected a time of day as HH:MM, e.g. 06:00".to_string())?;
    Ok(time.hour() * 60 + time.minute())
}

/// A duration: `30` (seconds), `30s`, `500ms`, `5m` or `1h`.
pub fn duration(value: &str) -> Result<Duration, String> {
    match duration_or_zero(value)? {
        d if d.is_zero() => {
            Err("expected a duration such as 30s, 500ms, 5m, 1h or 2d, above 0".into())
        }
        d => Ok(d),
    }
}

/// An address a page links: `http://…`, `https://…` or a path from the server's root.
pub fn page_url(value: &str) -> Result<String, String> {
    let linkable = value.starts_with("http://")
        || value.starts_with("https://")
        || (value.starts_with('/') && !value.starts_with("//"));
    if !linkable || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("expected http://…, https://… or a path starting with /".into());
    }
    Ok(value.to_string())
}

/// The published site's address as the live pages link it ([`page_url`]), ending in `/`.
pub fn site_url(value: &str) -> Result<String, String> {
    let value = page_url(value)?;
    Ok(if value.ends_with('/') {
        value.to_string()
    } else {
        format!("{value}/")
    })
}

/// A duration that may be zero (`0s`: at once).
pub fn duration_or_zero(value: &str) -> Result<Duration, String> {
    let bad = || "expected a duration such as 30s, 500ms, 5m, 1h or 2d".to_string();
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" | "min" => Duration::from_secs(number * 60),
        "h" => Duration::from_secs(number * 3600),
        "d" => Duration::from_secs(number * 86_400),
        _ => return Err(bad()),
    };
    Ok(duration)
}

/// A size: bytes, or a number with K, M, G or T (powers of 1024), e.g. `512M`, `1.5G`.
pub fn size(value: &str) -> Result<usize, String> {
    let bad = || "expected a size such as 512M, 2G or 1.5G".to_string();
    let v = value.trim().to_ascii_uppercase();
    let v = v.strip_suffix('B').unwrap_or(&v);
    let (number, multiplier) = match v.chars().last() {
        Some('K') => (&v[..v.len() - 1], 1u64 << 10),
        Some('M') => (&v[..v.len() - 1], 1 << 20),
        Some('G') => (&v[..v.len() - 1], 1 << 30),
        Some('T') => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    if !number.is_finite() || number <= 0.0 {
        return Err(bad());
    }
    let bytes = number * multiplier as f64;
    if bytes < 1.0 || bytes > usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_like_their_help_says() {
        assert_eq!(duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(duration("1h").unwrap(), Duration::from_secs(3600));
        for bad in ["", "0", "-1s", "1.5s", "10x", "s"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(size("1024").unwrap(), 1024);
        assert_eq!(size("512M").unwrap(), 512 << 20);
        assert_eq!(size("512mb").unwrap(), 512 << 20);
        assert_eq!(size("1.5G").unwrap(), 3 << 29);
        for bad in ["", "0", "-1G", "G", "12Q", "NaN"] {
            assert!(size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(day_start("06:00").unwrap(), 360);
        for bad in ["25:00", "6", "06:60", ""] {
            assert!(day_start(bad).is_err(), "{bad:?}");
        }
        assert_eq!(month("2024-11").unwrap().to_string(), "2024-11");
        assert!(month("2024").is_err() && year("24").is_err() && year("2024").is_ok());
    }
}

#[derive(Args)]
pub struct ServeSqlArgs {
    /// Data root holding plays/date=YYYY-MM-DD/*.parquet, songs/*.parquet and venues/*.parquet
    /// (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    /// Serve the PostgreSQL wire protocol on --listen (the default when neither --pg
    /// nor --flight is given).
    #[arg(long)]
    pub pg: bool,
    /// Serve Arrow Flight SQL on --flight-listen.
    #[arg(long)]
    pub flight: bool,
    /// Address of the PostgreSQL protocol (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5433")]
    pub listen: String,
    /// Address of Arrow Flight SQL (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub flight_listen: String,
    /// The users who may connect, each with a salted hash of its password.
    #[arg(long, value_name = "FILE")]
    pub users: PathBuf,
    /// Require TLS with this certificate chain (PEM; with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Sessions open at once, per protocol; one more is refused. A Flight SQL session
    /// (a login's token) closes after 30 minutes without a call.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Memory for one query: sorts, joins and aggregations spill past it, others fail
    /// with "Resources exhausted". The server's queries use at most --max-connections
    /// times this.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = size)]
    pub query_memory: usize,
    /// Cancel any statement that runs longer.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub methodology: MethodologyArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct HashPasswordArgs {
    /// The user's name.
    pub user: String,
    /// PBKDF2 iterations (the same for every user of one file).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub iterations: u32,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Data root the plays land in (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port, printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The vendors allowed to send: each name with the SHA-256 of its token.
    #[arg(long, value_name = "FILE")]
    pub vendors: PathBuf,
    /// Local directory of the write-ahead log (kept between runs: it is replayed at start).
    #[arg(long, value_name = "DIR", default_value = "ingest-wal")]
    pub wal: PathBuf,
    /// Land the log at least this often.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub land_every: Duration,
    /// Land the log as soon as it holds this many plays.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub land_rows: usize,
    /// How far back `started_at` may be (default: back to the first business day of the
    /// previous month, whose chart is still open).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub late_window: Option<Duration>,
    /// How far ahead of this machine's clock `started_at` may be.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub max_future: Duration,
    /// How long a batch's Idempotency-Key answers retries (at least 24h is advised).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    pub retry_window: Duration,
    /// Largest request body as sent (413 past it).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = size)]
    pub max_body: usize,
    /// Largest body once decompressed (413 past it, or past 100 times the compressed size).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = size)]
    pub max_decompressed: usize,
    /// Log not yet landed past which batches get 429 with Retry-After.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = size)]
    pub max_unlanded: usize,
    /// Longest time to receive a request body (408 past it).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub body_timeout: Duration,
    /// Longest time a client may take to send its request headers (the connection is closed past it).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub header_timeout: Duration,
    /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Time zone of the business day (the methodology's).
    #[arg(long, value_name = "TZ", default_value_t = Methodology::default().timezone)]
    pub timezone: String,
    /// Start of the business day (the methodology's), HH:MM.
    #[arg(long, value_name = "HH:MM", default_value = "06:00", value_parser = day_start)]
    pub day_start: u32,
    /// Close a business day this long after its end: compact its files (sorted by
    /// venue, room and start time) and, with --day-digests, keep its digest.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration_or_zero)]
    pub day_grace: Duration,
    /// Look for days to close this often (also once at start).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    pub day_close_every: Duration,
    /// Keep each closed day's digest here, for `publish --day-digests` with the same
    /// location (local path, file:// or s3://bucket/prefix).
    #[arg(long, value_name = "DIR|URL")]
    pub day_digests: Option<String>,
    /// Delete the files a compaction replaced this long after it (readers that listed
    /// them before finish meanwhile).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_or_zero)]
    pub compaction_retain: Duration,
    /// Compact a closed day again once this many files of late plays have landed in it
    /// (fewer are read as they are).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub recompact_after: u32,
    /// Memory a day's compaction may use for its sort (it spills to the temporary
    /// directory past it).
    #[arg(long, value_name = "SIZE", default_value = "128M", value_parser = size)]
    pub day_close_memory: usize,
    /// Never close days (no compaction, no digests).
    #[arg(long, conflicts_with = "day_digests")]
    pub no_day_close: bool,
    /// Refresh the live charts (the month to date, GET /v1/charts/...) this often.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub live_refresh: Duration,
    /// Serve each refresh of the live charts this long after it (a public chart's delay).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = duration_or_zero)]
    pub live_delay: Duration,
    /// Who may read the live charts, in the format of --vendors (a `[[vendor]]` entry per
    /// reader, with the SHA-256 of its token); default: anyone.
    #[arg(long, value_name = "FILE")]
    pub chart_readers: Option<PathBuf>,
    /// The published site's address (http://, https:// or a path from this service's
    /// root), linked from the live pages.
    #[arg(long, value_name = "URL", value_parser = site_url)]
    pub site_url: Option<String>,
    /// A directory of templates for the live pages (live.html, base.html,
    /// chart_head.html, live.js, style.css, favicon.svg) to use instead of the built-in ones (each missing file is
    /// built in).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// No live charts (the month to date is not kept, no live pages).
    #[arg(long, conflicts_with_all = ["live_refresh", "live_delay", "chart_readers", "site_url", "templates"])]
    pub no_live: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Data root whose plays are sent.
    #[arg(long, value_name = "DIR|URL")]
    pub data: String,
    /// The service's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// TOML file of each vendor's token: `"雷石" = "<token>"` per line.
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
    /// Vendor that sends the plays without a vod_vendor (or of a vendor without a token).
    #[arg(long, value_name = "NAME")]
    pub fallback_vendor: Option<String>,
    /// Connections sending at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub vendors: usize,
    /// Plays per batch.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub batch: usize,
    /// A vendor's batch is sent, full or not, once the plays read reach this far past its
    /// first play's start (a live system sends what it has; 0s: only full batches).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub batch_span: Duration,
    /// Plays per second over all connections (default: as fast as acknowledged).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Share of acknowledged batches sent again with the same key (answered as duplicates).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub duplicates: f64,
    /// Share of batches given one malformed line (answered as rejected).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub malformed: f64,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 2024)]
    pub seed: u64,
    /// Prefix of the Idempotency-Keys: running again with the same prefix retries the same batches.
    #[arg(long, value_name = "TEXT", default_value = "replay")]
    pub key_prefix: String,
    /// Time limit of one request.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub timeout: Duration,
    /// Give up on a batch not acknowledged after this long of retries.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub give_up_after: Duration,
    #[command(flatten)]
    pub store: StoreArgs,
}
