//! `serve-sql` and `hash-password`: the PostgreSQL-protocol server of
//! `chart-sql-server`, configured from flags.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chart_sql_server::{PgServer, ServerConfig, Sessions, TlsFiles, Users};

use crate::args::{HashPasswordArgs, ServeSqlArgs};
use crate::live::shutdown_signal;

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeSqlArgs) -> Result<()> {
    let users = Arc::new(Users::load(&args.users)?);
    let sessions = Sessions {
        data: args.store.location(&args.data)?,
        methodology: args.methodology.methodology()?,
        query_memory: args.query_memory,
        timeout: args.timeout,
    };
    // A bad data root fails now, not at each login.
    sessions.fill(&sessions.empty()?).await?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let config = ServerConfig {
        users,
        tls,
        max_connections: args.max_connections as usize,
        sessions: Arc::new(sessions),
    };
    let require_tls = config.tls.is_some();
    let server = PgServer::bind(&args.listen, config).await?;
    let addr = server.local_addr()?;
    if !require_tls && !addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {addr} without TLS: passwords are safe (SCRAM), results travel in clear"
        );
    }
    println!(
        "listening on postgresql://{addr} ({})",
        if require_tls {
            "TLS required"
        } else {
            "no TLS"
        }
    );
    let shutdown = shutdown_signal()?;
    server.run(shutdown).await?;
    Ok(())
}

/// Reads one line (the password) from stdin and prints the user's `users.toml` entry.
pub fn hash_password(args: HashPasswordArgs) -> Result<()> {
    if args.iterations < chart_sql_server::users::MIN_ITERATIONS {
        bail!(
            "--iterations {}: at least {} are needed",
            args.iterations,
            chart_sql_server::users::MIN_ITERATIONS
        );
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("the password (one line on stdin) is empty");
    }
    let name = toml::Value::String(args.user);
    println!(
        "[[user]]\nname = {name}\npassword_hash = \"{}\"",
        chart_sql_server::hash_password(password, args.iterations)
    );
    Ok(())
}
