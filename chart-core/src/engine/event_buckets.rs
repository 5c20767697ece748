//! Finding re-sent events without a hash table of every event id:
//!
//! * `event_bucket(event_id)`: one of 2^b buckets (a `UInt64` in `[0, 2^b)`), the top
//!   b bits of a seeded 64-bit xxHash of the id's bytes; NULL for NULL. A session
//!   sizes b by the plays it reads ([`bucket_bits`]: 30 bits at 50 million plays, 33 at
//!   500 million);
//! * `repeated_buckets(bucket)`, an aggregate: the buckets that occur more than once,
//!   as a sorted list.
//!
//! Every id carried by two rows lies in a repeated bucket, so grouping only the rows of
//! those buckets by id finds every re-sent event exactly (`queries/resent_events.sql`).
//! With at least 16 buckets per id, under 6 % of the ids share a bucket by chance; those
//! rows are grouped too and fall out at `HAVING COUNT(*) > 1`.
//!
//! The aggregate marks each bucket in a bitmap of 2^b bits (128 MiB at 30, 1 GiB at 33) once it has seen
//! more than [`SPARSE_LIMIT`] distinct buckets, in a hash set before that, so that small
//! inputs stay small. Its state is the buckets seen (the bitmap's words once it has one,
//! so that merging states is an `OR` of words) and those repeated.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListArray, UInt64Array};
use arrow::buffer::OffsetBuffer;
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{HashSet, ScalarValue, exec_err, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use twox_hash::XxHash64;

/// Bits of a bucket number when the number of plays is not known.
pub const DEFAULT_BUCKET_BITS: u32 = 30;
/// The fewest bits of a bucket number.
const MIN_BUCKET_BITS: u32 = 16;
/// The most bits of a bucket number: a bitmap of 1 GiB (each partition's partial
/// aggregate has one).
const MAX_BUCKET_BITS: u32 = 33;
/// The seed of the hash: fixed, so a bucket is the same in every session of a release.
const SEED: u64 = 0x6b74_765f_676d_3121;
/// Distinct buckets kept in a hash set before the bitmap is allocated.
const SPARSE_LIMIT: usize = 1 << 18;

/// Bits of a bucket number for `plays` rows: at least 16 buckets a row (30 bits at
/// 50 million rows, 33 at 500 million), from 2^16 up to 2^33 buckets. With n ids in
/// m buckets about n (1 − e^(−n/m)) of them share a bucket by chance: 2.3M of 51M ids
/// at 2^30 buckets, 28M of 500M ids at 2^33 against 57M at 2^32.
pub fn bucket_bits(plays: Option<u64>) -> u32 {
    match plays {
        None => DEFAULT_BUCKET_BITS,
        // 2^k >= rows: k = ⌈log2 rows⌉.
        Some(rows) => (u64::BITS - rows.saturating_sub(1).leading_zeros() + 4)
            .clamp(MIN_BUCKET_BITS, MAX_BUCKET_BITS),
    }
}

/// The bucket of an event id's bytes among 2^`bits` buckets.
fn bucket_of(id: &[u8], bits: u32) -> u64 {
    XxHash64::oneshot(SEED, id) >> (64 - bits)
}

/// `event_bucket(event_id)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EventBucket {
    signature: Signature,
    bits: u32,
}

impl EventBucket {
    /// Buckets of `bits` bits ([`bucket_bits`]); `repeated_buckets` must take the same.
    pub fn new(bits: u32) -> Self {
        let string = |t: DataType| TypeSignature::Exact(vec![t]);
        EventBucket {
            bits,
            signature: Signature::one_of(
                vec![
                    string(DataType::Utf8),
                    string(DataType::LargeUtf8),
                    string(DataType::Utf8View),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for EventBucket {
    fn name(&self) -> &str {
        "event_bucket"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ids = args.args[0].to_array(args.number_rows)?;
        let bits = self.bits;
        let buckets: UInt64Array = match ids.data_type() {
            DataType::Utf8 => ids
                .as_string::<i32>()
                .iter()
                .map(|id| id.map(|id| bucket_of(id.as_bytes(), bits)))
                .collect(),
            DataType::LargeUtf8 => ids
                .as_string::<i64>()
                .iter()
                .map(|id| id.map(|id| bucket_of(id.as_bytes(), bits)))
                .collect(),
            DataType::Utf8View => ids
                .as_string_view()
                .iter()
                .map(|id| id.map(|id| bucket_of(id.as_bytes(), bits)))
                .collect(),
            other => return exec_err!("event_bucket: expected a string, got {other}"),
        };
        Ok(ColumnarValue::Array(Arc::new(buckets)))
    }
}

/// `repeated_buckets(bucket)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RepeatedBuckets {
    signature: Signature,
    bits: u32,
}

impl RepeatedBuckets {
    /// Buckets of `bits` bits, as `event_bucket` returns them.
    pub fn new(bits: u32) -> Self {
        RepeatedBuckets {
            bits,
            // UInt64 from event_bucket; other integers (literals) are checked as Int64.
            signature: Signature::uniform(
                1,
                vec![DataType::UInt64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

fn bucket_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, false)))
}

/// The state's bitmap: a list of its words, empty before the accumulator has one.
fn words_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, false)))
}

impl AggregateUDFImpl for RepeatedBuckets {
    fn name(&self) -> &str {
        "repeated_buckets"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(bucket_list_type())
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[seen]", args.name),
                bucket_list_type(),
                false,
            )),
            Arc::new(Field::new(
                format!("{}[repeated]", args.name),
                bucket_list_type(),
                false,
            )),
            Arc::new(Field::new(
                format!("{}[bitmap]", args.name),
                words_type(),
                false,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        if args.is_distinct {
            return plan_err!("repeated_buckets(DISTINCT ...) is not supported");
        }
        Ok(Box::new(Buckets::new(self.bits)))
    }
}

/// The buckets seen at least once.
enum Seen {
    Sparse(HashSet<u64>),
    Dense(Bitmap),
}

/// Buckets per region (at most): 2^22 bits, 512 KiB of the bitmap, which stays in
/// the L2 cache while [`Bitmap::flush`] marks that region's pending buckets.
const REGION_BITS: u32 = 22;
/// Buckets collected (64 MiB) before they are marked, region by region.
const PENDING: usize = 1 << 23;

/// Bit `b % 64` of word `b / 64` is bucket `b`. New buckets are collected per
/// region and marked a region at a time: marking them in arrival order would touch
/// a random page of the 128 MiB for each, a TLB and cache miss apiece (the
/// aggregate then cost 80 ns a row at 51M rows).
struct Bitmap {
    words: Vec<u64>,
    /// Bits of a region number's place in a bucket: buckets `>> region_shift`.
    region_shift: u32,
    /// Buckets collected before they are marked ([`PENDING`] but in tests).
    pending_limit: usize,
    /// The buckets not marked yet, by region.
    pending: Vec<Vec<u64>>,
    pending_count: usize,
}

impl Bitmap {
    fn new(bits: u32, pending_limit: usize) -> Self {
        let region_shift = bits.min(REGION_BITS);
        let regions = 1usize << (bits - region_shift);
        Bitmap {
            words: vec![0u64; (1usize << bits).div_ceil(64)],
            region_shift,
            pending_limit,
            // Room for a batch of evenly spread buckets, so the regions seldom grow.
            pending: (0..regions)
                .map(|_| Vec::with_capacity(pending_limit / regions * 5 / 4))
                .collect(),
            pending_count: 0,
        }
    }

    fn push(&mut self, bucket: u64, repeated: &mut Vec<u64>) {
        self.pending[(bucket >> self.region_shift) as usize].push(bucket);
        self.pending_count += 1;
        if self.pending_count == self.pending_limit {
            self.flush(repeated);
        }
    }

    /// Marks the pending buckets, pushing those already marked to `repeated`.
    fn flush(&mut self, repeated: &mut Vec<u64>) {
        for region in &mut self.pending {
            for b in region.drain(..) {
                let (word, bit) = ((b >> 6) as usize, 1u64 << (b & 63));
                if self.words[word] & bit != 0 {
                    repeated.push(b);
                } else {
                    self.words[word] |= bit;
                }
            }
        }
        self.pending_count = 0;
    }

    fn size(&self) -> usize {
        let pending: usize = self.pending.iter().map(Vec::capacity).sum();
        self.words.capacity() * size_of::<u64>()
            + pending * size_of::<u64>()
            + self.pending.capacity() * size_of::<Vec<u64>>()
    }
}

/// The state of `repeated_buckets`.
struct Buckets {
    /// Bits of a bucket number.
    bits: u32,
    seen: Seen,
    /// Buckets seen again, each once per extra occurrence (deduplicated on output).
    repeated: Vec<u64>,
    /// Distinct buckets kept in the hash set ([`SPARSE_LIMIT`] but in tests).
    sparse_limit: usize,
    /// See [`Bitmap::pending_limit`].
    pending_limit: usize,
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dense = matches!(self.seen, Seen::Dense(_));
        f.debug_struct("Buckets")
            .field("dense", &dense)
            .field("repeated", &self.repeated.len())
            .finish()
    }
}

impl Buckets {
    fn new(bits: u32) -> Self {
        Buckets::with_limits(bits, SPARSE_LIMIT, PENDING)
    }

    fn with_limits(bits: u32, sparse_limit: usize, pending_limit: usize) -> Self {
        Buckets {
            bits,
            seen: Seen::Sparse(HashSet::default()),
            repeated: Vec::new(),
            sparse_limit,
            pending_limit,
        }
    }

    /// Marks `bucket` seen, remembering it if it already was.
    fn add(&mut self, bucket: u64) -> DfResult<()> {
        if bucket >> self.bits != 0 {
            return self.out_of_range(bucket);
        }
        match &mut self.seen {
            Seen::Dense(bitmap) => bitmap.push(bucket, &mut self.repeated),
            Seen::Sparse(set) => {
                if !set.insert(bucket) {
                    self.repeated.push(bucket);
                } else if set.len() > self.sparse_limit {
                    self.dense();
                }
            }
        }
        Ok(())
    }

    /// The bitmap, made from the hash set if there is none yet.
    fn dense(&mut self) -> &mut Bitmap {
        if let Seen::Sparse(set) = &self.seen {
            let mut bitmap = Bitmap::new(self.bits, self.pending_limit);
            for &b in set.iter() {
                bitmap.words[(b >> 6) as usize] |= 1 << (b & 63);
            }
            self.seen = Seen::Dense(bitmap);
        }
        match &mut self.seen {
            Seen::Dense(bitmap) => bitmap,
            Seen::Sparse(_) => unreachable!("made dense above"),
        }
    }

    /// Merges another accumulator's bitmap: a bucket set in both is repeated.
    fn merge_words(&mut self, other: &[u64]) -> DfResult<()> {
        let bits = self.bits;
        let mut repeated = std::mem::take(&mut self.repeated);
        let bitmap = self.dense();
        if other.len() != bitmap.words.len() {
            return exec_err!(
                "repeated_buckets: a state of {} bitmap words for 2^{bits} buckets",
                other.len()
            );
        }
        bitmap.flush(&mut repeated);
        for (w, (mine, &theirs)) in bitmap.words.iter_mut().zip(other).enumerate() {
            let mut both = *mine & theirs;
            while both != 0 {
                repeated.push((w * 64) as u64 + u64::from(both.trailing_zeros()));
                both &= both - 1;
            }
            *mine |= theirs;
        }
        self.repeated = repeated;
        Ok(())
    }

    fn out_of_range(&self, bucket: impl std::fmt::Display) -> DfResult<()> {
        exec_err!(
            "repeated_buckets: bucket {bucket} is outside [0, 2^{}) (pass event_bucket(...))",
            self.bits
        )
    }

    fn add_all(&mut self, buckets: &UInt64Array) -> DfResult<()> {
        if buckets.null_count() == 0 {
            buckets.values().iter().try_for_each(|&b| self.add(b))
        } else {
            buckets.iter().flatten().try_for_each(|b| self.add(b))
        }
    }

    /// Adds an argument column: `UInt64`, or any integer type cast to `Int64`.
    fn add_column(&mut self, buckets: &ArrayRef) -> DfResult<()> {
        if let Some(buckets) = buckets.as_primitive_opt::<UInt64Type>() {
            return self.add_all(buckets);
        }
        let wide = arrow::compute::cast(buckets, &DataType::Int64)?;
        wide.as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .try_for_each(|b| match u64::try_from(b) {
                Ok(b) => self.add(b),
                Err(_) => self.out_of_range(b),
            })
    }

    /// Marks the buckets still pending.
    fn flush(&mut self) {
        if let Seen::Dense(bitmap) = &mut self.seen {
            bitmap.flush(&mut self.repeated);
        }
    }

    /// The buckets seen, taken out of the accumulator (which is left empty, as
    /// DataFusion's `state` may leave it): those of the hash set in ascending order,
    /// or the bitmap's words, moved rather than copied (1 GiB at 33 bits).
    fn take_seen(&mut self) -> (Vec<u64>, Vec<u64>) {
        self.flush();
        match std::mem::replace(&mut self.seen, Seen::Sparse(HashSet::default())) {
            Seen::Sparse(set) => {
                let mut seen: Vec<u64> = set.into_iter().collect();
                seen.sort_unstable();
                (seen, Vec::new())
            }
            Seen::Dense(bitmap) => (Vec::new(), bitmap.words),
        }
    }

    /// The distinct repeated buckets, in ascending order.
    fn repeated_sorted(&mut self) -> &[u64] {
        self.flush();
        self.repeated.sort_unstable();
        self.repeated.dedup();
        &self.repeated
    }
}

/// One list of buckets as a scalar.
fn list_scalar(buckets: Vec<u64>) -> ScalarValue {
    let values = UInt64Array::from(buckets);
    one_list(DataType::UInt64, Arc::new(values))
}

/// A list scalar of these values.
fn one_list(item: DataType, values: ArrayRef) -> ScalarValue {
    let list = ListArray::new(
        Arc::new(Field::new_list_field(item, false)),
        OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    );
    ScalarValue::List(Arc::new(list))
}

/// A state column as a list of `T`, or an error naming it.
fn state_list<'a>(states: &'a [ArrayRef], i: usize, what: &str) -> DfResult<&'a ListArray> {
    match states.get(i).and_then(|a| a.as_list_opt::<i32>()) {
        Some(list) => Ok(list),
        None => exec_err!("repeated_buckets: state column {i} ({what}) is not a list"),
    }
}

impl Accumulator for Buckets {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.add_column(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let seen = state_list(states, 0, "seen")?;
        let repeated = state_list(states, 1, "repeated")?;
        let words = state_list(states, 2, "bitmap")?;
        let buckets = |list: &ListArray, row: usize| -> DfResult<Option<UInt64Array>> {
            if list.is_null(row) {
                return Ok(None);
            }
            match list.value(row).as_primitive_opt::<UInt64Type>() {
                Some(values) => Ok(Some(values.clone())),
                None => exec_err!("repeated_buckets: a state's buckets are not UInt64"),
            }
        };
        for row in 0..seen.len() {
            if let Some(seen) = buckets(seen, row)? {
                self.add_all(&seen)?;
            }
            if words.is_valid(row) {
                let words = words.value(row);
                let Some(words) = words.as_primitive_opt::<UInt64Type>() else {
                    return exec_err!("repeated_buckets: a state's bitmap is not UInt64");
                };
                if !words.is_empty() {
                    self.merge_words(words.values())?;
                }
            }
            if let Some(again) = buckets(repeated, row)? {
                self.repeated.extend(again.iter().flatten());
            }
        }
        Ok(())
    }

    /// The state, which empties the accumulator.
    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let (seen, words) = self.take_seen();
        self.repeated_sorted();
        let repeated = std::mem::take(&mut self.repeated);
        let words = UInt64Array::new(ScalarBuffer::from(words), None);
        Ok(vec![
            list_scalar(seen),
            list_scalar(repeated),
            one_list(DataType::UInt64, Arc::new(words)),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(list_scalar(self.repeated_sorted().to_vec()))
    }

    fn size(&self) -> usize {
        let seen = match &self.seen {
            Seen::Sparse(set) => set.capacity() * (size_of::<u64>() + 1),
            Seen::Dense(bitmap) => bitmap.size(),
        };
        size_of::<Self>() + seen + self.repeated.capacity() * size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPARSE: usize = 2000;
    const PENDING_IN_TESTS: usize = 1500;

    /// The reference: count every bucket, keep those counted twice or more.
    fn reference(values: &[u64]) -> Vec<u64> {
        let mut counts = std::collections::BTreeMap::<u64, usize>::new();
        values
            .iter()
            .for_each(|&v| *counts.entry(v).or_default() += 1);
        counts
            .into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(v, _)| v)
            .collect()
    }

    fn list_values(scalar: &ScalarValue) -> Vec<u64> {
        let ScalarValue::List(list) = scalar else {
            panic!("not a list: {scalar:?}")
        };
        list.value(0).as_primitive::<UInt64Type>().values().to_vec()
    }

    /// Pseudo-random buckets of `bits` bits, some repeated, across the whole range.
    fn sample(n: usize, seed: u64, bits: u32) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // A small range for a third of the values, so that they repeat.
                if x >> 62 == 0 {
                    (x >> 33) % 1000
                } else {
                    x >> (64 - bits)
                }
            })
            .collect()
    }

    #[test]
    fn one_phase_matches_the_reference_sparse_and_dense() {
        // Small limits, so that the last inputs leave the hash set and are marked in
        // several batches; bitmaps of one region and of many.
        for bits in [MIN_BUCKET_BITS, DEFAULT_BUCKET_BITS, MAX_BUCKET_BITS] {
            for n in [0, 1, 10, 1000, 20_000] {
                let values = sample(n, n as u64 + 7, bits);
                let mut acc = Buckets::with_limits(bits, SPARSE, PENDING_IN_TESTS);
                for chunk in values.chunks(4096) {
                    acc.update_batch(&[Arc::new(UInt64Array::from(chunk.to_vec()))])
                        .unwrap();
                }
                let distinct: HashSet<u64> = values.iter().copied().collect();
                assert_eq!(
                    matches!(acc.seen, Seen::Dense(_)),
                    distinct.len() > SPARSE,
                    "bits = {bits}, n = {n}"
                );
                assert_eq!(
                    list_values(&acc.evaluate().unwrap()),
                    reference(&values),
                    "bits = {bits}, n = {n}"
                );
            }
        }
    }

    /// The state columns of some accumulators, as a final aggregate receives them.
    fn state_columns(states: &[Vec<ScalarValue>]) -> Vec<ArrayRef> {
        (0..3)
            .map(|c| ScalarValue::iter_to_array(states.iter().map(|s| s[c].clone())).unwrap())
            .collect()
    }

    #[test]
    fn merged_partial_states_match_the_reference() {
        // Parts of 16,000, 2,000 and 2,000 values (dense, sparse, sparse), or of
        // 10,000, 6,000 and 4,000 (all dense), with buckets in several of them.
        let splits: [fn(usize, usize) -> bool; 2] = [
            |p, i| if p == 0 { i % 10 < 8 } else { i % 10 == 7 + p },
            |p, i| match p {
                0 => i % 10 < 5,
                1 => (5..8).contains(&(i % 10)),
                _ => i % 10 >= 8,
            },
        ];
        // (33 bits: `the_last_buckets_of_the_widest_bitmap_merge`, the words being many.)
        for bits in [MIN_BUCKET_BITS, 26] {
            for (s, split) in splits.iter().enumerate() {
                let values = sample(20_000, 3, bits);
                let parts: Vec<Vec<u64>> = (0..3)
                    .map(|p| {
                        values
                            .iter()
                            .enumerate()
                            .filter(|&(i, _)| split(p, i))
                            .map(|(_, &v)| v)
                            .collect()
                    })
                    .collect();
                let mut states: Vec<Vec<ScalarValue>> = Vec::new();
                let mut dense = 0;
                for part in &parts {
                    let mut acc = Buckets::with_limits(bits, SPARSE, PENDING_IN_TESTS);
                    acc.update_batch(&[Arc::new(UInt64Array::from(part.clone()))])
                        .unwrap();
                    dense += usize::from(matches!(acc.seen, Seen::Dense(_)));
                    states.push(acc.state().unwrap());
                }
                assert_eq!(dense, [1, 3][s], "bits = {bits}, split {s}");
                // Merged by one final accumulator, and by one per state in turn.
                let mut last = Buckets::with_limits(bits, SPARSE, PENDING_IN_TESTS);
                last.merge_batch(&state_columns(&states)).unwrap();
                let mut each = Buckets::with_limits(bits, SPARSE, PENDING_IN_TESTS);
                for state in &states {
                    each.merge_batch(&state_columns(std::slice::from_ref(state)))
                        .unwrap();
                }
                let all: Vec<u64> = parts.concat();
                for acc in [&mut last, &mut each] {
                    assert_eq!(
                        list_values(&acc.evaluate().unwrap()),
                        reference(&all),
                        "bits = {bits}, split {s}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_last_buckets_of_the_widest_bitmap_merge() {
        let top = (1u64 << MAX_BUCKET_BITS) - 1;
        let states: Vec<Vec<ScalarValue>> = [[0, 7, top - 64, top], [top, 7, 64, 1]]
            .iter()
            .map(|part| {
                let mut acc = Buckets::with_limits(MAX_BUCKET_BITS, 2, PENDING_IN_TESTS);
                acc.update_batch(&[Arc::new(UInt64Array::from(part.to_vec()))])
                    .unwrap();
                assert!(matches!(acc.seen, Seen::Dense(_)));
                acc.state().unwrap()
            })
            .collect();
        let mut last = Buckets::with_limits(MAX_BUCKET_BITS, 2, PENDING_IN_TESTS);
        last.merge_batch(&state_columns(&states)).unwrap();
        assert_eq!(list_values(&last.evaluate().unwrap()), vec![7, top]);
    }

    #[test]
    fn states_of_other_buckets_or_types_are_errors() {
        let mut dense = Buckets::with_limits(20, SPARSE, PENDING_IN_TESTS);
        dense
            .update_batch(&[Arc::new(UInt64Array::from(sample(10_000, 5, 20)))])
            .unwrap();
        let state = state_columns(&[dense.state().unwrap()]);
        let mut wider = Buckets::with_limits(21, SPARSE, PENDING_IN_TESTS);
        let err = wider.merge_batch(&state).unwrap_err().to_string();
        assert!(err.contains("16384 bitmap words for 2^21 buckets"), "{err}");
        let mut other = Buckets::with_limits(20, SPARSE, PENDING_IN_TESTS);
        let not_a_list: ArrayRef = Arc::new(UInt64Array::from(vec![1]));
        let not_lists = vec![not_a_list; 3];
        let err = other.merge_batch(&not_lists).unwrap_err().to_string();
        assert!(err.contains("state column 0 (seen) is not a list"), "{err}");
        let err = other.merge_batch(&state[..2]).unwrap_err().to_string();
        assert!(err.contains("state column 2 (bitmap)"), "{err}");
    }

    #[test]
    fn nulls_are_skipped_and_out_of_range_buckets_are_errors() {
        let bits = 20;
        let mut acc = Buckets::with_limits(bits, SPARSE, PENDING_IN_TESTS);
        acc.update_batch(&[Arc::new(UInt64Array::from(vec![
            Some(4),
            None,
            Some(4),
            None,
        ]))])
        .unwrap();
        assert_eq!(list_values(&acc.evaluate().unwrap()), vec![4]);
        let too_large = acc
            .update_batch(&[Arc::new(UInt64Array::from(vec![1 << bits]))])
            .unwrap_err();
        assert!(too_large.to_string().contains("1048576"), "{too_large}");
        for bad in [-1i64, 1 << bits] {
            let err = acc
                .update_batch(&[Arc::new(arrow::array::Int64Array::from(vec![bad]))])
                .unwrap_err();
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
    }

    #[test]
    fn bucket_bits_grow_with_the_plays() {
        let cases = [
            (None, DEFAULT_BUCKET_BITS),
            (Some(0), MIN_BUCKET_BITS),
            (Some(1000), MIN_BUCKET_BITS),
            (Some(5_100_000), 27),
            // The 2024 platform's month: the 2^30 buckets of before.
            (Some(51_000_000), 30),
            (Some(1 << 26), 30),
            (Some((1 << 26) + 1), 31),
            (Some(1 << 28), 32),
            (Some((1 << 28) + 1), 33),
            (Some(510_000_000), 33),
            (Some(1 << 40), MAX_BUCKET_BITS),
            (Some(u64::MAX), MAX_BUCKET_BITS),
        ];
        for (plays, bits) in cases {
            assert_eq!(bucket_bits(plays), bits, "{plays:?}");
        }
    }

    #[test]
    fn buckets_are_in_range_and_spread() {
        for bits in [MIN_BUCKET_BITS, DEFAULT_BUCKET_BITS, MAX_BUCKET_BITS] {
            let mut counts = vec![0u32; 64];
            for i in 0..64_000 {
                let b = bucket_of(format!("E{i:012}").as_bytes(), bits);
                assert!(b >> bits == 0, "bits = {bits}: {b}");
                counts[(b >> (bits - 6)) as usize] += 1;
            }
            // 1,000 expected per sixty-fourth of the range.
            assert!(
                counts.iter().all(|&c| (850..1150).contains(&c)),
                "bits = {bits}: {counts:?}"
            );
        }
    }
}
