use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Date32Array, Int64Array, StringArray};
use arrow::datatypes::Int64Type;
use datafusion::error::Result as DfResult;
use datafusion::execution::disk_manager::DiskManager;

use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use std::collections::{BTreeMap, BTreeSet};

use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::AggregateUDF;
use datafusion::prelude::SessionContext;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// A play: its group, venue, room and day (a NULL room or day, or a NULL venue
/// when venues are given: not counted).
type Play = (usize, Option<String>, Option<String>, Option<i32>);

/// The reference: the figures of each group, by counting rows. With `venues`, a
/// room is its (venue, room id), and the venues are counted.
fn reference(plays: &[Play], cap: u32, venues: bool) -> BTreeMap<usize, Figures> {
    let mut per_room_day: BTreeMap<(usize, &str, &str, i32), i64> = BTreeMap::new();
    for (group, venue, room, day) in plays {
        let venue = match (venues, venue) {
            (false, _) => Some(""),
            (true, venue) => venue.as_deref(),
        };
        if let (Some(venue), Some(room), Some(day)) = (venue, room, day) {
            *per_room_day.entry((*group, venue, room, *day)).or_default() += 1;
        }
    }
    let mut figures: BTreeMap<usize, Figures> = BTreeMap::new();
    let mut rooms: BTreeMap<usize, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for ((group, venue, room, _), plays) in per_room_day {
        let f = figures.entry(group).or_default();
        f.plays += plays;
        f.score += plays.min(i64::from(cap));
        rooms.entry(group).or_default().insert((venue, room));
    }
    for (group, rooms) in rooms {
        let f = figures.entry(group).or_default();
        f.rooms = rooms.len() as i64;
        if venues {
            let venues: BTreeSet<&str> = rooms.iter().map(|(venue, _)| *venue).collect();
            f.venues = venues.len() as i64;
        }
    }
    figures
}

/// Random plays of `groups` groups: few venues, rooms and days, so that rooms
/// repeat on a day and the cap binds, and the same room ids are in several
/// venues; group 0 has many rooms and days (a long chain).
fn random_plays(rng: &mut ChaCha8Rng, rows: usize, groups: usize) -> Vec<Play> {
    (0..rows)
        .map(|_| {
            let group = rng.random_range(0..groups);
            let (rooms, days) = if group == 0 { (40, 20) } else { (4, 3) };
            // Short ids (packed) and, in every fifth group, long ones.
            let prefix = if group % 5 == 1 { "KTV-ROOM-" } else { "R" };
            let venue = (rng.random_range(0..50) > 0).then(|| {
                let venue = rng.random_range(0..4);
                match venue {
                    3 => "VENUE-WITH-A-LONG-ID".to_string(),
                    _ => format!("V{venue}"),
                }
            });
            let room = (rng.random_range(0..50) > 0)
                .then(|| format!("{prefix}{:02}", rng.random_range(0..rooms)));
            let day = (rng.random_range(0..50) > 0).then(|| 20_000 + rng.random_range(0..days));
            (group, venue, room, day)
        })
        .collect()
}

/// The argument columns (venue only with `venues`, and the cap) and groups.
fn columns(plays: &[Play], venues: bool) -> (Vec<ArrayRef>, Vec<usize>) {
    let venue: StringArray = plays.iter().map(|p| p.1.clone()).collect();
    let rooms: StringArray = plays.iter().map(|p| p.2.clone()).collect();
    let days: Date32Array = plays.iter().map(|p| p.3).collect();
    let caps = Int64Array::from(vec![3; plays.len()]);
    let venue = venues.then(|| Arc::new(venue) as ArrayRef);
    let columns = venue
        .into_iter()
        .chain([Arc::new(rooms) as ArrayRef, Arc::new(days), Arc::new(caps)])
        .collect();
    (columns, plays.iter().map(|p| p.0).collect())
}

fn figures_of(array: &ArrayRef) -> Vec<Figures> {
    let s = array.as_struct();
    let column = |i: usize| match s.columns().get(i) {
        Some(c) => c.as_primitive::<Int64Type>().values().to_vec(),
        None => vec![0; s.len()],
    };
    let (plays, score, rooms, venues) = (column(0), column(1), column(2), column(3));
    (0..s.len())
        .map(|i| Figures {
            plays: plays[i],
            score: score[i],
            rooms: rooms[i],
            venues: venues[i],
        })
        .collect()
}

fn expected(plays: &[Play], groups: usize, cap: u32, venues: bool) -> Vec<Figures> {
    let reference = reference(plays, cap, venues);
    (0..groups)
        .map(|g| reference.get(&g).copied().unwrap_or_default())
        .collect()
}

/// Feeds `plays` to `acc` in batches of `batch` rows.
fn update(acc: &mut Groups, plays: &[Play], groups: usize, batch: usize) {
    let empty: [&[Play]; 1] = [&[]];
    let chunks: Vec<&[Play]> = match plays.is_empty() {
        true => empty.to_vec(),
        false => plays.chunks(batch).collect(),
    };
    for chunk in chunks {
        let (values, indices) = columns(chunk, acc.venues);
        acc.update_batch(&values, &indices, None, groups).unwrap();
    }
}

/// `plays` with runs of the same (venue, room), as plays sorted by venue and
/// room come, so that a row's room is often the row before's.
fn in_runs(plays: &[Play]) -> Vec<Play> {
    let mut runs = plays.to_vec();
    runs.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    runs
}

#[test]
fn matches_the_reference_in_one_phase() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for venues in [false, true] {
        for (rows, groups) in [(0, 1), (1, 1), (500, 7), (20_000, 300)] {
            let plays = random_plays(&mut rng, rows, groups);
            for plays in [plays.clone(), in_runs(&plays)] {
                let mut acc = Groups::new(3, venues);
                update(&mut acc, &plays, groups, 977);
                assert_eq!(
                    figures_of(&acc.evaluate(EmitTo::All).unwrap()),
                    expected(&plays, groups, 3, venues),
                    "{rows} rows, venues {venues}"
                );
                assert!(acc.slots.is_empty() && acc.arena.is_empty() && acc.blocks.is_empty());
            }
        }
    }
    // The long chain of group 0 was moved to a block, which grew: its 800 (room,
    // day) pairs do not fit the first one.
    let plays = random_plays(&mut rng, 5_000, 3);
    let mut acc = Groups::new(3, true);
    update(&mut acc, &plays, 3, 1000);
    assert_eq!(acc.slots[0].first.next, HASHED, "group 0 should be hashed");
    assert!(
        acc.slots[0].mask > FIRST_BLOCK,
        "its block should have grown"
    );
    assert_eq!(
        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
        expected(&plays, 3, 3, true)
    );
}

#[test]
fn a_room_is_its_venue_and_room_id_when_venues_are_given() {
    let play =
        |venue: &str, room: &str| (0, Some(venue.to_string()), Some(room.to_string()), Some(1));
    // R1 in two venues, R2 in one; a run of V1 R1, then V2 R1 right after it.
    let plays = [
        play("V1", "R1"),
        play("V1", "R1"),
        play("V2", "R1"),
        play("V2", "R1"),
        play("V2", "R2"),
        play("V1", "R1"),
    ];
    let got = |venues| {
        let mut acc = Groups::new(1, venues);
        update(&mut acc, &plays, 1, 4);
        figures_of(&acc.evaluate(EmitTo::All).unwrap())[0]
    };
    let with = got(true);
    assert_eq!(
        (with.plays, with.score, with.rooms, with.venues),
        (6, 3, 3, 2)
    );
    let without = got(false);
    assert_eq!(
        (without.plays, without.score, without.rooms, without.venues),
        (6, 2, 2, 0)
    );
    // A play without a venue is not counted when venues are given.
    let mut acc = Groups::new(1, true);
    let no_venue = [(0, None, Some("R1".to_string()), Some(1))];
    update(&mut acc, &[&plays[..], &no_venue].concat(), 1, 4);
    assert_eq!(figures_of(&acc.evaluate(EmitTo::All).unwrap())[0], with);
}

#[test]
fn blocks_left_by_a_growing_group_serve_the_next() {
    // Two groups of 200 (room, day) pairs each, one after the other: the first
    // grows through blocks of 16, 32, ... 512 cells and leaves the smaller ones,
    // which the second takes as it grows, so only its last block is new; the
    // second's chain, before it moves to a block, takes the arena entries the
    // first's chain left.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let pairs = |group: usize, rng: &mut ChaCha8Rng| -> Vec<Play> {
        let mut plays: Vec<Play> = (0..200)
            .flat_map(|i| {
                let venue = Some(format!("V{}", i % 3));
                let play = (
                    group,
                    venue,
                    Some(format!("R{}", i % 40)),
                    Some(20_000 + i / 40),
                );
                vec![play; 1 + i as usize % 5]
            })
            .collect();
        for i in (1..plays.len()).rev() {
            plays.swap(i, rng.random_range(0..=i));
        }
        plays
    };
    let first = pairs(0, &mut rng);
    let second = pairs(1, &mut rng);
    let mut acc = Groups::new(3, false);
    update(&mut acc, &first, 2, 100);
    let after_first = acc.blocks.len();
    assert_eq!(acc.slots[0].mask, 512);
    assert_eq!(after_first, 16 + 32 + 64 + 128 + 256 + 512);
    update(&mut acc, &second, 2, 100);
    assert_eq!(acc.slots[1].mask, 512);
    assert_eq!(acc.blocks.len(), after_first + 512);
    assert_eq!(acc.arena.len(), LONG_CHAIN as usize - 1);
    let plays = [first, second].concat();
    assert_eq!(
        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
        expected(&plays, 2, 3, false)
    );
}

#[test]
fn the_cap_binds_per_room_and_day() {
    let play = |group, room: &str, day| {
        (
            group,
            Some("V".to_string()),
            Some(room.to_string()),
            Some(day),
        )
    };
    // Group 0: R1 5 plays on day 1 (capped to 3), 1 on day 2; R2 2 on day 1.
    let plays = [
        vec![play(0, "R1", 1); 5],
        vec![play(0, "R1", 2), play(0, "R2", 1), play(0, "R2", 1)],
        vec![play(1, "R1", 1); 2],
    ]
    .concat();
    for cap in [1, 3, 10] {
        let mut acc = Groups::new(cap, false);
        update(&mut acc, &plays, 2, 3);
        let got = figures_of(&acc.evaluate(EmitTo::All).unwrap());
        let score = |g: usize| got[g].score;
        let cap = i64::from(cap);
        assert_eq!(score(0), 5.min(cap) + 1 + 2.min(cap));
        assert_eq!(score(1), 2.min(cap));
        assert_eq!(
            (got[0].plays, got[0].rooms, got[1].plays, got[1].rooms),
            (8, 2, 2, 1)
        );
    }
}

#[test]
fn room_ids_of_any_length_are_told_apart() {
    let names = [
        "",
        "\0",
        "A",
        "A\0",
        "A\0\0",
        "AB",
        "1234567",
        "12345678",
        "123456789",
    ];
    let mut ids = Names::default();
    let codes: Vec<u32> = names.iter().map(|n| ids.code(n)).collect();
    assert_eq!(codes, (0..names.len() as u32).collect::<Vec<_>>());
    // Looked up again, in another order, each keeps its code.
    for (i, name) in names.iter().enumerate().rev() {
        assert_eq!(ids.code(name), i as u32, "{name:?}");
        assert_eq!(ids.code(name), i as u32, "{name:?} twice");
    }
    // As rooms and as venues, in every pair.
    let plays: Vec<Play> = names
        .iter()
        .flat_map(|v| names.iter().map(move |r| (v, r)))
        .flat_map(|(v, r)| vec![(0, Some(v.to_string()), Some(r.to_string()), Some(1)); 4])
        .collect();
    for venues in [false, true] {
        let mut acc = Groups::new(3, venues);
        update(&mut acc, &plays, 1, 5);
        let got = figures_of(&acc.evaluate(EmitTo::All).unwrap());
        assert_eq!(got, expected(&plays, 1, 3, venues));
        let rooms = names.len() * if venues { names.len() } else { 1 };
        assert_eq!(got[0].rooms, rooms as i64);
    }
}

#[test]
fn partial_states_merge_to_the_reference() {
    for venues in [false, true] {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let groups = 200;
        let plays = random_plays(&mut rng, 30_000, groups);
        let (first, second) = plays.split_at(11_000);
        let mut merged = Groups::new(3, venues);
        // Two partial aggregates, their states merged, ...
        for part in [first, &second[..9_000]] {
            let mut partial = Groups::new(3, venues);
            update(&mut partial, part, groups, 1_024);
            let state = partial.state(EmitTo::All).unwrap();
            let indices: Vec<usize> = (0..groups).collect();
            merged.merge_batch(&state, &indices, groups).unwrap();
        }
        // ... and rows passed through as states of their own (a skipped partial
        // phase), a filter dropping every third row.
        let rest = &second[9_000..];
        let (values, indices) = columns(rest, venues);
        let filter: BooleanArray = (0..rest.len()).map(|i| Some(i % 3 != 0)).collect();
        let state = merged.convert_to_state(&values, Some(&filter)).unwrap();
        merged.merge_batch(&state, &indices, groups).unwrap();
        let kept: Vec<Play> = first
            .iter()
            .chain(&second[..9_000])
            .chain(
                rest.iter()
                    .enumerate()
                    .filter(|(i, _)| i % 3 != 0)
                    .map(|(_, p)| p),
            )
            .cloned()
            .collect();
        assert_eq!(
            figures_of(&merged.evaluate(EmitTo::All).unwrap()),
            expected(&kept, groups, 3, venues),
            "venues {venues}"
        );
    }
}

#[test]
fn a_bad_state_is_an_error() {
    let mut acc = Groups::new(3, true);
    let plays = [(0, Some("V".to_string()), Some("R".to_string()), Some(1))];
    update(&mut acc, &plays, 1, 1);
    let state = acc.state(EmitTo::All).unwrap();
    // A state of rooms without venues, given to an aggregate with venues.
    let mut without = Groups::new(3, false);
    update(&mut without, &plays, 1, 1);
    let other = without.state(EmitTo::All).unwrap();
    let err = acc.merge_batch(&other, &[0], 1).unwrap_err().to_string();
    assert!(err.contains("room_figures"), "{err}");
    acc.merge_batch(&state, &[0], 1).unwrap();
}

#[test]
fn emitting_the_first_groups_keeps_the_others() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let groups = 120;
    let plays = random_plays(&mut rng, 20_000, groups);
    let (before, after) = plays.split_at(12_000);
    let mut acc = Groups::new(3, true);
    update(&mut acc, before, groups, 1_000);
    // Emit the first 50 groups (state of 20, figures of 30), then go on with the
    // others, numbered from 0 again.
    let state = acc.state(EmitTo::First(20)).unwrap();
    let mut check = Groups::new(3, true);
    check
        .merge_batch(&state, &(0..20).collect::<Vec<_>>(), 20)
        .unwrap();
    let early = figures_of(&check.evaluate(EmitTo::All).unwrap());
    assert_eq!(early, expected(before, 20, 3, true));
    let next = figures_of(&acc.evaluate(EmitTo::First(30)).unwrap());
    // The blocks left are those of the groups still hashed, and nothing else.
    let live: u32 = acc
        .slots
        .iter()
        .filter(|s| s.first.next == HASHED)
        .map(|s| s.mask)
        .sum();
    assert_eq!(acc.blocks.len(), live as usize);
    assert_eq!(next, expected(before, 50, 3, true)[20..]);
    let shifted = |plays: &[Play]| -> Vec<Play> {
        plays
            .iter()
            .filter(|p| p.0 >= 50)
            .map(|p| (p.0 - 50, p.1.clone(), p.2.clone(), p.3))
            .collect()
    };
    update(&mut acc, &shifted(after), groups - 50, 700);
    assert_eq!(
        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
        expected(&shifted(&plays), groups - 50, 3, true)
    );
}

#[tokio::test]
async fn in_sql_with_and_without_group_by() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let groups = 9;
    let plays = random_plays(&mut rng, 3_000, groups);
    let (mut values, indices) = columns(&plays, true);
    values.pop();
    let batch = RecordBatch::try_from_iter([
        (
            "g",
            Arc::new(Int64Array::from_iter_values(
                indices.iter().map(|g| *g as i64),
            )) as ArrayRef,
        ),
        ("venue", values[0].clone()),
        ("room", values[1].clone()),
        ("day", values[2].clone()),
    ])
    .unwrap();
    let ctx = SessionContext::new();
    ctx.register_udaf(AggregateUDF::from(RoomFigures::new(None)));
    ctx.register_batch("t", batch).unwrap();
    async fn run(ctx: &SessionContext, sql: &str) -> DfResult<RecordBatch> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(arrow::compute::concat_batches(
            &batches[0].schema(),
            &batches,
        )?)
    }
    for (arguments, venues) in [("room, day", false), ("venue, room, day", true)] {
        let grouped = run(
            &ctx,
            &format!("SELECT g, room_figures({arguments}, 2) AS f FROM t GROUP BY g ORDER BY g"),
        )
        .await
        .unwrap();
        assert_eq!(
            figures_of(grouped.column(1)),
            expected(&plays, groups, 2, venues)
        );
        let all: Vec<Play> = plays
            .iter()
            .map(|p| (0, p.1.clone(), p.2.clone(), p.3))
            .collect();
        let total = run(&ctx, &format!(
            "SELECT room_figures({arguments}, 2)['score'] AS s, room_figures({arguments}, 2) AS f FROM t"
        ))
        .await
        .unwrap();
        assert_eq!(figures_of(total.column(1)), expected(&all, 1, 2, venues));
        assert_eq!(
            total.column(0).as_primitive::<Int64Type>().value(0),
            expected(&all, 1, 2, venues)[0].score
        );
    }
    // Venues are a field only when given; Utf8View arguments are cast.
    let fields = run(
        &ctx,
        "SELECT room_figures(arrow_cast(venue, 'Utf8View'), arrow_cast(room, 'Utf8View'), day, 2)['venues'] AS v FROM t",
    )
    .await
    .unwrap();
    assert_eq!(fields.column(0).as_primitive::<Int64Type>().value(0), 4);
    for (sql, message) in [
        (
            "SELECT room_figures(room, day, 2)['venues'] FROM t",
            "venues",
        ),
        (
            "SELECT room_figures(room, day, g) FROM t",
            "must be a positive integer constant",
        ),
        (
            "SELECT room_figures(venue, room, day, g) FROM t",
            "must be a positive integer constant",
        ),
        (
            "SELECT room_figures(room, day, 0) FROM t",
            "must be a positive integer constant",
        ),
        (
            "SELECT room_figures(DISTINCT room, day, 3) FROM t",
            "DISTINCT is not supported",
        ),
        ("SELECT room_figures(room, 3) FROM t", "room_figures"),
    ] {
        let err = run(&ctx, sql).await.unwrap_err().to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
}

/// An accumulator that writes its entries out past `budget` bytes.
fn overflowing(cap: u32, venues: bool, budget: usize) -> Groups {
    let disk = DiskManager::builder().build().unwrap();
    let mut acc = Groups::new(cap, venues);
    acc.overflow_to = Some(OverflowTo {
        disk: Arc::new(disk),
        budget,
    });
    acc
}

#[test]
fn past_its_budget_an_aggregate_writes_its_entries_out_and_matches_the_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for venues in [false, true] {
        for (rows, groups) in [(1, 1), (20_000, 300), (30_000, 2_000)] {
            let plays = random_plays(&mut rng, rows, groups);
            for plays in [plays.clone(), in_runs(&plays)] {
                // A budget the first batch passes (rows: 0 bytes, at once).
                let budget = if rows == 1 { 0 } else { 60_000 };
                let mut acc = overflowing(3, venues, budget);
                update(&mut acc, &plays, groups, 977);
                let overflow = acc.overflow.as_ref().expect("past the budget");
                assert!(overflow.chunk < MAX_CHUNK, "chunks sized by the budget");
                // Only the slots stay in memory.
                assert!(acc.arena.is_empty() && acc.blocks.is_empty());
                assert_eq!(
                    figures_of(&acc.evaluate(EmitTo::All).unwrap()),
                    expected(&plays, groups, 3, venues),
                    "{rows} rows, venues {venues}"
                );
                assert!(acc.overflow.is_none() && acc.slots.is_empty());
            }
        }
    }
    // Under the budget, nothing is written.
    let plays = random_plays(&mut rng, 2_000, 50);
    let mut acc = overflowing(3, true, 1 << 30);
    update(&mut acc, &plays, 50, 977);
    assert!(acc.overflow.is_none());
    assert_eq!(
        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
        expected(&plays, 50, 3, true)
    );
}

#[test]
fn an_overflowing_aggregate_merges_states_and_gives_its_own() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let groups = 400;
    let plays = random_plays(&mut rng, 40_000, groups);
    let (first, second) = plays.split_at(15_000);
    let indices: Vec<usize> = (0..groups).collect();
    // Partial states merged into an aggregate past its budget.
    let mut merged = overflowing(3, true, 50_000);
    for part in [first, second] {
        let mut partial = Groups::new(3, true);
        update(&mut partial, part, groups, 1_000);
        let state = partial.state(EmitTo::All).unwrap();
        merged.merge_batch(&state, &indices, groups).unwrap();
    }
    assert!(merged.overflow.is_some());
    // Its own state (read back into memory first) merged into another.
    let state = merged.state(EmitTo::All).unwrap();
    assert!(merged.overflow.is_none() && merged.overflow_to.is_none());
    let mut last = Groups::new(3, true);
    last.merge_batch(&state, &indices, groups).unwrap();
    assert_eq!(
        figures_of(&last.evaluate(EmitTo::All).unwrap()),
        expected(&plays, groups, 3, true)
    );
}

#[test]
fn an_overflowing_aggregate_emits_its_first_groups_from_memory() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let groups = 300;
    let plays = random_plays(&mut rng, 20_000, groups);
    let mut acc = overflowing(3, false, 40_000);
    update(&mut acc, &plays, groups, 977);
    assert!(acc.overflow.is_some());
    let want = expected(&plays, groups, 3, false);
    let first = figures_of(&acc.evaluate(EmitTo::First(100)).unwrap());
    assert_eq!(first, want[..100]);
    // Read back, it stays in memory: more plays no longer overflow.
    update(&mut acc, &[], groups - 100, 977);
    assert!(acc.overflow.is_none());
    assert_eq!(figures_of(&acc.evaluate(EmitTo::All).unwrap()), want[100..]);
}

#[test]
fn a_lost_overflow_file_is_an_error_naming_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let plays = random_plays(&mut rng, 5_000, 100);
    let mut acc = overflowing(3, true, 10_000);
    update(&mut acc, &plays, 100, 977);
    let path = acc
        .overflow
        .as_ref()
        .unwrap()
        .file
        .path()
        .unwrap()
        .to_owned();
    std::fs::remove_file(&path).unwrap();
    let err = acc.evaluate(EmitTo::All).unwrap_err().to_string();
    assert!(err.contains("room_figures: reading"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn one_group_past_its_budget_reads_its_entries_back() {
    // Without GROUP BY: the plays of every group as one group's.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let plays: Vec<Play> = random_plays(&mut rng, 8_000, 40)
        .into_iter()
        .map(|(_, venue, room, day)| (0, venue, room, day))
        .collect();
    let mut one = OneGroup(overflowing(3, true, 2_000));
    for chunk in plays.chunks(977) {
        let (values, _) = columns(chunk, true);
        Accumulator::update_batch(&mut one, &values).unwrap();
    }
    assert!(one.0.overflow.is_some());
    let got = Accumulator::evaluate(&mut one).unwrap().to_array().unwrap();
    assert_eq!(figures_of(&got), expected(&plays, 1, 3, true));
}
