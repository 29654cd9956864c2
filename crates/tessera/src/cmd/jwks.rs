//! `tessera jwks`: the public JWK Set of the configured keys (current and previous).

/// Runs `tessera jwks`.
pub fn run() -> anyhow::Result<()> {
    let jwks = super::load_keys(&super::load_config()?, super::KeyUse::Verify)?.to_jwks();
    println!("{}", serde_json::to_string_pretty(&jwks)?);
    Ok(())
}
