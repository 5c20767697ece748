//! Publication of a period: the charts and coverage, or the distribution of licence
//! fees ([`publish_distribution`]), as Parquet, CSV and JSON, in versions that appear
//! whole or not at all and never change once written.
//!
//! Layout under the output root (a local directory or an object-store prefix), for
//! `charts/month=YYYY-MM/` (or `charts/year=YYYY/`; `distribution/` likewise):
//!
//! - `data/<digest>/`: `hot`, `new`, `coverage` and `coverage_by_province` (for a
//!   distribution: `statements`, `lines`, `venue_fees` and `reconciliation`), each as
//!   `.parquet`, `.csv` and `.json`. `<digest>` is the first 16 hex digits of the
//!   SHA-256 of the files' own checksums, so a directory's content is fixed by its
//!   name: writing it again writes the same bytes.
//! - `versions/NNNNNN.json`: the manifest of version N. It is written last, after
//!   every file it lists, and only if no version N exists yet (a conditional put),
//!   so two publishers never both make version N. The highest N is the current
//!   version; older versions stay readable.
//!
//! A run killed at any point leaves at most unreferenced files under `data/`;
//! readers resolve a period through `versions/` and never see them. Publishing
//! inputs identical (same files, same SHA-256, same methodology and publisher) to
//! the current version's writes nothing and reports the period unchanged.

mod distribution;
mod encode;
mod manifest;
mod read;
mod screened;
mod transaction;

use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt, stream};

use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use crate::methodology::{Period, PeriodKind};
use crate::results::{ChartKind, GoldenMic};

use encode::*;
use read::read_publication;
use transaction::*;

pub use distribution::{DistributionPublication, publish_distribution};
pub use manifest::*;
pub use read::{Verified, verify, verify_of};
pub use screened::SCREENED_TABLE_NAMES;
pub use transaction::MAX_COMMIT_ATTEMPTS;

/// The published tables, in the order they are written.
pub const TABLE_NAMES: [&str; 4] = ["hot", "new", "coverage", "coverage_by_province"];

/// The format of the manifests this library writes.
pub const MANIFEST_FORMAT: &str = "golden-mic-publication/2";

/// Files written (or read back) at the same time.
const TRANSFERS_IN_FLIGHT: usize = 4;

/// What a call to [`publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new version was published.
    Published,
    /// The current version already has these inputs: nothing was written.
    Unchanged,
}

/// The results of [`publish`].
#[derive(Debug, Clone)]
pub struct Publication {
    /// Whether a version was written.
    pub outcome: Outcome,
    /// The version's data directory.
    pub directory: Location,
    /// The hot-song chart.
    pub hot: RecordBatch,
    /// The new-song chart.
    pub new: RecordBatch,
    /// National coverage (one row).
    pub coverage: RecordBatch,
    /// Coverage per province.
    pub coverage_by_province: RecordBatch,
    /// The manifest of the version.
    pub manifest: Manifest,
}

/// The directory of a period's charts under an output root: `charts/month=YYYY-MM`.
pub fn period_location(out: &Location, period: &Period) -> Location {
    product_location(out, Product::Charts, period)
}

/// The directory of a period of a product under an output root, e.g.
/// `distribution/month=YYYY-MM`.
pub fn product_location(out: &Location, product: Product, period: &Period) -> Location {
    out.join(&format!(
        "{}/{}",
        product.directory(),
        period.directory_name()
    ))
}

/// Computes the charts and coverage of `period` and publishes them as a new version
/// under `out`, unless the current version has the same inputs.
///
/// Under a screening methodology (GM-2) each version is an edition of the month: the
/// first needs no reason; every later one does ([`publish_with`]).
pub async fn publish(engine: &GoldenMic, period: &Period, out: &Location) -> Result<Publication> {
    publish_with(engine, period, out, &PublishOptions::default()).await
}

/// How [`publish_with`] publishes.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Why this version is published: required for a new edition of a screened month
    /// (a correction: late data, a review decision, a data fix).
    pub reason: Option<String>,
    /// Publish a month before the methodology takes effect (its `effective_from`), as
    /// a back-test under `backtests/` ([`Product::Backtest`]), never as the month's charts.
    pub backtest: bool,
}

/// [`publish`] with options. A screened month already published fails without a
/// reason ([`ChartError::EditionNeedsReason`]); a month before the methodology takes
/// effect fails unless published as a back-test ([`ChartError::NotInEffect`]).
pub async fn publish_with(
    engine: &GoldenMic,
    period: &Period,
    out: &Location,
    options: &PublishOptions,
) -> Result<Publication> {
    let started_at = now();
    if engine.methodology().screening.is_some() && period.kind() != PeriodKind::Month {
        return Err(ChartError::InvalidPeriod(format!(
            "{period}: {}'s charts are monthly",
            engine.methodology().version
        )));
    }
    let product = product_of(engine.methodology(), period, options.backtest)?;
    let reason = options.reason.as_deref();
    engine.check_has_plays(period)?;
    let period_dir = product_location(out, product, period);
    // Reading the versions first makes a wrong store, bucket or credentials fail
    // before any work.
    let versions = read_versions(&period_dir).await?;
    let methodology = engine.methodology().clone();
    let publisher = format!("chart-core {}", env!("CARGO_PKG_VERSION"));
    tracing::info!(%period, "reading the inputs' checksums");
    let mut inputs = input_records(engine, product).await?;
    // A screened month's history is each earlier month's latest edition (a back-test's
    // comes from the data, under its methodology).
    let earlier = if methodology.screening.is_some() && product == Product::Charts {
        let (earlier, records) = screened::earlier_charts(out, period).await?;
        inputs.extend(records);
        earlier
    } else {
        Default::default()
    };
    let input_digest = input_digest(period, &methodology, None, &publisher, &inputs);
    if let Some(current) = versions.last().filter(|v| v.input_digest == input_digest) {
        tracing::info!(%period, version = current.version, "unchanged: the current version has these inputs");
        return read_publication(&period_dir, current.clone(), Outcome::Unchanged).await;
    }

    let screening = methodology.screening.is_some();
    if let (true, Some(current), None) = (screening, versions.last(), reason) {
        return Err(ChartError::EditionNeedsReason {
            period: period.to_string(),
            edition: current.version,
            next: current.version + 1,
        });
    }
    tracing::info!(%period, kind = period.kind().as_str(), "computing the figures of every period of this kind");
    let (engine, screened) = if screening {
        // GM-1's pass over the plays also codes the month's valid plays for GM-2.
        let (engine, plays) = engine.materialize_for_screening(period).await?;
        tracing::info!(%period, "screening the month (GM-2)");
        let screened = engine.screened_with(period, &earlier, plays).await?;
        (engine, Some(screened))
    } else {
        (
            engine.materialize_for_publication(period.kind()).await?,
            None,
        )
    };
    let engine = &engine;
    let data_quality = engine.data_quality(period).await?;
    if data_quality.valid_plays == 0 {
        return Err(ChartError::NoData {
            period: period.to_string(),
            detail: format!(
                "none of its {} play rows is valid ({} short, {} unknown song, {} unknown venue, {} missing a value)",
                data_quality.rows_received,
                data_quality.short_play,
                data_quality.unknown_song,
                data_quality.unknown_venue,
                data_quality.missing_value
            ),
        });
    }
    tracing::info!(%period, "computing charts and coverage");
    let coverage = engine.coverage(period).await?;
    let coverage_by_province = engine.coverage_by_province(period).await?;
    let (mut tables, edition) = match &screened {
        Some(screened) => {
            let previous = versions.last().map(|v| (v, period_dir.join(&v.directory)));
            let (tables, edition) =
                screened::screened_tables(screened, methodology.top_n as usize, reason, previous)
                    .await?;
            (tables, Some(edition))
        }
        None => (
            vec![
                ("hot", engine.chart(ChartKind::Hot, period).await?),
                ("new", engine.chart(ChartKind::New, period).await?),
            ],
            None,
        ),
    };
    tables.insert(2, ("coverage", coverage.clone()));
    tables.insert(3, ("coverage_by_province", coverage_by_province.clone()));
    let (hot, new) = (tables[0].1.clone(), tables[1].1.clone());

    let methodology_json = serde_json::to_string(&methodology).expect("methodology serialises");
    let (outputs, directory, data_dir) = write_data(
        &period_dir,
        tables.iter().map(|(name, batch)| (*name, batch)),
        period,
        &methodology_json,
    )
    .await?;

    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        product,
        version: 0,
        period_kind: period.kind(),
        period: period.to_string(),
        first_day: period.first_day().to_string(),
        last_day: period.last_day().to_string(),
        methodology,
        distribution: None,
        publisher,
        input_digest,
        input_rows: input_rows(&inputs),
        inputs,
        data_quality: Some(data_quality),
        directory,
        outputs,
        changes: None,
        edition,
        run: RunRecord {
            started_at,
            finished_at: now(),
        },
    };
    let publication = |outcome, manifest| Publication {
        outcome,
        directory: data_dir.clone(),
        hot: hot.clone(),
        new: new.clone(),
        coverage: coverage.clone(),
        coverage_by_province: coverage_by_province.clone(),
        manifest,
    };
    let (outcome, manifest) = commit(&period_dir, versions, manifest).await?;
    Ok(publication(outcome, manifest))
}

/// Where a period's charts go under `methodology`: the charts, or back-tests.
fn product_of(
    methodology: &crate::Methodology,
    period: &Period,
    backtest: bool,
) -> Result<Product> {
    let before = methodology.before_effect(period)?;
    let from = methodology.effective_from.as_deref().unwrap_or_default();
    match (before, backtest) {
        (false, false) => Ok(Product::Charts),
        (true, true) => Ok(Product::Backtest),
        (true, false) => Err(ChartError::NotInEffect(format!(
            "{period}: {} takes effect from {from}; publish an earlier month under it as a back-test (--backtest), or under the methodology in effect then",
            methodology.version
        ))),
        (false, true) => Err(ChartError::NotInEffect(format!(
            "{period}: {} is in effect for this month; --backtest is for months before it takes effect",
            methodology.version
        ))),
    }
}

/// Encodes `tables` in every format and writes them to the data directory their
/// checksums name: the files' records, that directory's name (relative to
/// `period_dir`) and location.
async fn write_data<'a>(
    period_dir: &Location,
    tables: impl IntoIterator<Item = (&'a str, &'a RecordBatch)>,
    period: &Period,
    methodology_json: &str,
) -> Result<(Vec<OutputFile>, String, Location)> {
    let mut files = Vec::new();
    for (name, batch) in tables {
        files.extend(encode_table(name, batch, period, methodology_json)?);
    }
    let outputs: Vec<OutputFile> = files.iter().map(|(file, _)| file.clone()).collect();
    let directory = format!("data/{}", &outputs_digest(&outputs)[..16]);
    let data_dir = period_dir.join(&directory);
    tracing::info!(directory = %data_dir, "writing");
    stream::iter(files)
        .map(|(file, bytes)| {
            let data_dir = &data_dir;
            async move { data_dir.write(&file.path, bytes).await }
        })
        .buffer_unordered(TRANSFERS_IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    Ok((outputs, directory, data_dir))
}

/// Every version of a period's charts, oldest first (empty when never published).
pub async fn history(out: &Location, period: &Period) -> Result<Vec<Manifest>> {
    history_of(out, Product::Charts, period).await
}

/// Every version of a period of a product, oldest first (empty when never published).
pub async fn history_of(
    out: &Location,
    product: Product,
    period: &Period,
) -> Result<Vec<Manifest>> {
    read_versions(&product_location(out, product, period)).await
}

pub(super) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
