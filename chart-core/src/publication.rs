//! Publication of a period: the charts and coverage as Parquet, CSV and JSON plus a
//! manifest, written to a temporary directory and moved into place only when
//! complete, so that a failed run leaves no half-written period behind.
//!
//! Layout: `OUT/charts/month=YYYY-MM/` (or `year=YYYY/`) holding `hot`, `new`,
//! `coverage` and `coverage_by_province`, each as `.parquet`, `.csv` and `.json`,
//! and `manifest.json`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::charts::{ChartKind, DataQuality, GoldenMic};
use crate::error::{ChartError, Result};
use crate::methodology::{Methodology, Period, PeriodKind};
use crate::tables::InputFile;

/// A published file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputFile {
    /// File name inside the period directory.
    pub path: String,
    /// Data rows.
    pub rows: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// `manifest.json`: what was published, from what, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
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
    /// Every input file with its row count.
    pub inputs: Vec<InputFile>,
    /// Rows per input table.
    pub input_rows: InputRows,
    /// What became of the period's play rows.
    pub data_quality: DataQuality,
    /// The published files, with sizes and checksums.
    pub outputs: Vec<OutputFile>,
    /// When and by what the period was published.
    pub run: RunRecord,
}

/// Rows per input table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputRows {
    /// Rows in `plays` (all partitions).
    pub plays: i64,
    /// Rows in `songs`.
    pub songs: i64,
    /// Rows in `venues`.
    pub venues: i64,
}

/// The run that produced a publication.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// RFC 3339 start time (UTC).
    pub started_at: String,
    /// RFC 3339 end time (UTC).
    pub finished_at: String,
    /// The publishing library and its version.
    pub publisher: String,
}

/// The results of [`publish`].
#[derive(Debug, Clone)]
pub struct Publication {
    /// The period directory that was written.
    pub directory: PathBuf,
    /// The hot-song chart.
    pub hot: RecordBatch,
    /// The new-song chart.
    pub new: RecordBatch,
    /// National coverage (one row).
    pub coverage: RecordBatch,
    /// Coverage per province.
    pub coverage_by_province: RecordBatch,
    /// The manifest written with them.
    pub manifest: Manifest,
}

/// Computes and publishes the charts and coverage of `period` under `out/charts/`.
pub async fn publish(engine: &GoldenMic, period: &Period, out: &Path) -> Result<Publication> {
    let started_at = now();
    engine.check_has_plays(period)?;
    tracing::info!(%period, "computing the per-room figures and the charts of every period");
    engine.materialize().await?;
    tracing::info!(%period, "computing data quality");
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
    tracing::info!(%period, "computing charts");
    let hot = engine.chart(ChartKind::Hot, period).await?;
    let new = engine.chart(ChartKind::New, period).await?;
    tracing::info!(%period, "computing coverage");
    let coverage = engine.coverage(period).await?;
    let coverage_by_province = engine.coverage_by_province(period).await?;

    let methodology = engine.methodology().clone();
    let inputs = engine
        .data()
        .map(|data| data.files().to_vec())
        .unwrap_or_default();
    let mut input_rows = InputRows::default();
    for f in &inputs {
        match f.table {
            "plays" => input_rows.plays += f.rows,
            "songs" => input_rows.songs += f.rows,
            _ => input_rows.venues += f.rows,
        }
    }

    let charts_dir = out.join("charts");
    fs::create_dir_all(&charts_dir).map_err(output_error(&charts_dir))?;
    let final_dir = charts_dir.join(period.directory_name());
    tracing::info!(directory = %final_dir.display(), "writing");
    let staging = charts_dir.join(format!(
        ".{}.staging-{}",
        period.directory_name(),
        std::process::id()
    ));
    let written = write_all(
        &staging,
        period,
        &methodology,
        [
            ("hot", &hot),
            ("new", &new),
            ("coverage", &coverage),
            ("coverage_by_province", &coverage_by_province),
        ],
    )
    .and_then(|outputs| {
        let manifest = Manifest {
            period_kind: period.kind(),
            period: period.to_string(),
            first_day: period.first_day().to_string(),
            last_day: period.last_day().to_string(),
            methodology,
            inputs,
            input_rows,
            data_quality,
            outputs,
            run: RunRecord {
                started_at,
                finished_at: now(),
                publisher: format!("chart-core {}", env!("CARGO_PKG_VERSION")),
            },
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        write_file(&staging.join("manifest.json"), &json)?;
        replace_dir(&staging, &final_dir)?;
        Ok(manifest)
    });
    match written {
        Ok(manifest) => Ok(Publication {
            directory: final_dir,
            hot,
            new,
            coverage,
            coverage_by_province,
            manifest,
        }),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> ChartError + '_ {
    move |source| ChartError::Output {
        path: path.to_path_buf(),
        source,
    }
}

fn encode_error(path: &Path) -> impl FnOnce(String) -> ChartError + '_ {
    move |reason| ChartError::Encode {
        path: path.to_path_buf(),
        reason,
    }
}

/// Writes every table in the three formats into a fresh `dir`.
fn write_all(
    dir: &Path,
    period: &Period,
    methodology: &Methodology,
    tables: [(&str, &RecordBatch); 4],
) -> Result<Vec<OutputFile>> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(output_error(dir))?;
    }
    fs::create_dir_all(dir).map_err(output_error(dir))?;
    let methodology_json = serde_json::to_string(methodology).expect("methodology serialises");
    let mut outputs = Vec::new();
    for (name, batch) in tables {
        let files = [
            (
                format!("{name}.parquet"),
                parquet_bytes(dir, name, batch, period, &methodology_json)?,
            ),
            (format!("{name}.csv"), csv_bytes(dir, name, batch)?),
            (
                format!("{name}.json"),
                json_bytes(dir, name, batch, period, &methodology_json)?,
            ),
        ];
        for (file_name, bytes) in files {
            write_file(&dir.join(&file_name), &bytes)?;
            outputs.push(OutputFile {
                path: file_name,
                rows: batch.num_rows(),
                bytes: bytes.len() as u64,
                sha256: hex(&Sha256::digest(&bytes)),
            });
        }
    }
    Ok(outputs)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(output_error(path))?;
    file.write_all(bytes).map_err(output_error(path))?;
    file.sync_all().map_err(output_error(path))
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

/// Moves `staging` to `target`, replacing a previous publication of the period.
fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let retired = target.with_file_name(format!(".{name}.retired-{}", std::process::id()));
        let _ = fs::remove_dir_all(&retired);
        fs::rename(target, &retired).map_err(output_error(target))?;
        fs::rename(staging, target).map_err(output_error(target))?;
        let _ = fs::remove_dir_all(&retired);
    } else {
        fs::rename(staging, target).map_err(output_error(target))?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
