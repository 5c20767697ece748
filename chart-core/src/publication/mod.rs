//! Publication of a period: the charts and coverage as Parquet, CSV and JSON, in
//! versions that appear whole or not at all and never change once written.
//!
//! Layout under the output root (a local directory or an object-store prefix), for
//! `charts/month=YYYY-MM/` (or `charts/year=YYYY/`):
//!
//! - `data/<digest>/`: `hot`, `new`, `coverage` and `coverage_by_province`, each as
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{RecordBatch, RecordBatchReader};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::hex;
use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use crate::methodology::{Methodology, Period, PeriodKind};
use crate::results::{ChartKind, DataQuality, GoldenMic};

/// The published tables, in the order they are written.
pub const TABLE_NAMES: [&str; 4] = ["hot", "new", "coverage", "coverage_by_province"];

/// The format of the manifests this library writes.
pub const MANIFEST_FORMAT: &str = "golden-mic-publication/2";

/// Files written (or read back) at the same time.
const TRANSFERS_IN_FLIGHT: usize = 4;

/// A published file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// File name inside the version's data directory.
    pub path: String,
    /// Data rows.
    pub rows: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// An input file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// `plays`, `songs` or `venues`.
    pub table: String,
    /// Path relative to the data root, `/`-separated.
    pub path: String,
    /// Rows, from the Parquet footer.
    pub rows: i64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// A version's manifest (`versions/NNNNNN.json`): what was published, from what,
/// how, and what changed since the version before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The version number, from 1.
    pub version: u32,
    /// `month` or `year`.
    pub period_kind: PeriodKind,
    /// `YYYY-MM` or `YYYY`.
    pub period: String,
    /// First business day of the period.
    pub first_day: String,
    /// Last business day of the period.
    pub last_day: String,
    /// The methodology version and parameters.
    pub methodology: Methodology,
    /// The publishing library and its version.
    pub publisher: String,
    /// SHA-256 over the period, methodology, publisher and every input's checksum:
    /// equal digests mean equal inputs.
    pub input_digest: String,
    /// Every input file with its row count, size and checksum.
    pub inputs: Vec<InputRecord>,
    /// Rows per input table.
    pub input_rows: InputRows,
    /// What became of the period's play rows.
    pub data_quality: DataQuality,
    /// The version's data directory, relative to the period directory.
    pub directory: String,
    /// The published files, with sizes and checksums.
    pub outputs: Vec<OutputFile>,
    /// What changed since the previous version (absent for version 1).
    pub changes: Option<Changes>,
    /// When the version was published.
    pub run: RunRecord,
}

/// Rows per input table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRows {
    /// Rows in `plays` (all partitions).
    pub plays: i64,
    /// Rows in `songs`.
    pub songs: i64,
    /// Rows in `venues`.
    pub venues: i64,
}

/// The differences between a version and the one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The version compared with.
    pub previous_version: u32,
    /// Input files that are new.
    pub inputs_added: Vec<String>,
    /// Input files that are gone.
    pub inputs_removed: Vec<String>,
    /// Input files whose content changed.
    pub inputs_modified: Vec<String>,
    /// Rows per input table in the previous version.
    pub previous_input_rows: InputRows,
    /// Whether the methodology changed.
    pub methodology_changed: bool,
    /// Whether the publisher (library version) changed.
    pub publisher_changed: bool,
    /// Published files whose content changed.
    pub outputs_changed: Vec<String>,
}

/// The run that produced a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// RFC 3339 start time (UTC).
    pub started_at: String,
    /// RFC 3339 time (UTC) the files were written, just before the manifest.
    pub finished_at: String,
}

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

/// The directory of a period under an output root: `charts/month=YYYY-MM`.
pub fn period_location(out: &Location, period: &Period) -> Location {
    out.join(&format!("charts/{}", period.directory_name()))
}

/// Computes the charts and coverage of `period` and publishes them as a new version
/// under `out`, unless the current version has the same inputs.
pub async fn publish(engine: &GoldenMic, period: &Period, out: &Location) -> Result<Publication> {
    let started_at = now();
    engine.check_has_plays(period)?;
    let period_dir = period_location(out, period);
    // Reading the versions first makes a wrong store, bucket or credentials fail
    // before any work.
    let mut versions = read_versions(&period_dir).await?;
    let methodology = engine.methodology().clone();
    let publisher = format!("chart-core {}", env!("CARGO_PKG_VERSION"));
    tracing::info!(%period, "reading the inputs' checksums");
    let inputs = input_records(engine).await?;
    let input_digest = input_digest(period, &methodology, &publisher, &inputs);
    if let Some(current) = versions.last().filter(|v| v.input_digest == input_digest) {
        tracing::info!(%period, version = current.version, "unchanged: the current version has these inputs");
        return read_publication(&period_dir, current.clone(), Outcome::Unchanged).await;
    }

    tracing::info!(%period, kind = period.kind().as_str(), "computing the figures of every period of this kind");
    let engine = &engine.materialize_for_publication(period.kind()).await?;
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
    let hot = engine.chart(ChartKind::Hot, period).await?;
    let new = engine.chart(ChartKind::New, period).await?;
    let coverage = engine.coverage(period).await?;
    let coverage_by_province = engine.coverage_by_province(period).await?;

    let methodology_json = serde_json::to_string(&methodology).expect("methodology serialises");
    let mut files = Vec::new();
    for (name, batch) in TABLE_NAMES
        .into_iter()
        .zip([&hot, &new, &coverage, &coverage_by_province])
    {
        files.extend(encode_table(name, batch, period, &methodology_json)?);
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

    let mut input_rows = InputRows::default();
    for input in &inputs {
        match input.table.as_str() {
            "plays" => input_rows.plays += input.rows,
            "songs" => input_rows.songs += input.rows,
            _ => input_rows.venues += input.rows,
        }
    }
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: 0,
        period_kind: period.kind(),
        period: period.to_string(),
        first_day: period.first_day().to_string(),
        last_day: period.last_day().to_string(),
        methodology,
        publisher,
        input_digest,
        inputs,
        input_rows,
        data_quality,
        directory,
        outputs,
        changes: None,
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
    loop {
        let previous = versions.last();
        manifest.version = previous.map_or(1, |p| p.version + 1);
        manifest.changes = previous.map(|p| changes(p, &manifest));
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        tracing::info!(version = manifest.version, "writing the manifest");
        if period_dir
            .create(&version_file(manifest.version), Bytes::from(json))
            .await?
        {
            return Ok(publication(Outcome::Published, manifest));
        }
        // Another publisher wrote this version first: publish after it, unless it
        // published these very inputs.
        versions = read_versions(&period_dir).await?;
        if let Some(current) = versions
            .last()
            .filter(|v| v.input_digest == manifest.input_digest)
        {
            tracing::info!(
                version = current.version,
                "published concurrently by another run"
            );
            return Ok(publication(Outcome::Unchanged, current.clone()));
        }
    }
}

/// Every version of a period, oldest first (empty when it was never published).
pub async fn history(out: &Location, period: &Period) -> Result<Vec<Manifest>> {
    read_versions(&period_location(out, period)).await
}

/// A version of a period (the current one when `version` is `None`), checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The version's manifest.
    pub manifest: Manifest,
    /// The version's data directory.
    pub directory: Location,
    /// Bytes read and checked.
    pub bytes: u64,
}

/// Re-reads every file of a published version and checks its size and SHA-256
/// against the manifest. Fails with [`ChartError::Corrupt`] naming the first file
/// that differs (and how many do), or [`ChartError::NotPublished`].
pub async fn verify(out: &Location, period: &Period, version: Option<u32>) -> Result<Verified> {
    let period_dir = period_location(out, period);
    let versions = read_versions(&period_dir).await?;
    let manifest = match version {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.version == n),
    }
    .cloned()
    .ok_or_else(|| ChartError::NotPublished {
        period: period.to_string(),
        out: out.to_string(),
        detail: version
            .map(|n| format!(" as version {n}"))
            .unwrap_or_default(),
    })?;
    let directory = period_dir.join(&manifest.directory);
    let checks: Vec<Option<ChartError>> = stream::iter(manifest.outputs.iter())
        .map(|file| {
            let directory = &directory;
            async move {
                let name = directory.join(&file.path).to_string();
                let problem = match directory.read(&file.path).await? {
                    None => Some("missing".to_string()),
                    Some(bytes) if bytes.len() as u64 != file.bytes => Some(format!(
                        "{} bytes, the manifest says {}",
                        bytes.len(),
                        file.bytes
                    )),
                    Some(bytes) => {
                        let sha256 = hex(&Sha256::digest(&bytes));
                        (sha256 != file.sha256)
                            .then(|| format!("SHA-256 {sha256}, the manifest says {}", file.sha256))
                    }
                };
                Ok::<_, ChartError>(problem.map(|problem| ChartError::Corrupt {
                    file: name,
                    problem,
                }))
            }
        })
        .buffered(TRANSFERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut problems = checks.into_iter().flatten();
    if let Some(first) = problems.next() {
        let more = problems.count();
        return Err(match (first, more) {
            (first, 0) => first,
            (ChartError::Corrupt { file, problem }, more) => ChartError::Corrupt {
                file,
                problem: format!("{problem} (and {more} more files differ)"),
            },
            (other, _) => other,
        });
    }
    Ok(Verified {
        bytes: manifest.outputs.iter().map(|f| f.bytes).sum(),
        manifest,
        directory,
    })
}

/// `versions/000042.json`.
fn version_file(version: u32) -> String {
    format!("versions/{version:06}.json")
}

/// The manifests under `period_dir/versions/`, by version.
async fn read_versions(period_dir: &Location) -> Result<Vec<Manifest>> {
    let dir = period_dir.join("versions");
    let mut numbered = BTreeMap::new();
    for object in dir.list().await? {
        let Some(name) = dir.relative(&object.location) else {
            continue;
        };
        let Some(number) = name
            .strip_suffix(".json")
            .filter(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let number = number.parse::<u32>().expect("six digits");
        numbered.insert(number, name);
    }
    stream::iter(numbered)
        .map(|(number, name)| {
            let dir = &dir;
            async move {
                let file = dir.join(&name).to_string();
                let bytes = dir.read(&name).await?.ok_or_else(|| ChartError::Corrupt {
                    file: file.clone(),
                    problem: "listed but gone".to_string(),
                })?;
                let manifest: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| ChartError::Corrupt {
                        file: file.clone(),
                        problem: format!("not a manifest: {e}"),
                    })?;
                if manifest.version != number {
                    return Err(ChartError::Corrupt {
                        file,
                        problem: format!("holds version {}", manifest.version),
                    });
                }
                Ok(manifest)
            }
        })
        .buffered(TRANSFERS_IN_FLIGHT)
        .try_collect()
        .await
}

/// The inputs of the engine's data root with their checksums (none for in-memory data).
async fn input_records(engine: &GoldenMic) -> Result<Vec<InputRecord>> {
    let Some(data) = engine.data() else {
        return Ok(Vec::new());
    };
    let checksums = data.checksums().await?;
    Ok(data
        .files()
        .iter()
        .zip(checksums)
        .map(|(file, sha256)| InputRecord {
            table: file.table.to_string(),
            path: file.path.clone(),
            rows: file.rows,
            bytes: file.bytes,
            sha256,
        })
        .collect())
}

/// SHA-256 over everything that determines a publication's content.
fn input_digest(
    period: &Period,
    methodology: &Methodology,
    publisher: &str,
    inputs: &[InputRecord],
) -> String {
    let mut hasher = Sha256::new();
    let identity = serde_json::json!({
        "period_kind": period.kind().as_str(),
        "period": period.to_string(),
        "methodology": methodology,
        "publisher": publisher,
    });
    hasher.update(identity.to_string().as_bytes());
    for input in inputs {
        hasher.update(
            format!(
                "\n{}\t{}\t{}\t{}",
                input.table, input.path, input.bytes, input.sha256
            )
            .as_bytes(),
        );
    }
    hex(&hasher.finalize())
}

/// SHA-256 over the outputs' names and checksums.
fn outputs_digest(outputs: &[OutputFile]) -> String {
    let mut hasher = Sha256::new();
    for file in outputs {
        hasher.update(format!("{}\t{}\n", file.path, file.sha256).as_bytes());
    }
    hex(&hasher.finalize())
}

fn changes(previous: &Manifest, next: &Manifest) -> Changes {
    let before: BTreeMap<&str, &str> = previous
        .inputs
        .iter()
        .map(|i| (i.path.as_str(), i.sha256.as_str()))
        .collect();
    let after: BTreeMap<&str, &str> = next
        .inputs
        .iter()
        .map(|i| (i.path.as_str(), i.sha256.as_str()))
        .collect();
    let outputs_before: BTreeMap<&str, &str> = previous
        .outputs
        .iter()
        .map(|o| (o.path.as_str(), o.sha256.as_str()))
        .collect();
    Changes {
        previous_version: previous.version,
        inputs_added: after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        inputs_removed: before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        inputs_modified: after
            .iter()
            .filter(|(p, sha)| before.get(*p).is_some_and(|b| b != *sha))
            .map(|(p, _)| p.to_string())
            .collect(),
        previous_input_rows: previous.input_rows.clone(),
        methodology_changed: previous.methodology != next.methodology,
        publisher_changed: previous.publisher != next.publisher,
        outputs_changed: next
            .outputs
            .iter()
            .filter(|o| outputs_before.get(o.path.as_str()) != Some(&o.sha256.as_str()))
            .map(|o| o.path.clone())
            .collect(),
    }
}

/// A published version with its charts read back from its Parquet files.
async fn read_publication(
    period_dir: &Location,
    manifest: Manifest,
    outcome: Outcome,
) -> Result<Publication> {
    let directory = period_dir.join(&manifest.directory);
    let tables: Vec<RecordBatch> = stream::iter(TABLE_NAMES)
        .map(|name| {
            let directory = &directory;
            async move {
                let file = format!("{name}.parquet");
                let path = directory.join(&file).to_string();
                let bytes = directory
                    .read(&file)
                    .await?
                    .ok_or_else(|| ChartError::Corrupt {
                        file: path.clone(),
                        problem: "missing".to_string(),
                    })?;
                read_parquet(bytes).map_err(|problem| ChartError::Corrupt {
                    file: path,
                    problem,
                })
            }
        })
        .buffered(TRANSFERS_IN_FLIGHT)
        .try_collect()
        .await?;
    let [hot, new, coverage, coverage_by_province] =
        <[RecordBatch; 4]>::try_from(tables).expect("four tables");
    Ok(Publication {
        outcome,
        directory,
        hot,
        new,
        coverage,
        coverage_by_province,
        manifest,
    })
}

fn read_parquet(bytes: Bytes) -> std::result::Result<RecordBatch, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A table in the three formats, with their manifest records.
fn encode_table(
    name: &str,
    batch: &RecordBatch,
    period: &Period,
    methodology_json: &str,
) -> Result<Vec<(OutputFile, Bytes)>> {
    let dir = Path::new("");
    let files = [
        (
            format!("{name}.parquet"),
            parquet_bytes(dir, name, batch, period, methodology_json)?,
        ),
        (format!("{name}.csv"), csv_bytes(dir, name, batch)?),
        (
            format!("{name}.json"),
            json_bytes(dir, name, batch, period, methodology_json)?,
        ),
    ];
    Ok(files
        .into_iter()
        .map(|(path, bytes)| {
            let file = OutputFile {
                path,
                rows: batch.num_rows(),
                bytes: bytes.len() as u64,
                sha256: hex(&Sha256::digest(&bytes)),
            };
            (file, Bytes::from(bytes))
        })
        .collect())
}

fn encode_error(path: &Path) -> impl FnOnce(String) -> ChartError + '_ {
    move |reason| ChartError::Encode {
        path: PathBuf::from(path),
        reason,
    }
}

fn parquet_bytes(
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    period: &Period,
    methodology_json: &str,
) -> Result<Vec<u8>> {
    let path = dir.join(format!("{name}.parquet"));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("golden_mic.period".into(), period.to_string()),
            KeyValue::new(
                "golden_mic.methodology".into(),
                methodology_json.to_string(),
            ),
        ]))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))
        .map_err(|e| encode_error(&path)(e.to_string()))?;
    writer
        .write(batch)
        .map_err(|e| encode_error(&path)(e.to_string()))?;
    writer
        .close()
        .map_err(|e| encode_error(&path)(e.to_string()))?;
    Ok(bytes)
}

fn csv_bytes(dir: &Path, name: &str, batch: &RecordBatch) -> Result<Vec<u8>> {
    let path = dir.join(format!("{name}.csv"));
    let mut bytes = Vec::new();
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut bytes);
    writer
        .write(batch)
        .map_err(|e| encode_error(&path)(e.to_string()))?;
    drop(writer);
    Ok(bytes)
}

/// `{"period": ..., "methodology": {...}, "rows": [{...}, ...]}` with explicit nulls.
fn json_bytes(
    dir: &Path,
    name: &str,
    batch: &RecordBatch,
    period: &Period,
    methodology_json: &str,
) -> Result<Vec<u8>> {
    let path = dir.join(format!("{name}.json"));
    let mut rows = Vec::new();
    {
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::JsonArray>(&mut rows);
        writer
            .write(batch)
            .map_err(|e| encode_error(&path)(e.to_string()))?;
        writer
            .finish()
            .map_err(|e| encode_error(&path)(e.to_string()))?;
    }
    if rows.is_empty() {
        rows.extend_from_slice(b"[]");
    }
    let mut bytes = format!(
        "{{\"table\":\"{name}\",\"period_kind\":\"{}\",\"period\":\"{period}\",\"methodology\":{methodology_json},\"rows\":",
        period.kind().as_str()
    )
    .into_bytes();
    bytes.extend_from_slice(&rows);
    bytes.extend_from_slice(b"}\n");
    Ok(bytes)
}
