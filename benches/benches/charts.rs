//! Criterion benchmark of one month's publication (hot + new + coverage) on
//! generated data. Run with `cargo bench -p benches`.

use criterion::{Criterion, criterion_group, criterion_main};

use chart_core::{GoldenMic, Location, Methodology, Period, publish};

fn publish_month(c: &mut Criterion) {
    let data = tempfile::tempdir().expect("temp dir");
    benches::generate_month(data.path(), 200_000, 50_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let period: Period = "2024-11".parse().expect("period");
    let mut group = c.benchmark_group("gm1");
    group.sample_size(10);
    group.bench_function("publish 200k plays", |b| {
        b.iter(|| {
            // A new output root each time: publishing into the same one again would
            // find the month unchanged and skip the computation.
            let out = tempfile::tempdir().expect("temp dir");
            let out = Location::local(out.path()).expect("a local location");
            runtime.block_on(async {
                let engine = GoldenMic::open(data.path(), Methodology::default())
                    .await
                    .expect("data opens");
                publish(&engine, &period, &out).await.expect("publishes")
            })
        })
    });
    group.finish();
}

criterion_group!(benches, publish_month);
criterion_main!(benches);
