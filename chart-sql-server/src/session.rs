//! One session per connection: everything `chart-job sql` registers (the data root's
//! tables, the methodology's views and functions, the chart table functions), the
//! `pg_catalog` and `information_schema` that PostgreSQL tools query when they connect,
//! and the server's limits (its own memory pool and the statement timeout).

use std::sync::Arc;
use std::time::Duration;

use chart_core::{DataRoot, GoldenMic, Location, Methodology};
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;

use crate::deadline::Deadlines;
use crate::error::{Result, SqlServerError};

/// What every connection's session is built from.
#[derive(Debug, Clone)]
pub struct Sessions {
    /// The data root, listed again for each connection (so new plays are seen).
    pub data: Location,
    /// The chart methodology of the views and table functions.
    pub methodology: Methodology,
    /// Memory for one query (each connection runs one at a time).
    pub query_memory: usize,
    /// The longest a statement may run.
    pub timeout: Duration,
}

impl Sessions {
    /// An empty session with the server's limits, for a connection not yet logged in
    /// (cheap: nothing is read before the user is known).
    pub fn empty(&self) -> Result<SessionContext> {
        let state = chart_core::session_builder_with_memory_limit(Some(self.query_memory))?
            .with_physical_optimizer_rule(Arc::new(Deadlines::new(self.timeout)))
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    /// Opens the data root and checks it as `chart-job sql` does (song and venue ids
    /// unique), outside any connection's memory limit: once, when the server starts.
    pub async fn check(&self) -> Result<()> {
        let inputs = DataRoot::open_location(&self.data).await?.tables()?;
        let ctx = SessionContext::new_with_state(chart_core::session_builder().build());
        GoldenMic::attach(ctx, inputs, self.methodology.clone()).await?;
        Ok(())
    }

    /// Registers the data root's tables, the methodology and the `pg_catalog` on
    /// `session` (made by [`Sessions::empty`]). The files are listed again, so new
    /// plays are seen; the ids' uniqueness is [`Sessions::check`]'s, at start.
    pub async fn fill(&self, session: &SessionContext) -> Result<()> {
        let inputs = DataRoot::open_location(&self.data).await?.tables()?;
        GoldenMic::attach_unchecked(session.clone(), inputs, self.methodology.clone()).await?;
        let catalog = session
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        setup_pg_catalog(session, &catalog, EmptyContextProvider)
            .map_err(|e| SqlServerError::Chart(chart_core::ChartError::Query(*e)))
    }
}
