//! GM-2's digests of the same units as GM-1's (`crate::screened_chart::digests`), kept
//! under each unit's GM-1 digest as `screened-<key>/`: the key is the SHA-256 of their
//! format, the parameters rules 1, 2 and the cap read, and the unit's songs and venues
//! that the catalogue does not know (its valid plays leave those out).

use arrow::array::{Array, StringArray};
use futures::{StreamExt, TryStreamExt, stream};

use super::*;
use crate::engine::views::register_views;
use crate::engine::{bucket_bits, register_event_buckets, register_functions};
use crate::screened_chart::{MONTH_PLAYS_COLUMNS, MonthPlaysCoder, ScreenedDigests, UnitDigest};

impl DayDigests<'_> {
    /// GM-2's digest of each unit (read if kept, else computed and kept): where each
    /// is, and what it holds.
    pub(super) async fn screened_digests(
        &self,
        units: &[KeptDigest],
        known_songs: &foldhash::HashSet<String>,
        known_venues: &foldhash::HashSet<String>,
        report: &mut DayDigestReport,
    ) -> Result<ScreenedDigests> {
        let tz = self.methodology.validate()?;
        let dirs: Vec<Location> = units
            .iter()
            .map(|unit| {
                let key = screened_key(self.methodology, unit, known_songs, known_venues);
                unit.dir.join(&format!("screened-{key}"))
            })
            .collect();
        let kept: Vec<Option<crate::screened_chart::ScreenedInfo>> = stream::iter(&dirs)
            .map(UnitDigest::open_info)
            .buffered(DIGESTS_OPENED_AT_ONCE)
            .try_collect()
            .await?;
        let mut digests = Vec::with_capacity(units.len());
        for ((unit, dir), info) in units.iter().zip(&dirs).zip(kept) {
            let info = match info {
                Some(info) => {
                    report.screened_reused += 1;
                    info
                }
                None => {
                    report.screened_computed += 1;
                    self.compute_screened(unit, dir, tz).await?
                }
            };
            digests.push((dir.clone(), info));
        }
        Ok(ScreenedDigests::new(digests))
    }

    /// Computes GM-2's digest of a unit from its valid plays into `dir`.
    async fn compute_screened(
        &self,
        unit: &KeptDigest,
        dir: &Location,
        tz: chrono_tz::Tz,
    ) -> Result<crate::screened_chart::ScreenedInfo> {
        let ctx = self.unit_session(&unit.info.dates).await?;
        register_functions(&ctx, self.methodology)?;
        register_event_buckets(&ctx, bucket_bits(self.inputs.plays_rows()));
        register_views(&ctx).await?;
        let mut coder = MonthPlaysCoder::default();
        let mut stream = ctx
            .table("valid_plays")
            .await?
            .select_columns(&MONTH_PLAYS_COLUMNS)?
            .execute_stream()
            .await?;
        while let Some(batch) = stream.next().await {
            coder.push(&batch?)?;
        }
        let methodology = self.methodology.clone();
        let digest = tokio::task::spawn_blocking(move || {
            UnitDigest::compute(&methodology, tz, &coder.finish())
        })
        .await
        .map_err(|e| digest_failure("the screening task failed", e))?;
        digest.write(dir).await?;
        Ok(digest.info)
    }
}

/// The key of GM-2's digest of a unit (see the module's documentation).
fn screened_key(
    methodology: &Methodology,
    unit: &KeptDigest,
    known_songs: &foldhash::HashSet<String>,
    known_venues: &foldhash::HashSet<String>,
) -> String {
    use sha2::{Digest, Sha256};
    let rules = methodology.screening.clone().unwrap_or_default();
    let mut hasher = Sha256::new();
    let mut line = |text: &str| {
        hasher.update(text.as_bytes());
        hasher.update(b"\n");
    };
    line(crate::screened_chart::DIGEST_FORMAT);
    line(&format!(
        "resend_window_ms={} overlap_tolerance_ms={} overlap_share_percent={} room_cap={}",
        rules.resend_window_ms,
        rules.overlap_tolerance_ms,
        rules.overlap_share_percent,
        methodology.room_cap
    ));
    let unknown = |ids: &StringArray, known: &foldhash::HashSet<String>| -> Vec<String> {
        let mut unknown: Vec<String> = (0..ids.len())
            .filter(|&i| ids.is_valid(i) && !known.contains(ids.value(i)))
            .map(|i| ids.value(i).to_string())
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        unknown
    };
    for song in unknown(&unit.songs, known_songs) {
        line(&format!("unknown song {song}"));
    }
    for venue in unknown(&unit.venues, known_venues) {
        line(&format!("unknown venue {venue}"));
    }
    crate::contract::hex(&hasher.finalize())
}
