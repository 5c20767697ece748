//! `chart-job sql`: analyst SQL over a data root, from `-c`, `-f`, piped stdin or an
//! interactive prompt. The SQL itself is `chart_core::analyst`; this module reads
//! lines, runs meta-commands and hands results to [`Output`].

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use arrow::array::RecordBatch;
use chart_core::analyst::{self, Access};
use chart_core::{ChartError, GoldenMic};
use futures::StreamExt;

use crate::output::Output;

const HELP: &str = "\
Statements end with `;` and may span lines. Tables: plays (partitioned by date), songs, venues.
Views: valid_plays, song_month_stats and the other GM-1 steps of queries/.
Table functions: hot_chart(period [, top_n [, province]]), new_chart(...), coverage(period [, province]),
coverage_by_province(period); period is 'YYYY-MM' or 'YYYY'.
  \\d          list tables, views and table functions
  \\d NAME     describe one
  \\?          this help
  \\q          quit";

/// What to do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// `\q`: stop.
    Quit,
}

/// An analyst SQL session over a Golden Mic engine.
pub struct Shell {
    engine: GoldenMic,
    access: Access,
    timeout: Option<Duration>,
    output: Output,
    buffer: String,
}

impl Shell {
    /// A session writing every result to `output`.
    pub fn new(
        engine: GoldenMic,
        access: Access,
        timeout: Option<Duration>,
        output: Output,
    ) -> Shell {
        Shell {
            engine,
            access,
            timeout,
            output,
            buffer: String::new(),
        }
    }

    /// Runs a whole script (`-c`, `-f` or piped stdin) line by line, stopping at
    /// the first error; a last statement without `;` runs too.
    pub async fn run_script(mut self, lines: impl Iterator<Item = Result<String>>) -> Result<()> {
        let outcome = async {
            for line in lines {
                if self.feed(&line?).await? == Flow::Quit {
                    return Ok(());
                }
            }
            let rest = std::mem::take(&mut self.buffer);
            if !rest.trim().is_empty() {
                self.execute(&rest).await?;
            }
            Ok(())
        }
        .await;
        self.finish(outcome).await
    }

    /// The interactive prompt: line editing and history (in `history`), errors
    /// reported and the session kept; Ctrl-C cancels the statement being typed or
    /// run, Ctrl-D or `\q` quits.
    pub async fn run_interactive(mut self, history: Option<PathBuf>) -> Result<()> {
        use rustyline::error::ReadlineError;
        let mut editor = rustyline::DefaultEditor::new().context("cannot start the prompt")?;
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!(
            "chart-job sql {} on {} (read {}). \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            self.engine
                .data()
                .map(|d| d.location().to_string())
                .unwrap_or_else(|| "in-memory data".into()),
            match self.access {
                Access::ReadOnly => "only",
                Access::ReadWrite => "and write",
            }
        );
        loop {
            let prompt = if self.buffer.is_empty() {
                "chart> "
            } else {
                "chart-> "
            };
            match editor.readline(prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    let flow = tokio::select! {
                        flow = self.feed(&line) => flow,
                        _ = tokio::signal::ctrl_c() => Err(anyhow!("cancelled")),
                    };
                    match flow {
                        Ok(Flow::Quit) => break,
                        Ok(Flow::Continue) => {}
                        Err(e) => {
                            self.buffer.clear();
                            eprintln!("error: {}", one_line(&e));
                        }
                    }
                }
                Err(ReadlineError::Interrupted) => self.buffer.clear(),
                Err(ReadlineError::Eof) => break,
                Err(e) => return self.finish(Err(e.into())).await,
            }
        }
        if let Some(path) = &history {
            let _ = editor.save_history(path);
        }
        self.finish(Ok(())).await
    }

    async fn finish(self, outcome: Result<()>) -> Result<()> {
        match outcome {
            Ok(()) => self.output.finish().await,
            Err(e) => {
                self.output.abandon();
                Err(e)
            }
        }
    }

    /// One line of input: a meta-command at the start of a statement, or SQL that
    /// runs once the statement is complete.
    pub async fn feed(&mut self, line: &str) -> Result<Flow> {
        if self.buffer.trim().is_empty() && line.trim_start().starts_with('\\') {
            self.buffer.clear();
            return self.meta(line.trim()).await;
        }
        self.buffer.push_str(line);
        self.buffer.push('\n');
        if analyst::is_complete(&self.buffer) {
            let sql = std::mem::take(&mut self.buffer);
            self.execute(&sql).await?;
        }
        Ok(Flow::Continue)
    }

    async fn meta(&mut self, command: &str) -> Result<Flow> {
        let mut words = command.split_whitespace();
        let ctx = self.engine.context();
        match (words.next().unwrap_or(""), words.next(), words.next()) {
            ("\\q", None, _) => return Ok(Flow::Quit),
            ("\\?", None, _) => println!("{HELP}"),
            ("\\d", None, _) => {
                let started = Instant::now();
                let batch = analyst::list_relations(ctx).await?;
                self.show(batch, started)?;
            }
            ("\\d", Some(name), None) => {
                let started = Instant::now();
                let batch = analyst::describe(ctx, name).await?;
                self.show(batch, started)?;
            }
            _ => {
                return Err(anyhow!(
                    "unknown command `{command}`: \\d, \\d NAME, \\? and \\q are known"
                ));
            }
        }
        Ok(Flow::Continue)
    }

    fn show(&mut self, batch: RecordBatch, started: Instant) -> Result<()> {
        let rows = batch.num_rows();
        let mut writer = self.output.begin(&batch.schema())?;
        writer.write(batch)?;
        writer.finish(rows, started.elapsed())
    }

    /// Runs every statement of `sql` in order.
    async fn execute(&mut self, sql: &str) -> Result<()> {
        let statements = analyst::parse_statements(self.engine.context(), sql)?;
        for statement in statements {
            match self.timeout {
                None => self.run_statement(statement).await?,
                Some(limit) => tokio::time::timeout(limit, self.run_statement(statement))
                    .await
                    .map_err(|_| {
                        anyhow!("query cancelled after {} (--timeout)", humantime(limit))
                    })??,
            }
        }
        Ok(())
    }

    async fn run_statement(&mut self, statement: chart_core::analyst::Statement) -> Result<()> {
        let started = Instant::now();
        let df = match analyst::plan_statement(self.engine.context(), statement, self.access).await
        {
            Err(e @ ChartError::ReadOnly { .. }) => {
                return Err(anyhow!("{e}; run with --allow-writes to allow it"));
            }
            other => other?,
        };
        let schema = df.schema().inner().clone();
        let mut stream = df.execute_stream().await.map_err(ChartError::from)?;
        let mut writer = self.output.begin(&schema)?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(ChartError::from)?;
            rows += batch.num_rows();
            writer.write(batch)?;
        }
        writer.finish(rows, started.elapsed())
    }
}

/// An error and its causes on one line. A library error's message is complete (it
/// names the file, column or value and says what the cause said, in short), so the
/// chain stops there; DataFusion's errors already include their causes' text, so
/// repeated causes are skipped.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        if cause.is::<ChartError>() {
            break;
        }
    }
    message.replace('\n', " ")
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Lines of a reader, as the shell reads them.
pub fn lines(reader: impl BufRead) -> impl Iterator<Item = Result<String>> {
    reader
        .lines()
        .map(|line| line.context("cannot read the SQL input"))
}

/// Whether stdin is a terminal (the prompt) or a pipe (a script).
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
