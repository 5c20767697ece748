//! Rules 3, 4 and 6 over the counted plays per song and venue, and the rank intervals.
//!
//! 3. **Venue concentration**: for a song counted in at least `concentration_min_venues`
//!    venues, ranked by counted plays (ties: `venue_id`), each of the top
//!    `concentration_top` venues counts at most the mean of the next
//!    `concentration_next` (rounded down to a whole play). `score_raw` is before, `score` after.
//! 4. **Minimum reach**: ranked only with counted plays in `min_venues` venues of
//!    `min_cities` distinct (province, city).
//! 6. **Order**: score desc, venues desc, rooms desc, gain over the previous month's
//!    score desc, song_id asc.
//!
//! **Rank intervals**: resample the month's venues with replacement (as many draws as
//!    venues with counted plays, in `venue_id` order), `bootstrap_resamples` times from
//!    one SplitMix64 stream seeded with `bootstrap_seed`, each draw
//!    `(next() × n) >> 64`. A resample's song score is the sum over drawn venues of the
//!    venue's contribution (after rule 3); the songs the chart ranks (eligibility is
//!    not resampled) are ordered by it, ties by their rank in the month. A song's
//!    interval is the nearest-rank percentiles `(100 ∓ confidence) / 2` of its ranks.

use std::collections::HashMap;

use crate::methodology::Screening;

/// Per song: the figures rules 3 and 4 and the order read.
#[derive(Debug, Clone, Default)]
pub(crate) struct SongScore {
    pub score_raw: i64,
    pub score: i64,
    pub venues: i64,
    pub cities: i64,
}

/// Rule 3 per song, from (song, venue, counted) rows; `city` gives a venue's city code.
/// Returns per song code its scores, and per (song, venue) its contribution after the cut.
pub(crate) fn concentration(
    rules: &Screening,
    songs: usize,
    song_venues: &[(u32, u32, i64)],
    city: &dyn Fn(u32) -> u32,
) -> (Vec<SongScore>, Vec<(u32, u32, i64)>) {
    let mut rows = song_venues.to_vec();
    // By song, then counted plays desc, then venue id.
    rows.sort_unstable_by(|a, b| (a.0, b.2, a.1).cmp(&(b.0, a.2, b.1)));
    let mut scores = vec![SongScore::default(); songs];
    let mut contributions = Vec::with_capacity(rows.len());
    let mut start = 0;
    while start < rows.len() {
        let song = rows[start].0;
        let end = start + rows[start..].iter().take_while(|r| r.0 == song).count();
        let venues = &rows[start..end];
        let n = venues.len();
        let top = rules.concentration_top as usize;
        let cut = if n as i64 >= rules.concentration_min_venues {
            let next = &venues[top.min(n)..(top + rules.concentration_next as usize).min(n)];
            (!next.is_empty()).then(|| next.iter().map(|r| r.2).sum::<i64>() / next.len() as i64)
        } else {
            None
        };
        let mut cities: Vec<u32> = venues.iter().map(|r| city(r.1)).collect();
        cities.sort_unstable();
        cities.dedup();
        let figures = &mut scores[song as usize];
        figures.venues = n as i64;
        figures.cities = cities.len() as i64;
        for (rank, &(song, venue, counted)) in venues.iter().enumerate() {
            let contribution = match cut {
                Some(cut) if rank < top => counted.min(cut),
                _ => counted,
            };
            figures.score_raw += counted;
            figures.score += contribution;
            contributions.push((song, venue, contribution));
        }
        start = end;
    }
    (scores, contributions)
}

/// The order of rule 6 over the `eligible` song codes: the sort key of each.
pub(crate) fn order(
    eligible: &mut [u32],
    scores: &[SongScore],
    rooms: &dyn Fn(u32) -> i64,
    gain: &dyn Fn(u32) -> i64,
) {
    eligible.sort_unstable_by_key(|&s| {
        let f = &scores[s as usize];
        (
            std::cmp::Reverse(f.score),
            std::cmp::Reverse(f.venues),
            std::cmp::Reverse(rooms(s)),
            std::cmp::Reverse(gain(s)),
            s,
        )
    });
}

/// SplitMix64, as published by Steele, Lea and Flood (2014).
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// The venues' weights (times drawn) of every resample.
pub(crate) fn resample_weights(rules: &Screening, venues: usize) -> Vec<Vec<u32>> {
    let mut rng = SplitMix64::new(rules.bootstrap_seed);
    (0..rules.bootstrap_resamples)
        .map(|_| {
            let mut weights = vec![0u32; venues];
            for _ in 0..venues {
                weights[rng.below(venues)] += 1;
            }
            weights
        })
        .collect()
}

/// The rank interval of each of the first `entries` songs of `ranked` (song codes in
/// the month's order), over `weights` (per resample, per venue index);
/// `contributions` are (song, venue index, contribution).
pub(crate) fn rank_intervals(
    rules: &Screening,
    ranked: &[u32],
    entries: usize,
    contributions: &[(u32, usize, i64)],
    weights: &[Vec<u32>],
) -> Vec<Option<(i64, i64)>> {
    let entries = entries.min(ranked.len());
    if weights.is_empty() {
        return vec![None; entries];
    }
    let position: HashMap<u32, usize> = ranked.iter().enumerate().map(|(i, &s)| (s, i)).collect();
    let venues = weights[0].len();
    let mut by_venue: Vec<Vec<(usize, i64)>> = vec![Vec::new(); venues];
    for &(song, venue, contribution) in contributions {
        if let Some(&p) = position.get(&song) {
            by_venue[venue].push((p, contribution));
        }
    }
    // The resamples in as many chunks as there are cores; each chunk's ranks, then all.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = weights.len().div_ceil(threads);
    let by_venue = &by_venue;
    let chunks: Vec<Vec<Vec<i64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = weights
            .chunks(chunk)
            .map(|part| scope.spawn(move || resampled_ranks(part, by_venue, ranked.len(), entries)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a resampling thread does not panic"))
            .collect()
    });
    let mut ranks: Vec<Vec<i64>> = vec![Vec::with_capacity(weights.len()); entries];
    for part in chunks {
        for (all, some) in ranks.iter_mut().zip(part) {
            all.extend(some);
        }
    }
    let b = weights.len() as i64;
    let c = rules.confidence_percent;
    // Nearest rank: the ⌈q·B⌉-th smallest, q = (100 ∓ c) / 200.
    let low = (((100 - c) * b + 199) / 200).max(1) - 1;
    let high = (((100 + c) * b + 199) / 200).max(1) - 1;
    ranks
        .into_iter()
        .map(|mut r| {
            r.sort_unstable();
            Some((r[low as usize], r[high.min(b - 1) as usize]))
        })
        .collect()
}

/// The ranks of the first `entries` songs in each resample of `weights`.
fn resampled_ranks(
    weights: &[Vec<u32>],
    by_venue: &[Vec<(usize, i64)>],
    songs: usize,
    entries: usize,
) -> Vec<Vec<i64>> {
    let mut ranks: Vec<Vec<i64>> = vec![Vec::with_capacity(weights.len()); entries];
    let mut scores = vec![0i64; songs];
    let mut order: Vec<usize> = Vec::with_capacity(songs);
    for w in weights {
        scores.iter_mut().for_each(|s| *s = 0);
        for (venue, songs) in by_venue.iter().enumerate() {
            let times = w[venue] as i64;
            if times > 0 {
                for &(p, c) in songs {
                    scores[p] += times * c;
                }
            }
        }
        order.clear();
        order.extend(0..songs);
        order.sort_unstable_by_key(|&p| (std::cmp::Reverse(scores[p]), p));
        for (rank, &p) in order.iter().enumerate() {
            if p < entries {
                ranks[p].push(rank as i64 + 1);
            }
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_its_published_first_outputs() {
        // The first outputs for seed 0 in the authors' reference code.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn the_top_venues_are_cut_to_the_mean_of_the_next() {
        let rules = Screening::default();
        // Song 0: venues scoring 100, 40, 10, 6, 5 → the top two cut to (10+6+5)/3 = 7.
        // Song 1: two venues, not cut.
        let rows = [
            (0, 0, 100),
            (0, 1, 40),
            (0, 2, 10),
            (0, 3, 6),
            (0, 4, 5),
            (1, 0, 50),
            (1, 1, 1),
        ];
        let (scores, contributions) = concentration(&rules, 2, &rows, &|v| v % 2);
        assert_eq!((scores[0].score_raw, scores[0].score), (161, 7 + 7 + 21));
        assert_eq!((scores[0].venues, scores[0].cities), (5, 2));
        assert_eq!((scores[1].score_raw, scores[1].score), (51, 51));
        assert_eq!(contributions[0], (0, 0, 7));
    }
}
