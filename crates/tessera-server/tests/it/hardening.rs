//! Headers on every response, limits, and the ops endpoints.

use crate::{assert_invalid_token, assert_security_headers, TestApp, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tessera_server::serve::ConnectionLimits;

#[tokio::test]
async fn security_headers_on_200_401_404_and_405() {
    let app = TestApp::spawn().await;
    let ok = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_security_headers(&ok);
    let unauthorized = app.client.get(app.url("/auth/me")).send().await.unwrap();
    assert_security_headers(&unauthorized);
    assert_invalid_token(unauthorized, false).await;
    let missing = app
        .client
        .get(app.url("/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&missing);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let wrong_method = app.client.get(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_security_headers(&wrong_method);
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_all_get_one_generic_401() {
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("olga").await;
    let (input, _) = access.rsplit_once('.').unwrap();
    for token in [
        "garbage".to_owned(),
        format!("{input}.AAAA"),
        format!("{access}x"),
        "a".repeat(20_000),
        "e30.e30.".to_owned(),
    ] {
        assert_invalid_token(app.get_bearer("/auth/me", &token).await, true).await;
    }
    let basic = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_invalid_token(basic, true).await;
    app.stop().await;
}

#[tokio::test]
async fn oversized_headers_get_a_json_431_and_the_server_keeps_answering() {
    let app = TestApp::spawn().await;
    // A token far over its 8 KiB cap, within the header bound: the generic 401.
    assert_invalid_token(app.get_bearer("/auth/me", &"a".repeat(40_000)).await, true).await;
    // Headers over 64 KiB in all: 431 with the JSON error body and the security headers.
    let response = app
        .client
        .get(app.url("/auth/me"))
        .header("x-padding", "p".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_security_headers(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("64 KiB"));
    // Past hyper's read buffer the connection is refused before any handler: never a panic,
    // and the next request is served.
    let _ = app
        .client
        .get(app.url("/auth/me"))
        .header("x-padding", "p".repeat(600 * 1024))
        .send()
        .await;
    app.assert_still_answering().await;
    app.stop().await;
}

#[tokio::test]
async fn a_1mb_body_is_refused_and_the_server_keeps_answering() {
    let app = TestApp::spawn().await;
    let huge = format!(
        "{{\"username\":\"x\",\"password\":\"{}\"}}",
        "p".repeat(1024 * 1024)
    );
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let not_json = app
        .client
        .post(app.url("/auth/login"))
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    app.assert_still_answering().await;
    app.stop().await;
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_with_caching() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "ES256");
    assert!(key.get("d").is_none());
    // Tokens verify with the published key set alone (as a resource server would).
    let (access, _) = app.user_with_session("pia").await;
    let set: tessera_token::JwkSet = serde_json::from_value(jwks).unwrap();
    let keys = std::sync::Arc::new(tessera_token::KeySet::from_jwks(&set, None).unwrap());
    let verifier = tessera_token::Verifier::new(keys, "http://tessera.test", "tessera-tests");
    let claims = verifier.verify_access_token(&access).unwrap();
    assert!(claims.sid.is_some());
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    app.assert_still_answering().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_logins_refreshes_reuse_revocations_and_failures() {
    let app = TestApp::spawn().await;
    let (access, refresh) = app.user_with_session("yuri").await;
    let failed = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"username": "yuri", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh(&refresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "reuse"
    );
    let _ = app.get_bearer("/auth/me", "garbage").await;
    let _ = app.get_bearer("/auth/me", &access).await; // revoked by the reuse detection
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    for line in [
        "tessera_logins_total{outcome=\"ok\"} 1",
        "tessera_logins_total{outcome=\"failed\"} 1",
        "tessera_refreshes_total 1",
        "tessera_refresh_reuse_detections_total 1",
        "tessera_revocations_total{kind=\"session\"} 1",
        "tessera_token_verification_failures_total{reason=\"segments\"} 1",
        "tessera_token_verification_failures_total{reason=\"revoked\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tessera_http_request_duration_seconds_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 7, "{count}");
    app.stop().await;
}

#[tokio::test]
async fn jwks_keeps_publishing_previous_keys_and_the_server_accepts_their_tokens() {
    use base64::Engine as _;
    use tessera_token::{AccessTokenRequest, Algorithm, SigningKey, TokenIssuer};
    let dir = tempfile::tempdir().unwrap();
    let (old, der) = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.expose())
    );
    let path = dir.path().join("previous.pem");
    std::fs::write(&path, pem).unwrap();
    let previous = format!("EdDSA:{}", path.display());
    let app = TestApp::spawn_with(&[("JWT_PREVIOUS_KEY_FILES", &previous)]).await;

    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], old.kid());

    // A token the previous key signed for a live session is still accepted.
    let created: Value = app.register("zoe", crate::PASSWORD).await;
    let (current, _) = app.login("zoe").await;
    let sessions: Value = app
        .get_bearer("/auth/sessions", &current)
        .await
        .json()
        .await
        .unwrap();
    let issuer = TokenIssuer::new(
        std::sync::Arc::new(old),
        "http://tessera.test",
        "tessera-tests",
        600,
    );
    let old_token = issuer
        .issue(&AccessTokenRequest {
            subject: created["id"].as_str().unwrap().to_owned(),
            session_id: Some(sessions[0]["id"].as_str().unwrap().to_owned()),
            ..AccessTokenRequest::default()
        })
        .unwrap()
        .token;
    assert_eq!(
        app.get_bearer("/auth/me", &old_token).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_refresh_body_gets_the_json_413() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/auth/refresh"))
        .header("content-type", "application/json")
        .body(format!("{{\"refresh_token\":\"{}\"}}", "x".repeat(20_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let garbage = app
        .client
        .post(app.url("/auth/refresh"))
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let text = garbage.text().await.unwrap();
    assert!(
        text.contains("refresh_token") && !text.contains("RefreshBody"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn too_many_header_fields_get_a_json_431() {
    let app = TestApp::spawn().await;
    let mut request = app.client.get(app.url("/auth/me"));
    for index in 0..150 {
        request = request.header(format!("x-field-{index}"), "v");
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_security_headers(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"].as_str().unwrap().contains("100"),
        "{body}"
    );
    app.assert_still_answering().await;
    app.stop().await;
}

#[tokio::test]
async fn a_json_array_is_not_a_body() {
    let app = TestApp::spawn().await;
    let (_, refresh_token) = app.user_with_session("alice").await;
    for (path, body) in [
        ("/auth/register", json!(["bob", PASSWORD])),
        ("/auth/login", json!(["alice", PASSWORD])),
        ("/auth/refresh", json!([refresh_token])),
    ] {
        let response = app.post_json(path, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_security_headers(&response);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{path}");
        assert!(
            error["error_description"]
                .as_str()
                .unwrap()
                .contains("JSON object"),
            "{path}: {error}"
        );
    }
    // The refresh token was not rotated by the refused request.
    assert_eq!(app.refresh(&refresh_token).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_session_id_that_is_not_text_gets_a_json_400() {
    let app = TestApp::spawn().await;
    let (access_token, _) = app.user_with_session("alice").await;
    let response = app
        .client
        .delete(app.url("/auth/sessions/%ff%fe"))
        .bearer_auth(&access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_security_headers(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    app.stop().await;
}

/// Sends half a request head on a raw connection and returns the connection.
async fn half_sent_request(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_after_the_header_read_timeout() {
    use tokio::io::AsyncReadExt as _;
    let app = TestApp::spawn_with_limits(ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    })
    .await;
    let started = Instant::now();
    let mut stream = half_sent_request(&app).await;
    let mut buffer = Vec::new();
    // The server closes the connection (perhaps after a 408); without the timeout this read
    // would wait for ever.
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer))
        .await
        .expect("the server kept a half-sent request open past its header read timeout");
    assert!(
        read.is_ok() || read.is_err_and(|err| err.kind() == std::io::ErrorKind::ConnectionReset)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the timeout",
        started.elapsed()
    );
    app.assert_still_answering().await;
    app.stop().await;
}

#[tokio::test]
async fn a_half_sent_request_does_not_hold_the_shutdown() {
    let app = TestApp::spawn_with_limits(ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(500),
    })
    .await;
    let _stream = half_sent_request(&app).await;
    // The connection is surely being served before the shutdown starts.
    app.assert_still_answering().await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the shutdown waited on a half-sent request");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The order n of the P-256 group, big-endian (SEC 2 v2 section 2.4.2), written out here
/// independently of the token core's constant.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The ES256 token with its signature (r, s) replaced by (r, n - s): the same signature's twin,
/// which anyone can compute from a token without the key.
fn ecdsa_twin(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut signature = tessera_token::base64url::decode(signature.as_bytes()).unwrap();
    assert_eq!(
        signature.len(),
        64,
        "an ES256 signature is r || s, 32 bytes each"
    );
    let mut borrow = false;
    for (s, n) in signature[32..].iter_mut().zip(P256_ORDER).rev() {
        let (difference, borrow_1) = n.overflowing_sub(*s);
        let (difference, borrow_2) = difference.overflowing_sub(u8::from(borrow));
        *s = difference;
        borrow = borrow_1 || borrow_2;
    }
    assert!(!borrow, "s < n");
    format!("{input}.{}", tessera_token::base64url::encode(&signature))
}

#[tokio::test]
async fn ecdsa_high_s_twin_of_a_token_is_refused() {
    // Issue 9, item 5: (r, n - s) verifies wherever (r, s) does, so a verifier that accepts both
    // gives every token a second string. Tessera signs only the low S and refuses the high one.
    let app = TestApp::spawn().await;
    let (access, _) = app.user_with_session("malle").await;
    assert!(
        access.starts_with("eyJhbGciOiJFUzI1NiI"),
        "ES256 by default"
    );
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    let twin = ecdsa_twin(&access);
    assert_ne!(twin, access);
    assert_invalid_token(app.get_bearer("/auth/me", &twin).await, true).await;
    // The original is still good: the refusal is of the twin, not of the session.
    assert_eq!(
        app.get_bearer("/auth/me", &access).await.status(),
        StatusCode::OK
    );
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = "tessera_token_verification_failures_total{reason=\"non_canonical_signature\"} 1";
    assert!(
        text.lines().any(|l| l == line),
        "missing `{line}` in:\n{text}"
    );
    app.stop().await;
}
