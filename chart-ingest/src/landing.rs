//! Landing sealed segments in the data root, each exactly once:
//!
//! 1. read the segment's batch records;
//! 2. write its plays as `plays/date=<business day>/ingest-<node>-<segment>.parquet`
//!    (the methodology's time zone and day start), and its rejected lines as
//!    `rejects/date=<day received>/ingest-<node>-<segment>.parquet`, each file
//!    create-only: it appears whole (temp + rename on disk, one PUT on S3), and
//!    "already exists" after a crash means it landed before;
//! 3. append the segment's keys and its number to `keys.log`, synced;
//! 4. delete the segment.
//!
//! A crash between any two steps lands the segment again at start, writing only the
//! files that are missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chart_core::Location;
use chart_core::methodology::functions::business_day_of;
use chrono::NaiveDate;
use chrono_tz::Tz;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{IngestError, Result};
use crate::wal::Sealed;
use crate::wal::record::{self, BatchRecord, KeyRecord, Record};

/// The business day of an instant: the methodology's time zone and day start.
#[derive(Debug, Clone, Copy)]
pub struct BusinessDay {
    /// The time zone.
    pub tz: Tz,
    /// Minutes after local midnight at which a day starts.
    pub day_start_minutes: u32,
}

impl BusinessDay {
    /// The business day of `instant_ms`.
    pub fn of(&self, instant_ms: i64) -> NaiveDate {
        let day_start_ms = i64::from(self.day_start_minutes) * 60_000;
        business_day_of(&self.tz, day_start_ms, instant_ms).unwrap_or_default()
    }
}

/// The schema of landed play files: the contract's columns, `vod_vendor` the
/// authenticated vendor.
pub fn plays_schema() -> SchemaRef {
    chart_core::contract::schema::PLAYS.schema()
}

/// The schema of quarantined lines.
pub fn rejects_schema() -> SchemaRef {
    let utc = Some("UTC".into());
    Arc::new(Schema::new(vec![
        Field::new(
            "received_at",
            DataType::Timestamp(TimeUnit::Millisecond, utc),
            false,
        ),
        Field::new("vod_vendor", DataType::Utf8, false),
        Field::new("idempotency_key", DataType::Utf8, false),
        Field::new("line", DataType::Int32, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
    ]))
}

/// Where and how segments land.
pub struct Lander {
    /// The data root.
    pub root: Location,
    /// This receiver's name in file names.
    pub node: String,
    /// How instants map to days.
    pub days: BusinessDay,
}

/// What one landing wrote.
#[derive(Debug, Default, Clone)]
pub struct Landed {
    /// Play rows in the segment.
    pub plays: u64,
    /// Rejected lines in the segment.
    pub rejects: u64,
    /// Files created now (not found from an earlier attempt).
    pub files_created: u64,
    /// The business days that got plays.
    pub days: Vec<NaiveDate>,
    /// The play files of the segment (created now or before), for the live charts.
    pub play_files: Vec<LandedPlays>,
}

/// A landed play file.
#[derive(Debug, Clone)]
pub struct LandedPlays {
    /// Its path in the data root.
    pub path: String,
    /// Its partition.
    pub day: NaiveDate,
    /// Its plays.
    pub batch: RecordBatch,
}

impl Lander {
    /// Lands one segment's files (steps 1 and 2) and returns its keys for `keys.log`.
    pub async fn land(&self, segment: &Sealed) -> Result<(Landed, Vec<KeyRecord>)> {
        let encoder = Encoder {
            days: self.days,
            name: format!("ingest-{}-{:012}.parquet", self.node, segment.seq),
        };
        let segment = segment.clone();
        let (files, mut landed, keys) =
            tokio::task::spawn_blocking(move || encoder.encode(&segment))
                .await
                .map_err(|e| IngestError::Simulator(format!("encoding a segment: {e}")))??;
        for (path, bytes) in files {
            landed.files_created += u64::from(self.root.create(&path, bytes).await?);
        }
        Ok((landed, keys))
    }
}

/// Encodes a segment's files.
struct Encoder {
    days: BusinessDay,
    name: String,
}

/// A segment's files (data-root path and bytes), counts and keys.
type Encoded = (Vec<(String, Bytes)>, Landed, Vec<KeyRecord>);

impl Encoder {
    fn encode(&self, segment: &Sealed) -> Result<Encoded> {
        let bytes = std::fs::read(&segment.path).map_err(|source| IngestError::Wal {
            path: segment.path.clone(),
            source,
        })?;
        let (records, end, problem) = record::decode_all(&bytes);
        if let Some(problem) = problem {
            return Err(IngestError::CorruptWal {
                path: segment.path.clone(),
                offset: end as u64,
                problem,
            });
        }
        let batches: Vec<BatchRecord> = records
            .into_iter()
            .filter_map(|r| match r {
                Record::Batch(b) => Some(b),
                _ => None,
            })
            .collect();
        let mut landed = Landed::default();
        let mut files = Vec::new();
        for (day, batch) in self.plays_by_day(&batches)? {
            landed.plays += batch.num_rows() as u64;
            landed.days.push(day);
            let path = format!("plays/date={day}/{}", self.name);
            files.push((path.clone(), parquet_file(&path, &batch)?));
            landed.play_files.push(LandedPlays { path, day, batch });
        }
        for (day, batch) in self.rejects_by_day(&batches)? {
            landed.rejects += batch.num_rows() as u64;
            let path = format!("rejects/date={day}/{}", self.name);
            files.push((path.clone(), parquet_file(&path, &batch)?));
        }
        Ok((files, landed, batches.into_iter().map(|b| b.key).collect()))
    }

    fn plays_by_day(&self, batches: &[BatchRecord]) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
        let mut days: BTreeMap<NaiveDate, Vec<(&str, &crate::event::PlayEvent)>> = BTreeMap::new();
        for b in batches {
            for e in &b.events {
                days.entry(self.days.of(e.started_at_ms))
                    .or_default()
                    .push((b.key.vendor.as_str(), e));
            }
        }
        let schema = plays_schema();
        days.into_iter()
            .map(|(day, rows)| {
                let strings = |f: fn(&crate::event::PlayEvent) -> &str| -> ArrayRef {
                    Arc::new(
                        rows.iter()
                            .map(|(_, e)| Some(f(e)))
                            .collect::<StringArray>(),
                    )
                };
                let columns: Vec<ArrayRef> = vec![
                    strings(|e| &e.event_id),
                    strings(|e| &e.venue_id),
                    strings(|e| &e.room_id),
                    strings(|e| &e.song_id),
                    Arc::new(
                        TimestampMillisecondArray::from(
                            rows.iter()
                                .map(|(_, e)| e.started_at_ms)
                                .collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|(_, e)| e.played_ms)
                            .collect::<Int32Array>(),
                    ),
                    Arc::new(rows.iter().map(|(v, _)| Some(*v)).collect::<StringArray>()),
                ];
                Ok((
                    day,
                    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)?,
                ))
            })
            .collect()
    }

    fn rejects_by_day(&self, batches: &[BatchRecord]) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
        let mut days: BTreeMap<NaiveDate, Vec<(&BatchRecord, usize)>> = BTreeMap::new();
        for b in batches {
            for i in 0..b.key.rejections.len() {
                days.entry(self.days.of(b.key.received_at_ms))
                    .or_default()
                    .push((b, i));
            }
        }
        let schema = rejects_schema();
        days.into_iter()
            .map(|(day, rows)| {
                let text = |f: &dyn Fn(&BatchRecord, usize) -> String| -> ArrayRef {
                    Arc::new(
                        rows.iter()
                            .map(|(b, i)| Some(f(b, *i)))
                            .collect::<StringArray>(),
                    )
                };
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(
                        TimestampMillisecondArray::from(
                            rows.iter()
                                .map(|(b, _)| b.key.received_at_ms)
                                .collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    text(&|b, _| b.key.vendor.clone()),
                    text(&|b, _| b.key.key.clone()),
                    Arc::new(
                        rows.iter()
                            .map(|(b, i)| b.key.rejections[*i].line as i32)
                            .collect::<Int32Array>(),
                    ),
                    text(&|b, i| b.key.rejections[i].field.clone()),
                    text(&|b, i| b.key.rejections[i].reason.clone()),
                    text(&|b, i| {
                        String::from_utf8_lossy(b.raw_rejects.get(i).map_or(&[][..], |r| r))
                            .into_owned()
                    }),
                ];
                Ok((
                    day,
                    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)?,
                ))
            })
            .collect()
    }
}

fn arrow_error(e: arrow::error::ArrowError) -> IngestError {
    IngestError::Encode {
        file: "a landed batch".into(),
        source: parquet::errors::ParquetError::ArrowError(e.to_string()),
    }
}

fn parquet_file(path: &str, batch: &RecordBatch) -> Result<Bytes> {
    parquet_bytes(batch)
        .map(Bytes::from)
        .map_err(|source| IngestError::Encode {
            file: path.to_string(),
            source,
        })
}

fn parquet_bytes(
    batch: &RecordBatch,
) -> std::result::Result<Vec<u8>, parquet::errors::ParquetError> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(bytes)
}

/// Deletes a landed segment and syncs its directory.
pub fn delete_segment(segment: &Sealed) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::Wal { path, source }
    };
    std::fs::remove_file(&segment.path).map_err(io(&segment.path))?;
    if let Some(dir) = segment.path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn business_days_start_at_six_in_shanghai() {
        let days = BusinessDay {
            tz: chrono_tz::Asia::Shanghai,
            day_start_minutes: 360,
        };
        // 2024-12-01 05:59:59.999 +08:00 is still the business day of 2024-11-30.
        let before = DateTime::parse_from_rfc3339("2024-12-01T05:59:59.999+08:00").unwrap();
        let at = DateTime::parse_from_rfc3339("2024-12-01T06:00:00+08:00").unwrap();
        assert_eq!(days.of(before.timestamp_millis()).to_string(), "2024-11-30");
        assert_eq!(days.of(at.timestamp_millis()).to_string(), "2024-12-01");
    }
}
