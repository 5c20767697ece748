//! The typed errors of the SQL server. Messages are one line and never contain a
//! password or its hash.

use std::path::PathBuf;

use chart_core::ChartError;

/// Everything that can stop the server from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum SqlServerError {
    /// `users.toml` cannot be read or is not valid.
    #[error("{file}: {problem}")]
    Users {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the user or line.
        problem: String,
    },
    /// A TLS certificate or key cannot be used.
    #[error("TLS {file}: {problem}")]
    Tls {
        /// The PEM file.
        file: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The listener failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data root cannot be opened or a session cannot be built on it.
    #[error("{0}")]
    Chart(#[from] ChartError),
}

/// The server's results.
pub type Result<T, E = SqlServerError> = std::result::Result<T, E>;
