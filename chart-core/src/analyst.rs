//! Analyst SQL on a Golden Mic session: statements split and planned one at a time,
//! read-only unless writes are allowed, and the listings behind `\d`.
//!
//! Read-only sessions run queries (`SELECT`, `WITH`, `VALUES`), `EXPLAIN` of those,
//! `DESCRIBE` and `SHOW`. Everything that changes the session or writes files is
//! refused before it is planned: DDL (`CREATE`, `DROP`, `ALTER`, `CREATE EXTERNAL
//! TABLE`), DML (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`), `COPY`, `SET`/`RESET`,
//! `PREPARE`/`EXECUTE` and transaction statements. The plan is checked again with
//! DataFusion's [`SQLOptions`] as a second line of defence.

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::DFParserBuilder;
pub use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use std::sync::Arc;

use crate::error::{ChartError, Result};
use crate::results::table_functions::TableFunctionKind;

/// Whether analyst SQL may change the session or write files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Queries, `EXPLAIN`, `DESCRIBE` and `SHOW` only (the default).
    #[default]
    ReadOnly,
    /// Every statement DataFusion supports.
    ReadWrite,
}

/// Splits `sql` into statements with the session's SQL dialect. Parse errors carry
/// DataFusion's message with the line and column.
pub fn parse_statements(ctx: &SessionContext, sql: &str) -> Result<Vec<Statement>> {
    let state = ctx.state();
    let options = state.config().options();
    let dialect_name = options.sql_parser.dialect.to_string();
    let dialect = dialect_from_str(&dialect_name).ok_or_else(|| {
        ChartError::Query(datafusion::error::DataFusionError::Plan(format!(
            "unsupported SQL dialect {dialect_name}"
        )))
    })?;
    let statements = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(options.sql_parser.recursion_limit.get())
        .build()?
        .parse_statements()?;
    Ok(statements.into_iter().collect())
}

/// The name of a statement that a read-only session refuses (such as `INSERT` or
/// `CREATE EXTERNAL TABLE`), or `None` when it only reads.
pub fn refused_in_read_only(statement: &Statement) -> Option<String> {
    match statement {
        Statement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(_)
            | SqlStatement::ExplainTable { .. }
            | SqlStatement::ShowTables { .. }
            | SqlStatement::ShowColumns { .. }
            | SqlStatement::ShowVariable { .. }
            | SqlStatement::ShowFunctions { .. } => None,
            SqlStatement::Explain { statement, .. } => {
                refused_in_read_only(&Statement::Statement(statement.clone()))
            }
            other => Some(leading_keywords(&other.to_string())),
        },
        Statement::Explain(explain) => refused_in_read_only(&explain.statement),
        Statement::CreateExternalTable(_) => Some("CREATE EXTERNAL TABLE".into()),
        Statement::CopyTo(_) => Some("COPY".into()),
        Statement::Reset(_) => Some("RESET".into()),
    }
}

/// `CREATE VIEW`, `DROP TABLE`, `INSERT`...: the statement's first keyword, and the
/// second after `CREATE`, `DROP` or `ALTER`.
fn leading_keywords(sql: &str) -> String {
    let mut words = sql.split_whitespace().map(str::to_uppercase);
    let first = words.next().unwrap_or_default();
    match (first.as_str(), words.next()) {
        ("CREATE" | "DROP" | "ALTER", Some(second)) if second == "OR" => {
            // CREATE OR REPLACE VIEW
            let rest: Vec<String> = words.take(2).collect();
            format!("{first} OR {}", rest.join(" "))
        }
        ("CREATE" | "DROP" | "ALTER", Some(second)) => format!("{first} {second}"),
        _ => first,
    }
}

/// Plans one statement (DDL runs here, as in DataFusion) and returns its result
/// as a data frame to execute. A read-only session refuses statements that write
/// with [`ChartError::ReadOnly`].
pub async fn plan_statement(
    ctx: &SessionContext,
    statement: Statement,
    access: Access,
) -> Result<DataFrame> {
    if access == Access::ReadOnly
        && let Some(kind) = refused_in_read_only(&statement)
    {
        return Err(ChartError::ReadOnly { statement: kind });
    }
    let plan = ctx.state().statement_to_plan(statement).await?;
    if access == Access::ReadOnly {
        check_read_only_plan(&plan)?;
    }
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// The second line of the read-only guard: [`ChartError::ReadOnly`] when `plan` would
/// create, write or change the session (a `SELECT ... INTO` is a query that creates a
/// table), checked with DataFusion's [`SQLOptions`]; the refusal names the plan's
/// kind, such as `CreateMemoryTable`.
pub fn check_read_only_plan(plan: &LogicalPlan) -> Result<()> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|_| ChartError::ReadOnly {
            statement: match plan {
                LogicalPlan::Ddl(ddl) => ddl.name().to_string(),
                LogicalPlan::Dml(dml) => dml.op.to_string(),
                LogicalPlan::Statement(statement) => statement.name().to_string(),
                other => other.display().to_string(),
            },
        })
}

/// Whether `buffer` holds complete statements: it ends with `;` outside quotes and
/// comments (or holds nothing but whitespace and comments). An interactive prompt
/// reads lines until this is true.
pub fn is_complete(buffer: &str) -> bool {
    let mut chars = buffer.chars().peekable();
    let mut last_significant = None;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                // A quoted string or identifier; a doubled quote is an escaped quote.
                let mut closed = false;
                while let Some(d) = chars.next() {
                    if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        } else {
                            closed = true;
                            break;
                        }
                    }
                }
                if !closed {
                    return false;
                }
                last_significant = Some(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut closed = false;
                let mut previous = ' ';
                for d in chars.by_ref() {
                    if previous == '*' && d == '/' {
                        closed = true;
                        break;
                    }
                    previous = d;
                }
                if !closed {
                    return false;
                }
            }
            c if c.is_whitespace() => {}
            c => last_significant = Some(c),
        }
    }
    matches!(last_significant, None | Some(';'))
}

/// `\d`: every table, view and table function of the session's default schema,
/// as `name`, `type` (`table`, `view` or `table function`) by name.
pub async fn list_relations(ctx: &SessionContext) -> Result<RecordBatch> {
    let state = ctx.state();
    let options = state.config().options();
    let catalog_name = options.catalog.default_catalog.clone();
    let schema_name = options.catalog.default_schema.clone();
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(schema) = ctx
        .catalog(&catalog_name)
        .and_then(|catalog| catalog.schema(&schema_name))
    {
        for name in schema.table_names() {
            let kind = match schema.table_type(&name).await? {
                Some(datafusion::datasource::TableType::View) => "view",
                _ => "table",
            };
            rows.push((name, kind.to_string()));
        }
    }
    for kind in TableFunctionKind::ALL {
        if state.table_functions().contains_key(kind.name()) {
            rows.push((kind.signature().to_string(), "table function".to_string()));
        }
    }
    rows.sort();
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
    ]));
    let names = StringArray::from_iter_values(rows.iter().map(|(n, _)| n.as_str()));
    let kinds = StringArray::from_iter_values(rows.iter().map(|(_, k)| k.as_str()));
    RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(kinds)])
        .map_err(|e| ChartError::Query(e.into()))
}

/// `\d NAME`: the columns of a table, view or table function, as `column`,
/// `type` and `nullable`. Unknown names are a [`ChartError::UnknownRelation`].
pub async fn describe(ctx: &SessionContext, name: &str) -> Result<RecordBatch> {
    let function = TableFunctionKind::ALL
        .into_iter()
        .find(|kind| kind.name() == name);
    let df = match function {
        // Planning a call does not compute it: the columns are known up front.
        Some(kind) => {
            ctx.sql(&format!("SELECT * FROM {}('2000-01')", kind.name()))
                .await?
        }
        None => match ctx.table(name).await {
            Ok(df) => df,
            Err(_) => {
                return Err(ChartError::UnknownRelation {
                    name: name.to_string(),
                });
            }
        },
    };
    let fields = df.schema().fields().clone();
    let schema = Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("nullable", DataType::Utf8, false),
    ]));
    let columns = StringArray::from_iter_values(fields.iter().map(|f| f.name().clone()));
    let types = StringArray::from_iter_values(fields.iter().map(|f| f.data_type().to_string()));
    let nullable = StringArray::from_iter_values(
        fields
            .iter()
            .map(|f| if f.is_nullable() { "YES" } else { "NO" }),
    );
    RecordBatch::try_new(
        schema,
        vec![Arc::new(columns), Arc::new(types), Arc::new(nullable)],
    )
    .map_err(|e| ChartError::Query(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_complete_at_a_semicolon_outside_quotes_and_comments() {
        for complete in [
            "",
            "  \n",
            "SELECT 1;",
            "SELECT 1;  \n",
            "SELECT ';';",
            "SELECT 'it''s';",
            "SELECT 1; -- done\n",
            "SELECT 1; /* done */",
            "SELECT \"a;b\" FROM t;",
            "-- only a comment\n",
        ] {
            assert!(is_complete(complete), "{complete:?}");
        }
        for incomplete in [
            "SELECT 1",
            "SELECT ';'",
            "SELECT 'unclosed;",
            "SELECT 1 -- ;",
            "SELECT 1 /* ; */",
            "SELECT 1; /* open",
            "SELECT 1; SELECT 2",
        ] {
            assert!(!is_complete(incomplete), "{incomplete:?}");
        }
    }

    #[test]
    fn refused_statements_are_named() {
        let ctx = SessionContext::new();
        let kind = |sql: &str| {
            let statements = parse_statements(&ctx, sql).unwrap();
            refused_in_read_only(&statements[0])
        };
        assert_eq!(kind("SELECT 1"), None);
        assert_eq!(kind("WITH a AS (SELECT 1) SELECT * FROM a"), None);
        assert_eq!(kind("EXPLAIN SELECT 1"), None);
        assert_eq!(kind("SHOW TABLES"), None);
        assert_eq!(kind("INSERT INTO t VALUES (1)").as_deref(), Some("INSERT"));
        assert_eq!(
            kind("EXPLAIN ANALYZE INSERT INTO t VALUES (1)").as_deref(),
            Some("INSERT")
        );
        assert_eq!(
            kind("create view v as select 1").as_deref(),
            Some("CREATE VIEW")
        );
        assert_eq!(
            kind("CREATE OR REPLACE VIEW v AS SELECT 1").as_deref(),
            Some("CREATE OR REPLACE VIEW")
        );
        assert_eq!(kind("DROP TABLE plays").as_deref(), Some("DROP TABLE"));
        assert_eq!(
            kind("SET datafusion.execution.batch_size = 1").as_deref(),
            Some("SET")
        );
        assert_eq!(kind("COPY (SELECT 1) TO 'x.csv'").as_deref(), Some("COPY"));
        assert_eq!(
            kind("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'x.csv'").as_deref(),
            Some("CREATE EXTERNAL TABLE")
        );
    }
}
