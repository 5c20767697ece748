//! D-1 over plain rows ([`crate::methodology::distribution`] states the rules): the
//! fees of a period's months, the counted plays per month, venue and song, the
//! venues' provinces and the songs' rights holders in; every fen's destination out.
//! No SQL and no floating point: the amounts are `u64` fen, added with checks.

use std::collections::{BTreeMap, HashMap};

use crate::distribution::fees::FeeRow;
use crate::error::{ChartError, Result};
use crate::methodology::money::apportion;
use crate::methodology::{DistributionMethodology, Period, PeriodKind};

/// A venue's counted plays of one song in one month, under the counting methodology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPlays {
    /// The month.
    pub month: Period,
    /// The venue.
    pub venue_id: String,
    /// The song.
    pub song_id: String,
    /// Plays counted (after the counting methodology's rules, e.g. the room cap).
    pub counted: u64,
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
    pub counted: &'a [CountedPlays],
    /// The register: venue to province.
    pub provinces: &'a HashMap<String, String>,
    /// The catalogue: song to rights holder.
    pub holders: &'a HashMap<String, Option<String>>,
}

fn add(a: u64, b: u64, what: impl FnOnce() -> String) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| ChartError::AmountOverflow { what: what() })
}

/// Weights (counted plays) of songs, in the tie order: by song id.
type SongWeights = BTreeMap<String, u64>;

/// Splits `amount` over `songs` by counted plays, adding each part to the song's
/// `direct` or `sampled` amount.
fn split_over_songs(
    amount: u64,
    songs: &SongWeights,
    lines: &mut BTreeMap<String, SongLine>,
    sampled: bool,
) -> Result<()> {
    let weights: Vec<u64> = songs.values().copied().collect();
    let parts = apportion(amount, &weights).expect("only songs with counted plays are kept");
    for (song, part) in songs.keys().zip(parts) {
        let line = lines.get_mut(song).expect("every counted song has a line");
        let target = if sampled {
            &mut line.sampled
        } else {
            &mut line.direct
        };
        *target = add(*target, part, || format!("song {song}"))?;
    }
    Ok(())
}

/// Computes D-1 for `inputs.period`.
pub fn compute(methodology: &DistributionMethodology, inputs: LedgerInputs<'_>) -> Result<Ledger> {
    let months: Vec<Period> = match inputs.period {
        Period::Month { .. } => vec![inputs.period],
        Period::Year(_) => {
            let mut month = Period::containing(PeriodKind::Month, inputs.period.first_day());
            let mut months = Vec::new();
            while month.first_day() <= inputs.period.last_day() {
                months.push(month);
                month = Period::containing(
                    PeriodKind::Month,
                    month.last_day().succ_opt().expect("in chrono's range"),
                );
            }
            months
        }
    };
    let mut ledger = Ledger::default();
    for row in inputs.counted.iter().filter(|c| months.contains(&c.month)) {
        let line = ledger
            .songs
            .entry(row.song_id.clone())
            .or_insert_with(|| SongLine {
                rights_holder_id: inputs.holders.get(&row.song_id).cloned().flatten(),
                ..SongLine::default()
            });
        line.counted_plays = add(line.counted_plays, row.counted, || {
            format!("counted plays of {}", row.song_id)
        })?;
    }
    for month in months {
        distribute_month(methodology, &inputs, month, &mut ledger)?;
    }
    for line in ledger.songs.values() {
        let totals = &mut ledger.totals;
        if line.rights_holder_id.is_some() {
            totals.distributed_direct = add(totals.distributed_direct, line.direct, total)?;
            totals.distributed_sampled = add(totals.distributed_sampled, line.sampled, total)?;
        } else {
            totals.reserve_no_holder = add(totals.reserve_no_holder, line.amount(), total)?;
        }
        totals.counted_plays = add(totals.counted_plays, line.counted_plays, total)?;
    }
    Ok(ledger)
}

fn total() -> String {
    "the period's total".to_string()
}

/// One month's fees: venue by venue, then the provinces' pools.
fn distribute_month(
    methodology: &DistributionMethodology,
    inputs: &LedgerInputs<'_>,
    month: Period,
    ledger: &mut Ledger,
) -> Result<()> {
    // Counted plays of the month per venue, and per province.
    let mut by_venue: BTreeMap<&str, SongWeights> = BTreeMap::new();
    for row in inputs
        .counted
        .iter()
        .filter(|c| c.month == month && c.counted > 0)
    {
        let weight = by_venue
            .entry(&row.venue_id)
            .or_default()
            .entry(row.song_id.clone())
            .or_default();
        *weight = add(*weight, row.counted, || {
            format!("counted plays of {}", row.venue_id)
        })?;
    }
    let mut by_province: BTreeMap<&str, SongWeights> = BTreeMap::new();
    let mut national = SongWeights::new();
    for (venue, songs) in &by_venue {
        let province = inputs.provinces.get(*venue).map(String::as_str);
        for (song, &counted) in songs {
            if let Some(province) = province {
                *by_province
                    .entry(province)
                    .or_default()
                    .entry(song.clone())
                    .or_default() += counted;
            }
            *national.entry(song.clone()).or_default() += counted;
        }
    }

    let mut fees: BTreeMap<&str, Vec<&FeeRow>> = BTreeMap::new();
    for row in inputs.fees.iter().filter(|f| f.period == month) {
        fees.entry(&row.venue_id).or_default().push(row);
    }
    // Recordings amounts waiting for their province's pool: province -> venue lines.
    let mut pools: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (venue, rows) in fees {
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
            counted_plays: by_venue.get(venue).map_or(0, |s| s.values().sum()),
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
            let what = || format!("fees of venue {venue} for {month}");
            line.collected = add(line.collected, row.amount_fen, what)?;
            line.management_fee += fee;
            net += rest;
        }
        let (works, recordings) = methodology.works_share.split(net);
        line.works_share = works;
        match (&line.province, by_venue.get(venue)) {
            (None, _) => {
                line.basis = Basis::UnknownVenue;
                line.reserve = recordings;
            }
            (Some(_), Some(songs)) => {
                split_over_songs(recordings, songs, &mut ledger.songs, false)?;
                line.distributed = recordings;
            }
            (Some(province), None) => {
                line.distributed = recordings;
                pools
                    .entry(province.clone())
                    .or_default()
                    .push(ledger.venues.len());
            }
        }
        ledger.venues.push(line);
    }

    for (province, lines) in pools {
        let mut pool = 0;
        for &i in &lines {
            pool = add(pool, ledger.venues[i].distributed, || {
                format!("the pool of {province} for {month}")
            })?;
        }
        let (basis, songs) = match by_province.get(province.as_str()) {
            Some(songs) => (Basis::SampledProvince, Some(songs)),
            None if !national.is_empty() => (Basis::SampledNational, Some(&national)),
            None => (Basis::NoPlays, None),
        };
        for &i in &lines {
            let line = &mut ledger.venues[i];
            line.basis = basis;
            if songs.is_none() {
                line.reserve = std::mem::take(&mut line.distributed);
            }
        }
        if let Some(songs) = songs {
            split_over_songs(pool, songs, &mut ledger.songs, true)?;
        }
    }

    let totals = &mut ledger.totals;
    for line in ledger.venues.iter().filter(|l| l.month == month) {
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
