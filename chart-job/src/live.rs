//! `serve` and `replay`: the ingestion service and the vendor simulator of
//! `chart-ingest`, configured from flags.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};
use chart_core::Methodology;
use chart_core::contract::compaction::CompactionOptions;
use chart_ingest::live_pages::PageFile;
use chart_ingest::simulator::{self, ReplayOptions};
use chart_ingest::wal::SealPolicy;
use chart_ingest::{IngestOptions, Limits, Vendors};

use crate::args::{ReplayArgs, ServeArgs};

/// Runs the service until SIGTERM or Ctrl-C, then lands the log and returns.
pub async fn serve(args: ServeArgs) -> Result<()> {
    let vendors = Vendors::load(&args.vendors)?;
    let data = args.store.location(&args.data)?;
    let mut options = IngestOptions::new(data, args.wal, vendors);
    options.methodology = Methodology {
        timezone: args.timezone,
        day_start_minutes: args.day_start,
        ..Methodology::default()
    };
    options.limits = Limits {
        max_body_bytes: args.max_body,
        max_decompressed_bytes: args.max_decompressed,
        max_unlanded_bytes: args.max_unlanded as u64,
        body_timeout: args.body_timeout,
        header_timeout: args.header_timeout,
        ..Limits::default()
    };
    options.seal = SealPolicy {
        every: args.land_every,
        rows: args.land_rows,
    };
    options.late_window = args.late_window;
    options.max_future = args.max_future;
    options.retry_window = args.retry_window;
    if !args.no_day_close {
        options.day_close = Some(chart_ingest::DayClose {
            grace: args.day_grace,
            every: args.day_close_every,
            retain: args.compaction_retain,
            digests: args
                .day_digests
                .as_deref()
                .map(|d| args.store.location(d))
                .transpose()?,
            compaction: CompactionOptions {
                min_new_files: args.recompact_after as usize,
                memory_limit: args.day_close_memory,
                ..CompactionOptions::default()
            },
        });
    }
    let digests = args
        .day_digests
        .as_deref()
        .map(|d| args.store.location(d))
        .transpose()?;
    options.live = (!args.no_live).then(|| chart_ingest::LiveOptions {
        refresh: args.live_refresh,
        delay: args.live_delay,
        grace: args.day_grace,
        digests,
    });
    options.chart_readers = args
        .chart_readers
        .as_deref()
        .map(Vendors::load)
        .transpose()?;
    if options.live.is_some() {
        options.live_pages = live_pages(
            &options.methodology,
            args.templates.as_deref(),
            args.site_url.as_deref(),
        )?;
    }
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    options.tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| chart_ingest::tls::TlsFiles { cert, key });
    // Signals are taken over before the address is printed: a supervisor may send
    // SIGTERM as soon as it reads it.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("the listener has no address")?;
    println!("listening on {scheme}://{addr}");
    std::io::stdout().flush().ok();
    chart_ingest::serve(options, listener, shutdown).await?;
    Ok(())
}

/// The live chart's pages, rendered once with the service's methodology.
fn live_pages(
    methodology: &Methodology,
    templates: Option<&std::path::Path>,
    site_url: Option<&str>,
) -> Result<Vec<PageFile>> {
    let templates = match templates {
        Some(directory) => chart_site::Templates::from_directory(directory)?,
        None => chart_site::Templates::built_in()?,
    };
    let pages = chart_site::LivePages {
        methodology,
        top: usize::try_from(methodology.top_n).unwrap_or(0),
        site_url,
    };
    Ok(chart_site::live_files(&templates, &pages)?
        .into_iter()
        .map(|file| PageFile {
            content_type: chart_site::content_type(&file.path),
            path: file.path,
            bytes: file.bytes,
        })
        .collect())
}

/// A future that resolves at SIGTERM or Ctrl-C (SIGINT); the handlers are installed
/// when this returns.
pub fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot handle SIGTERM")?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot handle SIGINT")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

/// Sends a data root's plays and prints what the service answered.
pub async fn replay(args: ReplayArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.tokens)
        .with_context(|| format!("cannot read {}", args.tokens.display()))?;
    let tokens: BTreeMap<String, String> = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", args.tokens.display(), e.message()))?;
    let data = args.store.location(&args.data)?;
    let report = simulator::replay(
        &data,
        ReplayOptions {
            url: args.to,
            tokens,
            fallback_vendor: args.fallback_vendor,
            concurrency: args.vendors,
            batch: args.batch,
            batch_span: (!args.batch_span.is_zero()).then_some(args.batch_span),
            rate: args.rate,
            duplicate_share: args.duplicates,
            malformed_share: args.malformed,
            seed: args.seed,
            key_prefix: args.key_prefix,
            timeout: args.timeout,
            give_up_after: args.give_up_after,
        },
    )
    .await?;
    println!(
        "sent {} plays in {} batches: {} acknowledged, {} duplicate, {} rejected, {} retries; \
         acknowledgement p50 {:.1} ms, p99 {:.1} ms",
        report.sent,
        report.batches,
        report.acknowledged,
        report.duplicate,
        report.rejected,
        report.retries,
        report.p50_micros as f64 / 1000.0,
        report.p99_micros as f64 / 1000.0,
    );
    Ok(())
}
