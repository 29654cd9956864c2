//! tessera-guard against real components: a real Tessera (the server's app, in-process on
//! 127.0.0.1 with its own SQLite data directory and an injected clock) for verification, the
//! feed and introspection; small local JWK Set servers that count their fetches for the cache
//! rules. Nothing sleeps for expiry: the clocks are moved.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod example;
mod feed;
mod introspection;
mod jwks;
mod tessera;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_config::{Config, Vars};
use tessera_guard::{Claims, ClientCredentials, Guard};
use tessera_password::PasswordHasher;
use tessera_server::{App, AppOptions};
use tessera_store::Client;
use tessera_token::{Clock as _, FixedClock, SystemClock};
use tower::ServiceExt as _;

/// A password that passes Tessera's policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// The audience Tessera issues for in these tests.
pub const AUDIENCE: &str = "api";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running Tessera whose issuer is its own URL (so discovery finds it).
pub struct Tessera {
    pub issuer: String,
    pub port: u16,
    pub clock: Arc<FixedClock>,
    pub data: Arc<tempfile::TempDir>,
    pub state: tessera_server::state::AppState,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Tessera {
    pub async fn start() -> Tessera {
        Tessera::start_in(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(FixedClock::new(SystemClock.now())),
            free_port(),
        )
        .await
    }

    /// Starts (or restarts) Tessera on a data directory and port.
    pub async fn start_in(
        data: Arc<tempfile::TempDir>,
        clock: Arc<FixedClock>,
        port: u16,
    ) -> Tessera {
        let issuer = format!("http://127.0.0.1:{port}");
        let bind = format!("127.0.0.1:{port}");
        let vars = [
            ("TESSERA_DATA_DIR", data.path().to_str().unwrap()),
            ("TESSERA_BIND", bind.as_str()),
            ("JWT_ISSUER", issuer.as_str()),
            ("JWT_AUDIENCE", AUDIENCE),
            ("TESSERA_ROLE_SCOPES", "admin=posts:write"),
            ("TESSERA_RATE_LIMIT_PER_IP", "0"),
        ];
        let config = Config::from_vars(&Vars::from_pairs(vars)).unwrap();
        // The port was free a moment ago; a restart may find it in TIME_WAIT for a moment.
        let started = Instant::now();
        let app = loop {
            match App::build(
                config.clone(),
                AppOptions {
                    clock: Some(clock.clone()),
                    passwords: Some(PasswordHasher::with_params(256, 1, 1, 4).unwrap()),
                    ..AppOptions::default()
                },
            )
            .await
            {
                Ok(app) => break app,
                Err(err) if started.elapsed() < Duration::from_secs(5) => {
                    eprintln!("retrying the start: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("{err}"),
            }
        };
        let state = app.state().clone();
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(async {
                let _ = signal.await;
            })
            .await;
        });
        Tessera {
            issuer,
            port,
            clock,
            data,
            state,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Stops Tessera and waits until it is gone.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Registers `username` and returns its user id.
    pub async fn register(&self, username: &str) -> String {
        let response = self
            .client
            .post(self.url("/auth/register"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, username: &str) -> String {
        let response = self
            .client
            .post(self.url("/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn logout(&self, token: &str) {
        let response = self
            .client
            .post(self.url("/auth/logout"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// An OAuth client for the feed and introspection (what `tessera client add` makes).
    pub async fn add_client(&self, name: &str) -> ClientCredentials {
        let id = format!("tsc_{name}");
        let secret = format!("tss_{name}-secret-0123456789abcdef");
        self.state
            .store
            .create_client(&Client {
                client_id: id.clone(),
                name: name.into(),
                secret_hash: tessera_service::credentials::digest_of(secret.as_bytes()),
                created_at: SystemClock.now(),
            })
            .await
            .unwrap();
        ClientCredentials::new(id, secret)
    }
}

/// The service under test: `/me` answers the user id and roles; `/posts` needs `posts:write`.
pub fn service(guard: &Guard) -> Router {
    Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move {
                axum::Json(json!({"user": claims.sub, "roles": claims.roles().collect::<Vec<_>>()}))
            }),
        )
        .route(
            "/posts",
            get(|| async { "written" }).layer(guard.require_scope("posts:write")),
        )
        .layer(guard.layer())
}

/// A response, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub body: Value,
}

/// `GET path` on `app` with the token (none if `None`).
pub async fn call(app: &Router, path: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        challenge,
        body,
    }
}

/// Asserts the generic 401 for a token that was given.
pub fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer realm="api", error="invalid_token""#)
    );
    assert_eq!(answer.body["error"], "invalid_token");
    assert_eq!(
        answer.body["error_description"],
        tessera_guard::INVALID_TOKEN_DESCRIPTION
    );
}

/// Waits (at most `within`) until `app` answers `path` with `status` for `token`; the time taken.
pub async fn until_status(
    app: &Router,
    path: &str,
    token: &str,
    status: StatusCode,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let answer = call(app, path, Some(token)).await;
        if answer.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "still {} ({}) after {within:?}, waiting for {status}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the guard can decide.
pub async fn ready(guard: &Guard) {
    tokio::time::timeout(Duration::from_secs(10), guard.ready())
        .await
        .unwrap_or_else(|_| panic!("the guard did not become ready: {:?}", guard.stats()));
}
