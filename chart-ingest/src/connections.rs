//! Serving HTTP/1.1 connections from a listener (plain TCP or TLS) with a limit on the
//! time a client may take to send its request headers (slow clients), and a graceful
//! shutdown: stop accepting, let every connection finish the request it is in, return.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;

/// Serves `router` on every connection of `listener` until `shutdown` resolves, then
/// waits for the open connections to finish their requests.
pub async fn serve_connections<L>(
    mut listener: L,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    // Each connection holds a receiver of `stop` (dropped when it closes); `stop` sends
    // at shutdown, and `open` closes once every connection has dropped its clone.
    let (stop, stopping) = watch::channel(false);
    let (open, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            connection = listener.accept() => connection,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        let open = open.subscribe();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(?addr, error = %e, "connection ended");
                    }
                }
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    if let Err(e) = connection.as_mut().await {
                        tracing::debug!(?addr, error = %e, "connection ended at shutdown");
                    }
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    open.closed().await;
}
