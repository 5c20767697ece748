//! The peer formulations of `benches/peers/` give what the project's queries give, so
//! that the benchmark's comparisons cannot rot: checked on a small generated month
//! with every run of the tests (the benchmark checks them again at its own size).

use arrow::util::pretty::pretty_format_batches;
use chart_core::{GoldenMic, Methodology};

async fn run(engine: &GoldenMic, sql: &str) -> String {
    let batches = engine
        .context()
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_peer_gives_the_projects_result() {
    let data = tempfile::tempdir().unwrap();
    benches::generate_month(data.path(), 20_000, 5_000);
    let engine = GoldenMic::open(data.path(), Methodology::default())
        .await
        .unwrap();
    let peers = benches::sql_peers();
    assert_eq!(peers.len(), 6, "every file of benches/peers/ has a pair");
    for peer in peers {
        let ours = run(&engine, &peer.ours).await;
        assert!(ours.lines().count() > 4, "{}: {ours}", peer.hot_path);
        let theirs = run(&engine, &peer.theirs).await;
        assert_eq!(ours, theirs, "{}: {} differs", peer.hot_path, peer.peer);
    }
}
