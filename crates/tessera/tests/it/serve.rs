//! The real `tessera serve` process: zero-configuration start, the CLI and the server sharing one
//! data directory, and graceful shutdown on SIGTERM.

use crate::{ok, Workdir};
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera_test_support::{http, json};

/// A running `tessera serve` child and the log lines it has printed.
pub struct Server {
    pub child: Child,
    pub port: u16,
    logs: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Server {
    pub fn start(work: &Workdir) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(work.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("JWT_")
                || name.starts_with("TESSERA_")
                || ["RUST_LOG", "DATABASE_URL", "REDIS_URL"].contains(&name.as_str())
            {
                command.env_remove(name);
            }
        }
        command.envs(work.env.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            port: 0,
            logs,
            seen: Vec::new(),
        };
        let line = server.wait_for_log("listening", Duration::from_secs(60));
        let address = line
            .split("address=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        server.port = address.rsplit(':').next().unwrap().parse().unwrap();
        server
    }

    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        if let Some(line) = self.seen.iter().find(|line| line.contains(needle)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .logs
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{needle}` in the log; saw {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Moves every log line printed so far into `seen`, and returns how many of all lines seen
    /// contain `needle`.
    pub fn count_log(&mut self, needle: &str) -> usize {
        while let Ok(line) = self.logs.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Reads the log until the process closes it (it has exited), for at most `limit`; returns
    /// every line seen.
    pub fn read_log_to_end(&mut self, limit: Duration) -> &[String] {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return &self.seen,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the log is still open after {limit:?}: {:#?}", self.seen)
                }
            }
        }
    }

    /// One HTTP/1.1 request; returns (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        http::request(self.port, method, path, headers, body)
    }

    /// `GET path`; returns (status, the body as JSON).
    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        http::get_json(self.port, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn zero_configuration_serve_shares_its_store_with_the_cli_and_stops_on_sigterm() {
    let work = Workdir::new();
    let mut server = Server::start(&work);
    server.wait_for_log("created the first signing key", Duration::from_secs(5));
    assert!(work.path().join("tessera-data/tessera.db").exists());
    let kek = work.path().join("tessera-data/key-encryption-key");
    let mode = std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the generated key-encryption key is private");
    assert!(!work
        .path()
        .join("tessera-data/signing-key-es256.pem")
        .exists());
    assert_eq!(server.request("GET", "/healthz", &[], "").0, 200);

    // A user created by the CLI logs in over HTTP.
    let password = "correct horse battery staple";
    ok(&work.tessera_with_stdin(&["user", "add", "alice"], Some(&format!("{password}\n"))));
    let credentials = format!(r#"{{"username":"alice","password":"{password}"}}"#);
    let (status, body) = server.request(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        &credentials,
    );
    assert_eq!(status, 200, "{body}");
    let access = json(&body)["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    assert_eq!(
        server
            .request("GET", "/auth/me", &[("authorization", &bearer)], "")
            .0,
        200
    );
    // The CLI verifies the server's token with the same key.
    ok(&work.tessera(&["token", "verify", &access]));

    // Disabled by the CLI: the running server refuses the token within seconds.
    ok(&work.tessera(&["user", "disable", "alice"]));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server
        .request("GET", "/auth/me", &[("authorization", &bearer)], "")
        .0
        != 401
    {
        assert!(
            Instant::now() < deadline,
            "token still accepted 5 s after disable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM: a graceful stop with exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_for_log("shutdown signal received", Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let last = server
        .read_log_to_end(Duration::from_secs(5))
        .last()
        .unwrap();
    assert!(
        last.contains("stopped") && last.contains(r#"event="stopped""#),
        "`stopped` is the last line: {last}"
    );
    for line in &server.seen {
        assert!(
            !line.contains(password) && !line.contains(&access),
            "a secret reached the log: {line}"
        );
    }
}

/// `POST /oauth/introspect` of `token` with HTTP Basic client credentials; (status, body).
fn introspect(server: &Server, client_id: &str, secret: &str, token: &str) -> (u16, String) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    server.request(
        "POST",
        "/oauth/introspect",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &format!("Basic {basic}")),
        ],
        &format!("token={token}"),
    )
}

/// Asserts a 401 `invalid_client` answer.
fn assert_invalid_client((status, body): (u16, String), what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(json(&body)["error"], "invalid_client", "{what}");
}

/// Review finding 17: removing an introspection client or rotating its secret took SQL. Done by
/// the CLI while the server runs, it takes effect at the next request: the old secret and a
/// removed client get 401 `invalid_client`, the new secret works.
#[test]
fn a_removed_client_or_a_rotated_secret_stops_authenticating_at_once() {
    let work = Workdir::new();
    let server = Server::start(&work);
    let password = "correct horse battery staple";
    ok(&work.tessera_with_stdin(&["user", "add", "alice"], Some(&format!("{password}\n"))));
    let access = login(&server, "alice", password);
    let client = |name: &str| {
        let printed = json(&ok(&work.tessera(&["client", "add", name])));
        (
            printed["client_id"].as_str().unwrap().to_owned(),
            printed["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let (rotated, old_secret) = client("rotated");
    let (removed, removed_secret) = client("removed");
    for (id, secret) in [(&rotated, &old_secret), (&removed, &removed_secret)] {
        let (status, body) = introspect(&server, id, secret, &access);
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["active"], true, "{body}");
    }

    let printed = json(&ok(&work.tessera(&["client", "rotate-secret", &rotated])));
    let new_secret = printed["client_secret"].as_str().unwrap();
    assert_invalid_client(
        introspect(&server, &rotated, &old_secret, &access),
        "the old secret",
    );
    let (status, body) = introspect(&server, &rotated, new_secret, &access);
    assert_eq!(status, 200, "the new secret: {body}");
    assert_eq!(json(&body)["active"], true, "{body}");
    assert_eq!(json(&body)["username"], "alice", "{body}");

    ok(&work.tessera(&["client", "remove", &removed]));
    assert_invalid_client(
        introspect(&server, &removed, &removed_secret, &access),
        "a removed client",
    );
    // The other client is untouched.
    assert_eq!(introspect(&server, &rotated, new_secret, &access).0, 200);
}

/// Logs `username` in over HTTP and returns its access token.
fn login(server: &Server, username: &str, password: &str) -> String {
    let credentials = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, body) = server.request(
        "POST",
        "/auth/login",
        &[("content-type", "application/json")],
        &credentials,
    );
    assert_eq!(status, 200, "{body}");
    json(&body)["access_token"].as_str().unwrap().to_owned()
}

/// The status of `GET /auth/me` with `access` as the bearer token.
fn me_status(server: &Server, access: &str) -> u16 {
    let bearer = format!("Bearer {access}");
    server
        .request("GET", "/auth/me", &[("authorization", &bearer)], "")
        .0
}

#[test]
fn a_login_right_after_disable_and_enable_gets_a_token_the_server_accepts() {
    let work = Workdir::new();
    let server = Server::start(&work);
    let password = "correct horse battery staple";
    ok(&work.tessera_with_stdin(&["user", "add", "alice"], Some(&format!("{password}\n"))));
    let before_disable = login(&server, "alice", password);

    // Start just after a second begins, so that disable, enable and login would all fall in the
    // disable's own second (the one its revocation covers) if `enable` did not wait.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_millis(
        1_010 - u64::from(since_epoch.subsec_millis()),
    ));
    ok(&work.tessera(&["user", "disable", "alice"]));
    ok(&work.tessera(&["user", "enable", "alice"]));
    let after_enable = login(&server, "alice", password);

    // Once the server has applied the revocation (the token from before the disable is
    // refused), the token from after the enable must still be accepted.
    let deadline = Instant::now() + Duration::from_secs(5);
    while me_status(&server, &before_disable) != 401 {
        assert!(
            Instant::now() < deadline,
            "token still accepted 5 s after disable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(me_status(&server, &after_enable), 200);
}

#[test]
fn the_default_issuer_on_another_address_is_a_startup_warning() {
    let warning = "name an address where it is not found";
    let work = Workdir::new();
    let mut server = Server::start(&work);
    let line = server.wait_for_log(warning, Duration::from_secs(5));
    assert!(
        line.contains("WARN") && line.contains("JWT_ISSUER"),
        "{line}"
    );

    let mut work = Workdir::new();
    work.set("JWT_ISSUER", "http://auth.example.com");
    let mut server = Server::start(&work);
    assert_eq!(server.count_log(warning), 0, "{:#?}", server.seen);
}
