//! Criterion micro-benchmarks of the hot paths, each side by side
//! with the formulations it replaced or a built-in one (`benches/peers/*.sql`, or the same
//! query planned by DataFusion alone), on the same
//! generated month of 500,000 plays, and one on a table of groups with long chains. Before
//! timing, each peer is checked to give the same result as the project's query.
//! Run with `cargo bench -p benches --bench hot_paths`.

use arrow::util::pretty::pretty_format_batches;
use criterion::{Criterion, criterion_group, criterion_main};

use std::sync::Arc;

use chart_core::engine::register_room_figures;
use chart_core::{GoldenMic, Methodology, SingleStageAggregates};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

/// A query's result as text, to compare a pair and to time the whole computation.
async fn run(engine: &GoldenMic, sql: &str) -> String {
    let batches = engine
        .context()
        .sql(sql)
        .await
        .expect("plans")
        .collect()
        .await
        .expect("runs");
    pretty_format_batches(&batches)
        .expect("formats")
        .to_string()
}

/// A hot path: its name, the project's query, the engine it runs on, and its peers
/// (name, query, engine).
type HotPath<'a> = (
    &'a str,
    String,
    &'a GoldenMic,
    Vec<(&'a str, String, &'a GoldenMic)>,
);

fn hot_paths(c: &mut Criterion) {
    let data = tempfile::tempdir().expect("temp dir");
    benches::generate_month(data.path(), 500_000, 100_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let engine = runtime.block_on(async {
        GoldenMic::open(data.path(), Methodology::default())
            .await
            .expect("data opens")
    });
    // The same inputs on a session without the library's physical rewrite
    // (`SingleStageAggregates`): DataFusion's two-stage aggregates.
    let two_stages = runtime.block_on(async {
        let ctx = SessionContext::new_with_config(chart_core::session_config());
        GoldenMic::attach(ctx, engine.inputs().clone(), Methodology::default())
            .await
            .expect("inputs attach")
    });
    // The same inputs on a session with the one-stage aggregates but DataFusion's hash
    // joins where the library's sessions plan `LookupJoinExec`s.
    let hash_joins = runtime.block_on(async {
        let state = SessionStateBuilder::new()
            .with_config(chart_core::session_config())
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(SingleStageAggregates::golden_mic()))
            .build();
        GoldenMic::attach(
            SessionContext::new_with_state(state),
            engine.inputs().clone(),
            Methodology::default(),
        )
        .await
        .expect("inputs attach")
    });
    // Sessions held to 64 MiB (a fair spill pool, as `--memory-limit` gives) with a table
    // of 3M plays of 300,000 songs, nearly every play its own (venue, room, day): the
    // state of `room_figures` by song (tens of MB) passes its budget (a 64th of the
    // limit). In one, its accumulators write their entries out (the library's
    // registration); in the other they keep them in memory, and DataFusion spills
    // their states. The generated month's 500,000 plays do not make DataFusion spill
    // under any limit the rest of the plan runs within.
    let limited = |write_out: bool| {
        runtime.block_on(async {
            let pool = FairSpillPool::new(64 * 1024 * 1024);
            let limited_runtime = RuntimeEnvBuilder::new()
                .with_memory_pool(Arc::new(pool))
                .build_arc()
                .expect("runtime");
            let state = chart_core::session_builder()
                .with_runtime_env(limited_runtime)
                .build();
            let engine = GoldenMic::attach(
                SessionContext::new_with_state(state),
                engine.inputs().clone(),
                Methodology::default(),
            )
            .await
            .expect("inputs attach");
            register_room_figures(engine.context(), write_out);
            engine
                .context()
                .sql(
                    "CREATE TABLE many_songs AS SELECT v % 300000 AS song_id, \
                     concat('V', CAST((v / 13) % 1000 AS VARCHAR)) AS venue_id, \
                     concat('R', CAST((v / 7) % 6 AS VARCHAR)) AS room_id, \
                     arrow_cast(CAST(20000 + (v / 300000) % 30 AS INT), 'Date32') \
                     AS business_day FROM generate_series(0, 2999999) AS t(v)",
                )
                .await
                .expect("plans")
                .collect()
                .await
                .expect("creates the table");
            engine
        })
    };
    let (written_out, in_memory) = (limited(true), limited(false));
    // Groups with long chains (`room_figures`' blocks): 2,000 groups of 1,000 plays each
    // over 40 rooms and 10 days (400 (room, day) pairs a group, played 2 or 3 times: a cap
    // of 2 binds), the groups interleaved as songs are in the plays. The generated month
    // has few such groups, and 500,000 plays of it hardly any.
    runtime.block_on(async {
        engine
            .context()
            .sql(
                "CREATE TABLE busy_groups AS SELECT v % 2000 AS group_id, \
                 concat('R', CAST((v / 2000) % 40 AS VARCHAR)) AS room_id, \
                 arrow_cast(CAST(20000 + ((v / 2000) * 7 + v / 80000) % 10 AS INT), 'Date32') \
                 AS business_day FROM generate_series(0, 1999999) AS t(v)",
            )
            .await
            .expect("plans")
            .collect()
            .await
            .expect("creates the table")
    });
    let long_chains = "SELECT COUNT(*) AS groups_, SUM(f['score']) AS score, \
        SUM(f['plays']) AS plays, SUM(f['rooms']) AS rooms FROM (SELECT group_id, \
        room_figures(room_id, business_day, 2) AS f FROM busy_groups GROUP BY group_id) AS g"
        .to_string();
    let long_chains_peer = "SELECT COUNT(*) AS groups_, SUM(score) AS score, SUM(plays) AS plays, \
        SUM(rooms) AS rooms FROM (SELECT group_id, SUM(LEAST(n, 2)) AS score, SUM(n) AS plays, \
        COUNT(DISTINCT room_id) AS rooms FROM (SELECT group_id, room_id, business_day, \
        COUNT(*) AS n FROM busy_groups GROUP BY group_id, room_id, business_day) AS d \
        GROUP BY group_id) AS g"
        .to_string();
    let many_songs = "SELECT COUNT(*) AS songs, SUM(f['score']) AS score, SUM(f['plays']) AS plays, \
        SUM(f['rooms']) AS rooms, SUM(f['venues']) AS venues FROM (SELECT song_id, \
        room_figures(venue_id, room_id, business_day, 3) AS f FROM many_songs GROUP BY song_id) AS s"
        .to_string();
    // (hot path, the project's query, the engine it runs on, [(peer, its query, the
    // engine it runs on)]): the peers of `benches/peers/`, then the same queries on
    // sessions without one of the library's rewrites.
    let mut paths: Vec<HotPath> = Vec::new();
    for p in benches::sql_peers() {
        match paths.iter_mut().find(|(name, ..)| *name == p.hot_path) {
            Some((.., peers)) => peers.push((p.peer, p.theirs, &engine)),
            None => paths.push((
                p.hot_path,
                p.ours,
                &engine,
                vec![(p.peer, p.theirs, &engine)],
            )),
        }
    }
    for (name, peer, peer_engine) in [
        ("deduplication", "hash joins", &hash_joins),
        ("song figures of the months", "two stages", &two_stages),
    ] {
        let path = paths
            .iter_mut()
            .find(|(n, ..)| *n == name)
            .expect("a hot path");
        let ours = path.1.clone();
        path.3.push((peer, ours, peer_engine));
    }
    paths.push((
        "room figures under a memory limit",
        many_songs.clone(),
        &written_out,
        vec![("DataFusion spilling", many_songs, &in_memory)],
    ));
    paths.push((
        "room figures of long chains",
        long_chains,
        &engine,
        vec![("two aggregates", long_chains_peer, &engine)],
    ));
    for (name, ours, our_engine, peers) in &paths {
        let expected = runtime.block_on(run(our_engine, ours));
        for (peer, sql, peer_engine) in peers {
            let got = runtime.block_on(run(peer_engine, sql));
            assert_eq!(
                expected, got,
                "{name}: the project's query and {peer} differ"
            );
        }
        let mut group = c.benchmark_group(*name);
        group.sample_size(10);
        group.bench_function("queries/", |b| {
            b.iter(|| runtime.block_on(run(our_engine, ours)))
        });
        for (peer, sql, peer_engine) in peers {
            group.bench_function(*peer, |b| {
                b.iter(|| runtime.block_on(run(peer_engine, sql)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
