//! Rule 5, anomaly holds: a venue-day (or a vendor-day) whose share of the day's
//! valid plays in the whole market exceeds `hold_factor` times its median share over
//! the trailing `hold_window_days` business days is held out of the chart and listed
//! for review.
//!
//! * A share is compared exactly, as a fraction (`plays / market plays`).
//! * The median of n shares is the ⌈n/2⌉-th smallest (one of them, never an average).
//! * A venue with valid plays on fewer than `hold_min_history_days` days of the window
//!   is compared with the median share of every venue-day of its province in the
//!   window; a vendor with the median of every vendor-day. No history, no hold.
//! * A venue-day or vendor-day with fewer than `hold_min_plays` valid plays is never held.
//! * A reviewer's decision (`review_decisions`) includes a held day (its plays count)
//!   or excludes any day (its plays do not); every decided day is listed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use chrono::Datelike;

use crate::methodology::Screening;

/// Whether a venue or a vendor is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HoldKind {
    /// A venue-day.
    Venue,
    /// A vendor-day.
    Vendor,
}

impl HoldKind {
    /// `venue` or `vendor`.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Venue => "venue",
            HoldKind::Vendor => "vendor",
        }
    }
}

/// Where a held day stands with the reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Review {
    /// Held by the rule, not reviewed yet: its plays do not count.
    Pending,
    /// A reviewer excluded it: its plays do not count.
    Excluded,
    /// A reviewer included it: its plays count.
    Included,
}

impl Review {
    /// `pending`, `excluded` or `included`.
    pub fn as_str(self) -> &'static str {
        match self {
            Review::Pending => "pending",
            Review::Excluded => "excluded",
            Review::Included => "included",
        }
    }
}

/// A held venue-day or vendor-day, with the figures that held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Venue or vendor.
    pub kind: HoldKind,
    /// The `venue_id` or `vod_vendor`.
    pub id: String,
    /// The business day, in days since 1970-01-01.
    pub day: i32,
    /// Its valid plays that day.
    pub plays: i64,
    /// The market's valid plays that day.
    pub market_plays: i64,
    /// The median share it was compared with, as (plays, market plays) of that day.
    pub baseline: (i64, i64),
    /// Whether the baseline is the province's (venues) or the market's vendors' rather than its own.
    pub baseline_from_peers: bool,
    /// The reviewers' decision.
    pub review: Review,
}

impl Hold {
    /// Whether its plays are kept out of the chart.
    pub fn removes_plays(&self) -> bool {
        self.review != Review::Included
    }
}

/// A share of a day's plays, compared exactly.
#[derive(Debug, Clone, Copy)]
struct Share {
    plays: i64,
    market: i64,
}

impl Share {
    fn cmp(&self, other: &Share) -> Ordering {
        (self.plays as i128 * other.market as i128)
            .cmp(&(other.plays as i128 * self.market as i128))
    }

    /// Whether this share exceeds `factor` times `baseline`.
    fn exceeds(&self, factor: i64, baseline: &Share) -> bool {
        self.plays as i128 * baseline.market as i128
            > factor as i128 * baseline.plays as i128 * self.market as i128
    }
}

/// The ⌈n/2⌉-th smallest share.
fn median(mut shares: Vec<Share>) -> Option<Share> {
    if shares.is_empty() {
        return None;
    }
    shares.sort_by(Share::cmp);
    Some(shares[shares.len().div_ceil(2) - 1])
}

/// The daily valid plays rule 5 reads: per (venue or vendor, day).
#[derive(Debug, Default)]
pub(crate) struct DailyPlays {
    market: HashMap<i32, i64>,
    venues: BTreeMap<(String, i32), i64>,
    vendors: BTreeMap<(String, i32), i64>,
}

impl DailyPlays {
    pub(crate) fn add(&mut self, day: i32, venue: &str, vendor: Option<&str>, plays: i64) {
        *self.market.entry(day).or_default() += plays;
        *self.venues.entry((venue.to_string(), day)).or_default() += plays;
        if let Some(vendor) = vendor {
            *self.vendors.entry((vendor.to_string(), day)).or_default() += plays;
        }
    }
}

/// The venue-days and vendor-days of `days` (first to last, inclusive) that rule 5 holds,
/// in (kind, day, id) order. `province` gives each venue's province.
pub(crate) fn holds(
    rules: &Screening,
    daily: &DailyPlays,
    days: (i32, i32),
    province: &dyn Fn(&str) -> Option<String>,
) -> Vec<Hold> {
    let mut held = Vec::new();
    for (kind, table) in [
        (HoldKind::Venue, &daily.venues),
        (HoldKind::Vendor, &daily.vendors),
    ] {
        let group = |id: &str| match kind {
            HoldKind::Venue => province(id),
            HoldKind::Vendor => Some(String::new()),
        };
        // Each id's days and plays, and each peer group's (venue or vendor) shares by day.
        let mut by_id: BTreeMap<&str, Vec<(i32, Share)>> = BTreeMap::new();
        let mut by_group: HashMap<String, Vec<(i32, Share)>> = HashMap::new();
        for ((id, day), &plays) in table {
            let market = daily.market[day];
            let share = Share { plays, market };
            by_id.entry(id).or_default().push((*day, share));
            if let Some(g) = group(id) {
                by_group.entry(g).or_default().push((*day, share));
            }
        }
        let window = |shares: &[(i32, Share)], day: i32| -> Vec<Share> {
            shares
                .iter()
                .filter(|(d, _)| *d < day && *d >= day - rules.hold_window_days as i32)
                .map(|(_, s)| *s)
                .collect()
        };
        for (id, shares) in &by_id {
            for &(day, share) in shares {
                if day < days.0 || day > days.1 || share.plays < rules.hold_min_plays {
                    continue;
                }
                let own = window(shares, day);
                let (baseline, from_peers) = if own.len() as i64 >= rules.hold_min_history_days {
                    (median(own), false)
                } else {
                    let peers = group(id)
                        .and_then(|g| by_group.get(&g))
                        .map(|s| window(s, day))
                        .unwrap_or_default();
                    (median(peers), true)
                };
                if let Some(baseline) = baseline
                    && share.exceeds(rules.hold_factor, &baseline)
                {
                    held.push(Hold {
                        kind,
                        id: id.to_string(),
                        day,
                        plays: share.plays,
                        market_plays: share.market,
                        baseline: (baseline.plays, baseline.market),
                        baseline_from_peers: from_peers,
                        review: Review::Pending,
                    });
                }
            }
        }
    }
    for decision in &rules.review_decisions {
        let kind = match decision.kind.as_str() {
            "venue" => HoldKind::Venue,
            _ => HoldKind::Vendor,
        };
        let day = decision.day.num_days_from_ce() - 719_163;
        if day < days.0 || day > days.1 {
            continue;
        }
        let review = match decision.decision.as_str() {
            "include" => Review::Included,
            _ => Review::Excluded,
        };
        match held
            .iter_mut()
            .find(|h| h.kind == kind && h.day == day && h.id == decision.id)
        {
            Some(hold) => hold.review = review,
            None if review == Review::Excluded => {
                let table = match kind {
                    HoldKind::Venue => &daily.venues,
                    HoldKind::Vendor => &daily.vendors,
                };
                held.push(Hold {
                    kind,
                    id: decision.id.clone(),
                    day,
                    plays: table.get(&(decision.id.clone(), day)).copied().unwrap_or(0),
                    market_plays: daily.market.get(&day).copied().unwrap_or(0),
                    baseline: (0, 0),
                    baseline_from_peers: false,
                    review,
                });
            }
            None => {}
        }
    }
    held.sort_by(|a, b| (a.kind, a.day, &a.id).cmp(&(b.kind, b.day, &b.id)));
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_are_one_of_the_shares() {
        let s = |plays, market| Share { plays, market };
        assert!(median(vec![]).is_none());
        let m = median(vec![s(3, 10), s(1, 10), s(2, 10), s(4, 10)]).unwrap();
        assert_eq!((m.plays, m.market), (2, 10));
        let m = median(vec![s(1, 3), s(1, 2), s(1, 4)]).unwrap();
        assert_eq!((m.plays, m.market), (1, 3));
        // 6/10 is exactly 5 times 12/100: not above it.
        assert!(!s(6, 10).exceeds(5, &s(12, 100)));
        assert!(s(61, 100).exceeds(5, &s(12, 100)));
    }

    #[test]
    fn a_spike_is_held_and_a_steady_venue_is_not() {
        let rules = Screening::default();
        let mut daily = DailyPlays::default();
        for day in 0..40 {
            daily.add(day, "steady", Some("v1"), 100);
            daily.add(day, "market", Some("v2"), 10_000);
            let spiking = if day == 35 { 800 } else { 100 };
            daily.add(day, "spiking", Some("v1"), spiking);
        }
        let held = holds(&rules, &daily, (30, 39), &|_| Some("p".into()));
        let ids: Vec<_> = held
            .iter()
            .map(|h| (h.kind, h.id.as_str(), h.day))
            .collect();
        assert_eq!(ids, [(HoldKind::Venue, "spiking", 35)]);
        assert_eq!(held[0].baseline, (100, 10_200));
        // A new venue with no own history is compared with its province.
        daily.add(36, "newcomer", None, 600);
        let held = holds(&rules, &daily, (36, 36), &|_| Some("p".into()));
        assert_eq!(held.len(), 1);
        assert!(held[0].baseline_from_peers && held[0].id == "newcomer");
    }
}
