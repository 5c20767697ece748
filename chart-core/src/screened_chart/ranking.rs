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

use crate::methodology::Screening;

/// Per song: the figures rules 3 and 4 and the order read.
#[derive(Debug, Clone, Default)]
pub(crate) struct SongScore {
    pub score_raw: i64,
    pub score: i64,
    pub venues: i64,
    pub cities: i64,
}

/// Rule 3 per song, from (song, venue, counted) rows (the rows of a song and venue are
/// added up); `city` gives a venue's city code.
/// Returns per song code its scores, and per (song, venue) its contribution after the cut.
pub(crate) fn concentration(
    rules: &Screening,
    songs: usize,
    song_venues: &[(u32, u32, i64)],
    city: &(dyn Fn(u32) -> u32 + Sync),
) -> (Vec<SongScore>, Vec<(u32, u32, i64)>) {
    // By song (a counting sort: song codes are dense), then counted plays desc, then
    // venue id.
    let mut starts = vec![0usize; songs + 1];
    for row in song_venues {
        starts[row.0 as usize + 1] += 1;
    }
    for s in 1..starts.len() {
        starts[s] += starts[s - 1];
    }
    let mut rows = vec![(0, 0, 0); song_venues.len()];
    let mut next = starts.clone();
    for &row in song_venues {
        rows[next[row.0 as usize]] = row;
        next[row.0 as usize] += 1;
    }
    drop(next);
    // The songs in one range per core (by rows), each range's rule 3 on its own.
    let mut scores = vec![SongScore::default(); songs];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cuts = vec![0usize];
    for t in 1..threads {
        let song = starts.partition_point(|&start| start < rows.len() * t / threads);
        cuts.push(song.clamp(*cuts.last().expect("a cut"), songs));
    }
    cuts.push(songs);
    let mut parts = Vec::with_capacity(threads);
    let (mut rows_left, mut scores_left) = (&mut rows[..], &mut scores[..]);
    for range in cuts.windows(2) {
        let (song_rows, rest) = rows_left.split_at_mut(starts[range[1]] - starts[range[0]]);
        let (song_scores, more) = scores_left.split_at_mut(range[1] - range[0]);
        parts.push((
            song_rows,
            song_scores,
            &starts[range[0]..=range[1]],
            range[0],
        ));
        (rows_left, scores_left) = (rest, more);
    }
    let contributions = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|(rows, scores, starts, first)| {
                scope.spawn(move || concentrate(rules, rows, scores, starts, first, city))
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().expect("rule 3 does not panic"));
        }
        all
    });
    (scores, contributions)
}

/// Rule 3 over the rows of the songs from `first_song` on (`starts`: where each song's
/// rows start in the whole, then where the range ends), into those songs' `scores`.
fn concentrate(
    rules: &Screening,
    rows: &mut [(u32, u32, i64)],
    scores: &mut [SongScore],
    starts: &[usize],
    first_song: usize,
    city: &(dyn Fn(u32) -> u32 + Sync),
) -> Vec<(u32, u32, i64)> {
    let base = starts[0];
    let mut contributions = Vec::with_capacity(rows.len());
    for range in starts.windows(2).filter(|r| r[0] < r[1]) {
        let venues = &mut rows[range[0] - base..range[1] - base];
        // A venue's rows (one per day from day digests) added up.
        venues.sort_unstable_by_key(|r| r.1);
        let mut distinct = 0;
        for i in 0..venues.len() {
            if distinct > 0 && venues[distinct - 1].1 == venues[i].1 {
                venues[distinct - 1].2 += venues[i].2;
            } else {
                venues[distinct] = venues[i];
                distinct += 1;
            }
        }
        let venues = &mut venues[..distinct];
        venues.sort_unstable_by(|a, b| (b.2, a.1).cmp(&(a.2, b.1)));
        let venues = &*venues;
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
        let figures = &mut scores[venues[0].0 as usize - first_song];
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
    }
    contributions
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

/// The songs whose rooms can decide the first `entries` places of any of `lists`
/// under [`order`] (rooms come third): those before the `entries`-th song by score and
/// venues, and those tied with it. Sorted by code.
pub(crate) fn needing_rooms(lists: [&[u32]; 3], scores: &[SongScore], entries: usize) -> Vec<u32> {
    let key = |s: u32| {
        let f = &scores[s as usize];
        (f.score, f.venues)
    };
    let mut needed = Vec::new();
    for list in lists {
        let mut by_key = list.to_vec();
        by_key.sort_unstable_by_key(|&s| std::cmp::Reverse(key(s)));
        match by_key.get(entries.max(1) - 1) {
            Some(&last) => needed.extend(by_key.iter().take_while(|&&s| key(s) >= key(last))),
            None => needed.extend(by_key),
        }
    }
    needed.sort_unstable();
    needed.dedup();
    needed
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
///
/// A song past the first `entries` moves one of them down only by scoring more than it
/// in a resample (it comes later in the month's order), and no resample gives a song
/// more than its largest weight times the sum of its positive contributions. So each
/// resample scores the `entries` songs, then the others by that bound, largest first,
/// until the bound is no more than the lowest of the entries' scores: the songs left
/// out rank below every entry, and the entries' ranks are those over every song.
pub(crate) fn rank_intervals(
    rules: &Screening,
    ranked: &[u32],
    entries: usize,
    contributions: &[(u32, usize, i64)],
    weights: &[Vec<u32>],
) -> Vec<Option<(i64, i64)>> {
    let entries = entries.min(ranked.len());
    if weights.is_empty() || entries == 0 {
        return vec![None; entries];
    }
    let codes = ranked.iter().map(|&s| s as usize + 1).max().unwrap_or(0);
    let mut position = vec![usize::MAX; codes];
    for (p, &s) in ranked.iter().enumerate() {
        position[s as usize] = p;
    }
    let mut by_song: Vec<Vec<(u32, i64)>> = vec![Vec::new(); ranked.len()];
    for &(song, venue, contribution) in contributions {
        if let Some(&p) = position.get(song as usize).filter(|&&p| p != usize::MAX) {
            by_song[p].push((venue as u32, contribution));
        }
    }
    let bounds: Vec<i64> = by_song
        .iter()
        .map(|venues| venues.iter().map(|v| v.1.max(0)).sum())
        .collect();
    let mut others: Vec<usize> = (entries..ranked.len()).collect();
    others.sort_unstable_by_key(|&p| (std::cmp::Reverse(bounds[p]), p));
    let songs = ResampledSongs {
        by_song: &by_song,
        bounds: &bounds,
        others: &others,
        entries,
    };
    // The resamples in as many chunks as there are cores; each chunk's ranks, then all.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = weights.len().div_ceil(threads);
    let songs = &songs;
    let chunks: Vec<Vec<Vec<i64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = weights
            .chunks(chunk)
            .map(|part| scope.spawn(move || songs.ranks(part)))
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

/// The ranked songs as [`rank_intervals`] resamples them, by position in the month.
struct ResampledSongs<'a> {
    /// Per position: (venue index, contribution).
    by_song: &'a [Vec<(u32, i64)>],
    /// Per position: the sum of its positive contributions.
    bounds: &'a [i64],
    /// The positions from `entries` on, largest bound first.
    others: &'a [usize],
    /// The positions whose ranks are asked for: `0..entries`.
    entries: usize,
}

impl ResampledSongs<'_> {
    fn score(&self, weights: &[u32], p: usize) -> i64 {
        self.by_song[p]
            .iter()
            .map(|&(venue, c)| weights[venue as usize] as i64 * c)
            .sum()
    }

    /// The ranks of the first `entries` positions in each resample of `weights`.
    fn ranks(&self, weights: &[Vec<u32>]) -> Vec<Vec<i64>> {
        let mut ranks: Vec<Vec<i64>> = vec![Vec::with_capacity(weights.len()); self.entries];
        let mut scored: Vec<(i64, usize)> = Vec::new();
        for w in weights {
            let heaviest = w.iter().copied().max().unwrap_or(0) as i64;
            scored.clear();
            scored.extend((0..self.entries).map(|p| (self.score(w, p), p)));
            let lowest = scored.iter().map(|s| s.0).min().unwrap_or(i64::MIN);
            for &q in self.others {
                if heaviest.saturating_mul(self.bounds[q]) <= lowest {
                    break;
                }
                scored.push((self.score(w, q), q));
            }
            scored.sort_unstable_by_key(|&(score, p)| (std::cmp::Reverse(score), p));
            for (rank, &(_, p)) in scored.iter().enumerate() {
                if p < self.entries {
                    ranks[p].push(rank as i64 + 1);
                }
            }
        }
        ranks
    }
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

    /// Every song's score in every resample, all songs sorted: the intervals by
    /// definition, without the bound that leaves songs out.
    fn intervals_over_every_song(
        rules: &Screening,
        ranked: &[u32],
        entries: usize,
        contributions: &[(u32, usize, i64)],
        weights: &[Vec<u32>],
    ) -> Vec<Option<(i64, i64)>> {
        let mut ranks = vec![Vec::new(); entries];
        for w in weights {
            let score = |s: u32| -> i64 {
                contributions
                    .iter()
                    .filter(|c| c.0 == s)
                    .map(|c| w[c.1] as i64 * c.2)
                    .sum()
            };
            let mut order: Vec<(i64, usize)> = ranked
                .iter()
                .enumerate()
                .map(|(p, &s)| (-score(s), p))
                .collect();
            order.sort();
            for (rank, (_, p)) in order.into_iter().enumerate() {
                if p < entries {
                    ranks[p].push(rank as i64 + 1);
                }
            }
        }
        let b = weights.len() as i64;
        let c = rules.confidence_percent;
        ranks
            .into_iter()
            .map(|mut r| {
                r.sort();
                let at = |q: i64| r[((q * b + 199) / 200).max(1) as usize - 1];
                Some((at(100 - c), at(100 + c)))
            })
            .collect()
    }

    #[test]
    fn the_bound_leaves_out_only_songs_ranked_below_every_entry() {
        // Songs with few venues and many ties (scores 1..=4), venues weighted 0..=3.
        let mut rng = SplitMix64::new(7);
        for round in 0..40 {
            let (songs, venues) = (30 + round % 7, 6 + round % 5);
            let contributions: Vec<(u32, usize, i64)> = (0..songs as u32)
                .flat_map(|s| (0..venues).map(move |v| (s, v)))
                .filter_map(|(s, v)| {
                    let c = rng.below(5) as i64;
                    (c > 0 && rng.below(3) == 0).then_some((s, v, c))
                })
                .collect();
            let mut ranked: Vec<u32> = (0..songs as u32).collect();
            let total =
                |s: u32| -> i64 { contributions.iter().filter(|c| c.0 == s).map(|c| c.2).sum() };
            ranked.sort_by_key(|&s| (std::cmp::Reverse(total(s)), s));
            let weights: Vec<Vec<u32>> = (0..25)
                .map(|_| (0..venues).map(|_| rng.below(4) as u32).collect())
                .collect();
            let rules = Screening::default();
            let entries = 1 + round % 12;
            assert_eq!(
                rank_intervals(&rules, &ranked, entries, &contributions, &weights),
                intervals_over_every_song(&rules, &ranked, entries, &contributions, &weights),
                "round {round}"
            );
        }
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
