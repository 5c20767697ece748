//! Arrow Flight SQL, for Arrow-native clients (ADBC, JDBC's Flight SQL driver,
//! pandas and polars through ADBC): the same sessions, guard and limits as the
//! PostgreSQL protocol, results as Arrow record batches.
//!
//! A client logs in with a handshake carrying HTTP Basic credentials (checked against
//! `users.toml`) and gets a bearer token naming its session; every later call carries
//! it. The server keeps only the token's SHA-256. A session idle for
//! [`SESSION_IDLE`] is closed; past `max_sessions` open ones a login is refused with
//! RESOURCE_EXHAUSTED.
//!
//! Statements and prepared statements (with parameters bound by `DoPut`) are planned
//! with `chart-job sql`'s read-only guard; every update command is refused with
//! PERMISSION_DENIED. `GetSqlInfo`, catalogs, schemas, tables and table types answer
//! from the session's catalogue.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult,
    ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use chart_core::ChartError;
use chart_core::analyst::{self, Access, refused_in_read_only};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::{Stream, TryStreamExt};
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::deadline::Cancelled;
use crate::login::FAILED_LOGIN_DELAY;
use crate::session::Sessions;
use crate::users::Users;

/// Basic credentials' base64, with or without padding (Go's Flight clients leave it
/// out).
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How long a session lives without a call.
pub const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// The Flight SQL service.
pub struct FlightSql {
    users: Arc<Users>,
    sessions: Arc<Sessions>,
    max_sessions: usize,
    /// Open sessions by the SHA-256 of their token.
    open: Mutex<HashMap<[u8; 32], Arc<FlightSession>>>,
}

/// One logged-in client.
struct FlightSession {
    user: String,
    ctx: SessionContext,
    statements: Mutex<HashMap<u64, Statement>>,
    next_handle: AtomicU64,
    last_used: Mutex<Instant>,
}

/// A planned statement: a query waiting for its ticket, or a prepared statement with
/// its bound parameters.
#[derive(Clone)]
struct Statement {
    plan: LogicalPlan,
    parameters: Option<ParamValues>,
}

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

impl FlightSql {
    /// A service over `sessions` for `users`, with at most `max_sessions` open.
    pub fn new(users: Arc<Users>, sessions: Arc<Sessions>, max_sessions: usize) -> FlightSql {
        FlightSql {
            users,
            sessions,
            max_sessions,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Serves on `listener` (TLS when given a certificate, then required) until
    /// `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<&crate::TlsFiles>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> crate::Result<()> {
        let addr = listener.local_addr().ok();
        let mut builder = tonic::transport::Server::builder();
        if let Some(files) = tls {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| crate::SqlServerError::Tls {
                    file: path.to_path_buf(),
                    problem: e.to_string(),
                })
            };
            let identity =
                tonic::transport::Identity::from_pem(read(&files.cert)?, read(&files.key)?);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|e| crate::SqlServerError::Tls {
                    file: files.cert.clone(),
                    problem: e.to_string(),
                })?;
        }
        let incoming = tokio_stream_of(listener);
        builder
            .add_service(FlightServiceServer::new(self))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| crate::SqlServerError::Listen {
                addr: addr.map(|a| a.to_string()).unwrap_or_default(),
                source: std::io::Error::other(e),
            })
    }

    /// The session of the request's bearer token.
    fn session<T>(&self, request: &Request<T>) -> Result<Arc<FlightSession>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated("no bearer token: log in with a handshake (Basic auth)")
            })?;
        let key: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let session = self
            .open
            .lock()
            .expect("sessions lock")
            .get(&key)
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown or expired token: log in again"))?;
        *session.last_used.lock().expect("session clock") = Instant::now();
        Ok(session)
    }

    /// Checks Basic credentials and opens a session; the token to use next.
    async fn log_in(
        &self,
        authorization: &str,
        client: Option<SocketAddr>,
    ) -> Result<String, Status> {
        let credentials = authorization
            .strip_prefix("Basic ")
            .and_then(|b| BASIC.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Status::unauthenticated("the handshake needs HTTP Basic credentials"))?;
        let (user, password) = credentials.split_once(':').unwrap_or((&credentials, ""));
        if !self.users.verify(user, password) {
            let known = self.users.hash(user).is_some();
            tracing::warn!(client = ?client, user, known, "refused a Flight SQL login");
            tokio::time::sleep(FAILED_LOGIN_DELAY).await;
            return Err(Status::unauthenticated(format!(
                "password authentication failed for user \"{user}\""
            )));
        }
        {
            let mut open = self.open.lock().expect("sessions lock");
            open.retain(|_, s| s.last_used.lock().expect("session clock").elapsed() < SESSION_IDLE);
            if open.len() >= self.max_sessions {
                tracing::warn!(client = ?client, user, "refused a Flight SQL login: every slot is taken");
                return Err(Status::resource_exhausted(format!(
                    "sorry, too many clients already (the server's --max-connections is {})",
                    self.max_sessions
                )));
            }
        }
        let ctx = self.sessions.empty().map_err(internal)?;
        self.sessions.fill(&ctx).await.map_err(internal)?;
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let session = Arc::new(FlightSession {
            user: user.to_string(),
            ctx,
            statements: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            last_used: Mutex::new(Instant::now()),
        });
        let mut open = self.open.lock().expect("sessions lock");
        if open.len() >= self.max_sessions {
            return Err(Status::resource_exhausted(format!(
                "sorry, too many clients already (the server's --max-connections is {})",
                self.max_sessions
            )));
        }
        open.insert(key, session);
        tracing::info!(client = ?client, user, "logged in over Flight SQL");
        Ok(token)
    }
}

impl FlightSession {
    /// Plans one read-only query, as `chart-job sql` does.
    async fn plan_query(&self, sql: &str) -> Result<LogicalPlan, Status> {
        let mut statements = analyst::parse_statements(&self.ctx, sql).map_err(refusal)?;
        if statements.len() != 1 {
            return Err(Status::invalid_argument(format!(
                "expected one statement, got {}",
                statements.len()
            )));
        }
        let statement = statements.remove(0);
        let frame = analyst::plan_statement(&self.ctx, statement, Access::ReadOnly)
            .await
            .map_err(refusal)?;
        Ok(frame.logical_plan().clone())
    }

    /// Plans one read-only statement with `$1`-style placeholders.
    async fn prepare(&self, sql: &str) -> Result<LogicalPlan, Status> {
        let mut statements = analyst::parse_statements(&self.ctx, sql).map_err(refusal)?;
        if statements.len() != 1 {
            return Err(Status::invalid_argument(format!(
                "expected one statement, got {}",
                statements.len()
            )));
        }
        let statement = statements.remove(0);
        if let Some(kind) = refused_in_read_only(&statement) {
            return Err(refusal(ChartError::ReadOnly { statement: kind }));
        }
        let plan = self
            .ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| refusal(ChartError::Query(e)))?;
        analyst::check_read_only_plan(&plan).map_err(refusal)?;
        Ok(plan)
    }

    fn keep(&self, statement: Statement) -> u64 {
        let handle = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.statements
            .lock()
            .expect("statements lock")
            .insert(handle, statement);
        handle
    }

    fn statement(&self, handle: &[u8], remove: bool) -> Result<Statement, Status> {
        let handle = parse_handle(handle)?;
        let mut statements = self.statements.lock().expect("statements lock");
        let found = if remove {
            statements.remove(&handle)
        } else {
            statements.get(&handle).cloned()
        };
        found.ok_or_else(|| Status::not_found(format!("no statement {handle} in this session")))
    }

    /// Runs a plan (with its parameters bound) as a stream of Flight data.
    async fn run(
        &self,
        statement: Statement,
    ) -> Result<BoxedStream<arrow_flight::FlightData>, Status> {
        let plan = match &statement.parameters {
            Some(values) => statement
                .plan
                .replace_params_with_values(values)
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            None => statement.plan,
        };
        let frame = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(status_of)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame
            .execute_stream()
            .await
            .map_err(status_of)?
            .map_err(|e| FlightError::Tonic(Box::new(status_of(e))));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(stream))
    }
}

fn parse_handle(handle: &[u8]) -> Result<u64, Status> {
    <[u8; 8]>::try_from(handle)
        .map(u64::from_be_bytes)
        .map_err(|_| Status::invalid_argument("not a statement handle of this server"))
}

/// A library error as a status: a refusal is PERMISSION_DENIED, the rest of what
/// planning says INVALID_ARGUMENT.
fn refusal(e: ChartError) -> Status {
    match e {
        ChartError::ReadOnly { .. } => Status::permission_denied(e.to_string()),
        ChartError::Query(e) => status_of(e),
        other => Status::invalid_argument(other.to_string()),
    }
}

/// DataFusion's error as a status: memory and timeout limits have their own codes.
fn status_of(e: DataFusionError) -> Status {
    let message = e.to_string();
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        DataFusionError::External(inner) if inner.is::<Cancelled>() => {
            Status::deadline_exceeded(message)
        }
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => Status::invalid_argument(message),
        _ => Status::internal(message),
    }
}

fn internal(e: crate::SqlServerError) -> Status {
    Status::internal(e.to_string())
}

fn read_only(what: &str) -> Status {
    Status::permission_denied(
        ChartError::ReadOnly {
            statement: what.to_string(),
        }
        .to_string(),
    )
}

fn ticket_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn one_batch<E: Into<FlightError> + Send + 'static>(
    schema: Arc<Schema>,
    batch: Result<RecordBatch, E>,
) -> BoxedStream<arrow_flight::FlightData> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(
            async move { batch.map_err(Into::into) },
        ))
        .map_err(Status::from);
    Box::pin(stream)
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

fn sql_info() -> &'static SqlInfoData {
    static INFO: std::sync::OnceLock<SqlInfoData> = std::sync::OnceLock::new();
    INFO.get_or_init(|| {
        let mut builder = SqlInfoDataBuilder::new();
        builder.append(SqlInfo::FlightSqlServerName, "chart-job serve-sql");
        builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        builder.append(SqlInfo::FlightSqlServerReadOnly, true);
        builder.append(SqlInfo::FlightSqlServerSql, true);
        builder.append(SqlInfo::FlightSqlServerSubstrait, false);
        builder.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        builder.append(SqlInfo::FlightSqlServerCancel, false);
        builder.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
        builder
            .build()
            .expect("the server's SqlInfo is well-formed")
    })
}

/// The accepted connections of `listener` as tonic takes them.
fn tokio_stream_of(
    listener: tokio::net::TcpListener,
) -> impl Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(socket, _)| {
            let _ = socket.set_nodelay(true);
            socket
        });
        Some((accepted, listener))
    })
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<BoxedStream<HandshakeResponse>>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let token = self.log_in(&authorization, request.remote_addr()).await?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        };
        let mut response: Response<BoxedStream<HandshakeResponse>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Status::internal(e.to_string()))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request)?;
        let plan = session.plan_query(&query.query).await?;
        let schema = plan.schema().as_arrow().clone();
        let handle = session.keep(Statement {
            plan,
            parameters: None,
        });
        let ticket = TicketStatementQuery {
            statement_handle: handle.to_be_bytes().to_vec().into(),
        };
        ticket_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let statement = session.statement(&ticket.statement_handle, true)?;
        Ok(Response::new(session.run(statement).await?))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let session = self.session(&request)?;
        let plan = session.prepare(&query.query).await?;
        let dataset_schema = ipc_schema(plan.schema().as_arrow())?;
        let mut parameters: Vec<(String, Option<DataType>)> = plan
            .get_parameter_types()
            .map_err(status_of)?
            .into_iter()
            .collect();
        parameters.sort_by_key(|(name, _)| {
            name.trim_start_matches('$')
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        let parameter_schema = Schema::new(
            parameters
                .into_iter()
                .map(|(name, data_type)| {
                    Field::new(name, data_type.unwrap_or(DataType::Null), true)
                })
                .collect::<Vec<_>>(),
        );
        let handle = session.keep(Statement {
            plan,
            parameters: None,
        });
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.to_be_bytes().to_vec().into(),
            dataset_schema,
            parameter_schema: ipc_schema(&parameter_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let session = self.session(&request)?;
        let handle = parse_handle(&query.prepared_statement_handle)?;
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
            // The stream itself, not `into_inner`: that would lose the peeked schema.
            request.into_inner().map_err(FlightError::from),
        )
        .try_collect()
        .await
        .map_err(Status::from)?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows > 1 {
            return Err(Status::invalid_argument(format!(
                "bind one row of parameters, not {rows}"
            )));
        }
        let values: Vec<ScalarValue> = match batches.iter().find(|b| b.num_rows() == 1) {
            None => Vec::new(),
            Some(batch) => batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, 0))
                .collect::<Result<_, _>>()
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
        };
        let mut statements = session.statements.lock().expect("statements lock");
        let statement = statements
            .get_mut(&handle)
            .ok_or_else(|| Status::not_found(format!("no statement {handle} in this session")))?;
        statement.parameters = Some(ParamValues::from(values));
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.to_be_bytes().to_vec().into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let session = self.session(&request)?;
        let statement = session.statement(&query.prepared_statement_handle, false)?;
        let schema = statement.plan.schema().as_arrow().clone();
        ticket_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let statement = session.statement(&query.prepared_statement_handle, false)?;
        Ok(Response::new(session.run(statement).await?))
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        let session = self.session(&request)?;
        session.statement(&query.prepared_statement_handle, true)?;
        Ok(())
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.session(&request)?;
        Err(read_only("an update"))
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.session(&request)?;
        Err(read_only("an ingest"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.session(&request)?;
        Err(read_only("a prepared update"))
    }

    async fn do_put_substrait_plan(
        &self,
        _ticket: CommandStatementSubstraitPlan,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        self.session(&request)?;
        Err(Status::unimplemented("Substrait plans are not served"))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder(sql_info()).schema();
        ticket_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let builder = query.into_builder(sql_info());
        Ok(Response::new(one_batch(builder.schema(), builder.build())))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.into_builder().schema();
        ticket_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let mut builder = query.into_builder();
        for catalog in session.ctx.catalog_names() {
            builder.append(catalog);
        }
        Ok(Response::new(one_batch(builder.schema(), builder.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        ticket_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let mut builder = query.into_builder();
        for catalog in session.ctx.catalog_names() {
            if let Some(provider) = session.ctx.catalog(&catalog) {
                for schema in provider.schema_names() {
                    builder.append(&catalog, schema);
                }
            }
        }
        Ok(Response::new(one_batch(builder.schema(), builder.build())))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        let schema = query.clone().into_builder().schema();
        ticket_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let session = self.session(&request)?;
        let mut builder = query.into_builder();
        for catalog in session.ctx.catalog_names() {
            let Some(catalog_provider) = session.ctx.catalog(&catalog) else {
                continue;
            };
            for schema in catalog_provider.schema_names() {
                let Some(schema_provider) = catalog_provider.schema(&schema) else {
                    continue;
                };
                let mut tables = schema_provider.table_names();
                tables.sort();
                for table in tables {
                    let Some(provider) = schema_provider.table(&table).await.map_err(status_of)?
                    else {
                        continue;
                    };
                    let kind = match provider.table_type() {
                        TableType::View => "VIEW",
                        TableType::Temporary => "LOCAL TEMPORARY",
                        TableType::Base => "TABLE",
                    };
                    builder
                        .append(&catalog, &schema, &table, kind, &provider.schema())
                        .map_err(|e| Status::internal(e.to_string()))?;
                }
            }
        }
        Ok(Response::new(one_batch(builder.schema(), builder.build())))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request)?;
        ticket_info(
            &table_types_schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.session(&request)?;
        let schema = Arc::new(table_types_schema());
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![
                "LOCAL TEMPORARY",
                "TABLE",
                "VIEW",
            ]))],
        );
        Ok(Response::new(one_batch(schema, batch)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn table_types_schema() -> Schema {
    Schema::new(vec![Field::new("table_type", DataType::Utf8, false)])
}

impl std::fmt::Debug for FlightSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSession")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}
