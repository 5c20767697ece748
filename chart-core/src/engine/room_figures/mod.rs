//! `room_figures([venue_id,] room_id, business_day, cap)`: the room-capped figures of a
//! group of plays in one aggregate, a struct of
//!
//! * `plays`: the rows counted (those whose venue, room and day are not NULL);
//! * `score`: the sum, over each distinct (room, day), of `least(plays that day, cap)`;
//! * `rooms`: the distinct rooms;
//! * `venues` (only when called with a venue): the distinct venues.
//!
//! A room is its (venue, room id) when the venue is given, its room id alone
//! otherwise (call it per venue then).
//!
//! GM-1 groups the valid plays by period and song and calls it with the venue once per
//! group (`queries/song_period_stats.sql`): the same figures as grouping by (day, venue,
//! room, song), then (period, venue, room, song), then (period, song, venue), then
//! (period, song), with one hash aggregate instead of four.
//!
//! Each group keeps its (room, day, plays) entries in a chain: the first in the
//! group's slot, the rest in one shared arena; a group with more than
//! [`LONG_CHAIN`] entries moves them to an open-addressed table of its own, a block
//! of [`Groups::blocks`], so that a play of such a group costs one probe. Rooms are
//! interned to integers once per distinct (venue, room id).
//!
//! Under a memory limit (a session whose memory pool has one, and a disk manager), an
//! accumulator whose state passes a 64th of the limit writes its entries, and from then
//! on each play, as 16-byte records (group, room code, day, plays) to a temporary file,
//! in chunks that each hold one of 128 partitions of its groups; its figures are then
//! computed one partition at a time, so that it holds a 128th of its entries at once.
//! DataFusion would otherwise spill the whole state as lists of ids, sort it, read it
//! back and merge it (docs/PERFORMANCE.md). A state or the figures of only the first
//! groups (a partial aggregate, DataFusion's own spilling, ordered grouping) read the
//! file back into memory first, where the entries then stay.

mod chains;
mod groups;
mod names;
mod overflow;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

use chains::*;
use groups::*;
use names::*;
use overflow::*;

/// The figures of one group (`venues` is 0 without venues).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Figures {
    plays: i64,
    score: i64,
    rooms: i64,
    venues: i64,
}

/// The aggregate function (see the module documentation).
pub(crate) struct RoomFigures {
    signature: Signature,
    /// Where the accumulators write their plays past their budget (none: they keep
    /// every entry in memory, and DataFusion spills their states).
    overflow_to: Option<OverflowTo>,
}

impl std::fmt::Debug for RoomFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomFigures")
            .field("budget", &self.overflow_to.as_ref().map(|o| o.budget))
            .finish_non_exhaustive()
    }
}

impl PartialEq for RoomFigures {
    fn eq(&self, other: &RoomFigures) -> bool {
        let same_overflow = match (&self.overflow_to, &other.overflow_to) {
            (None, None) => true,
            (Some(a), Some(b)) => a.budget == b.budget && Arc::ptr_eq(&a.disk, &b.disk),
            _ => false,
        };
        self.signature == other.signature && same_overflow
    }
}

impl Eq for RoomFigures {}

impl std::hash::Hash for RoomFigures {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
        self.overflow_to.as_ref().map(|o| o.budget).hash(state);
    }
}

impl RoomFigures {
    /// The function; its accumulators write their plays to `overflow_to`'s disk once
    /// their entries pass its budget.
    pub(crate) fn new(overflow_to: Option<OverflowTo>) -> RoomFigures {
        RoomFigures {
            overflow_to,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Date32, DataType::Int64]),
                    TypeSignature::Exact(vec![
                        DataType::Utf8,
                        DataType::Utf8,
                        DataType::Date32,
                        DataType::Int64,
                    ]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The fields of the result: `venues` only with venues.
fn figure_fields(venues: bool) -> Fields {
    let names: &[&str] = match venues {
        true => &["plays", "score", "rooms", "venues"],
        false => &["plays", "score", "rooms"],
    };
    names
        .iter()
        .map(|name| Field::new(*name, DataType::Int64, false))
        .collect()
}

/// The fields of a state entry: `venue` only with venues.
fn entry_fields(venues: bool) -> Fields {
    let venue = venues.then(|| Field::new("venue", DataType::Utf8, false));
    venue
        .into_iter()
        .chain([
            Field::new("room", DataType::Utf8, false),
            Field::new("day", DataType::Date32, false),
            Field::new("plays", DataType::Int64, false),
        ])
        .collect()
}

fn entry_item(venues: bool) -> FieldRef {
    Arc::new(Field::new_struct("item", entry_fields(venues), false))
}

/// Whether a call with `arguments` arguments is given venues (four arguments).
fn with_venues(arguments: usize) -> bool {
    arguments == 4
}

/// The cap: the last argument, which must be a positive integer constant.
fn cap_of(args: &AccumulatorArgs) -> DfResult<u32> {
    if args.is_distinct {
        return plan_err!("room_figures: DISTINCT is not supported");
    }
    let cap = args
        .exprs
        .last()
        .and_then(|e| e.as_ref().downcast_ref::<Literal>())
        .map(|l| l.value());
    match cap {
        Some(ScalarValue::Int64(Some(cap))) if *cap >= 1 => {
            Ok(u32::try_from(*cap).unwrap_or(u32::MAX))
        }
        _ => {
            plan_err!("room_figures: the cap (last argument) must be a positive integer constant")
        }
    }
}

/// An accumulator keeps at most 1/this of a session's memory limit in memory before it
/// writes its entries out. DataFusion reserves twice an aggregate's state (room to
/// sort it, should it spill) and its fair pool gives each spilling operator of a plan
/// an equal share: `publish`'s plan has about a dozen, so that with a 16th DataFusion
/// still spilled the aggregate's state at 51M plays and `--memory-limit 1G` before the
/// accumulator's own budget was reached, and with a 64th it did not.
const OVERFLOW_SHARE: usize = 64;

impl RoomFigures {
    /// The function for sessions of `runtime`: with a memory limit and a disk
    /// manager, an accumulator writes its entries to a temporary file once its state
    /// passes a 64th of the limit, and computes its figures from it one partition of
    /// its groups at a time.
    pub(crate) fn for_runtime(runtime: &RuntimeEnv) -> RoomFigures {
        let overflow_to = match runtime.memory_pool.memory_limit() {
            MemoryLimit::Finite(limit) if runtime.disk_manager.tmp_files_enabled() => {
                Some(OverflowTo {
                    disk: Arc::clone(&runtime.disk_manager),
                    budget: limit / OVERFLOW_SHARE,
                })
            }
            _ => None,
        };
        RoomFigures::new(overflow_to)
    }

    /// The accumulator's state for a call with `args`.
    fn groups_of(&self, args: &AccumulatorArgs) -> DfResult<Groups> {
        let mut groups = Groups::new(cap_of(args)?, with_venues(args.exprs.len()));
        groups.overflow_to = self.overflow_to.clone();
        Ok(groups)
    }
}

impl AggregateUDFImpl for RoomFigures {
    fn name(&self) -> &str {
        "room_figures"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arguments: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Struct(figure_fields(with_venues(
            arguments.len(),
        ))))
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[entries]", args.name),
            DataType::List(entry_item(with_venues(args.input_fields.len()))),
            false,
        ))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups_of(&args)?)))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups_of(&args)?))
    }
}
