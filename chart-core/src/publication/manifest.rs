//! A version's manifest: what was published, from which inputs, how, and what
//! changed since the version before.

use std::collections::BTreeMap;

use crate::contract::hex;
use crate::error::Result;
use crate::methodology::{DistributionMethodology, Methodology, Period, PeriodKind};
use crate::results::{DataQuality, GoldenMic};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A published file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// File name inside the version's data directory.
    pub path: String,
    /// Data rows.
    pub rows: usize,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// An input file, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// `plays`, `songs`, `venues` or `fees`; or `charts`: an earlier month's latest
    /// edition, which a screened (GM-2) month's history reads.
    pub table: String,
    /// Path relative to the data root (for `charts`, to the output root), `/`-separated.
    pub path: String,
    /// Rows, from the Parquet footer.
    pub rows: i64,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// A version's manifest (`versions/NNNNNN.json`): what was published, from what,
/// how, and what changed since the version before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`super::MANIFEST_FORMAT`].
    pub format: String,
    /// What was published (absent, for the charts, in manifests of the charts).
    #[serde(default, skip_serializing_if = "Product::is_charts")]
    pub product: Product,
    /// The version number, from 1.
    pub version: u32,
    /// `month` or `year`.
    pub period_kind: PeriodKind,
    /// `YYYY-MM` or `YYYY`.
    pub period: String,
    /// First business day of the period.
    pub first_day: String,
    /// Last business day of the period.
    pub last_day: String,
    /// The chart methodology: of the charts, or the one that counted the plays of a
    /// distribution.
    pub methodology: Methodology,
    /// The distribution methodology (distributions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<DistributionMethodology>,
    /// The publishing library and its version.
    pub publisher: String,
    /// SHA-256 over the period, methodology, publisher and every input's checksum:
    /// equal digests mean equal inputs.
    pub input_digest: String,
    /// Every input file with its row count, size and checksum.
    pub inputs: Vec<InputRecord>,
    /// Rows per input table.
    pub input_rows: InputRows,
    /// What became of the period's play rows (charts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_quality: Option<DataQuality>,
    /// The version's data directory, relative to the period directory.
    pub directory: String,
    /// The published files, with sizes and checksums.
    pub outputs: Vec<OutputFile>,
    /// What changed since the previous version (absent for version 1).
    pub changes: Option<Changes>,
    /// Screened (GM-2) charts: the edition this version is (its number is the version's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edition: Option<Edition>,
    /// When the version was published.
    pub run: RunRecord,
}

/// Rows per input table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRows {
    /// Rows in `plays` (all partitions).
    pub plays: i64,
    /// Rows in `songs`.
    pub songs: i64,
    /// Rows in `venues`.
    pub venues: i64,
    /// Rows in `fees` (distributions only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fees: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// What a version publishes; each has its own directory under the output root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// The charts and coverage: `charts/`.
    #[default]
    Charts,
    /// The distribution of licence fees: `distribution/`.
    Distribution,
    /// Charts of months before their methodology takes effect: `backtests/`.
    Backtest,
}

impl Product {
    /// The directory under the output root.
    pub fn directory(self) -> &'static str {
        match self {
            Product::Charts => "charts",
            Product::Distribution => "distribution",
            Product::Backtest => "backtests",
        }
    }

    fn is_charts(&self) -> bool {
        *self == Product::Charts
    }
}

/// The differences between a version and the one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The version compared with.
    pub previous_version: u32,
    /// Input files that are new.
    pub inputs_added: Vec<String>,
    /// Input files that are gone.
    pub inputs_removed: Vec<String>,
    /// Input files whose content changed.
    pub inputs_modified: Vec<String>,
    /// Rows per input table in the previous version.
    pub previous_input_rows: InputRows,
    /// Whether the methodology changed.
    pub methodology_changed: bool,
    /// Whether the publisher (library version) changed.
    pub publisher_changed: bool,
    /// Published files whose content changed.
    pub outputs_changed: Vec<String>,
}

/// An edition of a screened month: edition 1 is its first publication, each
/// correction the next, with its reason and how the chart moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edition {
    /// Why this edition was published (`first edition` for the first).
    pub reason: String,
    /// The version whose charts the changes compare with (none for the first).
    pub compared_with: Option<u32>,
    /// Rows of `edition_changes`: songs whose rank on either chart differs from that version's.
    pub changed_entries: usize,
}

/// The run that produced a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// RFC 3339 start time (UTC).
    pub started_at: String,
    /// RFC 3339 time (UTC) the files were written, just before the manifest.
    pub finished_at: String,
}

/// The inputs of the engine's data root with their checksums (none for in-memory
/// data): of the charts, and the fee files too for a distribution.
pub(super) async fn input_records(
    engine: &GoldenMic,
    product: Product,
) -> Result<Vec<InputRecord>> {
    let Some(data) = engine.data() else {
        return Ok(Vec::new());
    };
    let mut files: Vec<_> = data.files().iter().zip(data.checksums().await?).collect();
    if product == Product::Distribution {
        files.extend(data.fee_files()?.iter().zip(data.fee_checksums().await?));
    }
    Ok(files
        .into_iter()
        .map(|(file, sha256)| InputRecord {
            table: file.table.to_string(),
            path: file.path.clone(),
            rows: file.rows,
            bytes: file.bytes,
            sha256,
        })
        .collect())
}

/// Rows per input table.
pub(super) fn input_rows(inputs: &[InputRecord]) -> InputRows {
    let mut rows = InputRows::default();
    for input in inputs {
        match input.table.as_str() {
            "plays" => rows.plays += input.rows,
            "songs" => rows.songs += input.rows,
            "fees" => rows.fees += input.rows,
            super::screened::EARLIER_CHARTS_TABLE => {}
            _ => rows.venues += input.rows,
        }
    }
    rows
}

/// SHA-256 over everything that determines a publication's content (for the charts,
/// as before distributions existed, so that their digests stay comparable).
pub(super) fn input_digest(
    period: &Period,
    methodology: &Methodology,
    distribution: Option<&DistributionMethodology>,
    publisher: &str,
    inputs: &[InputRecord],
) -> String {
    let mut hasher = Sha256::new();
    let mut identity = serde_json::json!({
        "period_kind": period.kind().as_str(),
        "period": period.to_string(),
        "methodology": methodology,
        "publisher": publisher,
    });
    if let Some(distribution) = distribution {
        identity["distribution"] = serde_json::json!(distribution);
    }
    hasher.update(identity.to_string().as_bytes());
    for input in inputs {
        hasher.update(
            format!(
                "\n{}\t{}\t{}\t{}",
                input.table, input.path, input.bytes, input.sha256
            )
            .as_bytes(),
        );
    }
    hex(&hasher.finalize())
}

/// SHA-256 over the outputs' names and checksums.
pub(super) fn outputs_digest(outputs: &[OutputFile]) -> String {
    let mut hasher = Sha256::new();
    for file in outputs {
        hasher.update(format!("{}\t{}\n", file.path, file.sha256).as_bytes());
    }
    hex(&hasher.finalize())
}

pub(super) fn changes(previous: &Manifest, next: &Manifest) -> Changes {
    let before: BTreeMap<&str, &str> = previous
        .inputs
        .iter()
        .map(|i| (i.path.as_str(), i.sha256.as_str()))
        .collect();
    let after: BTreeMap<&str, &str> = next
        .inputs
        .iter()
        .map(|i| (i.path.as_str(), i.sha256.as_str()))
        .collect();
    let outputs_before: BTreeMap<&str, &str> = previous
        .outputs
        .iter()
        .map(|o| (o.path.as_str(), o.sha256.as_str()))
        .collect();
    Changes {
        previous_version: previous.version,
        inputs_added: after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        inputs_removed: before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| p.to_string())
            .collect(),
        inputs_modified: after
            .iter()
            .filter(|(p, sha)| before.get(*p).is_some_and(|b| b != *sha))
            .map(|(p, _)| p.to_string())
            .collect(),
        previous_input_rows: previous.input_rows.clone(),
        methodology_changed: previous.methodology != next.methodology
            || previous.distribution != next.distribution,
        publisher_changed: previous.publisher != next.publisher,
        outputs_changed: next
            .outputs
            .iter()
            .filter(|o| outputs_before.get(o.path.as_str()) != Some(&o.sha256.as_str()))
            .map(|o| o.path.clone())
            .collect(),
    }
}
