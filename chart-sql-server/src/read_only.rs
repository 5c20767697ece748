//! Read-only, whatever the client sends: a query hook that runs before every other on
//! each statement of the simple protocol, at the parse of each extended-protocol
//! statement and again before a prepared statement executes.
//!
//! It allows what `chart-job sql` allows in a read-only session (queries, `EXPLAIN`,
//! `DESCRIBE`, `SHOW`), checked again on the plan with DataFusion's `SQLOptions`, plus
//! what PostgreSQL clients send on their own: `BEGIN`/`COMMIT`/`ROLLBACK` (nothing
//! to commit) and `SET` of the client settings in [`CLIENT_SETTINGS`] or `SET TIME
//! ZONE`. Everything else is refused with SQLSTATE 25006 (read-only transaction).

use async_trait::async_trait;
use chart_core::ChartError;
use chart_core::analyst::{self, Statement, refused_in_read_only};
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, Statement as SqlStatement};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// The settings a client may `SET`: they change how results are shown to it, never
/// the engine (DataFusion's own settings, such as memory or the timeout, are refused).
pub const CLIENT_SETTINGS: [&str; 7] = [
    "application_name",
    "bytea_output",
    "client_encoding",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
];

/// The hook; put it first.
#[derive(Debug, Default)]
pub struct ReadOnly;

impl ReadOnly {
    /// `Err` with the refusal when `statement` would change the session or write.
    fn check_statement(statement: &SqlStatement) -> PgWireResult<()> {
        match statement {
            SqlStatement::StartTransaction { .. }
            | SqlStatement::Commit { .. }
            | SqlStatement::Rollback { .. } => Ok(()),
            SqlStatement::Set(set) => match set {
                Set::SingleAssignment {
                    scope: None,
                    hivevar: false,
                    variable,
                    ..
                } if CLIENT_SETTINGS.contains(&variable.to_string().to_lowercase().as_str()) => {
                    Ok(())
                }
                Set::SetTimeZone { local: false, .. } => Ok(()),
                Set::SingleAssignment { variable, .. } => Err(refusal(format!("SET {variable}"))),
                _ => Err(refusal("SET".into())),
            },
            other => match refused_in_read_only(&Statement::Statement(Box::new(other.clone()))) {
                Some(kind) => Err(refusal(kind)),
                None => Ok(()),
            },
        }
    }

    /// The second line: a plan that would create, write or change the session
    /// (`SELECT ... INTO`, say) is refused too.
    fn check_plan(plan: &LogicalPlan) -> PgWireResult<()> {
        analyst::check_read_only_plan(plan).map_err(|e| match e {
            ChartError::ReadOnly { statement } => refusal(statement),
            other => PgWireError::ApiError(Box::new(other)),
        })
    }

    /// Both checks; a query is planned for the second.
    async fn check(statement: &SqlStatement, ctx: &SessionContext) -> PgWireResult<()> {
        ReadOnly::check_statement(statement)?;
        if matches!(statement, SqlStatement::Query(_)) {
            let plan = ctx
                .state()
                .statement_to_plan(Statement::Statement(Box::new(statement.clone())))
                .await
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
            ReadOnly::check_plan(&plan)?;
        }
        Ok(())
    }
}

/// SQLSTATE 25006 with the same message as `chart-job sql`'s.
fn refusal(statement: String) -> PgWireError {
    let message = ChartError::ReadOnly { statement }.to_string();
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        "25006".into(),
        message,
    )))
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &SqlStatement,
        session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        ReadOnly::check(statement, session_context)
            .await
            .err()
            .map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &SqlStatement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        ReadOnly::check_statement(statement).err().map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &SqlStatement,
        logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        ReadOnly::check_statement(statement)
            .and_then(|()| ReadOnly::check_plan(logical_plan))
            .err()
            .map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn verdict(sql: &str) -> Result<(), String> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        ReadOnly::check_statement(&statement).map_err(|e| match e {
            PgWireError::UserError(info) => format!("{} {}", info.code, info.message),
            other => other.to_string(),
        })
    }

    #[test]
    fn reads_and_client_settings_pass() {
        for sql in [
            "SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "EXPLAIN SELECT 1",
            "SHOW search_path",
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "SET extra_float_digits = 3",
            "SET application_name = 'DBeaver'",
            "SET TIME ZONE 'UTC'",
        ] {
            assert_eq!(verdict(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn writes_and_engine_settings_are_refused_with_25006() {
        for (sql, kind) in [
            ("INSERT INTO songs VALUES (1)", "INSERT"),
            ("COPY songs TO '/tmp/x.csv'", "COPY"),
            ("CREATE TABLE t (a INT)", "CREATE TABLE"),
            ("DROP VIEW valid_plays", "DROP VIEW"),
            ("DELETE FROM songs", "DELETE"),
            (
                "SET datafusion.execution.batch_size = 1",
                "SET datafusion.execution.batch_size",
            ),
            ("SET statement_timeout = 0", "SET statement_timeout"),
            ("PREPARE p AS SELECT 1", "PREPARE"),
            ("DECLARE c CURSOR FOR SELECT 1", "DECLARE"),
        ] {
            let error = verdict(sql).unwrap_err();
            assert!(
                error.starts_with(&format!("25006 {kind} refused: the session is read-only")),
                "{sql}: {error}"
            );
        }
    }
}
