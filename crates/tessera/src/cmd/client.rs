//! `tessera client add`: OAuth clients of the introspection endpoint, in the store the server
//! uses.
//!
//! A client authenticates with an id and a secret. The secret is 256 random bits, shown once and
//! stored only as its SHA-256 digest (a fast hash suffices for a random value of that size: there
//! is nothing to guess). Both carry a prefix, `tsc_` and `tss_`, so a leaked secret is
//! recognisable to secret scanners.

use anyhow::{bail, Context as _};
use std::io::Write as _;
use tessera_server::credentials::{digest_of, new_client_id, new_client_secret};
use tessera_store::{Client, StoreError};
use tessera_token::{Clock as _, SystemClock};
use zeroize::Zeroizing;

/// Most characters in a client's name.
const MAX_NAME_CHARS: usize = 100;

/// `tessera client` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a client for the introspection endpoint; prints {"client_id", "client_secret"}.
    ///
    /// The output is one JSON line on stdout, and the only time the secret is shown: it is
    /// stored as its SHA-256 digest alone and cannot be recovered. The id is `tsc_` and 128
    /// random bits, the secret `tss_` and 256 random bits, both in base64url.
    Add(AddArgs),
}

/// Arguments of `tessera client add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// A name for the client, for people (1 to 100 characters, no control characters); not
    /// required to be unique.
    #[arg(value_name = "NAME")]
    name: String,
}

/// Runs a `tessera client` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => add(&args.name),
    }
}

/// Checks a client name: what it may be shown and logged as.
fn check_name(name: &str) -> anyhow::Result<()> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        bail!("client name must be 1 to {MAX_NAME_CHARS} characters, without control characters");
    }
    Ok(())
}

/// `tessera client add NAME`.
fn add(name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let config = super::load_config()?;
    let client_id = new_client_id().map_err(|err| anyhow::anyhow!("{err}"))?;
    let secret = new_client_secret().map_err(|err| anyhow::anyhow!("{err}"))?;
    let client = Client {
        client_id: client_id.clone(),
        name: name.to_owned(),
        secret_hash: digest_of(secret.expose()),
        created_at: SystemClock.now(),
    };
    let runtime = super::current_thread_runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let created = store.create_client(&client).await;
        // Close before exiting, so the last connection checkpoints the WAL.
        store.close().await;
        created.map_err(|err| match err {
            // 128 random bits: only a broken random source collides.
            StoreError::Conflict(_) => anyhow::anyhow!("client id `{client_id}` already exists"),
            other => anyhow::Error::new(other).context("creating the client"),
        })
    })?;
    // Both values are a prefix and base64url, which JSON needs no escaping for; building the line
    // by hand, in one zeroized buffer that never grows, keeps the secret out of buffers that are
    // not zeroized (a `serde_json::Value`, a reallocated `format!` string).
    let secret_text = std::str::from_utf8(secret.expose()).context("client secret is not text")?;
    let parts = [
        "{\"client_id\":\"",
        client_id.as_str(),
        "\",\"client_secret\":\"",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn client_names_are_bounded_and_printable() {
        assert!(check_name("billing-service").is_ok());
        assert!(check_name("Service de facturation é").is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(MAX_NAME_CHARS + 1),
            "a\nb".into(),
            "\u{1b}[31m".into(),
        ] {
            assert!(check_name(&bad).is_err(), "{bad:?}");
        }
    }
}
