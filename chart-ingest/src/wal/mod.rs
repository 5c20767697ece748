//! The write-ahead log: a directory of numbered segments on local disk, written by one
//! thread that commits the records of concurrent requests together (one `write` and
//! one `fdatasync` per group) and answers each request only after its record is synced.
//!
//! ```text
//! wal/
//!   node-id                     this receiver's name in landed file names (random, kept)
//!   keys.log                    idempotency keys of landed batches + landed watermark
//!   segment-000000000007.wal    sealed: waiting for the lander
//!   segment-000000000008.wal    active: appended to, synced per group
//! ```
//!
//! A segment is sealed every `land_every` or when it holds `land_rows` plays, and handed
//! to the lander, which deletes it once its files are durable in the data root.

pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::error::{IngestError, Result};
use record::Record;

/// A sealed segment: complete and synced, ready to land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Its sequence number (in landed file names).
    pub seq: u64,
    /// Its file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was sealed (or found at start), epoch ms.
    pub sealed_at_ms: i64,
}

/// Why an append was not made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The queue of records waiting for the writer is full: retry later.
    Busy,
    /// The disk is full: nothing of the record was kept.
    DiskFull,
    /// Writing or syncing failed otherwise: nothing of the record was kept.
    Failed(String),
    /// The writer has stopped.
    Stopped,
}

/// When to seal the active segment.
#[derive(Debug, Clone, Copy)]
pub struct SealPolicy {
    /// At the latest this long after its first record.
    pub every: Duration,
    /// As soon as it holds this many plays.
    pub rows: usize,
}

/// Figures the service reads.
#[derive(Debug, Default)]
pub struct WalGauges {
    /// Bytes in segments not yet landed (sealed and active).
    pub unlanded_bytes: AtomicU64,
    /// Group commits made.
    pub commits: AtomicU64,
    /// Time spent in `fdatasync`, microseconds.
    pub sync_micros: AtomicU64,
    /// The writer has stopped after an error it could not undo.
    pub broken: AtomicBool,
}

enum Command {
    Append {
        bytes: Vec<u8>,
        rows: usize,
        done: oneshot::Sender<std::result::Result<(), AppendError>>,
    },
    Stop,
}

/// The writer's handle: append records, stop.
pub struct Wal {
    tx: mpsc::SyncSender<Command>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Figures for the metrics and for backpressure.
    pub gauges: Arc<WalGauges>,
}

/// What [`open`] found in the directory.
pub struct Recovered {
    /// Segments left by the last run, oldest first: every one is to land.
    pub segments: Vec<Sealed>,
    /// Their batch records, in order (to rebuild the idempotency keys).
    pub batches: Vec<record::BatchRecord>,
    /// The next sequence number.
    pub next_seq: u64,
}

/// The file of segment `seq`.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("segment-{seq:012}.wal"))
}

fn segment_seq(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("segment-")?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

/// Reads the segments a previous run left (torn tail of the newest cut off), so that
/// they land again and their keys answer retries. `landed` is the watermark of
/// `keys.log`: no new segment reuses a number at or below it.
pub fn open(dir: &Path, landed: u64) -> Result<Recovered> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IngestError::Wal { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| segment_seq(&p).map(|seq| (seq, p)))
        .collect();
    found.sort();
    let newest = found.last().map(|(seq, _)| *seq);
    let mut segments = Vec::new();
    let mut batches = Vec::new();
    for (seq, path) in found {
        let bytes = fs::read(&path).map_err(io(&path))?;
        let (records, end, problem) = record::decode_all(&bytes);
        if let Some(problem) = problem {
            if Some(seq) != newest {
                return Err(IngestError::CorruptWal {
                    path,
                    offset: end as u64,
                    problem,
                });
            }
            tracing::warn!(segment = %path.display(), offset = end, %problem, "cutting the torn tail of the last segment (never acknowledged)");
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            file.set_len(end as u64).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        for r in records {
            if let Record::Batch(b) = r {
                batches.push(b);
            }
        }
        segments.push(Sealed {
            seq,
            path,
            bytes: end as u64,
            sealed_at_ms: crate::clock::now_ms(),
        });
    }
    let next_seq = newest.unwrap_or(0).max(landed) + 1;
    Ok(Recovered {
        segments,
        batches,
        next_seq,
    })
}

impl Wal {
    /// Starts the writer thread. Sealed segments go to `sealed`; `queue` records may
    /// wait for the writer before appends are refused as [`AppendError::Busy`].
    pub fn start(
        dir: PathBuf,
        next_seq: u64,
        policy: SealPolicy,
        queue: usize,
        unlanded_bytes: u64,
        sealed: tokio::sync::mpsc::UnboundedSender<Sealed>,
    ) -> Wal {
        let (tx, rx) = mpsc::sync_channel(queue.max(1));
        let gauges = Arc::new(WalGauges::default());
        gauges
            .unlanded_bytes
            .store(unlanded_bytes, Ordering::Relaxed);
        let writer = Writer {
            dir,
            next_seq,
            policy,
            active: None,
            sealed,
            gauges: gauges.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || writer.run(rx))
            .expect("a thread can be spawned");
        Wal {
            tx,
            thread: std::sync::Mutex::new(Some(thread)),
            gauges,
        }
    }

    /// Appends one framed record (see [`record::encode`]) holding `rows` plays;
    /// resolves once it is synced to disk.
    pub async fn append(
        &self,
        bytes: Vec<u8>,
        rows: usize,
    ) -> std::result::Result<(), AppendError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .try_send(Command::Append { bytes, rows, done })
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => AppendError::Busy,
                mpsc::TrySendError::Disconnected(_) => AppendError::Stopped,
            })?;
        wait.await.unwrap_or(Err(AppendError::Stopped))
    }

    /// Seals the active segment and stops the writer; returns when it has stopped.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
        let thread = self.thread.lock().expect("wal thread lock").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

struct Active {
    seq: u64,
    path: PathBuf,
    file: File,
    len: u64,
    rows: usize,
    opened: Instant,
}

struct Writer {
    dir: PathBuf,
    next_seq: u64,
    policy: SealPolicy,
    active: Option<Active>,
    sealed: tokio::sync::mpsc::UnboundedSender<Sealed>,
    gauges: Arc<WalGauges>,
}

/// At most this many bytes are written in one group.
const MAX_GROUP_BYTES: usize = 16 << 20;

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        loop {
            let timeout = match &self.active {
                Some(a) => self.policy.every.saturating_sub(a.opened.elapsed()),
                None => Duration::from_secs(3600),
            };
            match rx.recv_timeout(timeout) {
                Ok(Command::Append { bytes, rows, done }) => {
                    let mut group = vec![(bytes, rows, done)];
                    let mut size = group[0].0.len();
                    let mut stop = false;
                    while size < MAX_GROUP_BYTES {
                        match rx.try_recv() {
                            Ok(Command::Append { bytes, rows, done }) => {
                                size += bytes.len();
                                group.push((bytes, rows, done));
                            }
                            Ok(Command::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(group);
                    if stop {
                        break;
                    }
                }
                Ok(Command::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => self.seal(),
            }
            if self.active.as_ref().is_some_and(|a| {
                a.rows >= self.policy.rows || a.opened.elapsed() >= self.policy.every
            }) {
                self.seal();
            }
        }
        self.seal();
    }

    fn commit(&mut self, group: Vec<Group>) {
        let outcome = self.write_group(&group);
        for (_, _, done) in group {
            let _ = done.send(outcome.clone());
        }
    }

    fn write_group(&mut self, group: &[Group]) -> std::result::Result<(), AppendError> {
        let gauges = self.gauges.clone();
        if gauges.broken.load(Ordering::Relaxed) {
            return Err(AppendError::Stopped);
        }
        let active = match self.active_segment() {
            Ok(a) => a,
            Err(e) => return Err(classify(&e)),
        };
        let mut buffer = Vec::with_capacity(group.iter().map(|g| g.0.len()).sum());
        let mut rows = 0;
        for (bytes, r, _) in group {
            buffer.extend_from_slice(bytes);
            rows += r;
        }
        let started = Instant::now();
        let written = active
            .file
            .write_all(&buffer)
            .and_then(|()| active.file.sync_data());
        gauges
            .sync_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match written {
            Ok(()) => {
                active.len += buffer.len() as u64;
                active.rows += rows;
                gauges
                    .unlanded_bytes
                    .fetch_add(buffer.len() as u64, Ordering::Relaxed);
                gauges.commits.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // Nothing of the group is acknowledged: cut the segment back to its
                // last synced length so that no part of it lands.
                let undone = active
                    .file
                    .set_len(active.len)
                    .and_then(|()| active.file.sync_all());
                if let Err(undo) = undone {
                    tracing::error!(segment = %active.path.display(), error = %undo, "cannot cut a failed write back: the log stops accepting");
                    gauges.broken.store(true, Ordering::Relaxed);
                }
                tracing::warn!(segment = %active.path.display(), error = %e, "a group commit failed; its requests are refused");
                // A later write starts a new segment: the page cache of this one is
                // not trusted after a failed sync.
                self.seal();
                Err(classify(&e))
            }
        }
    }

    fn active_segment(&mut self) -> std::io::Result<&mut Active> {
        if self.active.is_none() {
            let seq = self.next_seq;
            let path = segment_path(&self.dir, seq);
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            File::open(&self.dir)?.sync_all()?;
            self.next_seq += 1;
            self.active = Some(Active {
                seq,
                path,
                file,
                len: 0,
                rows: 0,
                opened: Instant::now(),
            });
        }
        Ok(self.active.as_mut().expect("just opened"))
    }

    fn seal(&mut self) {
        if let Some(active) = self.active.take() {
            if active.len == 0 {
                let _ = fs::remove_file(&active.path);
                return;
            }
            let _ = self.sealed.send(Sealed {
                seq: active.seq,
                path: active.path,
                bytes: active.len,
                sealed_at_ms: crate::clock::now_ms(),
            });
        }
    }
}

/// One request of a group: its record, its plays and where to answer.
type Group = (
    Vec<u8>,
    usize,
    oneshot::Sender<std::result::Result<(), AppendError>>,
);

fn classify(e: &std::io::Error) -> AppendError {
    // ENOSPC (28) and EDQUOT (122) on Linux.
    if e.kind() == ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122)) {
        AppendError::DiskFull
    } else {
        AppendError::Failed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::record::{BatchRecord, KeyRecord, Record, encode};
    use super::*;

    fn batch(key: &str, rows: usize) -> (Vec<u8>, usize) {
        let record = Record::Batch(BatchRecord {
            key: KeyRecord {
                vendor: "v".into(),
                key: key.into(),
                body_sha256: [0; 32],
                received_at_ms: 0,
                accepted: rows as u32,
                rejections: vec![],
            },
            events: (0..rows)
                .map(|i| crate::event::PlayEvent {
                    event_id: format!("{key}-{i}"),
                    venue_id: "V".into(),
                    room_id: "R".into(),
                    song_id: "S".into(),
                    started_at_ms: 0,
                    played_ms: 1,
                })
                .collect(),
            raw_rejects: vec![],
        });
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        (bytes, rows)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits_and_seal_by_rows() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut sealed) = tokio::sync::mpsc::unbounded_channel();
        let policy = SealPolicy {
            every: Duration::from_secs(3600),
            rows: 50,
        };
        let wal = Arc::new(Wal::start(dir.path().to_path_buf(), 1, policy, 1024, 0, tx));
        let appends: Vec<_> = (0..40)
            .map(|i| {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let (bytes, rows) = batch(&format!("k{i}"), 5);
                    wal.append(bytes, rows).await
                })
            })
            .collect();
        for a in appends {
            assert_eq!(a.await.unwrap(), Ok(()));
        }
        let commits = wal.gauges.commits.load(Ordering::Relaxed);
        assert!((1..=40).contains(&commits), "{commits} commits");
        // One after the other, 100 more rows: a segment is sealed at every 50.
        for i in 0..20 {
            let (bytes, rows) = batch(&format!("s{i}"), 5);
            wal.append(bytes, rows).await.unwrap();
        }
        wal.stop();
        let mut segments = Vec::new();
        while let Ok(s) = sealed.try_recv() {
            segments.push(s);
        }
        let recovered = open(dir.path(), 0).unwrap();
        let files = |s: &[Sealed]| -> Vec<(u64, PathBuf, u64)> {
            s.iter().map(|s| (s.seq, s.path.clone(), s.bytes)).collect()
        };
        assert_eq!(
            files(&recovered.segments),
            files(&segments),
            "every sealed segment is found again"
        );
        assert_eq!(recovered.batches.len(), 60);
        assert!(
            segments.len() >= 3,
            "a group is never split, then 100 rows by 50: {segments:?}"
        );
        assert_eq!(recovered.next_seq, segments.last().unwrap().seq + 1);
        assert_eq!(
            open(dir.path(), 99).unwrap().next_seq,
            100,
            "never below the landed watermark"
        );
    }

    #[test]
    fn a_torn_tail_is_cut_from_the_newest_segment_only() {
        let dir = tempfile::tempdir().unwrap();
        let (one, _) = batch("a", 2);
        let (two, _) = batch("b", 2);
        let torn = [one.clone(), two[..10].to_vec()].concat();
        fs::write(segment_path(dir.path(), 1), &torn).unwrap();
        fs::write(segment_path(dir.path(), 2), &two).unwrap();
        let err = open(dir.path(), 0).err().unwrap().to_string();
        assert!(
            err.contains("segment-000000000001.wal: corrupt record at byte"),
            "{err}"
        );
        // The newest segment may end torn (a crash mid-write): the tail is cut.
        fs::write(segment_path(dir.path(), 3), &torn).unwrap();
        fs::write(segment_path(dir.path(), 1), &one).unwrap();
        let recovered = open(dir.path(), 0).unwrap();
        assert_eq!(recovered.batches.len(), 3);
        assert_eq!(
            fs::metadata(segment_path(dir.path(), 3)).unwrap().len(),
            one.len() as u64
        );
        assert_eq!(recovered.next_seq, 4);
    }
}
