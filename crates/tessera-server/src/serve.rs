//! The connection loop: accepts TCP connections and serves each with hyper's HTTP/1.1, with the
//! limits that must hold before a request reaches the router, and a bounded graceful shutdown.
//!
//! `axum::serve` cannot set them: with it, a client that sends half a request head and then
//! nothing holds its connection (and a shutdown) for as long as it likes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::middleware::AddExtension;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service as _;

/// How long a client has to send a request's head (request line and headers), counted from the
/// moment the server starts reading it; past it the connection is closed. This also bounds how
/// long a kept-alive connection may sit idle before its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a shutdown waits for open connections to finish their requests before it stops
/// anyway. Longer than [`crate::layers::REQUEST_TIMEOUT`], so every request that started
/// before the signal gets its answer.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Header fields hyper parses in one request head; beyond it hyper answers a bare 431. The
/// router's own, lower bound ([`crate::layers::MAX_HEADER_COUNT`]) answers in JSON first.
const HYPER_MAX_HEADERS: usize = 256;

/// How long the accept loop pauses after an error that is not about one connection (for example
/// out of file descriptors), so it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The limits of the connection loop.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// open connection finish the request it is serving (idle ones close at once), and returns when
/// all are done or [`ConnectionLimits::shutdown_grace`] has passed, whichever comes first.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // Connections watch `stop` for the shutdown, and each holds a clone of `open`: when the
    // last clone is dropped, `all_closed` knows every connection is done.
    let (stop_sender, stop) = watch::channel(false);
    let (all_closed, open) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        spawn_connection(
            service,
            stream,
            limits.header_read_timeout,
            stop.clone(),
            open.clone(),
        );
    }
    drop(listener);
    drop(open);
    // Nobody may be watching (no connection open): that is fine.
    let _ = stop_sender.send(true);
    let open_at_signal = all_closed.receiver_count();
    if tokio::time::timeout(limits.shutdown_grace, all_closed.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            event = "shutdown_grace_exceeded",
            connections = all_closed.receiver_count(),
            of = open_at_signal,
            grace_s = limits.shutdown_grace.as_secs_f64(),
            "connections still open after the shutdown grace period; closing them"
        );
    }
}

/// Serves one connection in a task of its own.
fn spawn_connection(
    service: AddExtension<Router, ConnectInfo<SocketAddr>>,
    stream: TcpStream,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    open: watch::Receiver<()>,
) {
    // Responses are written whole; waiting to coalesce them only adds latency.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
    let service = TowerToHyperService::new(service);
    tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_headers(HYPER_MAX_HEADERS);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let mut stopping = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    break;
                }
                changed = stop.changed(), if !stopping => {
                    stopping = true;
                    if changed.is_ok() {
                        // Finishes the request in flight, if any, then closes.
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        drop(open);
    });
}

/// Errors of `accept` that concern only the connection being accepted (the peer went away
/// before it was accepted): nothing to wait for or report.
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
