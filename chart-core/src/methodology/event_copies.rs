//! GM-1's choice among the copies of a re-sent event (rows with the same `event_id`):
//! the earliest (`started_at`), then the longest (`played_ms`), then the smallest
//! venue, room and song id, NULLs last, as `checked_plays.sql` orders them. The live
//! month and the day digests keep the copy this order puts first.

use std::cmp::Ordering;

/// A copy of an event, as the order looks at it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventCopy<'a> {
    pub started_at: Option<i64>,
    pub played_ms: Option<i32>,
    /// Venue, room and song id.
    pub ids: [Option<&'a str>; 3],
}

/// GM-1's order of an event's copies: the first is kept.
pub(crate) fn copy_order(a: &EventCopy<'_>, b: &EventCopy<'_>) -> Ordering {
    fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    fn descending_nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => b.cmp(&a),
            (a, b) => nulls_last(a, b),
        }
    }
    nulls_last(a.started_at, b.started_at)
        .then_with(|| descending_nulls_last(a.played_ms, b.played_ms))
        .then_with(|| {
            a.ids
                .iter()
                .zip(&b.ids)
                .map(|(a, b)| nulls_last(*a, *b))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
}
