//! A [`Ledger`] as the published tables: statements per payee, lines per song,
//! venue fees, and the reconciliation. Amounts are `Int64` fen, with `amount_yuan` as
//! exact text beside the totals a person reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::distribution::ledger::{Ledger, SongLine};
use crate::error::{ChartError, Result};
use crate::methodology::money::yuan;
use crate::methodology::{DistributionMethodology, Period};

/// The published tables, in the order they are written.
pub const DISTRIBUTION_TABLES: [&str; 4] = ["statements", "lines", "venue_fees", "reconciliation"];

/// Title and artist of a song, for the lines.
pub(crate) type Titles = HashMap<String, (String, String)>;

fn fen(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| ChartError::AmountOverflow {
        what: what.to_string(),
    })
}

fn int(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// The columns of `lines` (and of the `distribution` table function).
pub fn lines_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("period", false),
        text("song_id", false),
        text("title", false),
        text("artist", false),
        text("rights_holder_id", true),
        int("counted_plays", false),
        int("direct_fen", false),
        int("sampled_fen", false),
        int("amount_fen", false),
        text("amount_yuan", false),
    ]))
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(|e| ChartError::Query(e.into()))
}

/// `lines`: one row per song counted in the period, by amount (largest first), then
/// song id.
pub(crate) fn lines(period: &Period, ledger: &Ledger, titles: &Titles) -> Result<RecordBatch> {
    let mut songs: Vec<(&String, &SongLine)> = ledger.songs.iter().collect();
    songs.sort_by(|a, b| b.1.amount().cmp(&a.1.amount()).then(a.0.cmp(b.0)));
    let mut amounts = Vec::with_capacity(songs.len());
    for (song, line) in &songs {
        let what = format!("song {song}");
        amounts.push([
            fen(line.counted_plays, &what)?,
            fen(line.direct, &what)?,
            fen(line.sampled, &what)?,
            fen(line.amount(), &what)?,
        ]);
    }
    let title = |song: &str| titles.get(song).map(|t| t.0.as_str()).unwrap_or_default();
    let artist = |song: &str| titles.get(song).map(|t| t.1.as_str()).unwrap_or_default();
    let column = |i: usize| Arc::new(Int64Array::from_iter_values(amounts.iter().map(|a| a[i])));
    batch(
        lines_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|_| period.to_string()),
            )),
            Arc::new(StringArray::from_iter_values(songs.iter().map(|s| s.0))),
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|s| title(s.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|s| artist(s.0)),
            )),
            Arc::new(StringArray::from_iter(
                songs.iter().map(|s| s.1.rights_holder_id.as_deref()),
            )),
            column(0),
            column(1),
            column(2),
            column(3),
            Arc::new(StringArray::from_iter_values(
                amounts.iter().map(|a| yuan(a[3])),
            )),
        ],
    )
}

/// `statements`: the works payee first, then each rights holder by amount (largest
/// first), then id.
pub(crate) fn statements(
    period: &Period,
    methodology: &DistributionMethodology,
    ledger: &Ledger,
) -> Result<RecordBatch> {
    #[derive(Default)]
    struct Statement {
        songs: u64,
        counted_plays: u64,
        direct: u64,
        sampled: u64,
    }
    let mut holders: BTreeMap<&str, Statement> = BTreeMap::new();
    for line in ledger.songs.values() {
        if let Some(holder) = &line.rights_holder_id {
            let s = holders.entry(holder).or_default();
            s.songs += 1;
            s.counted_plays += line.counted_plays;
            s.direct += line.direct;
            s.sampled += line.sampled;
        }
    }
    let mut holders: Vec<(&str, Statement)> = holders.into_iter().collect();
    holders.sort_by(|a, b| {
        (b.1.direct + b.1.sampled)
            .cmp(&(a.1.direct + a.1.sampled))
            .then(a.0.cmp(b.0))
    });
    let works = fen(ledger.totals.works_share, "the works share")?;
    let mut payee = vec![methodology.works_payee.clone()];
    let mut kind = vec!["works"];
    let mut songs = vec![None];
    let mut counted = vec![None];
    let mut direct = vec![None];
    let mut sampled = vec![None];
    let mut amount = vec![works];
    for (holder, s) in &holders {
        let what = format!("rights holder {holder}");
        payee.push(holder.to_string());
        kind.push("recordings");
        songs.push(Some(fen(s.songs, &what)?));
        counted.push(Some(fen(s.counted_plays, &what)?));
        direct.push(Some(fen(s.direct, &what)?));
        sampled.push(Some(fen(s.sampled, &what)?));
        amount.push(fen(s.direct + s.sampled, &what)?);
    }
    let schema = Arc::new(Schema::new(vec![
        text("period", false),
        text("payee_id", false),
        text("payee_kind", false),
        int("songs", true),
        int("counted_plays", true),
        int("direct_fen", true),
        int("sampled_fen", true),
        int("amount_fen", false),
        text("amount_yuan", false),
    ]));
    batch(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                payee.iter().map(|_| period.to_string()),
            )),
            Arc::new(StringArray::from_iter_values(payee)),
            Arc::new(StringArray::from_iter_values(kind)),
            Arc::new(Int64Array::from(songs)),
            Arc::new(Int64Array::from(counted)),
            Arc::new(Int64Array::from(direct)),
            Arc::new(Int64Array::from(sampled)),
            Arc::new(Int64Array::from(amount.clone())),
            Arc::new(StringArray::from_iter_values(
                amount.iter().map(|&a| yuan(a)),
            )),
        ],
    )
}

/// `venue_fees`: one row per fee month and venue, with where its fees went.
pub(crate) fn venue_fees(ledger: &Ledger) -> Result<RecordBatch> {
    let v = &ledger.venues;
    let mut amounts = Vec::with_capacity(v.len());
    for line in v {
        let what = format!("venue {} in {}", line.venue_id, line.month);
        amounts.push([
            fen(line.fee_rows, &what)?,
            fen(line.collected, &what)?,
            fen(line.management_fee, &what)?,
            fen(line.works_share, &what)?,
            fen(line.distributed, &what)?,
            fen(line.reserve, &what)?,
            fen(line.counted_plays, &what)?,
        ]);
    }
    let column = |i: usize| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(amounts.iter().map(|a| a[i])))
    };
    let schema = Arc::new(Schema::new(vec![
        text("month", false),
        text("venue_id", false),
        text("province", true),
        text("basis", false),
        int("fee_rows", false),
        int("collected_fen", false),
        int("management_fee_fen", false),
        int("works_share_fen", false),
        int("distributed_fen", false),
        int("reserve_fen", false),
        int("counted_plays", false),
    ]));
    batch(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                v.iter().map(|l| l.month.to_string()),
            )),
            Arc::new(StringArray::from_iter_values(v.iter().map(|l| &l.venue_id))),
            Arc::new(StringArray::from_iter(
                v.iter().map(|l| l.province.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                v.iter().map(|l| l.basis.as_str()),
            )),
            column(0),
            column(1),
            column(2),
            column(3),
            column(4),
            column(5),
            column(6),
        ],
    )
}

/// `reconciliation`: one row; `collected_fen` equals management fee + works share +
/// distributed (direct and sampled) + reserve.
pub(crate) fn reconciliation(
    period: &Period,
    methodology: &DistributionMethodology,
    ledger: &Ledger,
) -> Result<RecordBatch> {
    let t = &ledger.totals;
    let columns = [
        ("fee_rows", t.fee_rows),
        ("collected_fen", t.collected),
        ("management_fee_fen", t.management_fee),
        ("works_share_fen", t.works_share),
        ("distributed_direct_fen", t.distributed_direct),
        ("distributed_sampled_fen", t.distributed_sampled),
        ("reserve_no_holder_fen", t.reserve_no_holder),
        ("reserve_unknown_venue_fen", t.reserve_unknown_venue),
        ("reserve_no_plays_fen", t.reserve_no_plays),
        ("reserve_fen", t.reserve()),
        ("counted_plays", t.counted_plays),
    ];
    let mut fields = vec![text("period", false), text("methodology", false)];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![period.to_string()])),
        Arc::new(StringArray::from(vec![methodology.version.clone()])),
    ];
    for (name, value) in columns {
        fields.push(int(name, false));
        arrays.push(Arc::new(Int64Array::from(vec![fen(value, name)?])));
    }
    fields.push(text("collected_yuan", false));
    arrays.push(Arc::new(StringArray::from(vec![yuan(fen(
        t.collected,
        "collected",
    )?)])));
    batch(Arc::new(Schema::new(fields)), arrays)
}
