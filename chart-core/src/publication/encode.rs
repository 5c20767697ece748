//! The published files: each table as Parquet, CSV and JSON, with the methodology.

use arrow::array::RecordBatch;
use bytes::Bytes;
use std::path::{Path, PathBuf};

use super::*;
use crate::contract::hex;
use crate::error::{ChartError, Result};
use crate::methodology::Period;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

/// A table in the three formats, with their manifest records.
pub(super) fn encode_table(
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

fn encode_error<E>(path: &Path) -> impl FnOnce(E) -> ChartError + '_
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| ChartError::Encode {
        path: PathBuf::from(path),
        source: Box::new(source),
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
        .map_err(encode_error(&path))?;
    writer.write(batch).map_err(encode_error(&path))?;
    writer.close().map_err(encode_error(&path))?;
    Ok(bytes)
}

fn csv_bytes(dir: &Path, name: &str, batch: &RecordBatch) -> Result<Vec<u8>> {
    let path = dir.join(format!("{name}.csv"));
    let mut bytes = Vec::new();
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut bytes);
    writer.write(batch).map_err(encode_error(&path))?;
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
        writer.write(batch).map_err(encode_error(&path))?;
        writer.finish().map_err(encode_error(&path))?;
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
