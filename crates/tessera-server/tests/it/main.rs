//! Black-box tests of the server: the real app on 127.0.0.1:0 with its own data directory,
//! driven over HTTP with a real client. Time is an injected clock; nothing sleeps for expiry.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod auth;
mod cookies;
mod cors;
mod feed;
mod forward;
mod grace;
mod hardening;
mod keys;
mod oauth;
mod openapi;
mod pages;
mod postgres;
mod review;
mod roles;
mod sessions;
mod throttle;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use tessera_config::{Config, Vars};
use tessera_password::PasswordHasher;
use tessera_server::serve::ConnectionLimits;
use tessera_server::{App, AppOptions};
use tessera_token::{Clock, FixedClock, SystemClock};

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<FixedClock>,
    pub data: Arc<tempfile::TempDir>,
    /// The server's shared state (its keys in use, its store).
    pub state: tessera_server::state::AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Fast argon2id parameters: the tests exercise the flow, not the cost.
fn fast_passwords() -> PasswordHasher {
    PasswordHasher::with_params(256, 1, 1, 4).unwrap()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Starts a server with extra configuration variables (they override the test defaults).
    pub async fn spawn_with(vars: &[(&str, &str)]) -> TestApp {
        Self::spawn_in_with(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(FixedClock::new(SystemClock.now())),
            vars,
        )
        .await
    }

    /// Starts a server on an existing data directory (for restart tests).
    pub async fn spawn_in(data: Arc<tempfile::TempDir>, clock: Arc<FixedClock>) -> TestApp {
        Self::spawn_in_with(data, clock, &[]).await
    }

    /// Starts a server on an existing data directory with extra configuration variables.
    pub async fn spawn_in_with(
        data: Arc<tempfile::TempDir>,
        clock: Arc<FixedClock>,
        vars: &[(&str, &str)],
    ) -> TestApp {
        Self::spawn_full(data, clock, vars, ConnectionLimits::default()).await
    }

    /// Starts a server with another password hasher (to exercise its limits).
    pub async fn spawn_with_passwords(passwords: PasswordHasher, vars: &[(&str, &str)]) -> TestApp {
        let data = Arc::new(tempfile::tempdir().unwrap());
        let clock = Arc::new(FixedClock::new(SystemClock.now()));
        let config = config_with(data.path(), vars);
        Self::start(config, clock, data, passwords, ConnectionLimits::default()).await
    }

    /// Starts a server with other connection timeouts.
    pub async fn spawn_with_limits(connections: ConnectionLimits) -> TestApp {
        Self::spawn_full(
            Arc::new(tempfile::tempdir().unwrap()),
            Arc::new(FixedClock::new(SystemClock.now())),
            &[],
            connections,
        )
        .await
    }

    async fn spawn_full(
        data: Arc<tempfile::TempDir>,
        clock: Arc<FixedClock>,
        vars: &[(&str, &str)],
        connections: ConnectionLimits,
    ) -> TestApp {
        let config = config_with(data.path(), vars);
        Self::start(config, clock, data, fast_passwords(), connections).await
    }

    async fn start(
        config: Config,
        clock: Arc<FixedClock>,
        data: Arc<tempfile::TempDir>,
        passwords: PasswordHasher,
        connections: ConnectionLimits,
    ) -> TestApp {
        let app = App::build(
            config,
            AppOptions {
                clock: Some(clock.clone()),
                passwords: Some(passwords),
                connections,
            },
        )
        .await
        .unwrap();
        let port = app.port().unwrap();
        let state = app.state().clone();
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(async {
                let _ = signal.await;
            })
            .await;
        });
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder().build().unwrap(),
            clock,
            data,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// The key the server signs with now.
    pub fn signing_key(&self) -> Arc<tessera_token::SigningKey> {
        self.state.tokens().keys.signing_key().unwrap().clone()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Asserts the server still serves `/healthz` (after something that tried to break it).
    pub async fn assert_still_answering(&self) {
        let status = self
            .client
            .get(self.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "the server stopped answering"
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` without credentials, and the answer's body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, username: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/auth/register",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Logs in and returns the response (for headers) after checking it is a 200.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        let response = self
            .post_json(
                "/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "login {username}");
        response
    }

    /// Registers a fresh user and logs in: returns (access, refresh).
    pub async fn user_with_session(&self, username: &str) -> (String, String) {
        self.register(username, PASSWORD).await;
        self.login(username).await
    }

    pub async fn login(&self, username: &str) -> (String, String) {
        let body: Value = self
            .login_response(username, PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({ "refresh_token": refresh_token }))
            .await
    }
}

/// A password that passes the policy.
pub const PASSWORD: &str = "correct horse battery staple";

/// The key-encryption key of the tests on PostgreSQL (where one is required): 32 bytes.
pub const TEST_KEK: &str = "dGVzc2VyYSB0ZXN0IGtleS1lbmNyeXB0aW9uIGtleSE=";

/// The test configuration with extra variables, which override the defaults. On PostgreSQL
/// without a key-encryption key of its own, the test gets [`TEST_KEK`].
pub fn config_with(data: &Path, vars: &[(&str, &str)]) -> Config {
    let defaults = [
        ("TESSERA_DATA_DIR", data.to_str().unwrap()),
        ("TESSERA_BIND", "127.0.0.1:0"),
        ("JWT_ISSUER", "http://tessera.test"),
        ("JWT_AUDIENCE", "tessera-tests"),
    ];
    let named = |wanted: &str| vars.iter().any(|(name, _)| name.starts_with(wanted));
    let kek = (named("DATABASE_URL") && !named("TESSERA_KEY_ENCRYPTION_KEY"))
        .then_some(("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK));
    Config::from_vars(&Vars::from_pairs(
        defaults.into_iter().chain(kek).chain(vars.iter().copied()),
    ))
    .unwrap()
}

/// Asserts the generic 401 for a bad or missing access token.
/// The security headers every response carries (errors and 404 included).
pub fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("x-xss-protection", "0"),
    ] {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name} on {}",
            response.status()
        );
    }
}

pub async fn assert_invalid_token(response: Response, token_given: bool) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    if token_given {
        assert_eq!(challenge, "Bearer error=\"invalid_token\"");
    } else {
        assert_eq!(challenge, "Bearer");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("missing, invalid, expired or revoked"));
}

pub fn now() -> u64 {
    SystemClock.now()
}
