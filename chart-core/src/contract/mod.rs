//! The data contract: the tables a data root holds ([`schema`]), the validated files
//! of one ([`tables`]) and where they live ([`store`]: a local directory or an
//! object-store prefix).

pub mod compaction;
pub mod schema;
mod snapshot;
pub mod store;
pub mod tables;

/// Lowercase hex of a digest (the SHA-256 of files, keys and manifests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
