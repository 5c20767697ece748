//! What each subcommand does, on the library: the binary's only logic is reading
//! flags into library calls and printing their results (`report`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chart_core::analyst::Access;
use chart_core::publication::{history_of, verify_of};
use chart_core::{
    DataRoot, GoldenMic, Location, Methodology, Period, PublishOptions, publish,
    publish_distribution, publish_with,
};
use datafusion::prelude::SessionContext;

use crate::args::{Command, SqlArgs};
use crate::{live, output, report, serve_sql, sql};

/// Runs one subcommand.
pub async fn run(command: Command) -> Result<()> {
    match command {
        Command::Sql(args) => run_sql(args).await,
        Command::Serve(args) => live::serve(*args).await,
        Command::Replay(args) => live::replay(args).await,
        Command::ServeSql(args) => serve_sql::serve(args).await,
        Command::HashPassword(args) => serve_sql::hash_password(args),
        Command::Publish(args) => {
            let period = args.period.period()?;
            let methodology = args.methodology.methodology()?;
            let data = args.store.location(&args.data)?;
            let out = args.store.location(&args.out)?;
            let memory_limit = args.memory_limit;
            tracing::info!(data = %data, "reading the data root");
            let inputs = DataRoot::open_location(&data).await?.tables()?;
            let mut engine = GoldenMic::attach(session(memory_limit)?, inputs, methodology).await?;
            if let Some(digests) = &args.day_digests {
                engine = engine.with_day_digests(Some(args.store.location(digests)?));
            } else if args.by_day {
                engine = engine.with_day_digests(None);
            }
            let options = PublishOptions {
                reason: args.reason.clone(),
                backtest: args.backtest,
            };
            let publication = publish_with(&engine, &period, &out, &options).await?;
            report::print_summary(&publication)
        }
        Command::Distribute(args) => {
            let period = args.period.period()?;
            let methodology = args.distribution_methodology()?;
            let data = args.store.location(&args.data)?;
            let out = args.store.location(&args.out)?;
            tracing::info!(data = %data, "reading the data root");
            let inputs = DataRoot::open_location(&data).await?.tables()?;
            let engine = GoldenMic::attach(
                session(args.memory_limit)?,
                inputs,
                methodology.counting.clone(),
            )
            .await?;
            let publication = publish_distribution(&engine, &methodology, &period, &out).await?;
            report::print_distribution(&publication)
        }
        Command::History(args) => {
            let period = args.period.period()?;
            let out = args.store.location(&args.out)?;
            let versions = history_of(&out, args.product.into(), &period).await?;
            report::print_history(&out, &period, &versions);
            Ok(())
        }
        Command::Compact(args) => {
            let data = args.store.location(&args.data)?;
            let methodology = args.methodology.methodology()?;
            let close = chart_ingest::DayClose {
                retain: args.compaction_retain,
                compaction: chart_core::contract::compaction::CompactionOptions {
                    memory_limit: args.day_close_memory,
                    ..Default::default()
                },
                digests: args
                    .day_digests
                    .as_deref()
                    .map(|d| args.store.location(d))
                    .transpose()?,
                ..chart_ingest::DayClose::default()
            };
            for day in days_to_close(&data, &args.days).await? {
                let closed =
                    chart_ingest::day_close::close_day(&data, day, &methodology, &close).await?;
                report::print_day_closed(day, &closed);
            }
            Ok(())
        }
        Command::Site(args) => {
            let out = args.store.location(&args.out)?;
            let site = args.store.location(&args.site)?;
            let mut templates = match &args.templates {
                Some(directory) => chart_site::Templates::from_directory(directory)?,
                None => chart_site::Templates::built_in()?,
            };
            if let Some(live) = &args.live_url {
                templates.link_live(live);
            }
            let report = chart_site::render_site(&out, &site, &templates).await?;
            report::print_site(&site, &report);
            Ok(())
        }
        Command::Verify(args) => {
            let period = args.period.period()?;
            let out = args.store.location(&args.out)?;
            let verified = verify_of(&out, args.product.into(), &period, args.version).await?;
            let m = &verified.manifest;
            println!(
                "{} {} version {}: {} files, {} bytes match the manifest (sizes and SHA-256) in {}",
                m.period_kind.as_str(),
                m.period,
                m.version,
                m.outputs.len(),
                verified.bytes,
                verified.directory
            );
            Ok(())
        }
        Command::Demo(args) => {
            if !args.data.join("plays").is_dir() {
                let spec = sample_data::SampleSpec {
                    plays_per_month: args.plays_per_month,
                    catalogue_size: args.catalogue,
                    ..sample_data::SampleSpec::default()
                };
                tracing::info!(data = %args.data.display(), "generating sample data");
                sample_data::generate(&spec, &args.data)?;
            }
            let out = args.store.location(&args.out)?;
            let engine = GoldenMic::open(&args.data, Methodology::default()).await?;
            let last = *engine
                .data()
                .context("the demo reads files")?
                .play_days()
                .keys()
                .next_back()
                .context("the sample data has no plays")?;
            // The latest month that is complete: the last partition may be the first
            // morning of the following month.
            let latest =
                Period::containing(chart_core::PeriodKind::Month, last - chrono::Days::new(1));
            tracing::info!(period = %latest, "publishing the latest month");
            let publication = publish(&engine, &latest, &out).await?;
            report::print_summary(&publication)
        }
        Command::Generate(args) => {
            let first_month = args.first_month.first_day();
            let spec = sample_data::SampleSpec {
                seed: args.seed,
                plays_per_month: args.plays_per_month,
                first_month,
                months: args.months,
                catalogue_size: args.catalogue,
                play_order: args.play_order.into(),
            };
            let out = args.store.location(&args.out)?;
            let summary = match out.local_path() {
                Some(dir) => sample_data::generate(&spec, &dir)?,
                None => {
                    // Generate locally, then upload file by file.
                    let staging =
                        tempfile::tempdir().context("cannot create a temporary directory")?;
                    let summary = sample_data::generate(&spec, staging.path())?;
                    upload_tree(staging.path(), &out).await?;
                    summary
                }
            };
            println!(
                "wrote {out}: {} venues, {} songs, {} play rows in {} files, {} fee rows",
                summary.venues,
                summary.songs,
                summary.plays.rows,
                summary.plays.files,
                summary.fees
            );
            Ok(())
        }
    }
}

/// Copies every file under `dir` to the same relative path under `out`.
async fn upload_tree(dir: &Path, out: &Location) -> Result<()> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).with_context(|| next.display().to_string())? {
            let path = entry.with_context(|| next.display().to_string())?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .expect("listed under dir")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.write(&relative, bytes.into()).await?;
        }
    }
    Ok(())
}

/// The URL, when a path flag names an object in a store rather than a local file.
fn object_url(value: &str) -> Option<&str> {
    (value.contains("://") && !value.starts_with("file://")).then_some(value)
}

async fn run_sql(args: SqlArgs) -> Result<()> {
    let methodology = args.methodology.methodology()?;
    let (timeout, memory_limit) = (args.timeout, args.memory_limit);
    let script = match (&args.command, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(file)) => Some(match object_url(file) {
            None => std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?,
            Some(url) => {
                let bytes = args
                    .store
                    .location(url)?
                    .read("")
                    .await?
                    .with_context(|| format!("{url}: not found"))?;
                String::from_utf8(bytes.to_vec())
                    .with_context(|| format!("{url}: not UTF-8 text"))?
            }
        }),
        (None, None) => None,
    };
    let destination = match &args.output {
        None => None,
        Some(path) => Some(match object_url(path) {
            None => output::Destination::Local(PathBuf::from(path)),
            Some(url) => output::Destination::Store(args.store.location(url)?),
        }),
    };
    let ctx = session(memory_limit)?;
    let data = args.store.location(&args.data)?;
    let inputs = DataRoot::open_location(&data).await?.tables()?;
    let engine = GoldenMic::attach(ctx, inputs, methodology).await?;
    let access = if args.allow_writes {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let output = output::Output::new(args.format, destination)?;
    let shell = sql::Shell::new(engine, access, timeout, output);
    match script {
        Some(script) => {
            let lines: Vec<String> = script.lines().map(str::to_string).collect();
            shell.run_script(lines.into_iter().map(Ok)).await
        }
        None if sql::stdin_is_terminal() => shell.run_interactive(history_file()).await,
        None => shell.run_script(sql::lines(std::io::stdin().lock())).await,
    }
}

/// A session with the library's configuration and rewrites, and a fair spill pool of
/// `memory_limit` bytes when given ([`chart_core::session_builder_with_memory_limit`]).
fn session(memory_limit: Option<usize>) -> Result<SessionContext> {
    let state = chart_core::session_builder_with_memory_limit(memory_limit)?.build();
    Ok(SessionContext::new_with_state(state))
}

/// The prompt's history: `$CHART_JOB_HISTORY`, else `~/.chart_job_history`.
fn history_file() -> Option<PathBuf> {
    std::env::var_os("CHART_JOB_HISTORY")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".chart_job_history"))
        })
}

/// The business days `--day` names: each `YYYY-MM-DD` as given, each `YYYY-MM` as the
/// days of that month with a `plays/date=` directory.
async fn days_to_close(data: &Location, given: &[String]) -> Result<Vec<chrono::NaiveDate>> {
    let mut days = std::collections::BTreeSet::new();
    let mut present = None;
    for text in given {
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            days.insert(day);
            continue;
        }
        let month = Period::parse_kind(chart_core::PeriodKind::Month, text)
            .map_err(|_| anyhow::anyhow!("--day {text}: expected YYYY-MM-DD or YYYY-MM"))?;
        if present.is_none() {
            present = Some(data.join("plays").directories().await?);
        }
        for directory in present.iter().flatten() {
            let Some(day) = directory
                .strip_prefix("date=")
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            if (month.first_day()..=month.last_day()).contains(&day) {
                days.insert(day);
            }
        }
    }
    Ok(days.into_iter().collect())
}
