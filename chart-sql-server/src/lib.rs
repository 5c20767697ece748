//! Analyst SQL for BI tools: `chart-job serve-sql` serves what `chart-job sql`
//! registers (the data root's tables, the methodology's views and functions, the
//! chart table functions) over the PostgreSQL wire protocol, so that psql, DBeaver,
//! Metabase, Superset, Grafana and ODBC drivers connect as to a database.
//!
//! * [`users`]: who may connect (`users.toml`, salted password hashes);
//! * [`login`]: SCRAM-SHA-256, TLS required when the server has a certificate,
//!   refused logins logged and delayed;
//! * [`session`]: one session per connection, with its own memory pool and the
//!   statement timeout ([`deadline`]);
//! * [`read_only`]: the guard every statement passes, whatever the protocol;
//! * [`server`]: the PostgreSQL listener and the connection limit;
//! * [`flight`]: Arrow Flight SQL over the same sessions, guard and limits.
//!
//! The protocol itself (messages, `pg_catalog`, types) is datafusion-postgres and
//! pgwire's.

pub mod deadline;
pub mod error;
pub mod flight;
pub mod login;
pub mod read_only;
pub mod server;
pub mod session;
pub mod users;

pub use error::{Result, SqlServerError};
pub use flight::FlightSql;
pub use server::{PgServer, ServerConfig, TlsFiles};
pub use session::Sessions;
pub use users::{Users, hash_password};
