//! `tessera token mint | verify | inspect`.

use anyhow::{anyhow, bail, Context as _};
use serde_json::{Map, Value};
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use tessera_config::parse_duration;
use tessera_token::{
    base64url, AccessTokenRequest, FixedClock, JwkSet, KeySet, TokenIssuer, Verifier,
};

/// Largest token read from stdin, in bytes; the verifier's own cap is smaller.
const MAX_STDIN: u64 = 64 * 1024;

/// `tessera token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Mint an access token signed with the configured key; prints exactly one line.
    Mint(MintArgs),
    /// Verify a token; prints its claims as one JSON object, or fails naming the check.
    Verify(VerifyArgs),
    /// Decode a token WITHOUT verifying it; the output is labelled UNVERIFIED.
    Inspect(InspectArgs),
}

/// Arguments of `tessera token mint`.
#[derive(Debug, clap::Args)]
pub struct MintArgs {
    /// The subject (`sub`); user ids are base64url and may start with `-`.
    #[arg(long, value_name = "SUB", allow_hyphen_values = true)]
    sub: String,
    /// Lifetime (`90`, `90s`, `15m`, `1h`, `7d`); defaults to the configured access TTL.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    ttl: Option<u64>,
    /// A custom claim; the value after `=` is JSON (`--claim scope='"read"'`). Repeatable.
    #[arg(long = "claim", value_name = "KEY=JSON", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
}

/// Arguments of `tessera token verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Verify against this JWK Set file instead of the configured key. For tokens of other
    /// issuers: ECDSA signatures are accepted with S in either half, as other libraries sign
    /// (the configured key takes only the low S Tessera signs).
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Required issuer (default: the configured JWT_ISSUER).
    #[arg(long, value_name = "ISS")]
    issuer: Option<String>,
    /// Required audience (default: the configured JWT_AUDIENCE).
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
    /// Judge the token at this instant (seconds since the epoch) instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
    /// Clock leeway (default: the configured JWT_LEEWAY).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    leeway: Option<u64>,
    /// The token; read from stdin when absent.
    token: Option<String>,
}

/// Arguments of `tessera token inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The token.
    token: String,
}

fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (name, json) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=JSON"))?;
    if name.is_empty() {
        return Err("the claim name is empty".into());
    }
    let value = serde_json::from_str(json).map_err(|err| {
        format!("the value of `{name}` is not JSON ({err}); quote strings: {name}='\"text\"'")
    })?;
    Ok((name.to_owned(), value))
}

/// Runs a `tessera token` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mint(args) => mint(args),
        Command::Verify(args) => verify(args),
        Command::Inspect(args) => inspect(&args),
    }
}

fn mint(args: MintArgs) -> anyhow::Result<()> {
    if args.ttl == Some(0) {
        bail!("--ttl must be longer than zero");
    }
    let config = super::load_config()?;
    let signing = super::load_keys(&config, super::KeyUse::Sign)?
        .signing_key()
        .cloned()
        .ok_or_else(|| anyhow!("the configured key set has no signing key"))?;
    let mut extra = Map::new();
    for (name, value) in args.claims {
        if extra.insert(name.clone(), value).is_some() {
            bail!("claim `{name}` is given twice");
        }
    }
    let issuer = TokenIssuer::new(signing, &config.issuer, &config.audience, config.access_ttl);
    let issued = issuer.issue(&AccessTokenRequest {
        subject: args.sub,
        ttl: args.ttl,
        extra,
        ..AccessTokenRequest::default()
    })?;
    println!("{}", issued.token);
    Ok(())
}

fn read_token(token: Option<String>) -> anyhow::Result<String> {
    let token = match token {
        Some(token) => token,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .take(MAX_STDIN)
                .read_to_string(&mut text)
                .context("reading the token from stdin")?;
            text
        }
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("no token given (pass it as an argument or on stdin)");
    }
    Ok(token.to_owned())
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let token = read_token(args.token)?;
    let config = super::load_config()?;
    // A JWK Set file holds other issuers' keys, whose libraries (PyJWT, jose, ...) sign ECDSA
    // with S in either half: that path opens the door to high S. The configured keys are
    // Tessera's own, which signs only low S, so without --jwks a high S is refused.
    let other_issuer = args.jwks.is_some();
    let keys = match &args.jwks {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let jwks: JwkSet = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a JWK Set", path.display()))?;
            KeySet::from_jwks(&jwks, None).with_context(|| format!("{}", path.display()))?
        }
        None => {
            let keys = super::load_keys(&config, super::KeyUse::Verify)?;
            if keys.is_empty() {
                bail!(
                    "no signing key yet: nothing can have been signed with one (mint a token \
                     first, or pass --jwks)"
                );
            }
            keys
        }
    };
    let mut verifier = Verifier::new(
        Arc::new(keys),
        args.issuer.as_deref().unwrap_or(&config.issuer),
        args.audience.as_deref().unwrap_or(&config.audience),
    )
    .with_leeway(args.leeway.unwrap_or(config.leeway));
    if other_issuer {
        verifier = verifier.accepting_high_s_ecdsa();
    }
    if let Some(at) = args.at {
        verifier = verifier.with_clock(Arc::new(FixedClock::new(at)));
    }
    let claims = verifier
        .verify_access_token(&token)
        .map_err(|err| anyhow!("token rejected ({}): {err}", err.reason()))?;
    println!("{}", serde_json::to_string(&claims)?);
    Ok(())
}

fn decode_segment(segment: &str) -> Value {
    match base64url::decode(segment.as_bytes()) {
        None => Value::String(format!("(not base64url: {segment})")),
        Some(bytes) => serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    }
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let mut segments = args.token.trim().split('.');
    let (Some(header), Some(payload)) = (segments.next(), segments.next()) else {
        bail!("not a compact JWS (expected header.payload.signature)");
    };
    let output = serde_json::json!({
        "UNVERIFIED": "the signature and claims were NOT checked; use `tessera token verify`",
        "header": decode_segment(header),
        "claims": decode_segment(payload),
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
