//! Where and how `chart-job sql` writes results: an aligned table, CSV, JSON,
//! NDJSON or Parquet, on stdout or in a file (local or in an object store) that
//! appears only when complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::json::writer::{JsonArray, LineDelimited};
use chart_core::Location;
use parquet::arrow::ArrowWriter;

/// Result formats of `chart-job sql --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table with the row count and elapsed time.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects per result.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Parquet (needs -o; one result per file).
    Parquet,
}

/// Where `-o` puts the results.
pub enum Destination {
    /// A local file.
    Local(PathBuf),
    /// An object in a store (e.g. `s3://bucket/key`).
    Store(Location),
}

/// Stdout, or a file written under a temporary name and moved into place (or
/// uploaded in one request) when complete.
pub enum Target {
    Stdout(io::Stdout),
    File {
        writer: BufWriter<File>,
        partial: PathBuf,
        destination: Destination,
    },
}

impl Destination {
    fn name(&self) -> String {
        match self {
            Destination::Local(path) => path.display().to_string(),
            Destination::Store(location) => location.to_string(),
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Stdout(out) => out.write(buf),
            Target::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Stdout(out) => out.flush(),
            Target::File { writer, .. } => writer.flush(),
        }
    }
}

/// The destination of every result of a `chart-job sql` run.
pub struct Output {
    format: Format,
    target: Target,
    parquet_written: bool,
}

impl Output {
    /// Results in `format` to `destination` (created only when the run succeeds), or stdout.
    pub fn new(format: Format, destination: Option<Destination>) -> Result<Output> {
        let target = match destination {
            None if format == Format::Parquet => {
                bail!("--format parquet needs -o FILE")
            }
            None => Target::Stdout(io::stdout()),
            Some(destination) => {
                let partial = match &destination {
                    Destination::Local(path) => {
                        let name = path
                            .file_name()
                            .with_context(|| format!("-o {}: not a file name", path.display()))?
                            .to_string_lossy()
                            .into_owned();
                        path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
                    }
                    Destination::Store(_) => std::env::temp_dir()
                        .join(format!(".chart-job-result.partial-{}", std::process::id())),
                };
                let file = File::create(&partial)
                    .with_context(|| format!("cannot write {}", destination.name()))?;
                Target::File {
                    writer: BufWriter::new(file),
                    partial,
                    destination,
                }
            }
        };
        Ok(Output {
            format,
            target,
            parquet_written: false,
        })
    }

    /// Starts one statement's result; its batches follow through [`ResultWriter::write`].
    pub fn begin(&mut self, schema: &SchemaRef) -> Result<ResultWriter<'_>> {
        let out = &mut self.target;
        Ok(match self.format {
            Format::Table => ResultWriter::Table {
                out,
                schema: schema.clone(),
                batches: Vec::new(),
            },
            Format::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out);
                // The header, even for an empty result.
                writer.write(&RecordBatch::new_empty(schema.clone()))?;
                ResultWriter::Csv(writer)
            }
            Format::Json => ResultWriter::Json(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, JsonArray>(out),
            ),
            Format::Ndjson => ResultWriter::Ndjson(
                arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(out),
            ),
            Format::Parquet => {
                if self.parquet_written {
                    bail!("--format parquet writes one result per file: give one statement");
                }
                self.parquet_written = true;
                ResultWriter::Parquet(ArrowWriter::try_new(out, schema.clone(), None)?)
            }
        })
    }

    /// Moves a file output into place, or uploads it (stdout needs nothing).
    pub async fn finish(self) -> Result<()> {
        let Target::File {
            writer,
            partial,
            destination,
        } = self.target
        else {
            return Ok(());
        };
        let name = destination.name();
        let file = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {name}"))?;
        file.sync_all()
            .with_context(|| format!("cannot write {name}"))?;
        match destination {
            Destination::Local(path) => {
                fs::rename(&partial, &path).with_context(|| format!("cannot write {name}"))?
            }
            Destination::Store(location) => {
                let bytes = fs::read(&partial).with_context(|| format!("cannot write {name}"));
                let _ = fs::remove_file(&partial);
                location.write("", bytes?.into()).await?;
            }
        }
        Ok(())
    }

    /// Removes a file output's partial file after a failure.
    pub fn abandon(self) {
        if let Target::File { partial, .. } = self.target {
            let _ = fs::remove_file(partial);
        }
    }
}

/// One statement's result being written.
pub enum ResultWriter<'a> {
    /// Batches kept until the end to align the columns.
    Table {
        /// The destination.
        out: &'a mut Target,
        /// The result's schema.
        schema: SchemaRef,
        /// The batches so far.
        batches: Vec<RecordBatch>,
    },
    /// CSV, streamed.
    Csv(arrow::csv::Writer<&'a mut Target>),
    /// A JSON array, streamed.
    Json(arrow::json::Writer<&'a mut Target, JsonArray>),
    /// NDJSON, streamed.
    Ndjson(arrow::json::Writer<&'a mut Target, LineDelimited>),
    /// Parquet, streamed.
    Parquet(ArrowWriter<&'a mut Target>),
}

impl ResultWriter<'_> {
    /// Writes (or, for the table format, keeps) one batch.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        match self {
            ResultWriter::Table { batches, .. } => batches.push(batch),
            ResultWriter::Csv(writer) => writer.write(&batch)?,
            ResultWriter::Json(writer) => writer.write(&batch)?,
            ResultWriter::Ndjson(writer) => writer.write(&batch)?,
            ResultWriter::Parquet(writer) => writer.write(&batch)?,
        }
        Ok(())
    }

    /// Ends the result: the table with `(N rows, S s)` under it, the closing of
    /// a JSON array or of a Parquet file.
    pub fn finish(self, rows: usize, elapsed: Duration) -> Result<()> {
        match self {
            ResultWriter::Table {
                out,
                schema,
                batches,
            } => {
                if !schema.fields().is_empty() {
                    let table =
                        arrow::util::pretty::pretty_format_batches_with_schema(schema, &batches)?;
                    writeln!(out, "{table}")?;
                }
                let noun = if rows == 1 { "row" } else { "rows" };
                writeln!(out, "({rows} {noun}, {:.3} s)", elapsed.as_secs_f64())?;
                out.flush()?;
            }
            ResultWriter::Csv(writer) => writer.into_inner().flush()?,
            ResultWriter::Json(mut writer) => {
                writer.finish()?;
                let out = writer.into_inner();
                writeln!(out)?;
                out.flush()?;
            }
            ResultWriter::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner().flush()?;
            }
            ResultWriter::Parquet(writer) => {
                writer.close()?;
            }
        }
        Ok(())
    }
}
