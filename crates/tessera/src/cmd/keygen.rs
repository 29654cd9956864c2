//! `tessera keygen`: a new signing key.

use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use tessera_token::{base64url, generate_hmac_secret, Algorithm, SigningKey};
use zeroize::Zeroizing;

/// Arguments of `tessera keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Algorithm the key is for (HS256, RS256, ES256, EdDSA, ...).
    #[arg(long, value_name = "ALG")]
    alg: String,
    /// Write the key to this file (mode 0600, must not exist) instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

/// Runs `tessera keygen`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let algorithm: Algorithm = args.alg.parse()?;
    let text = Zeroizing::new(if algorithm.is_symmetric() {
        let secret = generate_hmac_secret(algorithm)?;
        format!("{}\n", base64url::encode(secret.expose()))
    } else {
        let (_, der) = SigningKey::generate(algorithm)?;
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.expose().to_vec()))
    });
    match &args.out {
        None => std::io::stdout().write_all(text.as_bytes())?,
        Some(path) => {
            if path.exists() {
                bail!(
                    "{} already exists; refusing to overwrite a key",
                    path.display()
                );
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
    }
    Ok(())
}
