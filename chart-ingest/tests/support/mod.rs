//! A service on loopback for the tests, and what it landed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Int32Type, TimestampMillisecondType};
use chart_core::Location;
use chart_ingest::vendors::token_sha256;
use chart_ingest::wal::SealPolicy;
use chart_ingest::{IngestOptions, Vendors};
use tokio::sync::oneshot;

/// Vendors and their tokens.
pub const VENDORS: [(&str, &str); 2] = [
    ("雷石", "token-leishi-0123456789"),
    ("视易", "token-shiyi-9876543210"),
];

pub fn vendors_toml() -> String {
    VENDORS
        .iter()
        .map(|(name, token)| {
            format!(
                "[[vendor]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
                token_sha256(token)
            )
        })
        .collect()
}

/// A running service.
pub struct Running {
    pub url: String,
    pub data: PathBuf,
    pub wal: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<chart_ingest::Result<()>>,
}

/// Options over `data` and `wal` with a late window wide enough for 2024 data.
pub fn options(data: &Path, wal: &Path) -> IngestOptions {
    let mut options = IngestOptions::new(
        Location::local(data).unwrap(),
        wal.to_path_buf(),
        Vendors::parse(&vendors_toml()).unwrap(),
    );
    options.late_window = Some(Duration::from_secs(5 * 365 * 86_400));
    options.seal = SealPolicy {
        every: Duration::from_millis(200),
        rows: 10_000,
    };
    options
}

impl Running {
    pub async fn start(options: IngestOptions) -> Running {
        let data = options.data.local_path().unwrap();
        let wal = options.wal_dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(chart_ingest::serve(options, listener, async {
            let _ = stopped.await;
        }));
        Running {
            url,
            data,
            wal,
            stop: Some(stop),
            handle,
        }
    }

    /// Stops accepting, lands the log and returns the service's result.
    pub async fn stop(mut self) -> chart_ingest::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.handle.await.unwrap()
    }
}

/// A POST of `body` to /v1/plays.
pub async fn post(
    url: &str,
    token: Option<&str>,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let client = reqwest::Client::new();
    let mut request = client.post(format!("{url}/v1/plays")).body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json, headers)
}

/// An NDJSON line of a valid play.
pub fn line(event_id: &str, started_at_ms: i64) -> String {
    format!(
        r#"{{"event_id":"{event_id}","venue_id":"V000001","room_id":"R01","song_id":"S0000001","started_at":{started_at_ms},"played_ms":180000}}"#
    )
}

/// 2024-11-30 22:15 in Shanghai.
pub const NOV_30_EVENING_MS: i64 = 1_732_976_100_000;

/// Every row of the Parquet files under `dir/table`, as (partition, columns as text).
pub fn landed_rows(data: &Path, table: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    let root = data.join(table);
    if !root.exists() {
        return rows;
    }
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    for file in files {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .build()
        .unwrap();
        let partition = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for batch in reader {
            let batch: RecordBatch = batch.unwrap();
            for row in 0..batch.num_rows() {
                let mut values = BTreeMap::new();
                values.insert("partition".to_string(), partition.clone());
                for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                    let text = if column.is_null(row) {
                        "NULL".to_string()
                    } else if let Some(c) = column.as_string_opt::<i32>() {
                        c.value(row).to_string()
                    } else if let Some(c) = column.as_primitive_opt::<Int32Type>() {
                        c.value(row).to_string()
                    } else if let Some(c) = column.as_primitive_opt::<TimestampMillisecondType>() {
                        c.value(row).to_string()
                    } else {
                        panic!("unexpected type {}", column.data_type())
                    };
                    values.insert(field.name().clone(), text);
                }
                rows.push(values);
            }
        }
    }
    rows
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
