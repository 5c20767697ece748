//! Publication of a period's distribution of licence fees, in the same versions as
//! the charts (`distribution/month=YYYY-MM/`): the statements, lines, venue fees and
//! reconciliation of [`crate::distribution`].

use arrow::array::RecordBatch;

use super::*;
use crate::distribution::{DISTRIBUTION_TABLES, read_fees};
use crate::methodology::{DistributionMethodology, PeriodKind};
use crate::publication::read::read_tables;

/// The results of [`publish_distribution`].
#[derive(Debug, Clone)]
pub struct DistributionPublication {
    /// Whether a version was written.
    pub outcome: Outcome,
    /// The version's data directory.
    pub directory: Location,
    /// The tables of [`DISTRIBUTION_TABLES`], in that order.
    pub tables: Vec<RecordBatch>,
    /// The manifest of the version.
    pub manifest: Manifest,
}

impl DistributionPublication {
    /// A table by name (`statements`, `lines`, `venue_fees` or `reconciliation`).
    pub fn table(&self, name: &str) -> Option<&RecordBatch> {
        DISTRIBUTION_TABLES
            .iter()
            .position(|n| *n == name)
            .map(|i| &self.tables[i])
    }
}

/// Computes the distribution of `period` under `methodology` and publishes it as a
/// new version under `out`, unless the current version has the same inputs (the
/// chart inputs, the fee files and both methodologies).
pub async fn publish_distribution(
    engine: &GoldenMic,
    methodology: &DistributionMethodology,
    period: &Period,
    out: &Location,
) -> Result<DistributionPublication> {
    let started_at = now();
    methodology.validate()?;
    let period_dir = product_location(out, Product::Distribution, period);
    let versions = read_versions(&period_dir).await?;
    let publisher = format!("chart-core {}", env!("CARGO_PKG_VERSION"));
    tracing::info!(%period, "reading the inputs' checksums");
    let inputs = input_records(engine, Product::Distribution).await?;
    let input_digest = input_digest(
        period,
        &methodology.counting,
        Some(methodology),
        &publisher,
        &inputs,
    );
    if let Some(current) = versions.last().filter(|v| v.input_digest == input_digest) {
        tracing::info!(%period, version = current.version, "unchanged: the current version has these inputs");
        let directory = period_dir.join(&current.directory);
        return Ok(DistributionPublication {
            outcome: Outcome::Unchanged,
            tables: read_tables(&directory, &DISTRIBUTION_TABLES).await?,
            directory,
            manifest: current.clone(),
        });
    }

    let fees = match engine.data() {
        Some(data) => read_fees(data).await?,
        None => {
            return Err(ChartError::NoFees {
                root: "in-memory inputs".into(),
            });
        }
    };
    let months = Period::containing(PeriodKind::Month, period.first_day())
        ..=Period::containing(PeriodKind::Month, period.last_day());
    if !fees.iter().any(|fee| months.contains(&fee.period)) {
        return Err(ChartError::NoFeeRows {
            period: period.to_string(),
        });
    }
    tracing::info!(%period, "counting the plays and distributing the fees");
    let distribution = engine.distribution_of(methodology, period, &fees).await?;
    let methodology_json = serde_json::to_string(methodology).expect("methodology serialises");
    let (outputs, directory, data_dir) = write_data(
        &period_dir,
        distribution.tables(),
        period,
        &methodology_json,
    )
    .await?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_string(),
        product: Product::Distribution,
        version: 0,
        period_kind: period.kind(),
        period: period.to_string(),
        first_day: period.first_day().to_string(),
        last_day: period.last_day().to_string(),
        methodology: methodology.counting.clone(),
        distribution: Some(methodology.clone()),
        publisher,
        input_digest,
        input_rows: input_rows(&inputs),
        inputs,
        data_quality: None,
        directory,
        outputs,
        changes: None,
        edition: None,
        run: RunRecord {
            started_at,
            finished_at: now(),
        },
    };
    let (outcome, manifest) = commit(&period_dir, versions, manifest).await?;
    Ok(DistributionPublication {
        outcome,
        directory: data_dir,
        tables: distribution
            .tables()
            .into_iter()
            .map(|(_, batch)| batch.clone())
            .collect(),
        manifest,
    })
}
