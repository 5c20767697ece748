//! The commit protocol of a version: its manifest is written last, with a
//! conditional put (create only if absent), so that each version number is taken by
//! exactly one publisher.
//!
//! ```text
//!   read versions/ ──► number N = last + 1 ──► create versions/N.json
//!                          ▲                        │ created: Published(N)
//!                          │                        │ N exists (another publisher won)
//!                          │                        ▼
//!                          └──── re-read versions/ ─┴─► the winner has these inputs:
//!                                                        Unchanged(winner)
//! ```
//!
//! A publisher that keeps losing gives up after [`MAX_COMMIT_ATTEMPTS`] attempts with
//! [`ChartError::CommitConflict`]; its data files stay unreferenced, as after a kill.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeMap;

use super::*;
use crate::contract::store::Location;
use crate::error::{ChartError, Result};

/// `versions/000042.json`.
fn version_file(version: u32) -> String {
    format!("versions/{version:06}.json")
}

/// The manifests under `period_dir/versions/`, by version.
pub(super) async fn read_versions(period_dir: &Location) -> Result<Vec<Manifest>> {
    let dir = period_dir.join("versions");
    let mut numbered = BTreeMap::new();
    for object in dir.list().await? {
        let Some(name) = dir.relative(&object.location) else {
            continue;
        };
        let Some(number) = name
            .strip_suffix(".json")
            .filter(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let number = number.parse::<u32>().expect("six digits");
        numbered.insert(number, name);
    }
    stream::iter(numbered)
        .map(|(number, name)| {
            let dir = &dir;
            async move {
                let file = dir.join(&name).to_string();
                let bytes = dir.read(&name).await?.ok_or_else(|| ChartError::Corrupt {
                    file: file.clone(),
                    problem: "listed but gone".to_string(),
                })?;
                let manifest: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| ChartError::Corrupt {
                        file: file.clone(),
                        problem: format!("not a manifest: {e}"),
                    })?;
                if manifest.version != number {
                    return Err(ChartError::Corrupt {
                        file,
                        problem: format!("holds version {}", manifest.version),
                    });
                }
                Ok(manifest)
            }
        })
        .buffered(TRANSFERS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Attempts at writing a manifest before a publisher gives up.
pub const MAX_COMMIT_ATTEMPTS: u32 = 16;

/// Writes `manifest` as the next version after `versions` (the period's versions as
/// last read), numbering it and recording its changes since the version before:
/// `Published` with it, or `Unchanged` with a version another publisher wrote first
/// with the same inputs.
pub(super) async fn commit(
    period_dir: &Location,
    mut versions: Vec<Manifest>,
    mut manifest: Manifest,
) -> Result<(Outcome, Manifest)> {
    for _ in 0..MAX_COMMIT_ATTEMPTS {
        let previous = versions.last();
        manifest.version = previous.map_or(1, |p| p.version + 1);
        manifest.changes = previous.map(|p| changes(p, &manifest));
        let json = serde_json::to_vec_pretty(&manifest).map_err(|source| ChartError::Encode {
            path: period_dir
                .join(&version_file(manifest.version))
                .to_string()
                .into(),
            source: Box::new(source),
        })?;
        tracing::info!(version = manifest.version, "writing the manifest");
        if period_dir
            .create(&version_file(manifest.version), Bytes::from(json))
            .await?
        {
            return Ok((Outcome::Published, manifest));
        }
        // Another publisher wrote this version first: publish after it, unless it
        // published these very inputs.
        versions = read_versions(period_dir).await?;
        if let Some(current) = versions
            .last()
            .filter(|v| v.input_digest == manifest.input_digest)
        {
            tracing::info!(
                version = current.version,
                "published concurrently by another run"
            );
            return Ok((Outcome::Unchanged, current.clone()));
        }
    }
    Err(ChartError::CommitConflict {
        period: period_dir.to_string(),
        attempts: MAX_COMMIT_ATTEMPTS,
    })
}
