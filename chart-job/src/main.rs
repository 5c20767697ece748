//! `chart-job`: publishes the Golden Mic charts and coverage metrics.
//!
//! A thin command line over `chart-core`: `args` parses the flags, `commands` calls
//! the library, `report` prints a short summary on stdout; progress goes to stderr.
//! No chart logic lives here.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

mod args;
mod commands;
mod live;
mod malloc;
mod output;
mod report;
mod serve_sql;
mod sql;

fn main() -> ExitCode {
    malloc::one_arena_per_core();
    let cli = args::Cli::parse();
    if matches!(cli.command, args::Command::Serve(_)) {
        malloc::large_blocks_mapped_alone();
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", sql::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
