//! The integrations users copy, run as written against a real `tessera serve`:
//! `examples/python-flask/app.py` and `examples/python-fastapi/app.py` (PyJWT's PyJWKClient) and
//! `examples/node-express/server.mjs` (jose's createRemoteJWKSet), each following the revocation
//! feed. Log in -> the service answers 200 with the user's id; a tampered, expired or
//! other-audience token -> 401; a role route -> 403 without the role and 200 with it; after a
//! logout -> 401 within a second.

use crate::{ok, Workdir};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_test_support::{http, json};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} did not listen"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Which example, and how to start it.
enum Example {
    Flask,
    FastApi,
    Express,
}

impl Example {
    fn command(&self) -> Command {
        let root = tessera_test_support::repository();
        match self {
            Example::Flask | Example::FastApi => {
                let (what, module, file) = match self {
                    Example::Flask => {
                        ("the Flask example", "flask", "examples/python-flask/app.py")
                    }
                    _ => (
                        "the FastAPI example",
                        "fastapi",
                        "examples/python-fastapi/app.py",
                    ),
                };
                let python = tessera_test_support::python::interpreter(
                    what,
                    &[module, "jwt", "cryptography"],
                );
                let mut command = Command::new(python);
                command.arg(root.join(file));
                command
            }
            Example::Express => {
                let dir = root.join("examples/node-express");
                assert!(
                    dir.join("node_modules/jose").exists(),
                    "examples/node-express has no node_modules: run `npm ci` there (scripts/test.sh \
                     does)"
                );
                let mut command = Command::new("node");
                command.arg(dir.join("server.mjs")).current_dir(dir);
                command
            }
        }
    }
}

#[test]
fn the_flask_example_accepts_live_tokens_only_and_hears_of_a_logout_within_a_second() {
    exercise(&Example::Flask);
}

#[test]
fn the_fastapi_example_accepts_live_tokens_only_and_hears_of_a_logout_within_a_second() {
    exercise(&Example::FastApi);
}

#[test]
fn the_express_example_accepts_live_tokens_only_and_hears_of_a_logout_within_a_second() {
    exercise(&Example::Express);
}

fn exercise(example: &Example) {
    let tessera_port = free_port();
    let issuer = format!("http://127.0.0.1:{tessera_port}");
    let mut work = Workdir::new();
    work.set("JWT_ISSUER", &issuer);
    let client = json(&ok(&work.tessera(&["client", "add", "flask-api"])));
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{tessera_port}")])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JWT_ISSUER", &issuer)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut tessera = Running(command.spawn().unwrap());
    wait_for_port(tessera_port, "tessera serve", &mut tessera.0);

    let api_port = free_port();
    let mut flask = Running(
        example
            .command()
            .env("TESSERA_URL", &issuer)
            .env("TESSERA_AUDIENCE", "tessera")
            .env("TESSERA_CLIENT_ID", client["client_id"].as_str().unwrap())
            .env(
                "TESSERA_CLIENT_SECRET",
                client["client_secret"].as_str().unwrap(),
            )
            .env("PORT", api_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(api_port, "the example", &mut flask.0);

    let credentials = r#"{"username":"flasky","password":"correct horse battery staple"}"#;
    let json_type = [("content-type", "application/json")];
    let (status, registered) = http::request(
        tessera_port,
        "POST",
        "/auth/register",
        &json_type,
        credentials,
    );
    assert_eq!(status, 201, "{registered}");
    let user_id = json(&registered)["id"].as_str().unwrap().to_owned();
    let login = |_: ()| {
        let (status, body) =
            http::request(tessera_port, "POST", "/auth/login", &json_type, credentials);
        assert_eq!(status, 200, "{body}");
        json(&body)["access_token"].as_str().unwrap().to_owned()
    };
    let token = login(());
    let api = |path: &str, token: &str| {
        let auth = bearer(token);
        http::request(
            api_port,
            "GET",
            path,
            &[("authorization", auth.as_str())],
            "",
        )
    };

    // The first call also waits for the example's first feed answer (it refuses while stale).
    let started = Instant::now();
    let (mut status, mut body) = api("/me", &token);
    while status == 503 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        (status, body) = api("/me", &token);
    }
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["user"], user_id.as_str());

    // A tampered signature, another audience, an expired token: 401.
    // One character of the signature that carries data (the last ones may be padding bits a
    // lenient decoder ignores): its first.
    let signature_at = token.rfind('.').unwrap() + 1;
    let mut tampered = token.clone().into_bytes();
    tampered[signature_at] = if tampered[signature_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(api("/me", &tampered).0, 401);
    let minted = ok(&work.tessera(&["token", "mint", "--sub", &user_id]))
        .trim()
        .to_owned();
    assert_eq!(
        api("/me", &minted).0,
        200,
        "the same key and audience: accepted"
    );
    let short = ok(&work.tessera(&["token", "mint", "--sub", &user_id, "--ttl", "1"]))
        .trim()
        .to_owned();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(api("/me", &short).0, 401, "expired");
    // The same key, another audience (the later setting wins for the CLI).
    work.set("JWT_AUDIENCE", "another-api");
    let other_audience = ok(&work.tessera(&["token", "mint", "--sub", &user_id]))
        .trim()
        .to_owned();
    assert_eq!(
        api("/me", &other_audience).0,
        401,
        "a token for another audience"
    );

    // The role route: 403 naming the scope without the role, 200 with it (in the next token).
    let (status, _) = api("/admin", &token);
    assert_eq!(status, 403);
    ok(&work.tessera(&["user", "role", "add", "flasky", "admin"]));
    let with_role = login(());
    assert_eq!(api("/admin", &with_role).0, 200);

    // Logout: the example refuses the token within a second, through the feed.
    let auth = bearer(&with_role);
    let (status, _) = http::request(
        tessera_port,
        "POST",
        "/auth/logout",
        &[("authorization", auth.as_str())],
        "",
    );
    assert_eq!(status, 204);
    let logged_out = Instant::now();
    while api("/me", &with_role).0 != 401 {
        assert!(
            logged_out.elapsed() < Duration::from_secs(1),
            "still accepted a second after the logout"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
