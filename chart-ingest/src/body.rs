//! A request body: decompressed within limits, then split into events and rejects.
//!
//! Bodies are NDJSON (one event per line; blank lines are skipped and not counted) or,
//! with `Content-Type: application/vnd.apache.arrow.stream`, an Arrow IPC stream whose
//! columns are the contract's. Either may be sent with `Content-Encoding: gzip` or
//! `zstd`.

use std::io::Read;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit};
use arrow::ipc::reader::StreamReader;

use crate::event::{PlayEvent, Rejection, Window, check_event, parse_line};
use crate::vendors::Vendor;

/// How a body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// How a body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// An Arrow IPC stream.
    ArrowStream,
}

/// Why a body as a whole was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Decompressed, the body passes the size limit or the ratio limit.
    TooLarge(String),
    /// The compressed stream or the Arrow stream is not readable.
    Unreadable(String),
}

/// A body's events and rejects.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The accepted events, in body order.
    pub events: Vec<PlayEvent>,
    /// Each rejected line with its raw bytes (kept in quarantine).
    pub rejects: Vec<(Rejection, Vec<u8>)>,
}

/// Decompresses `body`, refusing more than `max_bytes` or more than `max_ratio` times
/// the compressed size (a compression bomb).
pub fn decompress(
    body: &[u8],
    encoding: Encoding,
    max_bytes: usize,
    max_ratio: usize,
) -> Result<Vec<u8>, BodyError> {
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Identity => return Ok(body.to_vec()),
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Encoding::Zstd => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| BodyError::Unreadable(format!("zstd: {e}")))?,
        ),
    };
    let limit = max_bytes.min(body.len().saturating_mul(max_ratio).max(4096));
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Unreadable(format!("{encoding:?} body: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge(format!(
            "the body decompresses past {limit} bytes (limits: {max_bytes} bytes, {max_ratio}× the compressed {} bytes)",
            body.len()
        )));
    }
    Ok(out)
}

/// Splits a decompressed body into checked events and rejects.
pub fn parse(
    body: &[u8],
    format: Format,
    vendor: &Vendor,
    window: Window,
) -> Result<Parsed, BodyError> {
    match format {
        Format::Ndjson => Ok(parse_ndjson(body, vendor, window)),
        Format::ArrowStream => parse_arrow(body, vendor, window),
    }
}

fn parse_ndjson(body: &[u8], vendor: &Vendor, window: Window) -> Parsed {
    let mut parsed = Parsed::default();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        match parse_line(number, line, vendor, window) {
            Ok(event) => parsed.events.push(event),
            Err(rejection) => parsed.rejects.push((rejection, line.to_vec())),
        }
    }
    parsed
}

fn parse_arrow(body: &[u8], vendor: &Vendor, window: Window) -> Result<Parsed, BodyError> {
    let unreadable =
        |e: arrow::error::ArrowError| BodyError::Unreadable(format!("Arrow IPC stream: {e}"));
    let reader = StreamReader::try_new(body, None).map_err(unreadable)?;
    let mut parsed = Parsed::default();
    let mut row_number = 0u32;
    for batch in reader {
        let batch = batch.map_err(unreadable)?;
        let columns = Columns::of(&batch)?;
        for row in 0..batch.num_rows() {
            row_number = row_number.saturating_add(1);
            let reject = |field: &str, reason: String| {
                (
                    Rejection {
                        line: row_number,
                        field: field.to_string(),
                        reason,
                    },
                    columns.describe(row).into_bytes(),
                )
            };
            match columns.event(row, &vendor.name) {
                Err((field, reason)) => parsed.rejects.push(reject(field, reason)),
                Ok(event) => match check_event(&event, vendor, window) {
                    Ok(()) => parsed.events.push(event),
                    Err((field, reason)) => parsed.rejects.push(reject(field, reason)),
                },
            }
        }
    }
    Ok(parsed)
}

/// The contract's columns of one Arrow batch.
struct Columns<'a> {
    ids: [&'a dyn Array; 4],
    started_at: &'a dyn Array,
    played_ms: &'a dyn Array,
    vod_vendor: Option<&'a dyn Array>,
}

const ID_COLUMNS: [&str; 4] = ["event_id", "venue_id", "room_id", "song_id"];

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, BodyError> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| c.as_ref())
                .ok_or_else(|| {
                    BodyError::Unreadable(format!("Arrow IPC stream: missing column `{name}`"))
                })
        };
        let mut ids: [&dyn Array; 4] = [batch.column(0).as_ref(); 4];
        for (slot, name) in ids.iter_mut().zip(ID_COLUMNS) {
            *slot = column(name)?;
            check_type(
                name,
                slot.data_type(),
                matches!(
                    slot.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ),
                "Utf8",
            )?;
        }
        let started_at = column("started_at")?;
        check_type(
            "started_at",
            started_at.data_type(),
            matches!(started_at.data_type(), DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if tz.as_ref() == "UTC")
                || matches!(started_at.data_type(), DataType::Int64),
            "Timestamp(ms, UTC) or Int64 epoch milliseconds",
        )?;
        let played_ms = column("played_ms")?;
        check_type(
            "played_ms",
            played_ms.data_type(),
            matches!(played_ms.data_type(), DataType::Int32 | DataType::Int64),
            "Int32",
        )?;
        let vod_vendor = batch.column_by_name("vod_vendor").map(|c| c.as_ref());
        if let Some(v) = vod_vendor {
            check_type(
                "vod_vendor",
                v.data_type(),
                matches!(
                    v.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ),
                "Utf8",
            )?;
        }
        Ok(Columns {
            ids,
            started_at,
            played_ms,
            vod_vendor,
        })
    }

    fn event(&self, row: usize, vendor: &str) -> Result<PlayEvent, (&'static str, String)> {
        let mut ids: [String; 4] = Default::default();
        for ((slot, column), name) in ids.iter_mut().zip(self.ids).zip(ID_COLUMNS) {
            *slot = string(column, row).ok_or((name, "missing".to_string()))?;
        }
        if self.started_at.is_null(row) {
            return Err(("started_at", "missing".into()));
        }
        let started_at_ms = match self.started_at.data_type() {
            DataType::Int64 => self.started_at.as_primitive::<Int64Type>().value(row),
            _ => self
                .started_at
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .value(row),
        };
        if self.played_ms.is_null(row) {
            return Err(("played_ms", "missing".into()));
        }
        let played_ms = match self.played_ms.data_type() {
            DataType::Int32 => i64::from(self.played_ms.as_primitive::<Int32Type>().value(row)),
            _ => self.played_ms.as_primitive::<Int64Type>().value(row),
        };
        let played_ms = i32::try_from(played_ms)
            .map_err(|_| ("played_ms", format!("{played_ms} is not in 0..=86400000")))?;
        if let Some(sent) = self.vod_vendor.and_then(|c| string(c, row))
            && sent != vendor
        {
            return Err((
                "vod_vendor",
                format!("`{sent}` is not the authenticated vendor `{vendor}`"),
            ));
        }
        let [event_id, venue_id, room_id, song_id] = ids;
        Ok(PlayEvent {
            event_id,
            venue_id,
            room_id,
            song_id,
            started_at_ms,
            played_ms,
        })
    }

    /// The row as one JSON-like line, for the quarantine.
    fn describe(&self, row: usize) -> String {
        let mut fields: Vec<String> = ID_COLUMNS
            .iter()
            .zip(self.ids)
            .map(|(name, c)| format!("{name}={:?}", string(c, row)))
            .collect();
        let display = |c: &dyn Array| {
            arrow::util::display::ArrayFormatter::try_new(c, &Default::default())
                .map(|f| f.value(row).to_string())
                .unwrap_or_default()
        };
        fields.push(format!("started_at={}", display(self.started_at)));
        fields.push(format!("played_ms={}", display(self.played_ms)));
        fields.join(" ")
    }
}

fn check_type(name: &str, found: &DataType, ok: bool, expected: &str) -> Result<(), BodyError> {
    if ok {
        Ok(())
    } else {
        Err(BodyError::Unreadable(format!(
            "Arrow IPC stream: column `{name}` has type {found}, expected {expected}"
        )))
    }
}

fn string(column: &dyn Array, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    Some(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row).to_string(),
        _ => column.as_string_view().value(row).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_compression_bomb_is_refused() {
        let zeros = vec![b' '; 10 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let bomb = gz.finish().unwrap();
        let err = decompress(&bomb, Encoding::Gzip, 64 << 20, 100).unwrap_err();
        assert!(
            matches!(err, BodyError::TooLarge(ref m) if m.contains("decompresses past")),
            "{err:?}"
        );
        let err = decompress(&bomb, Encoding::Gzip, 1 << 20, 100_000).unwrap_err();
        assert!(matches!(err, BodyError::TooLarge(_)));
        let small = zstd::encode_all(&b"hello\n"[..], 3).unwrap();
        assert_eq!(
            decompress(&small, Encoding::Zstd, 1 << 20, 100).unwrap(),
            b"hello\n"
        );
        assert!(matches!(
            decompress(b"not gzip", Encoding::Gzip, 1 << 20, 100),
            Err(BodyError::Unreadable(_))
        ));
    }
}
