//! An axum service that accepts Tessera's access tokens through `tessera-guard`: keys discovered
//! from Tessera's metadata, the revocation feed followed (a logout is refused within a second),
//! `/me` for any signed-in user and `/admin` for users with the `admin` role.
//!
//! ```sh
//! TESSERA_URL=https://auth.example.com TESSERA_AUDIENCE=tessera \
//! TESSERA_CLIENT_ID=tsc_... TESSERA_CLIENT_SECRET=tss_... PORT=4000 \
//! cargo run -p tessera-guard --example axum_service
//! ```
//!
//! `TESSERA_URL` is Tessera's `JWT_ISSUER`; `TESSERA_AUDIENCE` its `JWT_AUDIENCE` (default
//! `tessera`). Without `TESSERA_CLIENT_ID` the service checks the keys alone and accepts a
//! revoked token until it expires (it says so at start). Tested against a real Tessera by
//! `crates/tessera-guard/tests/it/example.rs`.
#![allow(missing_docs, reason = "an example binary")]

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tessera_guard::{Claims, ClientCredentials, FeedOptions, Guard, GuardBuilder};

/// The guard's configuration from the environment (`var` reads one variable).
pub fn guard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<GuardBuilder, String> {
    let issuer = var("TESSERA_URL").ok_or("TESSERA_URL is required (Tessera's JWT_ISSUER)")?;
    let audience = var("TESSERA_AUDIENCE").unwrap_or_else(|| "tessera".into());
    let mut builder = Guard::builder()
        .issuer(issuer.trim_end_matches('/'))
        .audience(audience)
        .discover_keys();
    match (var("TESSERA_CLIENT_ID"), var("TESSERA_CLIENT_SECRET")) {
        (Some(id), Some(secret)) => {
            builder = builder.revocation_feed(FeedOptions::new(ClientCredentials::new(id, secret)));
        }
        (None, None) => {}
        _ => return Err("set both TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET, or neither".into()),
    }
    Ok(builder)
}

/// The routes: every one needs a good token; `/admin` also the `admin` role.
pub fn router(guard: &Guard) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin).layer(guard.require_role("admin")))
        .layer(guard.layer())
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({"user": claims.sub, "roles": claims.roles().collect::<Vec<_>>()}))
}

async fn admin(claims: Claims) -> Json<Value> {
    Json(json!({"user": claims.sub, "admin": true}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let guard = guard_from_env(|name| std::env::var(name).ok())?.build()?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "4000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, router(&guard)).await?;
    Ok(())
}
