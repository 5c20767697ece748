//! Prints `EXPLAIN ANALYZE` of a query over a data root, for performance work:
//! `cargo run --release -p chart-core --example explain -- DATA_ROOT "SQL"`.

use chart_core::{GoldenMic, Methodology};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (root, sql) = match (args.next(), args.next()) {
        (Some(root), Some(sql)) => (root, sql),
        _ => return Err("usage: explain DATA_ROOT SQL".into()),
    };
    let engine = GoldenMic::open(root, Methodology::default()).await?;
    let start = std::time::Instant::now();
    let batches = engine
        .context()
        .sql(&format!("EXPLAIN ANALYZE {sql}"))
        .await?
        .collect()
        .await?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    println!("elapsed: {:?}", start.elapsed());
    Ok(())
}
