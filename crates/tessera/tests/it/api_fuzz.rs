//! The OpenAPI document against the live server, by an independent schema-driven fuzzer:
//! Schemathesis (pinned in `scripts/test.sh`) generates requests from
//! `crates/tessera-server/openapi.json`, valid and invalid, sends them to a real `tessera serve`
//! on 127.0.0.1:0 with a data directory of its own, and checks every answer: no 5xx, every
//! status, media type, header and body as documented, and no schema-valid request refused.
//!
//! Authenticated: a user registered for the run gets its access token from `POST /auth/login`
//! (again after each 401, since the fuzzer logs itself out), and an introspection client made with
//! `tessera client add` answers HTTP Basic. The settings (checks, bounds, auth) are in
//! `tests/api_fuzz/schemathesis.toml`, plus [`RUN_ONLY`] for this run; the run is bounded to 25
//! cases per operation and phase and 20 seconds.
//!
//! Without Python and Schemathesis the test fails, saying what to run; it never skips.

use crate::serve::Server;
use crate::{ok, Workdir};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tessera_test_support::{json, python, unique_name};

/// The version `scripts/test.sh` installs; the configuration is written for it.
const PINNED: &str = "4.32.5";

/// Checks, bounds and authentication of the run.
const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api_fuzz/schemathesis.toml"
);

/// Appended to [`CONFIG`] for this run: the revocation feed is asked with `wait=0`. The fuzzer
/// holds valid client credentials, so every schema-valid request with nothing newer than its
/// `after` would be held open for its `wait` (25 s when it sends none, a long poll): one such
/// request would outlast the run's 20-second budget. And `after=0`: a well-formed cursor beyond
/// every number the record has handed out is refused by design (400: start again from 0, never a
/// silent gap), which the fuzzer, knowing only the schema, would report as a valid request
/// refused. The long poll, the cursor and both 400s are tested in `tessera-server`'s `feed` and
/// OpenAPI tests.
const RUN_ONLY: &str = r#"
[[operations]]
include-operation-id = ["revocationFeed"]
parameters = { "query.wait" = 0, "query.after" = 0 }
"#;

/// The document under test (the server serves it verbatim: `tessera-server`'s OpenAPI tests).
const DOCUMENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tessera-server/openapi.json"
);

/// How long the run may take before the test gives up on it (the configuration allows 20 s).
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// The operations whose every answer may be a 401 without anything being wrong: a refresh token
/// is a body field, not a credential Schemathesis holds, so the ones it makes up are refused.
const REFUSED_WITHOUT_A_CREDENTIAL: [&str; 1] = ["POST /auth/refresh"];

#[test]
fn schemathesis_finds_no_server_error_no_undocumented_response_and_no_refused_valid_request() {
    let python = python::interpreter(
        &format!("The API fuzzer (schemathesis=={PINNED})"),
        &["schemathesis"],
    );
    let mut work = Workdir::new();
    // The per-address limit would answer most of the fuzzer's requests with 429, leaving the
    // logic behind them untested; and the fuzzer's wrong current passwords count like failed
    // logins, which would lock its own account out of the logins that renew its token.
    work.set("TESSERA_RATE_LIMIT_PER_IP", "0")
        .set("TESSERA_LOGIN_MAX_FAILURES", "1000000");
    let server = Server::start(&work);

    // Not the document's example password: the fuzzer sends the examples, and would change it.
    let (username, password) = ("schemathesis", unique_name("fuzzer password"));
    let credentials = serde_json::json!({"username": username, "password": password});
    let (status, body) = server.request(
        "POST",
        "/auth/register",
        &[("content-type", "application/json")],
        &credentials.to_string(),
    );
    assert_eq!(status, 201, "{body}");
    // The document's example user, so that the login example succeeds whichever of the register
    // and login examples runs first (and whether or not the register example got through a
    // loaded machine's argon2 queue): the register example then meets its documented 409.
    let (status, body) = server.request(
        "POST",
        "/auth/register",
        &[("content-type", "application/json")],
        r#"{"username":"alice","password":"correct horse battery staple"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let client = json(&ok(&work.tessera(&["client", "add", "schemathesis"])));

    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, std::fs::read_to_string(CONFIG).unwrap() + RUN_ONLY).unwrap();
    let report_path = work.path().join("schemathesis-report.json");
    let output_path = work.path().join("schemathesis-output.txt");
    let output = std::fs::File::create(&output_path).unwrap();
    let mut run = Command::new(&python)
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args(["run", DOCUMENT])
        .arg(format!("--url=http://127.0.0.1:{}", server.port))
        .args(["--report", "json", "--report-json-path"])
        .arg(&report_path)
        .env("TESSERA_FUZZ_USERNAME", username)
        .env("TESSERA_FUZZ_PASSWORD", &password)
        .env("TESSERA_FUZZ_CLIENT_ID", text(&client["client_id"]))
        .env("TESSERA_FUZZ_CLIENT_SECRET", text(&client["client_secret"]))
        // Anything it writes besides the report lands in the temporary directory.
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > GIVE_UP_AFTER {
            let _ = run.kill();
            let _ = run.wait();
            panic!(
                "Schemathesis still ran after {GIVE_UP_AFTER:?}:\n{}",
                std::fs::read_to_string(&output_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let printed = std::fs::read_to_string(&output_path).unwrap();
    assert!(status.success(), "Schemathesis found problems:\n{printed}");

    let report = json(&std::fs::read_to_string(&report_path).unwrap());
    assert_eq!(report["schemathesis_version"], PINNED, "{printed}");
    assert_eq!(report["complete"], true, "{printed}");
    assert_eq!(report["failures"], serde_json::json!([]), "{printed}");
    assert_eq!(report["errors"], serde_json::json!([]), "{printed}");
    let operations = &report["operations"];
    let documented = documented_operations();
    assert_eq!(operations["total"], documented, "{printed}");
    assert_eq!(
        operations["tested"], documented,
        "every operation tested: {printed}"
    );
    let cases = report["test_cases"]["generated"].as_u64().unwrap();
    assert!(cases >= documented, "{cases} cases: {printed}");
    // Authenticated: the token was renewed whenever it had to be, and every operation that takes
    // the user's token or the client's got past the credentials at least once.
    assert_eq!(report["auth"]["reauth_broke"], false, "{printed}");
    let unauthenticated: Vec<&str> = report["warnings"]["missing_auth"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .filter(|operation| !REFUSED_WITHOUT_A_CREDENTIAL.contains(operation))
        .collect();
    assert!(
        unauthenticated.is_empty(),
        "only 401/403 for {unauthenticated:?}: {printed}"
    );
    // The seed as printed (the report's is too large for a JSON number here), to replay a run.
    let seed = printed
        .lines()
        .find_map(|line| line.strip_prefix("Seed: "))
        .unwrap_or("?");
    eprintln!("schemathesis {PINNED}: {cases} cases on {documented} operations, seed {seed}");
}

/// How many operations the document describes.
fn documented_operations() -> u64 {
    let document = json(&std::fs::read_to_string(DOCUMENT).unwrap());
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let count = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|key| methods.contains(&key.as_str()))
        .count();
    u64::try_from(count).unwrap()
}

/// A JSON string's text.
fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}
