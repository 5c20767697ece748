//! The bytes of the log: frames, and the two records they carry.
//!
//! A frame is `[payload length: u32 LE][xxh64 of payload: u64 LE][payload]`. A crash can
//! leave the last frame of the active segment torn (short, or its checksum wrong): a
//! reader stops there, and those bytes were never acknowledged.
//!
//! Payloads start with a kind byte: [`BatchRecord`] (a vendor's batch, in a segment)
//! or [`KeyRecord`] / landed watermark (in `keys.log`). Strings are `u32` length +
//! UTF-8; integers little-endian.

use twox_hash::XxHash64;

use crate::event::{PlayEvent, Rejection};

const FRAME_HEADER: usize = 12;
const KIND_BATCH: u8 = 1;
const KIND_KEY: u8 = 2;
const KIND_LANDED: u8 = 3;

/// One accepted request: its idempotency entry, the plays it lands and its rejected
/// lines with their raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// The batch's idempotency entry (vendor, key, body hash, reply).
    pub key: KeyRecord,
    /// The accepted plays.
    pub events: Vec<PlayEvent>,
    /// The raw bytes of each rejected line, in the order of `key.rejections`.
    pub raw_rejects: Vec<Vec<u8>>,
}

/// What answers a retry of a batch: who sent it, under which key, the hash of its
/// body and its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The authenticated vendor.
    pub vendor: String,
    /// The `Idempotency-Key`.
    pub key: String,
    /// SHA-256 of the decompressed body.
    pub body_sha256: [u8; 32],
    /// When the batch was received, epoch ms.
    pub received_at_ms: i64,
    /// Plays accepted.
    pub accepted: u32,
    /// Lines rejected, with their reasons.
    pub rejections: Vec<Rejection>,
}

/// A decoded payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A batch (segments).
    Batch(BatchRecord),
    /// A key whose batch has landed (`keys.log`).
    Key(KeyRecord),
    /// Every segment up to this sequence number has landed (`keys.log`).
    Landed(u64),
}

/// Appends `record` as one frame to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    match record {
        Record::Batch(batch) => {
            out.push(KIND_BATCH);
            put_key(out, &batch.key);
            put_u32(out, batch.events.len());
            for e in &batch.events {
                for s in [&e.event_id, &e.venue_id, &e.room_id, &e.song_id] {
                    put_str(out, s.as_bytes());
                }
                out.extend_from_slice(&e.started_at_ms.to_le_bytes());
                out.extend_from_slice(&e.played_ms.to_le_bytes());
            }
            put_u32(out, batch.raw_rejects.len());
            for raw in &batch.raw_rejects {
                put_str(out, raw);
            }
        }
        Record::Key(key) => {
            out.push(KIND_KEY);
            put_key(out, key);
        }
        Record::Landed(seq) => {
            out.push(KIND_LANDED);
            out.extend_from_slice(&seq.to_le_bytes());
        }
    }
    let payload_len = out.len() - start - FRAME_HEADER;
    let checksum = XxHash64::oneshot(0, &out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    out[start + 4..start + FRAME_HEADER].copy_from_slice(&checksum.to_le_bytes());
}

/// The frames of `bytes` in order, and the offset where whole frames end (`bytes.len()`
/// unless the tail is torn or corrupt).
pub fn decode_all(bytes: &[u8]) -> (Vec<Record>, usize, Option<String>) {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match decode_frame(&bytes[at..]) {
            Ok((record, used)) => {
                records.push(record);
                at += used;
            }
            Err(problem) => return (records, at, Some(problem)),
        }
    }
    (records, at, None)
}

fn decode_frame(bytes: &[u8]) -> Result<(Record, usize), String> {
    if bytes.len() < FRAME_HEADER {
        return Err(format!("{} bytes, less than a frame header", bytes.len()));
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let checksum = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let payload = bytes
        .get(FRAME_HEADER..FRAME_HEADER + len)
        .ok_or_else(|| format!("a frame of {len} bytes is cut short"))?;
    if XxHash64::oneshot(0, payload) != checksum {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader { bytes: payload };
    let record = match r.u8()? {
        KIND_BATCH => {
            let key = r.key()?;
            let n = r.u32()? as usize;
            let mut events = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                events.push(PlayEvent {
                    event_id: r.string()?,
                    venue_id: r.string()?,
                    room_id: r.string()?,
                    song_id: r.string()?,
                    started_at_ms: i64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")),
                    played_ms: i32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes")),
                });
            }
            let n = r.u32()? as usize;
            let mut raw_rejects = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                raw_rejects.push(r.bytes()?.to_vec());
            }
            Record::Batch(BatchRecord {
                key,
                events,
                raw_rejects,
            })
        }
        KIND_KEY => Record::Key(r.key()?),
        KIND_LANDED => Record::Landed(u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"))),
        other => return Err(format!("unknown record kind {other}")),
    };
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the record", r.bytes.len()));
    }
    Ok((record, FRAME_HEADER + len))
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, s.len());
    out.extend_from_slice(s);
}

fn put_key(out: &mut Vec<u8>, key: &KeyRecord) {
    put_str(out, key.vendor.as_bytes());
    put_str(out, key.key.as_bytes());
    out.extend_from_slice(&key.body_sha256);
    out.extend_from_slice(&key.received_at_ms.to_le_bytes());
    out.extend_from_slice(&key.accepted.to_le_bytes());
    put_u32(out, key.rejections.len());
    for r in &key.rejections {
        out.extend_from_slice(&r.line.to_le_bytes());
        put_str(out, r.field.as_bytes());
        put_str(out, r.reason.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("a record is cut short".into());
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    fn key(&mut self) -> Result<KeyRecord, String> {
        let vendor = self.string()?;
        let key = self.string()?;
        let body_sha256 = self.take(32)?.try_into().expect("32 bytes");
        let received_at_ms = i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
        let accepted = self.u32()?;
        let n = self.u32()? as usize;
        let mut rejections = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            rejections.push(Rejection {
                line: self.u32()?,
                field: self.string()?,
                reason: self.string()?,
            });
        }
        Ok(KeyRecord {
            vendor,
            key,
            body_sha256,
            received_at_ms,
            accepted,
            rejections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Record {
        Record::Batch(BatchRecord {
            key: KeyRecord {
                vendor: "雷石".into(),
                key: "b-1".into(),
                body_sha256: [7; 32],
                received_at_ms: 1_732_976_100_000,
                accepted: 1,
                rejections: vec![Rejection {
                    line: 2,
                    field: "played_ms".into(),
                    reason: "missing".into(),
                }],
            },
            events: vec![PlayEvent {
                event_id: "e1".into(),
                venue_id: "V1".into(),
                room_id: "R1".into(),
                song_id: "S1".into(),
                started_at_ms: -5,
                played_ms: 180_000,
            }],
            raw_rejects: vec![b"{\"event_id\":\"e2\"}".to_vec()],
        })
    }

    #[test]
    fn records_round_trip() {
        let records = [batch(), Record::Landed(42), Record::Landed(u64::MAX)];
        let mut bytes = Vec::new();
        for r in &records {
            encode(r, &mut bytes);
        }
        let (decoded, end, problem) = decode_all(&bytes);
        assert_eq!(decoded, records);
        assert_eq!((end, problem), (bytes.len(), None));
    }

    #[test]
    fn a_torn_or_flipped_tail_stops_the_reader_at_the_last_whole_frame() {
        let mut bytes = Vec::new();
        encode(&batch(), &mut bytes);
        let whole = bytes.len();
        encode(&batch(), &mut bytes);
        for cut in whole..bytes.len() {
            let (decoded, end, problem) = decode_all(&bytes[..cut]);
            assert_eq!((decoded.len(), end), (1, whole), "cut at {cut}");
            assert_eq!(problem.is_some(), cut > whole);
        }
        let mut flipped = bytes.clone();
        flipped[whole + 20] ^= 1;
        let (decoded, end, problem) = decode_all(&flipped);
        assert_eq!((decoded.len(), end), (1, whole));
        assert_eq!(problem.as_deref(), Some("checksum mismatch"));
    }
}
