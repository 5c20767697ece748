//! D-1 over plain rows ([`crate::methodology::distribution`] states the rules): the
//! fees of a period's months, the counted plays per month, venue and song, the
//! venues' provinces and the songs' rights holders in; every fen's destination out.
//! No SQL and no floating point: the amounts are `u64` fen, added with checks.

use std::collections::{BTreeMap, HashMap};

use crate::distribution::fees::FeeRow;
use crate::error::{ChartError, Result};
use crate::methodology::money::apportion;
use crate::methodology::{DistributionMethodology, Period, PeriodKind};

/// Counted plays per month, venue and song, under the counting methodology (valid
/// plays after its room cap), with the ids numbered once: a month of plays holds tens
/// of millions of (venue, song) pairs, so a row is four integers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountedPlays {
    months: Vec<Period>,
    venues: Vec<String>,
    songs: Vec<String>,
    rows: Vec<CountedRow>,
}

/// One row of [`CountedPlays`]: indexes into its months, venues and songs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct CountedRow {
    month: u32,
    venue: u32,
    song: u32,
    counted: u32,
}

/// Numbers distinct values in order of first appearance.
#[derive(Debug, Default)]
struct Numbering {
    numbers: HashMap<String, u32, foldhash::fast::RandomState>,
}

impl Numbering {
    fn number(&mut self, value: &str, values: &mut Vec<String>) -> u32 {
        if let Some(&n) = self.numbers.get(value) {
            return n;
        }
        let n = values.len() as u32;
        values.push(value.to_string());
        self.numbers.insert(value.to_string(), n);
        n
    }
}

/// Builds [`CountedPlays`] row by row.
#[derive(Debug, Default)]
pub struct CountedPlaysBuilder {
    counted: CountedPlays,
    months: Vec<Period>,
    venues: Numbering,
    songs: Numbering,
}

impl CountedPlaysBuilder {
    /// Adds a venue's counted plays of a song in a month (rows of the same month,
    /// venue and song add up).
    pub fn push(
        &mut self,
        month: Period,
        venue_id: &str,
        song_id: &str,
        counted: u64,
    ) -> Result<()> {
        let month = match self.months.iter().position(|m| *m == month) {
            Some(i) => i as u32,
            None => {
                self.months.push(month);
                self.months.len() as u32 - 1
            }
        };
        let c = &mut self.counted;
        let row = CountedRow {
            month,
            venue: self.venues.number(venue_id, &mut c.venues),
            song: self.songs.number(song_id, &mut c.songs),
            counted: u32::try_from(counted).map_err(|_| ChartError::CountOverflow {
                what: format!("{song_id} at {venue_id} in {}", self.months[month as usize]),
            })?,
        };
        c.rows.push(row);
        Ok(())
    }

    /// The rows, with songs renumbered in `song_id` order (the tie order of splits).
    pub fn finish(mut self) -> Result<CountedPlays> {
        let mut c = self.counted;
        let mut order: Vec<u32> = (0..c.songs.len() as u32).collect();
        order.sort_unstable_by(|a, b| c.songs[*a as usize].cmp(&c.songs[*b as usize]));
        let mut renumber = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            renumber[old as usize] = new as u32;
        }
        c.songs = order
            .iter()
            .map(|&old| std::mem::take(&mut c.songs[old as usize]))
            .collect();
        for row in &mut c.rows {
            row.song = renumber[row.song as usize];
        }
        c.months = std::mem::take(&mut self.months);
        // By month, venue and song: a venue's songs of a month are one slice, in order.
        c.rows.sort_unstable();
        // Rows of the same month, venue and song add up.
        let mut merged: Vec<CountedRow> = Vec::with_capacity(c.rows.len());
        for row in c.rows.drain(..) {
            match merged.last_mut() {
                Some(last)
                    if (last.month, last.venue, last.song) == (row.month, row.venue, row.song) =>
                {
                    last.counted = last.counted.checked_add(row.counted).ok_or_else(|| {
                        ChartError::CountOverflow {
                            what: format!(
                                "{} at {}",
                                c.songs[row.song as usize], c.venues[row.venue as usize]
                            ),
                        }
                    })?;
                }
                _ => merged.push(row),
            }
        }
        c.rows = merged;
        Ok(c)
    }
}

impl CountedPlays {
    /// Counted plays given as (month, venue, song, counted) rows.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (Period, &'a str, &'a str, u64)>,
    ) -> Result<CountedPlays> {
        let mut builder = CountedPlaysBuilder::default();
        for (month, venue, song, counted) in rows {
            builder.push(month, venue, song, counted)?;
        }
        builder.finish()
    }

    /// Whether a song has counted plays here.
    pub fn has_song(&self, song_id: &str) -> bool {
        self.songs
            .binary_search_by(|s| s.as_str().cmp(song_id))
            .is_ok()
    }

    /// Rows (distinct month, venue and song).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// How a venue's recordings amount of a month was distributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Basis {
    /// Over the songs counted at the venue.
    Direct,
    /// Pooled, over the counted plays of the venue's province.
    SampledProvince,
    /// Pooled, over the whole country's counted plays (none in the province).
    SampledNational,
    /// To the reserve: the venue is not in the register.
    UnknownVenue,
    /// To the reserve: no counted play in the whole country that month.
    NoPlays,
}

impl Basis {
    /// The name in published files.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Direct => "direct",
            Basis::SampledProvince => "sampled_province",
            Basis::SampledNational => "sampled_national",
            Basis::UnknownVenue => "unknown_venue",
            Basis::NoPlays => "no_plays",
        }
    }
}

/// One venue's fees of one month and where they went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueLine {
    /// The fee month.
    pub month: Period,
    /// The venue.
    pub venue_id: String,
    /// Its province (`None` when the venue is not in the register).
    pub province: Option<String>,
    /// How its recordings amount was distributed.
    pub basis: Basis,
    /// Fee rows added up.
    pub fee_rows: u64,
    /// Fees collected.
    pub collected: u64,
    /// Management fees.
    pub management_fee: u64,
    /// To the works payee.
    pub works_share: u64,
    /// To songs, directly or through its province's pool.
    pub distributed: u64,
    /// To the reserve (unknown venue, no plays).
    pub reserve: u64,
    /// The venue's counted plays that month.
    pub counted_plays: u64,
}

/// What one song earned over the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SongLine {
    /// Its rights holder (`None`: the amount goes to the reserve).
    pub rights_holder_id: Option<String>,
    /// Counted plays in the whole country over the period's months.
    pub counted_plays: u64,
    /// From the venues where it was counted.
    pub direct: u64,
    /// From the provinces' pools.
    pub sampled: u64,
}

impl SongLine {
    /// Direct and sampled together.
    pub fn amount(&self) -> u64 {
        self.direct + self.sampled
    }
}

/// The totals of a period; `collected` is the sum of every other amount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Fee rows of the period.
    pub fee_rows: u64,
    /// Fees collected.
    pub collected: u64,
    /// Management fees.
    pub management_fee: u64,
    /// To the works payee.
    pub works_share: u64,
    /// To rights holders, from the venues where their songs were counted.
    pub distributed_direct: u64,
    /// To rights holders, through the provinces' pools.
    pub distributed_sampled: u64,
    /// Reserve: songs without a rights holder.
    pub reserve_no_holder: u64,
    /// Reserve: fees of venues not in the register.
    pub reserve_unknown_venue: u64,
    /// Reserve: pools of a month without a counted play in the country.
    pub reserve_no_plays: u64,
    /// Counted plays over the period.
    pub counted_plays: u64,
}

impl Totals {
    /// The three reserves together.
    pub fn reserve(&self) -> u64 {
        self.reserve_no_holder + self.reserve_unknown_venue + self.reserve_no_plays
    }
}

/// Every fen of a period's fees, by venue, song and total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// By month, then venue.
    pub venues: Vec<VenueLine>,
    /// By song id: every song counted in the period's months.
    pub songs: BTreeMap<String, SongLine>,
    /// The period's totals.
    pub totals: Totals,
}

/// What D-1 reads, as plain rows.
#[derive(Debug, Clone, Copy)]
pub struct LedgerInputs<'a> {
    /// The period distributed: its months' fees and plays.
    pub period: Period,
    /// Fee rows (of any month: those of the period's months are used).
    pub fees: &'a [FeeRow],
    /// Counted plays (of any month: those of the period's months are used).
    pub counted: &'a CountedPlays,
    /// The register: venue to province.
    pub provinces: &'a HashMap<String, String>,
    /// The catalogue: song to rights holder.
    pub holders: &'a HashMap<String, Option<String>>,
}

fn add(a: u64, b: u64, what: impl FnOnce() -> String) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| ChartError::AmountOverflow { what: what() })
}

fn total() -> String {
    "the period's total".to_string()
}

/// Splits `amount` over songs by weight (songs in id order, the tie order), adding
/// each part to the song's direct or sampled amount.
fn split_over_songs(
    amount: u64,
    songs: &[u32],
    weights: &[u64],
    lines: &mut [SongLine],
    names: &[String],
    sampled: bool,
) -> Result<()> {
    let parts = apportion(amount, weights).expect("only songs with counted plays are kept");
    for (&song, part) in songs.iter().zip(parts) {
        let line = &mut lines[song as usize];
        let target = if sampled {
            &mut line.sampled
        } else {
            &mut line.direct
        };
        *target = add(*target, part, || format!("song {}", names[song as usize]))?;
    }
    Ok(())
}

/// The months of a period, in order.
fn months_of(period: Period) -> Vec<Period> {
    let mut month = Period::containing(PeriodKind::Month, period.first_day());
    let mut months = Vec::new();
    while month.first_day() <= period.last_day() {
        months.push(month);
        month = Period::containing(
            PeriodKind::Month,
            month.last_day().succ_opt().expect("in chrono's range"),
        );
    }
    months
}

/// Computes D-1 for `inputs.period`.
pub fn compute(methodology: &DistributionMethodology, inputs: LedgerInputs<'_>) -> Result<Ledger> {
    let counted = inputs.counted;
    let mut lines: Vec<SongLine> = counted
        .songs
        .iter()
        .map(|song| SongLine {
            rights_holder_id: inputs.holders.get(song).cloned().flatten(),
            ..SongLine::default()
        })
        .collect();
    let mut in_period = vec![false; counted.songs.len()];
    let mut ledger = Ledger::default();
    for month in months_of(inputs.period) {
        let Some(index) = counted.months.iter().position(|m| *m == month) else {
            distribute_month(methodology, &inputs, month, &[], &mut lines, &mut ledger)?;
            continue;
        };
        let index = index as u32;
        let start = counted.rows.partition_point(|r| r.month < index);
        let end = counted.rows.partition_point(|r| r.month <= index);
        let rows = &counted.rows[start..end];
        for row in rows {
            let line = &mut lines[row.song as usize];
            line.counted_plays = add(line.counted_plays, row.counted as u64, || {
                format!("counted plays of {}", counted.songs[row.song as usize])
            })?;
            in_period[row.song as usize] = true;
        }
        distribute_month(methodology, &inputs, month, rows, &mut lines, &mut ledger)?;
    }
    for ((song, line), _) in counted
        .songs
        .iter()
        .zip(lines)
        .zip(&in_period)
        .filter(|(_, counted)| **counted)
    {
        let totals = &mut ledger.totals;
        if line.rights_holder_id.is_some() {
            totals.distributed_direct = add(totals.distributed_direct, line.direct, total)?;
            totals.distributed_sampled = add(totals.distributed_sampled, line.sampled, total)?;
        } else {
            totals.reserve_no_holder = add(totals.reserve_no_holder, line.amount(), total)?;
        }
        totals.counted_plays = add(totals.counted_plays, line.counted_plays, total)?;
        ledger.songs.insert(song.clone(), line);
    }
    Ok(ledger)
}

/// Song weights summed over venues: one slot per song of [`CountedPlays`].
struct DenseWeights(Vec<u64>);

impl DenseWeights {
    /// The songs with a weight, in id order, and their weights.
    fn nonzero(&self) -> (Vec<u32>, Vec<u64>) {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .map(|(song, &w)| (song as u32, w))
            .unzip()
    }
}

/// One month's fees (`rows`: the month's counted plays, by venue then song): venue by
/// venue, then the provinces' pools.
fn distribute_month(
    methodology: &DistributionMethodology,
    inputs: &LedgerInputs<'_>,
    month: Period,
    rows: &[CountedRow],
    lines: &mut [SongLine],
    ledger: &mut Ledger,
) -> Result<()> {
    let counted = inputs.counted;
    let songs = counted.songs.len();
    // Each venue's slice of the month's rows.
    let mut by_venue: HashMap<&str, &[CountedRow]> = HashMap::new();
    for slice in rows.chunk_by(|a, b| a.venue == b.venue) {
        by_venue.insert(&counted.venues[slice[0].venue as usize], slice);
    }
    // The month's weights per province and in the whole country.
    let mut by_province: HashMap<&str, DenseWeights> = HashMap::new();
    let mut national = DenseWeights(vec![0; songs]);
    for (venue, slice) in &by_venue {
        let province = inputs.provinces.get(*venue).map(String::as_str);
        let mut weights = province.map(|p| {
            by_province
                .entry(p)
                .or_insert_with(|| DenseWeights(vec![0; songs]))
        });
        for row in *slice {
            national.0[row.song as usize] += row.counted as u64;
            if let Some(weights) = weights.as_mut() {
                weights.0[row.song as usize] += row.counted as u64;
            }
        }
    }

    let mut fees: BTreeMap<&str, Vec<&FeeRow>> = BTreeMap::new();
    for row in inputs.fees.iter().filter(|f| f.period == month) {
        fees.entry(&row.venue_id).or_default().push(row);
    }
    // Venue lines waiting for their province's pool.
    let mut pools: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let first_line = ledger.venues.len();
    for (venue, rows) in fees {
        let own = by_venue.get(venue).copied().unwrap_or_default();
        let mut line = VenueLine {
            month,
            venue_id: venue.to_string(),
            province: inputs.provinces.get(venue).cloned(),
            basis: Basis::Direct,
            fee_rows: rows.len() as u64,
            collected: 0,
            management_fee: 0,
            works_share: 0,
            distributed: 0,
            reserve: 0,
            counted_plays: own.iter().map(|r| r.counted as u64).sum(),
        };
        let mut net = 0;
        for row in rows {
            let rate = methodology
                .management_fee_of(&row.business_line)
                .ok_or_else(|| ChartError::BadValue {
                    input: row.input.to_string(),
                    row: row.row,
                    column: "business_line",
                    problem: format!(
                        "`{}` has no management fee in {} (it has {})",
                        row.business_line,
                        methodology.version,
                        methodology
                            .management_fee
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            let (fee, rest) = rate.split(row.amount_fen);
            line.collected = add(line.collected, row.amount_fen, || {
                format!("fees of venue {venue} for {month}")
            })?;
            line.management_fee += fee;
            net += rest;
        }
        let (works, recordings) = methodology.works_share.split(net);
        line.works_share = works;
        if line.province.is_none() {
            line.basis = Basis::UnknownVenue;
            line.reserve = recordings;
        } else if !own.is_empty() {
            let songs: Vec<u32> = own.iter().map(|r| r.song).collect();
            let weights: Vec<u64> = own.iter().map(|r| r.counted as u64).collect();
            split_over_songs(recordings, &songs, &weights, lines, &counted.songs, false)?;
            line.distributed = recordings;
        } else {
            line.distributed = recordings;
            let province = line.province.clone().expect("checked above");
            pools.entry(province).or_default().push(ledger.venues.len());
        }
        ledger.venues.push(line);
    }

    let national = national.nonzero();
    for (province, members) in pools {
        let mut pool = 0;
        for &i in &members {
            pool = add(pool, ledger.venues[i].distributed, || {
                format!("the pool of {province} for {month}")
            })?;
        }
        let in_province = by_province
            .get(province.as_str())
            .map(DenseWeights::nonzero);
        let (basis, weights) = match &in_province {
            Some(weights) => (Basis::SampledProvince, Some(weights)),
            None if !national.0.is_empty() => (Basis::SampledNational, Some(&national)),
            None => (Basis::NoPlays, None),
        };
        for &i in &members {
            let line = &mut ledger.venues[i];
            line.basis = basis;
            if weights.is_none() {
                line.reserve = std::mem::take(&mut line.distributed);
            }
        }
        if let Some((songs, weights)) = weights {
            split_over_songs(pool, songs, weights, lines, &counted.songs, true)?;
        }
    }

    let totals = &mut ledger.totals;
    for line in &ledger.venues[first_line..] {
        totals.fee_rows += line.fee_rows;
        totals.collected = add(totals.collected, line.collected, total)?;
        totals.management_fee = add(totals.management_fee, line.management_fee, total)?;
        totals.works_share = add(totals.works_share, line.works_share, total)?;
        match line.basis {
            Basis::UnknownVenue => {
                totals.reserve_unknown_venue =
                    add(totals.reserve_unknown_venue, line.reserve, total)?
            }
            Basis::NoPlays => {
                totals.reserve_no_plays = add(totals.reserve_no_plays, line.reserve, total)?
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_plays_are_numbered_in_song_order_and_merged() {
        let november: Period = "2024-11".parse().unwrap();
        let counted = CountedPlays::from_rows([
            (november, "V2", "S9", 1),
            (november, "V1", "S1", 2),
            (november, "V2", "S9", 3),
            (november, "V1", "S5", 4),
        ])
        .unwrap();
        assert_eq!(counted.songs, ["S1", "S5", "S9"]);
        assert_eq!(counted.len(), 3);
        let v2 = counted.venues.iter().position(|v| v == "V2").unwrap() as u32;
        assert!(counted.rows.contains(&CountedRow {
            month: 0,
            venue: v2,
            song: 2,
            counted: 4
        }));
        assert!(counted.has_song("S5") && !counted.has_song("S2"));
        let error = CountedPlays::from_rows([(november, "V1", "S1", u64::from(u32::MAX) + 1)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "S1 at V1 in 2024-11: more than 4294967295 counted plays"
        );
    }
}
