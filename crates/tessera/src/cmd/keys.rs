//! `tessera keys list | rotate | retire | rewrap`: the signing keys kept in the store (stored
//! mode: neither `JWT_SECRET_KEY` nor `JWT_PRIVATE_KEY_FILE` set).
//!
//! Every change is written to the store; running servers pick it up within a second, without a
//! restart.

use anyhow::{bail, Context as _};
use serde_json::json;
use std::path::PathBuf;
use tessera_config::{Config, KeySource};
use tessera_service::keys::{self, kek, KeyState, JWKS_MAX_AGE};
use tessera_token::Algorithm;

/// `tessera keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the stored signing keys as one JSON array of {kid, algorithm, state, created,
    /// activated, retires_at}.
    ///
    /// `state` is `next` (published, not yet signing), `current` (signing), `previous` (no
    /// longer signing, verifying until its tokens expire) or `retired`. Times are seconds since
    /// the Unix epoch, or null when not decided (`activated` is null for a key retired before it
    /// signed). Needs no key-encryption key.
    List,
    /// Rotate: make a `next` key, published now and signing in 6 minutes (after every cached
    /// JWK Set has it); prints {kid, algorithm, activates_at, replaces}.
    ///
    /// With `--now` (an incident), the scheduled `next` key, or a new one, signs at once:
    /// resource servers that fetched the JWK Set in the last 5 minutes may refuse its tokens
    /// until they fetch it again.
    Rotate(RotateArgs),
    /// Retire a key (compromised): it stops verifying at once, on every instance, and every
    /// token it signed fails; prints {kid, was, new_current}.
    ///
    /// Retiring the signing key makes the scheduled `next` key (or a new one) sign at once;
    /// retiring a `next` key cancels the rotation.
    Retire(RetireArgs),
    /// Re-seal every stored key under a new key-encryption key (rotating it); prints
    /// {rewrapped, key_encryption_key}.
    ///
    /// The current key-encryption key is the configured one (TESSERA_KEY_ENCRYPTION_KEY,
    /// TESSERA_KEY_ENCRYPTION_KEY_FILE, or the data directory's). Afterwards configure the new
    /// one on every instance and restart them one by one: running instances keep signing with
    /// the key they opened meanwhile.
    Rewrap(RewrapArgs),
}

/// Arguments of `tessera keys rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Sign with the new key at once (an incident) instead of after the publish lead.
    #[arg(long)]
    now: bool,
    /// The new key's algorithm (default: JWT_ALGORITHM): an algorithm change is a rotation.
    #[arg(long, value_name = "ALG")]
    alg: Option<Algorithm>,
}

/// Arguments of `tessera keys retire`.
#[derive(Debug, clap::Args)]
pub struct RetireArgs {
    /// The key id, as `tessera keys list` shows it (base64url: it may start with `-`).
    #[arg(value_name = "KID", allow_hyphen_values = true)]
    kid: String,
    /// The algorithm of the key made when the signing key is retired and none is scheduled
    /// (default: JWT_ALGORITHM).
    #[arg(long, value_name = "ALG")]
    alg: Option<Algorithm>,
}

/// Arguments of `tessera keys rewrap`.
#[derive(Debug, clap::Args)]
pub struct RewrapArgs {
    /// A file holding the new key-encryption key: 32 random bytes in base64 (`openssl rand
    /// -base64 32 > FILE`).
    #[arg(long, value_name = "FILE")]
    new_key_file: PathBuf,
}

fn stored_mode(config: &Config) -> anyhow::Result<()> {
    if let KeySource::Stored { .. } = config.key_source {
        return Ok(());
    }
    bail!(
        "the signing key is static ({}): `tessera keys` manages stored keys, which are used when \
         neither JWT_SECRET_KEY nor JWT_PRIVATE_KEY_FILE is set",
        match config.key_source {
            KeySource::HmacSecret(_) => "JWT_SECRET_KEY",
            _ => "JWT_PRIVATE_KEY_FILE",
        }
    )
}

/// Runs a `tessera keys` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    let config = super::load_config()?;
    stored_mode(&config)?;
    let now = super::unix_now();
    super::current_thread_runtime()?.block_on(async {
        let store = super::open_store(&config).await?;
        let result = match command {
            Command::List => list(store.as_ref(), now).await,
            Command::Rotate(args) => rotate(&config, store.as_ref(), &args, now).await,
            Command::Retire(args) => retire(&config, store.as_ref(), &args, now).await,
            Command::Rewrap(args) => rewrap(&config, store.as_ref(), &args, now).await,
        };
        store.close().await;
        result
    })
}

async fn list(store: &dyn tessera_store::Store, now: u64) -> anyhow::Result<()> {
    let states = keys::list(store, now).await.context("reading the keys")?;
    let listed: Vec<_> = states
        .keys
        .iter()
        .map(|key| {
            json!({
                "kid": key.kid,
                "algorithm": key.algorithm,
                "state": key.state.name(),
                "created": key.created,
                "activated": key.activated,
                "retires_at": key.retires_at,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&listed)?);
    Ok(())
}

async fn rotate(
    config: &Config,
    store: &dyn tessera_store::Store,
    args: &RotateArgs,
    now: u64,
) -> anyhow::Result<()> {
    let (kek, _) = keys::load_kek(config)?;
    let rotation = keys::rotate(store, &kek, args.alg, config.algorithm, now, args.now).await?;
    println!(
        "{}",
        json!({
            "kid": rotation.kid,
            "algorithm": rotation.algorithm,
            "activates_at": rotation.activates_at,
            "replaces": rotation.replaces,
        })
    );
    if args.now {
        eprintln!(
            "note: {} signs from now; resource servers that cached the JWK Set in the last {} s \
             may refuse its tokens until they fetch it again",
            rotation.kid, JWKS_MAX_AGE
        );
    } else {
        eprintln!(
            "note: {} is published now and signs from {} (in {} s)",
            rotation.kid,
            rotation.activates_at,
            rotation.activates_at.saturating_sub(now)
        );
    }
    Ok(())
}

async fn retire(
    config: &Config,
    store: &dyn tessera_store::Store,
    args: &RetireArgs,
    now: u64,
) -> anyhow::Result<()> {
    let (kek, _) = keys::load_kek(config)?;
    let algorithm = args.alg.unwrap_or(config.algorithm);
    let retirement = keys::retire(store, &kek, &args.kid, algorithm, now)
        .await
        .with_context(|| format!("retiring {}", args.kid))?;
    println!(
        "{}",
        json!({
            "kid": retirement.kid,
            "was": retirement.was.name(),
            "new_current": retirement.new_current,
        })
    );
    match (&retirement.was, &retirement.new_current) {
        (KeyState::Next, _) => eprintln!("note: the rotation to {} is cancelled", retirement.kid),
        (_, Some(new_current)) => eprintln!(
            "note: tokens signed by {} fail from now on every instance; {new_current} signs from \
             now (resource servers that cached the JWK Set may miss it for up to {JWKS_MAX_AGE} s)",
            retirement.kid
        ),
        _ => eprintln!(
            "note: tokens signed by {} fail from now on every instance",
            retirement.kid
        ),
    }
    Ok(())
}

async fn rewrap(
    config: &Config,
    store: &dyn tessera_store::Store,
    args: &RewrapArgs,
    now: u64,
) -> anyhow::Result<()> {
    let (old, _) = keys::load_kek(config)?;
    let new = kek::read_kek_file("--new-key-file", &args.new_key_file)?;
    let count = keys::rewrap(store, &old, &new, now).await?;
    println!(
        "{}",
        json!({ "rewrapped": count, "key_encryption_key": new.id() })
    );
    eprintln!(
        "note: configure the new key-encryption key ({}) on every instance (TESSERA_KEY_ENCRYPTION_KEY \
         or TESSERA_KEY_ENCRYPTION_KEY_FILE{}) and restart them one by one",
        new.id(),
        if config.database_url.is_none() && config.key_encryption_key.is_none() {
            ", or replace the data directory's key-encryption-key file"
        } else {
            ""
        }
    );
    Ok(())
}
