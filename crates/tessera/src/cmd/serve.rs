//! `tessera serve`: the authentication server.

use anyhow::Context as _;
use tessera_config::LogFormat;
use tessera_server::{App, AppOptions};
use tracing_subscriber::EnvFilter;

/// Arguments of `tessera serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (overrides TESSERA_BIND; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
}

/// The log filter when `RUST_LOG` is not set: Tessera's own lines from `info`, the database
/// driver's only from `error` (its idle-connection pings and slow-acquire notices say nothing an
/// operator acts on; the store's loss and return are logged by Tessera as `store_lost` and
/// `store_back`).
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=error";

/// Structured logs to stderr; `RUST_LOG` filters (default [`DEFAULT_LOG_FILTER`]).
fn start_telemetry(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!(
        event = "shutdown",
        "shutdown signal received; finishing in-flight requests"
    );
}

/// `bind` (`host:port`) with the port the server actually bound, which differs when `bind` asks
/// for port 0.
fn bound_address(bind: &str, port: u16) -> String {
    let host = bind.rsplit_once(':').map_or(bind, |(host, _)| host);
    format!("{host}:{port}")
}

/// Runs `tessera serve`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let mut config = super::load_config()?;
    if let Some(bind) = &args.bind {
        config.server.bind.clone_from(bind);
    }
    start_telemetry(config.server.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let checked = config.clone();
        let app = App::build(config, AppOptions::default()).await?;
        // The same warnings `tessera doctor` reports, for the address actually bound. A bound
        // socket always has a local address; were it missing, only the warnings are lost.
        if let Ok(port) = app.port() {
            for warning in checked.warnings_when_bound(&bound_address(&checked.server.bind, port)) {
                tracing::warn!(check = warning.check(), "{warning}");
            }
        }
        app.run(shutdown_signal()).await;
        tracing::info!(event = "stopped", "stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_address_carries_the_port_actually_bound() {
        assert_eq!(bound_address("127.0.0.1:0", 38_413), "127.0.0.1:38413");
        assert_eq!(bound_address("127.0.0.1:8080", 8_080), "127.0.0.1:8080");
        assert_eq!(bound_address("[::1]:0", 9_000), "[::1]:9000");
        assert_eq!(bound_address("localhost:0", 9_000), "localhost:9000");
    }
}
