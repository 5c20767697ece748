//! An independent reference implementation of D-1 in plain Rust over rows: it reads
//! the fee files row by row, counts plays with the GM-1 reference
//! ([`super::reference::counted_by_venue`]) and splits money as the methodology
//! states it, with its own largest-remainder arithmetic. No SQL, no library code.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

use super::reference::{Data, Rules, counted_by_venue};

/// D-1's parameters, restated: shares as (numerator, denominator).
#[derive(Clone)]
pub struct Params {
    pub management: HashMap<String, (u128, u128)>,
    pub works: (u128, u128),
}

impl Params {
    pub fn d1() -> Params {
        Params {
            management: [
                ("ktv", (27, 100)),
                ("mini_ktv", (30, 100)),
                ("vod", (30, 100)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            works: (11685, 32489),
        }
    }
}

pub struct Fee {
    pub venue: String,
    pub month: String,
    pub line: String,
    pub amount: i64,
}

/// Every row of `fees/*.parquet`.
pub fn load_fees(root: &Path) -> Vec<Fee> {
    let mut fees = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("fees"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    paths.sort();
    for path in paths {
        let batch = super::read_parquet(&path);
        let text = |name: &str| {
            cast(batch.column_by_name(name).unwrap(), &DataType::Utf8)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        let (v, m, l) = (text("venue_id"), text("period"), text("business_line"));
        let a = batch.column_by_name("amount_fen").unwrap();
        let a = a.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            fees.push(Fee {
                venue: v.value(i).to_string(),
                month: m.value(i).to_string(),
                line: l.value(i).to_string(),
                amount: a.value(i),
            });
        }
    }
    fees
}

/// Hamilton's method: floors, then one fen each to the largest remainders, earlier
/// entries first among equals.
fn hamilton(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| w as i128).sum();
    assert!(sum > 0);
    let mut shares: Vec<(i64, i128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let exact = total as i128 * w as i128;
            ((exact / sum) as i64, exact % sum, i)
        })
        .collect();
    let mut left = total - shares.iter().map(|s| s.0).sum::<i64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(shares[i].1), shares[i].2));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].0 += 1;
        left -= 1;
    }
    shares.into_iter().map(|s| s.0).collect()
}

/// (share of `amount`, the rest) for a share (n, d).
fn part(amount: i64, (n, d): (u128, u128)) -> (i64, i64) {
    let parts = hamilton(amount, &[n as i64, (d - n) as i64]);
    (parts[0], parts[1])
}

/// A venue-month, as in the published `venues` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueRow {
    pub month: String,
    pub venue_id: String,
    pub province: Option<String>,
    pub basis: String,
    pub fee_rows: i64,
    pub collected: i64,
    pub management: i64,
    pub works: i64,
    pub distributed: i64,
    pub reserve: i64,
    pub counted: i64,
}

/// A song, as in the published `lines` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineRow {
    pub holder: Option<String>,
    pub counted: i64,
    pub direct: i64,
    pub sampled: i64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub venues: Vec<VenueRow>,
    pub lines: BTreeMap<String, LineRow>,
}

fn months_of(period: &str) -> Vec<String> {
    if period.len() == 7 {
        vec![period.to_string()]
    } else {
        (1..=12).map(|m| format!("{period}-{m:02}")).collect()
    }
}

/// D-1 of `period` (`YYYY-MM` or `YYYY`).
pub fn distribute(
    data: &Data,
    rules: &Rules,
    fees: &[Fee],
    params: &Params,
    period: &str,
) -> Outcome {
    let counted = counted_by_venue(data, rules);
    let mut out = Outcome::default();
    for month in months_of(period) {
        let here: Vec<(&String, &String, i64)> = counted
            .iter()
            .filter(|((m, _, _), n)| *m == month && **n > 0)
            .map(|((_, v, s), n)| (v, s, *n))
            .collect();
        for &(_, song, n) in &here {
            let line = out.lines.entry(song.clone()).or_insert_with(|| LineRow {
                holder: data.songs[song].rights_holder_id.clone(),
                ..LineRow::default()
            });
            line.counted += n;
        }
        let weights_where = |keep: &dyn Fn(&str) -> bool| -> BTreeMap<String, i64> {
            let mut w = BTreeMap::new();
            for &(venue, song, n) in &here {
                if keep(venue) {
                    *w.entry(song.clone()).or_default() += n;
                }
            }
            w
        };
        let mut by_venue: HashMap<&str, BTreeMap<String, i64>> = HashMap::new();
        for &(venue, song, n) in &here {
            *by_venue
                .entry(venue)
                .or_default()
                .entry(song.clone())
                .or_default() += n;
        }
        let mut venues: BTreeMap<&str, Vec<&Fee>> = BTreeMap::new();
        for fee in fees.iter().filter(|f| f.month == month) {
            venues.entry(&fee.venue).or_default().push(fee);
        }
        let mut pools: BTreeMap<String, (i64, Vec<usize>)> = BTreeMap::new();
        for (venue, rows) in venues {
            let province = data.venues.get(venue).map(|v| v.province.clone());
            let mut row = VenueRow {
                month: month.clone(),
                venue_id: venue.to_string(),
                province: province.clone(),
                basis: String::new(),
                fee_rows: rows.len() as i64,
                collected: 0,
                management: 0,
                works: 0,
                distributed: 0,
                reserve: 0,
                counted: by_venue.get(venue).map_or(0, |w| w.values().sum()),
            };
            let mut net = 0;
            for fee in rows {
                let (m, rest) = part(fee.amount, params.management[&fee.line]);
                row.collected += fee.amount;
                row.management += m;
                net += rest;
            }
            let (works, recordings) = part(net, params.works);
            row.works = works;
            let own = by_venue.get(venue).cloned().unwrap_or_default();
            if province.is_none() {
                row.basis = "unknown_venue".into();
                row.reserve = recordings;
            } else if !own.is_empty() {
                row.basis = "direct".into();
                row.distributed = recordings;
                let parts = hamilton(recordings, &own.values().copied().collect::<Vec<_>>());
                for (song, p) in own.keys().zip(parts) {
                    out.lines.get_mut(song).unwrap().direct += p;
                }
            } else {
                row.distributed = recordings;
                let pool = pools.entry(province.clone().unwrap()).or_default();
                pool.0 += recordings;
                pool.1.push(out.venues.len());
            }
            out.venues.push(row);
        }
        for (province, (amount, members)) in pools {
            let in_province =
                weights_where(&|v| data.venues.get(v).is_some_and(|x| x.province == province));
            let national = weights_where(&|_| true);
            let (basis, weights) = if !in_province.is_empty() {
                ("sampled_province", Some(in_province))
            } else if !national.is_empty() {
                ("sampled_national", Some(national))
            } else {
                ("no_plays", None)
            };
            for i in members {
                out.venues[i].basis = basis.into();
                if weights.is_none() {
                    out.venues[i].reserve = out.venues[i].distributed;
                    out.venues[i].distributed = 0;
                }
            }
            if let Some(weights) = weights {
                let parts = hamilton(amount, &weights.values().copied().collect::<Vec<_>>());
                for (song, p) in weights.keys().zip(parts) {
                    out.lines.get_mut(song).unwrap().sampled += p;
                }
            }
        }
    }
    out
}
