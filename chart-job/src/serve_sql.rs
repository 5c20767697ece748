//! `serve-sql` and `hash-password`: the PostgreSQL-protocol and Flight SQL servers of
//! `chart-sql-server`, configured from flags.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chart_sql_server::{FlightSql, PgServer, ServerConfig, Sessions, TlsFiles, Users};
use futures::FutureExt;

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
    sessions.check().await?;
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
    let transport = if require_tls {
        "TLS required"
    } else {
        "no TLS"
    };
    let warn_if_open = |addr: std::net::SocketAddr| {
        if !require_tls && !addr.ip().is_loopback() {
            tracing::warn!(
                "listening on {addr} without TLS: passwords are safe, results travel in clear"
            );
        }
    };
    let shutdown = shutdown_signal()?.shared();
    let pg = args.pg || !args.flight;
    let pg_server = match pg {
        true => {
            let server = PgServer::bind(&args.listen, config.clone()).await?;
            let addr = server.local_addr()?;
            warn_if_open(addr);
            println!("listening on postgresql://{addr} ({transport})");
            Some(server)
        }
        false => None,
    };
    let flight_server = match args.flight {
        true => {
            let listener = tokio::net::TcpListener::bind(&args.flight_listen)
                .await
                .with_context(|| format!("listening on {}", args.flight_listen))?;
            let addr = listener.local_addr()?;
            warn_if_open(addr);
            let scheme = if require_tls { "grpc+tls" } else { "grpc" };
            println!("listening on {scheme}://{addr} (Flight SQL, {transport})");
            Some(listener)
        }
        false => None,
    };
    let pg_run = async {
        match pg_server {
            Some(server) => server.run(shutdown.clone()).await,
            None => Ok(()),
        }
    };
    let flight_run = async {
        match flight_server {
            Some(listener) => {
                let service = FlightSql::new(
                    config.users.clone(),
                    config.sessions.clone(),
                    config.max_connections,
                );
                service
                    .serve(listener, config.tls.as_ref(), shutdown.clone())
                    .await
            }
            None => Ok(()),
        }
    };
    let (pg_done, flight_done) = tokio::join!(pg_run, flight_run);
    pg_done?;
    flight_done?;
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
