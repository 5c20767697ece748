//! Exactly once per batch: a retried batch (same vendor and `Idempotency-Key`, within
//! the retry window) is answered from its first reply and lands nothing new; the same
//! key with another body is refused.
//!
//! The keys of batches still in the log come from their records; those of landed
//! batches from `keys.log`, appended by the lander before it deletes a segment and
//! compacted (expired keys dropped) at each start. Both survive a restart.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{IngestError, Result};
use crate::wal::record::{self, KeyRecord, Record};

/// The keys of the retry window, in memory.
pub struct Keys {
    map: Mutex<HashMap<(String, String), Slot>>,
    window_ms: i64,
}

enum Slot {
    /// A request with this key is being written.
    Pending([u8; 32]),
    /// Durable: its reply.
    Done(Arc<KeyRecord>),
}

/// What a request with a key may do.
pub enum Claim<'a> {
    /// The key is new: write the batch, then [`Ticket::complete`] (or drop to release).
    New(Ticket<'a>),
    /// The same batch was accepted before: answer with its reply.
    Replay(Arc<KeyRecord>),
    /// The key was used for another body.
    Mismatch,
    /// A request with this key is in flight.
    InFlight,
}

/// A claimed key; dropping it without [`Ticket::complete`] frees the key.
pub struct Ticket<'a> {
    keys: &'a Keys,
    id: Option<(String, String)>,
}

impl Ticket<'_> {
    /// The batch is durable: later requests with the key get this reply.
    pub fn complete(mut self, reply: KeyRecord) {
        if let Some(id) = self.id.take() {
            self.keys
                .map
                .lock()
                .expect("keys lock")
                .insert(id, Slot::Done(Arc::new(reply)));
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.keys.map.lock().expect("keys lock").remove(&id);
        }
    }
}

impl Keys {
    /// An empty table keeping keys for `window_ms` after their batch was received.
    pub fn new(window_ms: i64) -> Keys {
        Keys {
            map: Mutex::new(HashMap::new()),
            window_ms,
        }
    }

    /// Adds a durable key (from the log or `keys.log`) unless it has expired.
    pub fn insert(&self, key: KeyRecord, now_ms: i64) {
        if key.received_at_ms + self.window_ms >= now_ms {
            self.map.lock().expect("keys lock").insert(
                (key.vendor.clone(), key.key.clone()),
                Slot::Done(Arc::new(key)),
            );
        }
    }

    /// Claims `key` of `vendor` for a body with this hash.
    pub fn claim(&self, vendor: &str, key: &str, body_sha256: [u8; 32]) -> Claim<'_> {
        let id = (vendor.to_string(), key.to_string());
        let mut map = self.map.lock().expect("keys lock");
        match map.get(&id) {
            Some(Slot::Done(reply)) if reply.body_sha256 == body_sha256 => {
                Claim::Replay(reply.clone())
            }
            Some(Slot::Done(_)) => Claim::Mismatch,
            Some(Slot::Pending(hash)) if *hash == body_sha256 => Claim::InFlight,
            Some(Slot::Pending(_)) => Claim::Mismatch,
            None => {
                map.insert(id.clone(), Slot::Pending(body_sha256));
                Claim::New(Ticket {
                    keys: self,
                    id: Some(id),
                })
            }
        }
    }

    /// Drops keys received before `now_ms - window`.
    pub fn expire(&self, now_ms: i64) {
        let window = self.window_ms;
        self.map
            .lock()
            .expect("keys lock")
            .retain(|_, slot| match slot {
                Slot::Pending(_) => true,
                Slot::Done(reply) => reply.received_at_ms + window >= now_ms,
            });
    }

    /// Keys held (for the metrics).
    pub fn len(&self) -> usize {
        self.map.lock().expect("keys lock").len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `keys.log`: the keys of landed batches and the landed watermark.
pub struct KeysLog {
    path: PathBuf,
    file: File,
}

/// What `keys.log` held at start.
pub struct LoadedKeys {
    /// Keys within the retry window.
    pub keys: Vec<KeyRecord>,
    /// Every segment up to this number has landed.
    pub landed: u64,
}

impl KeysLog {
    /// Reads `dir/keys.log`, keeps the keys received at or after `since_ms`, rewrites
    /// it with only those (atomically) and opens it for appending.
    pub fn open(dir: &Path, since_ms: i64) -> Result<(KeysLog, LoadedKeys)> {
        let path = dir.join("keys.log");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IngestError::Wal { path, source }
        };
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        // A crash during an append can tear the last frame; it was never relied on
        // (the segment it describes is deleted only after the append is synced).
        let (records, _, _) = record::decode_all(&bytes);
        let mut loaded = LoadedKeys {
            keys: Vec::new(),
            landed: 0,
        };
        for r in records {
            match r {
                Record::Key(k) if k.received_at_ms >= since_ms => loaded.keys.push(k),
                Record::Landed(seq) => loaded.landed = loaded.landed.max(seq),
                _ => {}
            }
        }
        let mut compacted = Vec::new();
        record::encode(&Record::Landed(loaded.landed), &mut compacted);
        for k in &loaded.keys {
            record::encode(&Record::Key(k.clone()), &mut compacted);
        }
        let tmp = dir.join("keys.log.tmp");
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&compacted).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok((KeysLog { path, file }, loaded))
    }

    /// Appends the keys of a landed segment and its watermark, synced.
    pub fn landed(&mut self, seq: u64, keys: &[KeyRecord]) -> Result<()> {
        let mut bytes = Vec::new();
        for k in keys {
            record::encode(&Record::Key(k.clone()), &mut bytes);
        }
        record::encode(&Record::Landed(seq), &mut bytes);
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| IngestError::Wal {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(key: &str, hash: u8, at: i64) -> KeyRecord {
        KeyRecord {
            vendor: "v".into(),
            key: key.into(),
            body_sha256: [hash; 32],
            received_at_ms: at,
            accepted: 3,
            rejections: vec![],
        }
    }

    #[test]
    fn a_key_is_new_then_replayed_and_refuses_another_body() {
        let keys = Keys::new(1_000);
        let Claim::New(ticket) = keys.claim("v", "k", [1; 32]) else {
            panic!("new")
        };
        assert!(matches!(keys.claim("v", "k", [1; 32]), Claim::InFlight));
        assert!(matches!(keys.claim("v", "k", [2; 32]), Claim::Mismatch));
        assert!(
            matches!(keys.claim("w", "k", [2; 32]), Claim::New(_)),
            "keys are per vendor"
        );
        ticket.complete(reply("k", 1, 0));
        assert!(matches!(keys.claim("v", "k", [1; 32]), Claim::Replay(r) if r.accepted == 3));
        assert!(matches!(keys.claim("v", "k", [2; 32]), Claim::Mismatch));
        keys.expire(1_001);
        assert!(
            matches!(keys.claim("v", "k", [2; 32]), Claim::New(_)),
            "expired"
        );
    }

    #[test]
    fn a_dropped_ticket_frees_its_key() {
        let keys = Keys::new(1_000);
        drop(keys.claim("v", "k", [1; 32]));
        assert!(matches!(keys.claim("v", "k", [2; 32]), Claim::New(_)));
    }

    #[test]
    fn keys_log_keeps_the_window_and_the_watermark_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, loaded) = KeysLog::open(dir.path(), 0).unwrap();
        assert_eq!((loaded.keys.len(), loaded.landed), (0, 0));
        log.landed(3, &[reply("old", 1, 10), reply("new", 2, 500)])
            .unwrap();
        log.landed(5, &[]).unwrap();
        drop(log);
        let (_, loaded) = KeysLog::open(dir.path(), 100).unwrap();
        assert_eq!(loaded.landed, 5);
        assert_eq!(loaded.keys, vec![reply("new", 2, 500)]);
        let (_, again) = KeysLog::open(dir.path(), 100).unwrap();
        assert_eq!(
            (again.landed, again.keys.len()),
            (5, 1),
            "compaction keeps both"
        );
    }
}
