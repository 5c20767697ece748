//! The listener: TLS when given a certificate, at most `max_connections` sessions at
//! once, and for each connection its own session, login and read-only guard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::PgWireServerHandlers;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::tokio::process_socket;
use datafusion_postgres::{DfSessionService, QueryHook};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::error::{Result, SqlServerError};
use crate::login::{Full, Login};
use crate::read_only::ReadOnly;
use crate::session::Sessions;
use crate::users::Users;

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads both files into a rustls acceptor; any problem is an error (the server
    /// never falls back to plain text).
    pub fn acceptor(&self) -> Result<TlsAcceptor> {
        let bad = |file: &Path, problem: String| SqlServerError::Tls {
            file: file.to_path_buf(),
            problem,
        };
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| bad(&self.cert, e.to_string()))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&self.cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad(&self.cert, "no certificate in the file".into()));
        }
        let key =
            PrivateKeyDer::from_pem_file(&self.key).map_err(|e| bad(&self.key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&self.cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad(&self.key, e.to_string()))?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Who may connect.
    pub users: Arc<Users>,
    /// With a certificate, TLS is required of every client.
    pub tls: Option<TlsFiles>,
    /// Sessions open at once; one more is refused with "too many clients".
    pub max_connections: usize,
    /// What each session holds and may use.
    pub sessions: Arc<Sessions>,
}

/// A bound PostgreSQL-protocol server.
pub struct PgServer {
    listener: TcpListener,
    config: ServerConfig,
    tls: Option<TlsAcceptor>,
}

impl PgServer {
    /// Binds `addr` and loads the certificate, if any.
    pub async fn bind(addr: &str, config: ServerConfig) -> Result<PgServer> {
        let tls = config.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SqlServerError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        Ok(PgServer {
            listener,
            config,
            tls,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves connections until `shutdown` completes; sessions still open are
    /// dropped with the runtime.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        tokio::pin!(shutdown);
        loop {
            let (socket, addr) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = socket.set_nodelay(true);
            let tls = self.tls.clone();
            let config = self.config.clone();
            let slot = slots.clone().try_acquire_owned();
            tokio::spawn(async move {
                let served = match slot {
                    Ok(_slot) => match Connection::new(&config) {
                        Ok(connection) => process_socket(socket, tls, connection).await,
                        Err(e) => {
                            tracing::error!(client = %addr, error = %e, "cannot open a session");
                            Ok(())
                        }
                    },
                    Err(_) => {
                        let full = Refusal(Arc::new(Full {
                            max_connections: config.max_connections,
                        }));
                        process_socket(socket, tls, full).await
                    }
                };
                if let Err(e) = served {
                    tracing::debug!(client = %addr, error = %e, "connection ended");
                }
            });
        }
    }
}

/// The handlers of one connection: its own session behind the read-only guard and
/// datafusion-postgres's hooks (`SET`/`SHOW` of client settings, transactions).
struct Connection {
    service: Arc<DfSessionService>,
    login: Arc<Login>,
}

impl Connection {
    fn new(config: &ServerConfig) -> Result<Connection> {
        let session = config.sessions.empty()?;
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnly),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let service = Arc::new(DfSessionService::new_with_hooks(
            Arc::new(session.clone()),
            hooks,
        ));
        let login = Arc::new(Login::new(
            config.users.clone(),
            config.tls.is_some(),
            config.sessions.clone(),
            session,
        ));
        Ok(Connection { service, login })
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.login.clone()
    }
}

/// The handlers of a connection past the limit.
struct Refusal(Arc<Full>);

impl PgWireServerHandlers for Refusal {
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.0.clone()
    }
}
