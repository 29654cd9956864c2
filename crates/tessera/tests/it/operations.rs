//! What an operator sees: the log events docs/deployment.md lists are the ones the server logs
//! (level and message word for word), a start with PostgreSQL unreachable names the variable and
//! the server, `/metrics` on an address of its own, and the metrics of a running server.
//!
//! The fault tests that need PostgreSQL and Redis (readiness while PostgreSQL hangs, the store's
//! metrics and log events moving) are in `scaleout.rs`; they read the messages they wait for from
//! the guide through [`documented_message`].

use crate::serve::Server;
use crate::Workdir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tessera_test_support::{http, json};

/// One row of the guide's "Log events" table.
#[derive(Debug)]
pub(crate) struct LogEvent {
    pub(crate) name: String,
    pub(crate) level: String,
    pub(crate) message: String,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf()
}

/// The rows of the "Log events" table of docs/deployment.md.
pub(crate) fn documented_events() -> Vec<LogEvent> {
    let guide = std::fs::read_to_string(workspace_root().join("docs/deployment.md")).unwrap();
    let section = guide
        .split("### Log events")
        .nth(1)
        .expect("a `### Log events` section in docs/deployment.md");
    let section = section.split("\n#").next().unwrap();
    let events: Vec<LogEvent> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            LogEvent {
                name: cells[1].trim_matches('`').to_owned(),
                level: cells[2].to_lowercase(),
                message: cells[3].to_owned(),
            }
        })
        .collect();
    assert!(events.len() >= 10, "the table was not parsed: {events:?}");
    events
}

/// The message the guide gives for `event`.
pub(crate) fn documented_message(event: &str) -> String {
    documented_events()
        .into_iter()
        .find(|documented| documented.name == event)
        .unwrap_or_else(|| panic!("`{event}` is not in the guide's log events"))
        .message
}

/// The Rust files of a directory, recursively, with their text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    found
}

/// Every `tracing::LEVEL!(... event = "NAME" ... "MESSAGE" ...)` call in `text`: (level, name,
/// the call's text).
fn logged_events(text: &str) -> Vec<(String, String, String)> {
    let mut calls = Vec::new();
    for (start, _) in text.match_indices("tracing::") {
        let rest = &text[start + "tracing::".len()..];
        let Some(bang) = rest.find("!(") else {
            continue;
        };
        let level = &rest[..bang];
        if !["error", "warn", "info", "debug", "trace"].contains(&level) {
            continue;
        }
        // The call ends at the first `);` after it (log calls here have no nested `);`).
        let body = &rest[bang..];
        let body = &body[..body.find(");").unwrap_or(body.len())];
        if let Some(at) = body.find("event = \"") {
            let name = &body[at + "event = \"".len()..];
            let name = &name[..name.find('"').unwrap()];
            calls.push((level.to_owned(), name.to_owned(), body.to_owned()));
        }
    }
    calls
}

#[test]
fn the_log_events_in_the_deployment_guide_are_the_ones_the_server_logs() {
    let root = workspace_root();
    let mut files = sources(&root.join("crates/tessera-server/src"));
    files.extend(sources(&root.join("crates/tessera/src/cmd")));
    let calls: Vec<(PathBuf, String, String, String)> = files
        .iter()
        .flat_map(|(path, text)| {
            logged_events(text)
                .into_iter()
                .map(move |(level, name, body)| (path.clone(), level, name, body))
        })
        .collect();
    let documented = documented_events();
    for event in &documented {
        let matching: Vec<_> = calls
            .iter()
            .filter(|(_, _, name, _)| *name == event.name)
            .collect();
        assert!(
            !matching.is_empty(),
            "`{}` is in the guide but never logged",
            event.name
        );
        for (path, level, _, body) in matching {
            assert_eq!(
                *level,
                event.level,
                "`{}` in {} is logged at another level than the guide says",
                event.name,
                path.display()
            );
            assert!(
                body.contains(&format!("\"{}\"", event.message)),
                "`{}` in {} does not log the guide's message {:?}:\n{body}",
                event.name,
                path.display(),
                event.message
            );
        }
    }
    // The reverse, for the operational modules: every event they log is in the guide.
    for (path, _, name, _) in &calls {
        let operational = [
            "health.rs",
            "shared.rs",
            "denylist.rs",
            "app.rs",
            "serve.rs",
            "signing.rs",
        ]
        .iter()
        .any(|file| path.ends_with(file));
        if operational {
            assert!(
                documented.iter().any(|event| event.name == *name),
                "`{name}` (logged in {}) is missing from the guide's log events",
                path.display()
            );
        }
    }
}

#[test]
fn a_start_with_postgresql_unreachable_names_the_variable_the_server_and_the_cause() {
    // Nothing listens on port 1; needs no PostgreSQL server.
    let mut work = Workdir::new();
    work.set(
        "DATABASE_URL",
        "postgres://tessera:hunter2-secret@127.0.0.1:1/tessera",
    )
    .set(
        "JWT_SECRET_KEY",
        "a-test-secret-of-more-than-32-bytes-for-hs256",
    );
    let started = Instant::now();
    let output = work.tessera(&["serve", "--bind", "127.0.0.1:0"]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let error = stderr
        .lines()
        .find(|line| line.contains("DATABASE_URL"))
        .unwrap_or_else(|| panic!("no line names DATABASE_URL:\n{stderr}"));
    assert!(error.contains("127.0.0.1:1"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(
        !stderr.contains("hunter2"),
        "the password reached the output"
    );
    assert!(
        !stderr.contains("pool timed out"),
        "the cause, not the pool's timeout: {stderr}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}: fails fast");
}

/// The value of the sample `name` (with its labels, as written) in a metrics text.
pub(crate) fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| {
            if value == "+Inf" {
                f64::INFINITY
            } else {
                value.parse().unwrap()
            }
        })
}

/// The port in a log line's `address=host:port`.
fn port_in(line: &str) -> u16 {
    line.split("address=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn metrics_on_their_own_address_move_with_the_server() {
    let mut work = Workdir::new();
    work.set("TESSERA_METRICS_BIND", "127.0.0.1:0")
        .set("TESSERA_RATE_LIMIT_PER_IP", "0");
    let mut server = Server::start(&work);
    let metrics_port = port_in(&server.wait_for_log("serving /metrics", Duration::from_secs(5)));
    assert_ne!(metrics_port, server.port);

    // Not on the API's port, and nothing but /metrics on its own.
    let (status, body) = server.request("GET", "/metrics", &[], "");
    assert_eq!(status, 404, "{body}");
    assert_eq!(json(&body)["error"], "not_found");
    assert_eq!(
        http::request(metrics_port, "GET", "/auth/me", &[], "").0,
        404
    );
    let scrape = || {
        let (status, text) = http::request(metrics_port, "GET", "/metrics", &[], "");
        assert_eq!(status, 200, "{text}");
        text
    };
    let before = scrape();
    assert!(
        before.contains(&format!(
            "tessera_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{before}"
    );
    assert_eq!(sample(&before, "tessera_store_up"), Some(1.0));
    let age = sample(&before, "tessera_deny_list_sync_age_seconds").unwrap();
    assert!(
        (0.0..2.5).contains(&age),
        "synchronised every second: {age}"
    );
    assert!(sample(&before, "tessera_store_connections_max").unwrap() >= 1.0);
    let open = sample(&before, "tessera_store_connections{state=\"in_use\"}").unwrap()
        + sample(&before, "tessera_store_connections{state=\"idle\"}").unwrap();
    assert!(
        open >= 1.0,
        "the pool holds the store's connections: {before}"
    );

    // A verification is counted against the key that verified it.
    let credentials = r#"{"username":"olga","password":"correct horse battery staple"}"#;
    let json_type = ("content-type", "application/json");
    assert_eq!(
        server
            .request("POST", "/auth/register", &[json_type], credentials)
            .0,
        201
    );
    let (status, body) = server.request("POST", "/auth/login", &[json_type], credentials);
    assert_eq!(status, 200, "{body}");
    let access = json(&body)["access_token"].as_str().unwrap().to_owned();
    let kid = json(
        &String::from_utf8(
            tessera_token::base64url::decode(access.split('.').next().unwrap().as_bytes()).unwrap(),
        )
        .unwrap(),
    )["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let counter = format!("tessera_token_verifications_total{{kid=\"{kid}\"}}");
    let counted_before = sample(&before, &counter).unwrap_or(0.0);
    for _ in 0..3 {
        let bearer = format!("Bearer {access}");
        assert_eq!(
            server
                .request("GET", "/auth/me", &[("authorization", &bearer)], "")
                .0,
            200
        );
    }
    let after = scrape();
    assert_eq!(
        sample(&after, &counter),
        Some(counted_before + 3.0),
        "{after}"
    );
}
