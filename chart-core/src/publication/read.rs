//! Reading published versions back: the current one's tables, and a version checked
//! against its manifest.

use super::*;
use crate::contract::hex;
use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use crate::methodology::Period;
use arrow::array::{RecordBatch, RecordBatchReader};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

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
    verify_of(out, Product::Charts, period, version).await
}

/// [`verify`] for a period of any product.
pub async fn verify_of(
    out: &Location,
    product: Product,
    period: &Period,
    version: Option<u32>,
) -> Result<Verified> {
    let period_dir = product_location(out, product, period);
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

/// A published version with its charts read back from its Parquet files.
pub(super) async fn read_publication(
    period_dir: &Location,
    manifest: Manifest,
    outcome: Outcome,
) -> Result<Publication> {
    let directory = period_dir.join(&manifest.directory);
    let tables = read_tables(&directory, &TABLE_NAMES).await?;
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

/// The tables `names` of a version's data directory, read back from their Parquet files.
pub(super) async fn read_tables(directory: &Location, names: &[&str]) -> Result<Vec<RecordBatch>> {
    stream::iter(names.iter().copied())
        .map(|name| async move {
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
        })
        .buffered(TRANSFERS_IN_FLIGHT)
        .try_collect()
        .await
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
