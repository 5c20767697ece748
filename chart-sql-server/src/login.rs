//! Logging in: SCRAM-SHA-256 against `users.toml` (the password never crosses the
//! wire), TLS required when the server has a certificate, a refused login logged
//! without its password and answered only after [`FAILED_LOGIN_DELAY`], and the
//! connection's session filled with the data root's tables once the user is known.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::ScramAuth;
use datafusion_postgres::pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use datafusion_postgres::pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::Sink;

use crate::session::Sessions;
use crate::users::Users;

/// How long a refused login waits before its answer: a password guesser gets at most
/// one guess per this per connection.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// The users' hashes as pgwire's SCRAM asks for them. An unknown user gets a random
/// salt and hash, so that the exchange fails like a wrong password's.
#[derive(Debug)]
struct UserHashes(Arc<Users>);

#[async_trait]
impl AuthSource for UserHashes {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().ok_or(PgWireError::UserNameRequired)?;
        Ok(match self.0.hash(user) {
            Some(hash) => Password::new(Some(hash.salt.clone()), hash.salted_password.clone()),
            None => Password::new(
                Some(rand::random::<[u8; 16]>().to_vec()),
                rand::random::<[u8; 32]>().to_vec(),
            ),
        })
    }
}

/// The startup handler of one connection.
pub struct Login {
    scram: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    users: Arc<Users>,
    require_tls: bool,
    sessions: Arc<Sessions>,
    session: SessionContext,
}

impl Login {
    /// Logs a connection in and then fills `session` from `sessions`.
    pub fn new(
        users: Arc<Users>,
        require_tls: bool,
        sessions: Arc<Sessions>,
        session: SessionContext,
    ) -> Login {
        let mut scram = ScramAuth::new(Arc::new(UserHashes(users.clone())));
        scram.set_iterations(users.iterations() as usize);
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = format!("16.6 (chart-job {})", env!("CARGO_PKG_VERSION"));
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        parameters.scram_iterations = users.iterations() as usize;
        Login {
            scram: SASLAuthStartupHandler::new(Arc::new(parameters)).with_scram(scram),
            users,
            require_tls,
            sessions,
            session,
        }
    }
}

/// A FATAL error with this SQLSTATE: the client is told and the connection closed.
pub fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if matches!(message, PgWireFrontendMessage::Startup(_))
            && self.require_tls
            && !client.is_secure()
        {
            tracing::warn!(client = %client.socket_addr(), "refused a connection without TLS");
            return Err(fatal(
                "28000",
                "this server accepts TLS connections only (connect with sslmode=require)".into(),
            ));
        }
        match self.scram.on_startup(client, message).await {
            Ok(()) => {}
            Err(e) => {
                let user = client_user(client);
                let known = self.users.hash(&user).is_some();
                // pgwire's message names the user of the SCRAM exchange, which
                // clients leave empty: the log names the user of the startup.
                let cause = match &e {
                    PgWireError::InvalidPassword(_) => "wrong password".to_string(),
                    other => other.to_string(),
                };
                tracing::warn!(
                    client = %client.socket_addr(),
                    user,
                    known,
                    cause,
                    "refused a login"
                );
                tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                return Err(match e {
                    PgWireError::InvalidPassword(_) | PgWireError::InvalidScramMessage(_) => fatal(
                        "28P01",
                        format!("password authentication failed for user \"{user}\""),
                    ),
                    other => other,
                });
            }
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            tracing::info!(client = %client.socket_addr(), user = client_user(client), "logged in");
            self.sessions
                .fill(&self.session)
                .await
                .map_err(|e| fatal("58000", e.to_string()))?;
        }
        Ok(())
    }
}

fn client_user<C: ClientInfo>(client: &C) -> String {
    client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

/// The startup handler when every connection slot is taken: PostgreSQL's "too many
/// clients" (53300), then the connection closes.
pub struct Full {
    /// The limit, for the message.
    pub max_connections: usize,
}

#[async_trait]
impl StartupHandler for Full {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        tracing::warn!(client = %client.socket_addr(), "refused a connection: every slot is taken");
        Err(fatal(
            "53300",
            format!(
                "sorry, too many clients already (the server's --max-connections is {})",
                self.max_connections
            ),
        ))
    }
}
