//! tessera-guard against its peers over real HTTP (issue 11, "Performance"): small axum servers
//! on loopback answering `GET /me` with the token's `sub` (plain text, 200), to be loaded by
//! `wrk` (see `bench/guard_http.sh`, which pins each server to one core).
//!
//! ```sh
//! http_peers mint DIR                      # keys and tokens, written into DIR
//! http_peers serve PEER ALG DIR PORT       # PEER: bare | jsonwebtoken | guard | guard-feed
//!                                          # ALG:  es256 | hs256
//! ```
//!
//! `mint` writes `es256.jwks.json` (the public key), `hs256.secret` (32 random bytes,
//! base64url) and `es256.token` / `hs256.token`: Tessera-shaped access tokens (`typ` `at+jwt`,
//! `sid`, `scope`, `roles`, `jti`) minted by `tessera-token`, living one hour. Every server of a
//! run reads the same files, so all of them are loaded with the same token.
//!
//! The peers:
//! - `bare`: the handler alone: it reads the `Authorization` header and answers the `sub` as a
//!   constant. No verification: what axum and tokio cost.
//! - `jsonwebtoken`: the same handler with a hand-written check: the `Bearer ` prefix,
//!   `jsonwebtoken::decode_header` for `typ` `at+jwt`, then `jsonwebtoken::decode` into a claims
//!   struct with a `Validation` pinning the algorithm and requiring `iss`, `aud`, `exp`, `sub`
//!   (`nbf` checked too); the decoding key is built once, from the JWK (ES256) or the secret.
//! - `guard`: `Guard::layer()` with `local_keys` (the JWK Set file or the secret; nothing
//!   fetched) and the `Claims` extractor in the handler.
//! - `guard-feed`: the same with the revocation feed followed, from a loopback feed in this
//!   process that holds each long poll for its `wait` and answers an empty page: the revocation
//!   check on every request.
//!
//! Every server runs a tokio runtime with one worker thread and checks, before it listens, that
//! its own router accepts the token (200), so a run never measures refusals.
#![allow(missing_docs, reason = "an example binary")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map};
use tessera_guard::{Claims, ClientCredentials, FeedOptions, Guard};
use tessera_token::{
    AccessTokenRequest, Algorithm, JwkSet, KeySet, SigningKey, TokenIssuer, VerifyingKey,
};
use tower::ServiceExt as _;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The issuer and audience of every token and every check.
const ISS: &str = "http://127.0.0.1";
const AUD: &str = "api";
/// The subject of every token (and the bare handler's constant answer).
const SUB: &str = "T_UyBv5yBzuoKgtAkayIrA";

/// The claims the hand-written check decodes (all of a Tessera access token's).
#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "fields are decoded, not read")]
struct JwtClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    nbf: u64,
    jti: String,
    sid: String,
    scope: String,
    roles: Vec<String>,
}

/// A Tessera-shaped access token signed by `key`, living one hour.
fn mint_token(key: Arc<SigningKey>) -> Result<String, Failure> {
    let mut extra = Map::new();
    extra.insert("scope".into(), json!("posts:read posts:write"));
    extra.insert("roles".into(), json!(["admin"]));
    Ok(TokenIssuer::new(key, ISS, AUD, 3600)
        .issue(&AccessTokenRequest {
            subject: SUB.into(),
            session_id: Some("geKfbr69ZvSMHfasSxt_SQ".into()),
            extra,
            ..Default::default()
        })?
        .token)
}

/// `mint DIR`: the keys and the tokens every server of a run shares.
fn mint(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)?;
    let es_key = Arc::new(SigningKey::generate(Algorithm::ES256)?.0);
    let mut public = KeySet::new();
    public.add_verifying_key(es_key.verifying_key().clone())?;
    std::fs::write(
        dir.join("es256.jwks.json"),
        serde_json::to_vec_pretty(&public.to_jwks())?,
    )?;
    std::fs::write(dir.join("es256.token"), mint_token(es_key)?)?;

    let secret = random_secret()?;
    let hs_key = Arc::new(SigningKey::from_hmac_secret(Algorithm::HS256, &secret)?);
    std::fs::write(
        dir.join("hs256.secret"),
        tessera_token::base64url::encode(&secret),
    )?;
    std::fs::write(dir.join("hs256.token"), mint_token(hs_key)?)?;
    println!("minted into {}", dir.display());
    Ok(())
}

/// 32 random bytes (from the kernel).
fn random_secret() -> Result<[u8; 32], Failure> {
    use std::io::Read as _;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
    Ok(secret)
}

fn read_text(dir: &Path, name: &str) -> Result<String, Failure> {
    let path = dir.join(name);
    Ok(std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .trim()
        .to_owned())
}

fn hs_secret(dir: &Path) -> Result<Vec<u8>, Failure> {
    Ok(
        tessera_token::base64url::decode(read_text(dir, "hs256.secret")?.as_bytes())
            .ok_or("hs256.secret is not base64url")?,
    )
}

/// The handler alone: no verification.
fn bare() -> Router {
    Router::new().route(
        "/me",
        get(|headers: HeaderMap| async move {
            std::hint::black_box(headers.get(header::AUTHORIZATION));
            SUB.to_owned()
        }),
    )
}

/// The same handler with a hand-written `jsonwebtoken` check.
fn with_jsonwebtoken(key: jsonwebtoken::DecodingKey, algorithm: jsonwebtoken::Algorithm) -> Router {
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    let checker = Arc::new((key, validation));
    Router::new().route(
        "/me",
        get(move |headers: HeaderMap| {
            let checker = checker.clone();
            async move {
                let token = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or(StatusCode::UNAUTHORIZED)?;
                let header =
                    jsonwebtoken::decode_header(token).map_err(|_| StatusCode::UNAUTHORIZED)?;
                if header.typ.as_deref() != Some("at+jwt") {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                let data = jsonwebtoken::decode::<JwtClaims>(token, &checker.0, &checker.1)
                    .map_err(|_| StatusCode::UNAUTHORIZED)?;
                Ok::<_, StatusCode>(data.claims.sub)
            }
        }),
    )
}

/// The handler behind the guard.
fn with_guard(guard: &Guard) -> Router {
    Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.sub.clone() }),
        )
        .layer(guard.layer())
}

/// A loopback revocation feed: holds each poll for its `wait`, answers an empty page.
async fn loopback_feed() -> Result<String, Failure> {
    let app = Router::new().route(
        "/oauth/revocations",
        get(|Query(query): Query<HashMap<String, String>>| async move {
            let wait = query.get("wait").and_then(|w| w.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let cursor: i64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
            axum::Json(json!({"revocations": [], "cursor": cursor, "more": false}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("http_peers: the loopback feed stopped: {e}");
        }
    });
    Ok(format!("{base}/oauth/revocations"))
}

/// The guard's local keys for `alg`.
fn local_keys(alg: &str, dir: &Path) -> Result<KeySet, Failure> {
    Ok(match alg {
        "es256" => {
            let jwks: JwkSet = serde_json::from_str(&read_text(dir, "es256.jwks.json")?)?;
            KeySet::from_jwks(&jwks, None)?
        }
        _ => {
            let mut keys = KeySet::new();
            keys.add_verifying_key(VerifyingKey::from_hmac_secret(
                Algorithm::HS256,
                &hs_secret(dir)?,
            )?)?;
            keys
        }
    })
}

/// The router of `peer` for `alg`, and the guard it needs kept alive (if any).
async fn router(peer: &str, alg: &str, dir: &Path) -> Result<(Router, Option<Guard>), Failure> {
    Ok(match peer {
        "bare" => (bare(), None),
        "jsonwebtoken" => {
            let router = match alg {
                "es256" => {
                    let jwks: jsonwebtoken::jwk::JwkSet =
                        serde_json::from_str(&read_text(dir, "es256.jwks.json")?)?;
                    let jwk = jwks.keys.first().ok_or("es256.jwks.json has no key")?;
                    with_jsonwebtoken(
                        jsonwebtoken::DecodingKey::from_jwk(jwk)?,
                        jsonwebtoken::Algorithm::ES256,
                    )
                }
                _ => with_jsonwebtoken(
                    jsonwebtoken::DecodingKey::from_secret(&hs_secret(dir)?),
                    jsonwebtoken::Algorithm::HS256,
                ),
            };
            (router, None)
        }
        "guard" | "guard-feed" => {
            let mut builder = Guard::builder()
                .issuer(ISS)
                .audience(AUD)
                .local_keys(local_keys(alg, dir)?);
            if peer == "guard-feed" {
                builder = builder.revocation_feed(
                    FeedOptions::new(ClientCredentials::new("tsc_bench", "tss_bench"))
                        .url(loopback_feed().await?),
                );
            }
            let guard = builder.build()?;
            tokio::time::timeout(Duration::from_secs(10), guard.ready())
                .await
                .map_err(|_| "the guard did not become ready in 10 s")?;
            (with_guard(&guard), Some(guard))
        }
        other => return Err(format!("unknown peer {other:?}").into()),
    })
}

/// `serve PEER ALG DIR PORT`.
async fn serve(peer: &str, alg: &str, dir: &Path, port: u16) -> Result<(), Failure> {
    if alg != "es256" && alg != "hs256" {
        return Err(format!("unknown algorithm {alg:?}").into());
    }
    let token = read_text(dir, &format!("{alg}.token"))?;
    let (app, _guard) = router(peer, alg, dir).await?;
    // The peer must accept the token, or the run would measure refusals.
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/me")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())?,
        )
        .await?;
    if response.status() != StatusCode::OK {
        return Err(format!("{peer}/{alg} refuses the token: {}", response.status()).into());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{peer}/{alg} listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn usage() -> Failure {
    "usage: http_peers mint DIR | http_peers serve bare|jsonwebtoken|guard|guard-feed es256|hs256 DIR PORT"
        .into()
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["mint", dir] => mint(&PathBuf::from(dir)),
        ["serve", peer, alg, dir, port] => {
            let port: u16 = port.parse()?;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?
                .block_on(serve(peer, alg, &PathBuf::from(dir), port))
        }
        _ => Err(usage()),
    }
}
