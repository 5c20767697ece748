//! A screened month as record batches: each chart, the transparency report, the held
//! venue-days and vendor-days, and the flagged rooms.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::{ScreenedEntry, ScreenedMonth};
use crate::error::{ChartError, Result};

/// The columns of a screened chart, in order.
pub const SCREENED_CHART_COLUMNS: [&str; 20] = [
    "rank",
    "song_id",
    "title",
    "artist",
    "score",
    "score_raw",
    "plays",
    "venues",
    "cities",
    "rooms",
    "room_days",
    "room_share",
    "rank_low",
    "rank_high",
    "prev_rank",
    "peak_rank",
    "months_on_chart",
    "streak",
    "movement",
    "section",
];

/// The columns of the transparency report, in order.
pub const TRANSPARENCY_COLUMNS: [&str; 3] = ["rule", "measure", "value"];

fn batch(fields: Vec<(&str, DataType, bool)>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let schema = Schema::new(
        fields
            .into_iter()
            .map(|(name, t, nullable)| Field::new(name, t, nullable))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), columns).map_err(|e| ChartError::Query(e.into()))
}

fn ints(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values))
}

fn optional_ints(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(values))
}

fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// A chart's entries as a batch of [`SCREENED_CHART_COLUMNS`]; `section` is `chart`
/// for the first `top_n` entries and `bubbling_under` after.
pub fn entries_batch(e: &[ScreenedEntry]) -> Result<RecordBatch> {
    use DataType::{Float64, Int64, Utf8};
    batch(
        vec![
            ("rank", Int64, false),
            ("song_id", Utf8, false),
            ("title", Utf8, false),
            ("artist", Utf8, false),
            ("score", Int64, false),
            ("score_raw", Int64, false),
            ("plays", Int64, false),
            ("venues", Int64, false),
            ("cities", Int64, false),
            ("rooms", Int64, false),
            ("room_days", Int64, false),
            ("room_share", Float64, false),
            ("rank_low", Int64, true),
            ("rank_high", Int64, true),
            ("prev_rank", Int64, true),
            ("peak_rank", Int64, true),
            ("months_on_chart", Int64, false),
            ("streak", Int64, false),
            ("movement", Utf8, true),
            ("section", Utf8, false),
        ],
        vec![
            ints(e.iter().map(|e| e.rank)),
            texts(e.iter().map(|e| e.song_id.as_str())),
            texts(e.iter().map(|e| e.title.as_str())),
            texts(e.iter().map(|e| e.artist.as_str())),
            ints(e.iter().map(|e| e.score)),
            ints(e.iter().map(|e| e.score_raw)),
            ints(e.iter().map(|e| e.plays)),
            ints(e.iter().map(|e| e.venues)),
            ints(e.iter().map(|e| e.cities)),
            ints(e.iter().map(|e| e.rooms)),
            ints(e.iter().map(|e| e.room_days)),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|e| e.room_share),
            )),
            optional_ints(e.iter().map(|e| e.rank_low)),
            optional_ints(e.iter().map(|e| e.rank_high)),
            optional_ints(e.iter().map(|e| e.prev_rank)),
            optional_ints(e.iter().map(|e| e.peak_rank)),
            ints(e.iter().map(|e| e.months_on_chart)),
            ints(e.iter().map(|e| e.streak)),
            Arc::new(StringArray::from_iter(e.iter().map(|e| e.movement))),
            texts(e.iter().map(|e| {
                if e.movement.is_some() {
                    "chart"
                } else {
                    "bubbling_under"
                }
            })),
        ],
    )
}

impl ScreenedMonth {
    /// The transparency report as (rule, measure, value) rows.
    pub fn transparency_batch(&self) -> Result<RecordBatch> {
        let t = &self.transparency;
        let mut rows: Vec<(&str, &str, i64)> = vec![
            ("valid", "plays", t.valid_plays),
            ("held", "plays", t.held_plays),
            ("held", "venue_days", count(t, super::HoldKind::Venue)),
            ("held", "vendor_days", count(t, super::HoldKind::Vendor)),
            ("resent", "plays", t.resent_plays),
            ("impossible_room_day", "plays", t.impossible_plays),
            ("impossible_room_day", "room_days", t.impossible_room_days),
            (
                "busy_room",
                "flagged_room_days",
                t.flagged_rooms.len() as i64,
            ),
            ("room_cap", "plays", t.over_cap_plays),
            ("concentration", "songs", t.concentration_songs),
            ("concentration", "plays", t.concentration_plays),
            ("reach", "songs", t.reach_songs),
        ];
        for (rule, entries) in &t.hot_entries_changed {
            rows.push((rule, "hot_entries_changed", *entries));
        }
        use DataType::{Int64, Utf8};
        batch(
            vec![
                ("rule", Utf8, false),
                ("measure", Utf8, false),
                ("value", Int64, false),
            ],
            vec![
                texts(rows.iter().map(|r| r.0)),
                texts(rows.iter().map(|r| r.1)),
                ints(rows.iter().map(|r| r.2)),
            ],
        )
    }

    /// The held venue-days and vendor-days, with their figures.
    pub fn holds_batch(&self) -> Result<RecordBatch> {
        let h = &self.transparency.holds;
        use DataType::{Date32, Int64, Utf8};
        batch(
            vec![
                ("kind", Utf8, false),
                ("id", Utf8, false),
                ("business_day", Date32, false),
                ("plays", Int64, false),
                ("market_plays", Int64, false),
                ("baseline_plays", Int64, false),
                ("baseline_market_plays", Int64, false),
                ("baseline", Utf8, false),
                ("review", Utf8, false),
            ],
            vec![
                texts(h.iter().map(|h| h.kind.as_str())),
                texts(h.iter().map(|h| h.id.as_str())),
                Arc::new(Date32Array::from_iter_values(h.iter().map(|h| h.day))),
                ints(h.iter().map(|h| h.plays)),
                ints(h.iter().map(|h| h.market_plays)),
                ints(h.iter().map(|h| h.baseline.0)),
                ints(h.iter().map(|h| h.baseline.1)),
                texts(h.iter().map(|h| match (h.baseline, h.baseline_from_peers) {
                    ((0, 0), _) => "none",
                    (_, true) => "peers",
                    _ => "own",
                })),
                texts(h.iter().map(|h| h.review.as_str())),
            ],
        )
    }

    /// The rooms flagged for review.
    pub fn flagged_rooms_batch(&self) -> Result<RecordBatch> {
        let r = &self.transparency.flagged_rooms;
        use DataType::{Date32, Int64, Utf8};
        batch(
            vec![
                ("venue_id", Utf8, false),
                ("room_id", Utf8, false),
                ("business_day", Date32, false),
                ("hours", Int64, false),
                ("plays", Int64, false),
            ],
            vec![
                texts(r.iter().map(|r| r.venue_id.as_str())),
                texts(r.iter().map(|r| r.room_id.as_str())),
                Arc::new(Date32Array::from_iter_values(
                    r.iter().map(|r| super::days_since_epoch(r.day)),
                )),
                ints(r.iter().map(|r| r.hours)),
                ints(r.iter().map(|r| r.plays)),
            ],
        )
    }
}

fn count(t: &super::Transparency, kind: super::HoldKind) -> i64 {
    t.holds
        .iter()
        .filter(|h| h.kind == kind && h.removes_plays())
        .count() as i64
}
