//! The typed errors of the ingestion service. Messages are one line and never contain a
//! vendor's token.

use std::path::PathBuf;

use chart_core::ChartError;

/// Everything that can stop the service or one of its parts.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// `vendors.toml` cannot be read or is not valid.
    #[error("{file}: {problem}")]
    Vendors {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the vendor or line.
        problem: String,
    },
    /// A file of the write-ahead log cannot be read or written.
    #[error("write-ahead log {path}: {source}")]
    Wal {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A log segment holds bytes that are not a whole record before its end (only the
    /// last segment of a crash may end torn; others are refused).
    #[error("write-ahead log {path}: corrupt record at byte {offset}: {problem}")]
    CorruptWal {
        /// The segment.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// The methodology is invalid, or reading or writing the data root failed.
    #[error("{0}")]
    Chart(#[from] ChartError),
    /// Encoding a landed Parquet file failed.
    #[error("landing {file}: {source}")]
    Encode {
        /// The file being written.
        file: String,
        /// The encoder's error.
        source: parquet::errors::ParquetError,
    },
    /// The listener or the HTTP server failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A TLS certificate or key cannot be used.
    #[error("TLS {file}: {problem}")]
    Tls {
        /// The PEM file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The write-ahead log's writer stopped (after an earlier error).
    #[error("the write-ahead log writer has stopped")]
    WalStopped,
    /// A client-side failure of the simulator.
    #[error("{0}")]
    Simulator(String),
}

/// The crate's result type.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
