//! `tessera jwks`: the public JWK Set of the configured key.

use tessera_token::KeySet;

/// Runs `tessera jwks`.
pub fn run() -> anyhow::Result<()> {
    let loaded = super::load_key(&super::load_config()?)?;
    let jwks = KeySet::with_signing_key(loaded.key).to_jwks();
    println!("{}", serde_json::to_string_pretty(&jwks)?);
    Ok(())
}
