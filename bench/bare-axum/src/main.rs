//! bare-axum: the floor for "verify a Bearer token and respond" in Rust.
//!
//! `GET /auth/me` verifies the Bearer access token with `tessera_token::Verifier` (same key, same
//! `iss`, same `aud` as the Tessera server under test) and answers `{sub, username, created_at}`
//! from an in-memory map. No middleware, no deny-list, no store, no metrics, no logging: whatever
//! Tessera's `/auth/me` costs beyond this is the price of its layers, its deny-list and its store.
//! `GET /healthz` answers `{"status":"ok"}` (the readiness probe of `bench/run.sh`).
//!
//! Configuration (environment):
//! - `BIND` (default `127.0.0.1:18081`);
//! - `JWKS_FILE` (a JWK Set, e.g. from `tessera jwks`) or `JWT_SECRET_KEY` (an HS256 secret,
//!   used as its raw UTF-8 bytes, as Tessera and PyJWT do);
//! - `JWT_ISSUER`, `JWT_AUDIENCE`;
//! - `BENCH_USERS`: a JSON file `{"<sub>": {"username": ..., "created_at": ...}, ...}`.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tessera_token::{Algorithm, JwkSet, KeySet, Verifier, VerifyingKey};

struct Peer {
    verifier: Verifier,
    users: HashMap<String, (String, u64)>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn fail(message: String) -> ! {
    eprintln!("bare-axum: {message}");
    std::process::exit(2)
}

fn load() -> Peer {
    let keys = if let Some(path) = env("JWKS_FILE") {
        let text = std::fs::read(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        let jwks: JwkSet =
            serde_json::from_slice(&text).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        KeySet::from_jwks(&jwks, None).unwrap_or_else(|e| fail(format!("{path}: {e}")))
    } else if let Some(secret) = env("JWT_SECRET_KEY") {
        let mut set = KeySet::new();
        let key = VerifyingKey::from_hmac_secret(Algorithm::HS256, secret.as_bytes())
            .unwrap_or_else(|e| fail(format!("JWT_SECRET_KEY: {e}")));
        set.add_verifying_key(key)
            .unwrap_or_else(|e| fail(format!("JWT_SECRET_KEY: {e}")));
        set
    } else {
        fail("set JWKS_FILE or JWT_SECRET_KEY".into())
    };
    let issuer = env("JWT_ISSUER").unwrap_or_else(|| fail("set JWT_ISSUER".into()));
    let audience = env("JWT_AUDIENCE").unwrap_or_else(|| "tessera".into());
    let users_path = env("BENCH_USERS").unwrap_or_else(|| fail("set BENCH_USERS".into()));
    let text = std::fs::read(&users_path).unwrap_or_else(|e| fail(format!("{users_path}: {e}")));
    let raw: HashMap<String, Value> =
        serde_json::from_slice(&text).unwrap_or_else(|e| fail(format!("{users_path}: {e}")));
    let users = raw
        .into_iter()
        .map(|(sub, user)| {
            let username = user["username"].as_str().unwrap_or_default().to_owned();
            let created_at = user["created_at"].as_u64().unwrap_or_default();
            (sub, (username, created_at))
        })
        .collect();
    Peer {
        verifier: Verifier::new(Arc::new(keys), &issuer, &audience),
        users,
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        Json(json!({"error": "invalid_token"})),
    )
        .into_response()
}

async fn me(State(peer): State<Arc<Peer>>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.split_once(' '))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()))
    else {
        return unauthorized();
    };
    let Ok(claims) = peer.verifier.verify_access_token(token) else {
        return unauthorized();
    };
    let Some((username, created_at)) = peer.users.get(&claims.sub) else {
        return unauthorized();
    };
    Json(json!({"sub": claims.sub, "username": username, "created_at": created_at})).into_response()
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[tokio::main]
async fn main() {
    let peer = Arc::new(load());
    let bind = env("BIND").unwrap_or_else(|| "127.0.0.1:18081".into());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .unwrap_or_else(|e| fail(format!("cannot listen on {bind}: {e}")));
    let app = Router::new()
        .route("/auth/me", get(me))
        .route("/healthz", get(healthz))
        .with_state(peer);
    eprintln!("bare-axum: listening on {bind}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .unwrap_or_else(|e| fail(format!("signal: {e}")));
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        fail(format!("serve: {e}"));
    }
}
