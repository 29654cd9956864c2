//! `tessera client add | list | remove | rotate-secret`: OAuth clients of the introspection
//! endpoint, in the store the server uses.
//!
//! A client authenticates with an id and a secret. The secret is 256 random bits, shown once and
//! stored only as its SHA-256 digest (a fast hash suffices for a random value of that size: there
//! is nothing to guess). Both carry a prefix, `tsc_` and `tss_`, so a leaked secret is
//! recognisable to secret scanners. The server looks a client up in the store on every request,
//! so a removal or a new secret takes effect at once, on every instance.

use anyhow::Context as _;
use serde_json::json;
use std::io::Write as _;
use tessera_service::{clients, ServiceError};
use tessera_store::{Client, Store};
use tessera_token::{Clock as _, SecretText, SystemClock};
use zeroize::Zeroizing;

/// `tessera client` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a client for the introspection endpoint; prints {"client_id", "client_secret"}.
    ///
    /// The output is one JSON line on stdout, and the only time the secret is shown: it is
    /// stored as its SHA-256 digest alone and cannot be recovered. The id is `tsc_` and 128
    /// random bits, the secret `tss_` and 256 random bits, both in base64url.
    Add(AddArgs),
    /// List the clients as one JSON array of {client_id, name, created_at}.
    ///
    /// Oldest first; `created_at` is in seconds since the Unix epoch. Secrets and their digests
    /// are never shown.
    List,
    /// Remove a client: its id and secret stop working at once.
    ///
    /// Introspection requests with its credentials get 401 `invalid_client` from then on, on a
    /// running server too. Exits non-zero if there is no such client. Prints nothing.
    Remove(IdArgs),
    /// Give a client a new secret; prints {"client_id", "client_secret"}.
    ///
    /// The old secret stops working at once, on a running server too. As with `add`, the output
    /// is one JSON line on stdout and the only time the new secret is shown. Exits non-zero if
    /// there is no such client.
    RotateSecret(IdArgs),
}

/// Arguments of `tessera client add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// A name for the client, for people (1 to 100 characters, no control characters); not
    /// required to be unique.
    #[arg(value_name = "NAME")]
    name: String,
}

/// Arguments of `tessera client remove` and `tessera client rotate-secret`.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The client's id (`tsc_...`), as `client add` printed it.
    #[arg(value_name = "CLIENT_ID")]
    client_id: String,
}

/// Runs a `tessera client` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    if let Command::Add(args) = &command {
        check_name(&args.name)?;
    }
    let config = super::load_config()?;
    let runtime = super::current_thread_runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let result = match command {
            Command::Add(args) => add(store.as_ref(), &args.name).await,
            Command::List => list(store.as_ref()).await,
            Command::Remove(args) => remove(store.as_ref(), &args.client_id).await,
            Command::RotateSecret(args) => rotate_secret(store.as_ref(), &args.client_id).await,
        };
        // Close before exiting, so the last connection checkpoints the WAL.
        store.close().await;
        result
    })
}

/// The error for an id that is not a client's. The id is escaped: it came from the command line
/// unchecked and is echoed to a terminal.
fn no_such_client(client_id: &str) -> anyhow::Error {
    anyhow::anyhow!("no client with id `{}`", client_id.escape_debug())
}

/// Checks a client name ([`clients::check_name`]) before anything is opened.
fn check_name(name: &str) -> anyhow::Result<()> {
    clients::check_name(name).map_err(|err| anyhow::anyhow!("{err}"))
}

/// `tessera client add NAME` ([`clients::add`]).
async fn add(store: &dyn Store, name: &str) -> anyhow::Result<()> {
    let (client_id, secret) =
        clients::add(store, name, SystemClock.now())
            .await
            .map_err(|err| match err {
                ServiceError::Rule(rule) => anyhow::anyhow!(rule),
                other => anyhow::Error::new(other).context("creating the client"),
            })?;
    print_credentials(&client_id, &secret)
}

/// `tessera client list`: {client_id, name, created_at} of every client, oldest first.
async fn list(store: &dyn Store) -> anyhow::Result<()> {
    let clients: Vec<_> = clients::list(store)
        .await
        .context("listing clients")?
        .into_iter()
        .map(|client: Client| {
            json!({
                "client_id": client.client_id,
                "name": client.name,
                "created_at": client.created_at,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&clients)?);
    Ok(())
}

/// `tessera client remove CLIENT_ID` ([`clients::remove`]).
async fn remove(store: &dyn Store, client_id: &str) -> anyhow::Result<()> {
    clients::remove(store, client_id)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => no_such_client(client_id),
            other => anyhow::Error::new(other).context("removing the client"),
        })
}

/// `tessera client rotate-secret CLIENT_ID` ([`clients::rotate_secret`]): the new secret,
/// printed once.
async fn rotate_secret(store: &dyn Store, client_id: &str) -> anyhow::Result<()> {
    let secret = clients::rotate_secret(store, client_id)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => no_such_client(client_id),
            other => anyhow::Error::new(other).context("replacing the client secret"),
        })?;
    print_credentials(client_id, &secret)
}

/// Prints `{"client_id", "client_secret"}` as one line on stdout: the only time the secret is
/// shown.
fn print_credentials(client_id: &str, secret: &SecretText) -> anyhow::Result<()> {
    // The secret is a prefix and base64url, which JSON needs no escaping for; building the line
    // by hand, in one zeroized buffer that never grows, keeps it out of buffers that are not
    // zeroized (a `serde_json::Value`, a reallocated `format!` string). The id is no secret, and
    // is escaped by serde_json: ids made by `add` need no escaping, but one stored by other means
    // might.
    let secret_text = secret.expose();
    let client_id = serde_json::to_string(client_id)?;
    let parts = [
        "{\"client_id\":",
        client_id.as_str(),
        ",\"client_secret\":\"",
        secret_text,
        "\"}\n",
    ];
    let mut line = Zeroizing::new(String::with_capacity(parts.iter().map(|p| p.len()).sum()));
    parts.iter().for_each(|part| line.push_str(part));
    std::io::stdout()
        .write_all(line.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}
