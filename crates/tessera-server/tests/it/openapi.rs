//! The OpenAPI document (`crates/tessera-server/openapi.json`, served at `GET /openapi.json`):
//! served verbatim, accepted by an independent validator, complete for the routes the server
//! registers, and true to what the live server answers: status, media type, headers and body of
//! every observed response are checked against the document's schemas.
//!
//! The schema checks run in Python with `openapi-spec-validator` (which brings
//! `openapi-schema-validator` and `jsonschema`): the interpreter is `TESSERA_TEST_PYTHON`, else the
//! repo's `.venv`, which `scripts/test.sh` prepares. Without it these tests fail, saying so; they
//! never skip.

use crate::{TestApp, PASSWORD};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tessera_store::sqlite::SqliteStore;
use tessera_store::{Client, ClientStore as _};
use tessera_test_support::python;

/// The document as built into the server.
const DOCUMENT: &str = include_str!("../../openapi.json");

/// The methods the probes try on every documented path.
const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Operations that take the user's access token (Bearer header or cookie).
const USER_OPERATIONS: [(&str, &str); 7] = [
    ("post", "/auth/logout"),
    ("post", "/auth/logout-all"),
    ("get", "/auth/me"),
    ("get", "/auth/forward"),
    ("get", "/auth/sessions"),
    ("delete", "/auth/sessions/{id}"),
    ("post", "/auth/password"),
];

/// Operations that can answer 429: throttled per client address (register, login, refresh, the
/// OAuth endpoints, readiness), per account (login, and password change, whose wrong guesses count
/// like failed logins) or per client (introspection, the revocation feed).
const THROTTLED_OPERATIONS: [(&str, &str); 8] = [
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("post", "/auth/password"),
    ("post", "/oauth/revoke"),
    ("post", "/oauth/introspect"),
    ("get", "/oauth/revocations"),
    ("get", "/readyz"),
];

/// Operations that take an OAuth client's credentials (HTTP Basic).
const CLIENT_OPERATIONS: [(&str, &str); 2] =
    [("post", "/oauth/introspect"), ("get", "/oauth/revocations")];

/// The validator `scripts/test.sh` installs.
const PINNED_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The Python interpreter with `openapi-spec-validator`: `TESSERA_TEST_PYTHON`, else the repo's
/// `.venv`. Panics with what to do when there is none or the package is missing.
fn python() -> PathBuf {
    python::interpreter(
        &format!("the OpenAPI checks ({PINNED_VALIDATOR})"),
        &["openapi_spec_validator", "openapi_schema_validator"],
    )
}

fn describe(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `python -m openapi_spec_validator` (OpenAPI 3.1 rules) on a document file.
fn spec_validator(document: &Path) -> Output {
    Command::new(python())
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(document)
        .output()
        .unwrap()
}

/// Validates every example in the document against its schema, then every `checks` entry
/// (`{where, pointer, instance, header?}`: the schema at JSON pointer `pointer` in the document
/// must accept `instance`; a header value is compared as an integer when its schema says so).
/// Prints one line per error and exits non-zero if there is any.
const SCHEMA_CHECKS: &str = r##"
import json, sys, urllib.parse
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:tessera:openapi"
doc = json.load(open(sys.argv[1]))
checks = json.load(open(sys.argv[2]))
registry = Registry().with_resource(BASE, Resource(contents=doc, specification=DRAFT202012))

def escape(token):
    return str(token).replace("~", "~0").replace("/", "~1")

def uri(pointer):
    return BASE + "#" + urllib.parse.quote(pointer, safe="/~")

def validate(where, pointer, instance):
    validator = OAS31Validator({"$ref": uri(pointer)}, registry=registry,
                               format_checker=OAS31Validator.FORMAT_CHECKER)
    return [f"{where}: {e.message} (at /{'/'.join(map(str, e.absolute_path))})"
            for e in validator.iter_errors(instance)]

errors, examples = [], 0

def walk(node, pointer, in_schema):
    global examples
    if isinstance(node, dict):
        if "schema" in node and not in_schema:
            if "example" in node:
                examples += 1
                errors.extend(validate(f"example at {pointer}", pointer + "/schema", node["example"]))
            for name, example in (node.get("examples") or {}).items():
                if isinstance(example, dict) and "value" in example:
                    examples += 1
                    errors.extend(validate(f"example {name} at {pointer}", pointer + "/schema", example["value"]))
        if in_schema and isinstance(node.get("examples"), list):
            for index, example in enumerate(node["examples"]):
                examples += 1
                errors.extend(validate(f"schema example {index} at {pointer}", pointer, example))
        for key, value in node.items():
            if in_schema and key in ("examples", "example", "const", "enum", "default"):
                continue
            child_in_schema = in_schema or key == "schema" or pointer == "/components/schemas"
            walk(value, pointer + "/" + escape(key), child_in_schema)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            walk(value, pointer + "/" + str(index), in_schema)

walk(doc, "", False)
resolver = registry.resolver(BASE)
for check in checks:
    instance = check["instance"]
    if check.get("header") and resolver.lookup(uri(check["pointer"])).contents.get("type") == "integer":
        try:
            instance = int(instance)
        except ValueError:
            pass
    errors.extend(validate(check["where"], check["pointer"], instance))

for error in errors:
    print(error)
print(f"{examples} examples and {len(checks)} live values checked: {len(errors)} errors")
sys.exit(1 if errors or examples == 0 else 0)
"##;

/// Runs [`SCHEMA_CHECKS`] on the document text and the checks; returns the process output.
fn schema_checks(document: &str, checks: &[Value]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let document_path = dir.path().join("openapi.json");
    let checks_path = dir.path().join("checks.json");
    std::fs::write(&document_path, document).unwrap();
    std::fs::write(&checks_path, Value::from(checks.to_vec()).to_string()).unwrap();
    Command::new(python())
        .arg("-c")
        .arg(SCHEMA_CHECKS)
        .arg(&document_path)
        .arg(&checks_path)
        .output()
        .unwrap()
}

/// One token of a JSON pointer.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Follows a `$ref` (local to the document) if `value` is one: returns the pointer and value.
fn resolve<'d>(document: &'d Value, pointer: String, value: &'d Value) -> (String, &'d Value) {
    match value.get("$ref").and_then(Value::as_str) {
        Some(target) => {
            let target = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {target}"));
            let resolved = document
                .pointer(target)
                .unwrap_or_else(|| panic!("dangling $ref #{target} at {pointer}"));
            (target.to_owned(), resolved)
        }
        None => (pointer, value),
    }
}

/// The `(method, path)` pairs the document describes.
fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) || method == "head" || method == "options" {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

/// The `(method, path)` pairs the server registers, read from the router's source: every
/// `.route("PATH", get(..).post(..))` in `src/routes/mod.rs` and `src/app.rs`.
fn registered_routes() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../../src/routes/mod.rs"),
        include_str!("../../src/app.rs"),
    ];
    let mut routes = BTreeSet::new();
    for source in sources {
        for rest in source.split(".route(").skip(1) {
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(index, _)| index)
                .unwrap_or_else(|| panic!("unbalanced .route( call: {rest:.80}"));
            let call = &rest[..end];
            let path = call
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("no path literal in .route({call})"));
            let mut methods = 0;
            for method in METHODS {
                let pattern = format!("{method}(");
                for (index, _) in call.match_indices(&pattern) {
                    let before = call[..index].chars().next_back();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        routes.insert((method.to_owned(), path.to_owned()));
                        methods += 1;
                    }
                }
            }
            assert!(methods > 0, "no method router in .route({call})");
        }
    }
    routes
}

fn operation<'d>(document: &'d Value, method: &str, path: &str) -> &'d Value {
    document["paths"]
        .get(path)
        .and_then(|item| item.get(method))
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
}

/// A concrete URL path for a documented template: parameters get a fresh random value.
fn concrete(path: &str) -> String {
    let random = tessera_service::credentials::new_session_id().unwrap();
    path.replace("{id}", &random)
}

async fn send(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    app.client
        .request(method, app.url(path))
        .send()
        .await
        .unwrap()
}

/// The document as the running server serves it.
async fn served_document(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[tokio::test]
async fn openapi_json_is_served_verbatim_as_json_with_the_security_headers() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    crate::assert_security_headers(&response);
    let text = response.text().await.unwrap();
    assert_eq!(text, DOCUMENT, "served verbatim");
    let document: Value = serde_json::from_str(&text).unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "Tessera");
    app.stop().await;
}

#[tokio::test]
async fn every_registered_route_is_documented_and_every_documented_operation_exists() {
    let app = TestApp::spawn().await;
    let document: Value = serde_json::from_str(&served_document(&app).await).unwrap();
    let documented = documented_operations(&document);
    let registered = registered_routes();
    assert!(
        registered.len() >= 16,
        "the route parser found too few routes: {registered:?}"
    );
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes the server registers that the document lacks: {undocumented:?}"
    );
    let missing: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "documented operations the router does not register: {missing:?}"
    );

    // Each documented operation answers an unauthenticated, bodiless request with a status the
    // document lists for it: never 405, and never the fallback's 404 `not_found`.
    for (method, path) in &registered {
        let response = send(&app, method, &concrete(path)).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {body}"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("\"not_found\"")),
            "{method} {path} is not routed: {body}"
        );
        let responses = &operation(&document, method, path)["responses"];
        assert!(
            responses.get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list: {body}"
        );
    }

    // Methods not documented for a documented path are refused with 405.
    for (path, item) in document["paths"].as_object().unwrap() {
        let routed = item
            .as_object()
            .unwrap()
            .keys()
            .any(|method| registered.contains(&(method.clone(), path.clone())));
        if !routed {
            continue;
        }
        for method in METHODS.iter().filter(|method| item.get(**method).is_none()) {
            let response = send(&app, method, &concrete(path)).await;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} should not exist"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "method_not_allowed");
        }
    }

    // Undocumented paths are 404 `not_found`, so the probes above can tell them apart.
    for path in [
        "/admin",
        "/nothing-here",
        "/auth",
        "/auth/me/",
        "/auth/sessions/a/b",
        "/oauth/token",
        "/oauth/authorize",
        "/.well-known/openid-configuration",
        "/openapi.yaml",
    ] {
        for method in ["get", "post"] {
            let response = send(&app, method, path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "not_found", "{method} {path}");
        }
    }
    app.stop().await;
}

#[test]
fn every_operation_states_its_security_errors_and_headers() {
    let document: Value = serde_json::from_str(DOCUMENT).unwrap();
    let security = |method: &str, path: &str| -> Value {
        if USER_OPERATIONS.contains(&(method, path)) {
            json!([{"bearerAuth": []}, {"cookieAuth": []}])
        } else if CLIENT_OPERATIONS.contains(&(method, path)) {
            json!([{"clientBasic": []}])
        } else {
            json!([])
        }
    };
    for (method, path) in documented_operations(&document) {
        let where_ = format!("{method} {path}");
        let op = operation(&document, &method, &path);
        for field in ["summary", "description", "operationId"] {
            assert!(
                op[field].as_str().is_some_and(|text| !text.is_empty()),
                "{where_}: no {field}"
            );
        }
        assert!(!op["tags"].as_array().unwrap().is_empty(), "{where_}: tags");
        assert_eq!(
            op["security"],
            security(&method, &path),
            "{where_}: security"
        );
        let responses = op["responses"].as_object().unwrap();
        if op["security"] != json!([]) {
            assert!(responses.contains_key("401"), "{where_}: no 401");
        }
        let throttled = THROTTLED_OPERATIONS.contains(&(method.as_str(), path.as_str()));
        assert_eq!(responses.contains_key("429"), throttled, "{where_}: 429");
        let cookie_state_change = USER_OPERATIONS.contains(&(method.as_str(), path.as_str()))
            && method != "get"
            || path == "/auth/refresh";
        if cookie_state_change {
            assert!(responses.contains_key("403"), "{where_}: no 403 for CSRF");
            let parameters = serde_json::to_string(&op["parameters"]).unwrap();
            assert!(
                parameters.contains("#/components/parameters/CsrfToken"),
                "{where_}: no X-CSRF-Token parameter"
            );
        }
        for (status, response) in responses {
            let (pointer, response) = resolve(
                &document,
                format!("/paths/{}/{method}/responses/{status}", escape(&path)),
                response,
            );
            assert!(
                response["description"].as_str().is_some(),
                "{where_} {status}: no description"
            );
            let header = |name: &str| response["headers"].get(name).is_some();
            if status == "401" {
                assert!(
                    header("WWW-Authenticate"),
                    "{where_}: 401 without WWW-Authenticate"
                );
            }
            if status == "429" {
                assert!(header("Retry-After"), "{where_}: 429 without Retry-After");
            }
            if status.starts_with('4') || status.starts_with('5') {
                if let Some(media) = response["content"].get("application/json") {
                    let schema = serde_json::to_string(&media["schema"]).unwrap();
                    assert!(
                        schema.contains("#/components/schemas/Error"),
                        "{where_} {status} ({pointer}): the error body is not the Error schema"
                    );
                }
            }
        }
    }
    for (method, path) in [("post", "/auth/login"), ("post", "/auth/refresh")] {
        let headers = &operation(&document, method, path)["responses"]["200"]["headers"];
        for name in ["Set-Cookie", "Cache-Control", "Pragma"] {
            assert!(headers.get(name).is_some(), "{method} {path} 200: {name}");
        }
    }
    let error = &document["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error", "error_description"]));
}

#[tokio::test]
async fn the_served_document_passes_openapi_spec_validator_and_its_examples_fit_their_schemas() {
    let app = TestApp::spawn().await;
    let text = served_document(&app).await;
    app.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &text).unwrap();
    let output = spec_validator(&path);
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the document:\n{}",
        describe(&output)
    );
    assert!(describe(&output).contains("OK"), "{}", describe(&output));

    // The validator can fail: a document with no info.version and a response without a
    // description is refused.
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"openapi": "3.1.0", "info": {"title": "x"}, "paths": {"/a": {"get": {"responses": {"200": {}}}}}}"#,
    )
    .unwrap();
    assert!(!spec_validator(&broken).status.success());

    let examples = schema_checks(&text, &[]);
    assert!(
        examples.status.success(),
        "examples that do not fit their schemas:\n{}",
        describe(&examples)
    );
}

/// One response of the live server, with the operation it answered.
struct Observed {
    method: &'static str,
    path: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Observed {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn set_cookie(&self, name: &str) -> String {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no {name} cookie"))
            .to_owned()
    }
}

/// Sends requests and keeps every response, to be checked against the document afterwards.
#[derive(Default)]
struct Recorder {
    observed: Vec<Observed>,
}

impl Recorder {
    async fn send(
        &mut self,
        method: &'static str,
        path: &'static str,
        request: RequestBuilder,
    ) -> &Observed {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap().to_vec();
        self.observed.push(Observed {
            method,
            path,
            status,
            headers,
            body,
        });
        self.observed.last().unwrap()
    }

    /// Checks each response against the documented response for its status: the status is
    /// listed, the media type is documented (or there is no body when none is), every required
    /// header is present, and the headers and body fit their schemas (checked in Python).
    fn verify(&self, document_text: &str) {
        let document: Value = serde_json::from_str(document_text).unwrap();
        let mut checks = Vec::new();
        let mut failures = Vec::new();
        for seen in &self.observed {
            let where_ = format!("{} {} -> {}", seen.method, seen.path, seen.status);
            let op = operation(&document, seen.method, seen.path);
            let Some(response) = op["responses"].get(seen.status.as_str()) else {
                failures.push(format!(
                    "{where_}: status not documented: {}",
                    String::from_utf8_lossy(&seen.body)
                ));
                continue;
            };
            let (pointer, response) = resolve(
                &document,
                format!(
                    "/paths/{}/{}/responses/{}",
                    escape(seen.path),
                    seen.method,
                    seen.status.as_str()
                ),
                response,
            );
            let content_type = seen
                .headers
                .get("content-type")
                .map(|value| value.to_str().unwrap().to_owned());
            match (response.get("content"), content_type) {
                (None, None) if seen.body.is_empty() => {}
                (None, content_type) => failures.push(format!(
                    "{where_}: documented without a body, got {content_type:?} {:?}",
                    String::from_utf8_lossy(&seen.body)
                )),
                (Some(_), None) => failures.push(format!("{where_}: no Content-Type")),
                (Some(content), Some(content_type)) => {
                    if content.get(&content_type).is_none() {
                        failures.push(format!(
                            "{where_}: Content-Type {content_type} is not documented"
                        ));
                        continue;
                    }
                    let instance = if content_type.starts_with("application/json") {
                        serde_json::from_slice(&seen.body).unwrap()
                    } else {
                        Value::from(String::from_utf8(seen.body.clone()).unwrap())
                    };
                    checks.push(json!({
                        "where": format!("{where_} body"),
                        "pointer": format!("{pointer}/content/{}/schema", escape(&content_type)),
                        "instance": instance,
                    }));
                }
            }
            for (name, header) in response["headers"].as_object().into_iter().flatten() {
                let (header_pointer, header) = resolve(
                    &document,
                    format!("{pointer}/headers/{}", escape(name)),
                    header,
                );
                let values: Vec<&str> = seen
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|value| value.to_str().unwrap())
                    .collect();
                if header["required"] == true && values.is_empty() {
                    failures.push(format!("{where_}: no {name} header"));
                }
                if name == "Set-Cookie" && !values.is_empty() && values.len() != 3 {
                    failures.push(format!("{where_}: {} Set-Cookie headers", values.len()));
                }
                for value in values {
                    checks.push(json!({
                        "where": format!("{where_} {name}"),
                        "pointer": format!("{header_pointer}/schema"),
                        "instance": value,
                        "header": true,
                    }));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let output = schema_checks(document_text, &checks);
        assert!(
            output.status.success(),
            "live responses that do not fit the document:\n{}",
            describe(&output)
        );
    }

    /// The `(method, path, status)` triples observed.
    fn covered(&self) -> BTreeSet<(String, String, String)> {
        self.observed
            .iter()
            .map(|seen| {
                (
                    seen.method.to_owned(),
                    seen.path.to_owned(),
                    seen.status.as_str().to_owned(),
                )
            })
            .collect()
    }
}

/// The `sid` claim of an access token (read, not verified).
fn sid_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&tessera_token::base64url::decode(payload.as_bytes()).unwrap())
            .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

const CLIENT_ID: &str = "tsc_openapi-client";
const CLIENT_SECRET: &str = "tss_the-openapi-client-secret-0123456789";

async fn add_client(app: &TestApp) {
    let store = SqliteStore::open(app.data.path()).await.unwrap();
    store
        .create_client(&Client {
            client_id: CLIENT_ID.into(),
            name: "openapi tests".into(),
            secret_hash: tessera_service::credentials::digest_of(CLIENT_SECRET.as_bytes()),
            created_at: crate::now(),
        })
        .await
        .unwrap();
    store.close().await;
}

/// A whole client session over every operation, successes and failures, checked response by
/// response against the document.
#[tokio::test]
async fn live_responses_match_the_documented_statuses_headers_and_schemas() {
    let app = TestApp::spawn().await;
    add_client(&app).await;
    let document_text = served_document(&app).await;
    let c = &app.client;
    let url = |path: &str| app.url(path);
    let mut r = Recorder::default();

    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/openapi.json",
        "/metrics",
    ] {
        let status = r.send("get", path, c.get(url(path))).await.status;
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    // Registration.
    let credentials = json!({"username": "olivia", "password": PASSWORD});
    let reg = "/auth/register";
    r.send("post", reg, c.post(url(reg)).json(&credentials))
        .await;
    r.send("post", reg, c.post(url(reg)).json(&credentials))
        .await;
    r.send(
        "post",
        reg,
        c.post(url(reg))
            .json(&json!({"username": "olga", "password": "short"})),
    )
    .await;
    r.send("post", reg, c.post(url(reg)).body("{}")).await;

    // Login: one session by Bearer, one by cookie.
    let login = "/auth/login";
    let bearer = r
        .send("post", login, c.post(url(login)).json(&credentials))
        .await
        .json();
    let access = bearer["access_token"].as_str().unwrap().to_owned();
    let refresh = bearer["refresh_token"].as_str().unwrap().to_owned();
    let browser = r
        .send(
            "post",
            login,
            c.post(url(login))
                .header("user-agent", "openapi-test/1.0")
                .json(&credentials),
        )
        .await;
    let jar = format!(
        "__Host-tessera-access={}; __Secure-tessera-refresh={}; __Host-tessera-csrf={}",
        browser.set_cookie("__Host-tessera-access"),
        browser.set_cookie("__Secure-tessera-refresh"),
        browser.set_cookie("__Host-tessera-csrf"),
    );
    let csrf = browser.set_cookie("__Host-tessera-csrf");
    let browser_access = browser.json()["access_token"].as_str().unwrap().to_owned();
    r.send(
        "post",
        login,
        c.post(url(login))
            .json(&json!({"username": "olivia", "password": "not the password"})),
    )
    .await;
    r.send(
        "post",
        login,
        c.post(url(login))
            .header("content-type", "application/json")
            .body("{\"username\":"),
    )
    .await;
    r.send(
        "post",
        login,
        c.post(url(login))
            .header("content-type", "application/json")
            .body(format!("{{\"password\":\"{}\"}}", "p".repeat(20_000))),
    )
    .await;

    // The current user and the sessions.
    r.send(
        "get",
        "/auth/me",
        c.get(url("/auth/me")).bearer_auth(&access),
    )
    .await;
    r.send(
        "get",
        "/auth/me",
        c.get(url("/auth/me")).header("cookie", &jar),
    )
    .await;
    r.send("get", "/auth/me", c.get(url("/auth/me"))).await;
    r.send(
        "get",
        "/auth/me",
        c.get(url("/auth/me")).bearer_auth("not.a.token"),
    )
    .await;
    // Forward authentication, as a reverse proxy asks it.
    r.send(
        "get",
        "/auth/forward",
        c.get(url("/auth/forward")).bearer_auth(&access),
    )
    .await;
    r.send("get", "/auth/forward", c.get(url("/auth/forward")))
        .await;
    let sessions = r
        .send(
            "get",
            "/auth/sessions",
            c.get(url("/auth/sessions")).bearer_auth(&access),
        )
        .await
        .json();
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let one = "/auth/sessions/{id}";
    r.send(
        "delete",
        one,
        c.delete(url(&concrete(one))).bearer_auth(&access),
    )
    .await;
    r.send(
        "delete",
        one,
        c.delete(url(&concrete(one))).header("cookie", &jar),
    )
    .await;

    // Refresh, by body and by cookie.
    let rf = "/auth/refresh";
    let rotated = r
        .send(
            "post",
            rf,
            c.post(url(rf)).json(&json!({"refresh_token": refresh})),
        )
        .await
        .json();
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    r.send("post", rf, c.post(url(rf))).await;
    r.send(
        "post",
        rf,
        c.post(url(rf))
            .json(&json!({"refresh_token": "tsr_not-a-real-one"})),
    )
    .await;
    r.send("post", rf, c.post(url(rf)).header("cookie", &jar))
        .await;
    r.send(
        "post",
        rf,
        c.post(url(rf))
            .header("content-type", "application/json")
            .body(format!("{{\"refresh_token\":\"{}\"}}", "x".repeat(20_000))),
    )
    .await;

    // Introspection and revocation.
    let intro = "/oauth/introspect";
    let introspect = |token: &str| {
        c.post(url(intro))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token)])
    };
    for token in [access.as_str(), refresh.as_str(), "junk"] {
        r.send("post", intro, introspect(token)).await;
    }
    r.send(
        "post",
        intro,
        c.post(url(intro)).form(&[("token", access.as_str())]),
    )
    .await;
    r.send(
        "post",
        intro,
        c.post(url(intro))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token_type_hint", "access_token")]),
    )
    .await;
    r.send(
        "post",
        intro,
        c.post(url(intro))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", "x".repeat(20_000))),
    )
    .await;
    // The revocation feed: `wait=0` everywhere, so that no request is held open.
    let feed = "/oauth/revocations";
    let follow = |query: &[(&str, &str)]| {
        c.get(url(feed))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .query(query)
    };
    let snapshot = r
        .send("get", feed, follow(&[("after", "0"), ("wait", "0")]))
        .await;
    assert_eq!(snapshot.status, StatusCode::OK);
    let cursor = snapshot.json()["cursor"].as_i64().unwrap().to_string();
    for query in [
        &[("wait", "0")][..],
        &[("after", "-1"), ("wait", "0")],
        &[("after", "0"), ("wait", "26")],
    ] {
        let status = r.send("get", feed, follow(query)).await.status;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query:?}");
    }
    for request in [
        c.get(url(feed)).query(&[("after", "0"), ("wait", "0")]),
        c.get(url(feed))
            .basic_auth(CLIENT_ID, Some("tss_not-the-secret"))
            .query(&[("after", "0"), ("wait", "0")]),
    ] {
        let status = r.send("get", feed, request).await.status;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    let revoke = "/oauth/revoke";
    r.send(
        "post",
        revoke,
        c.post(url(revoke)).form(&[("token", "not-a-token")]),
    )
    .await;
    r.send(
        "post",
        revoke,
        c.post(url(revoke)).json(&json!({"token": "x"})),
    )
    .await;

    // The password.
    let pw = "/auth/password";
    r.send(
        "post",
        pw,
        c.post(url(pw)).bearer_auth(&access).json(
            &json!({"current_password": "wrong password", "new_password": "a new passphrase"}),
        ),
    )
    .await;
    r.send("post", pw, c.post(url(pw)).bearer_auth(&access).body("{}"))
        .await;
    r.send(
        "post",
        pw,
        c.post(url(pw))
            .header("cookie", &jar)
            .json(&json!({"current_password": PASSWORD, "new_password": "a new passphrase"})),
    )
    .await;

    // Ending sessions: the browser one by its id, then everything.
    let sessions = r
        .send(
            "get",
            "/auth/sessions",
            c.get(url("/auth/sessions")).bearer_auth(&browser_access),
        )
        .await
        .json();
    let other = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = r
        .send(
            "delete",
            one,
            c.delete(url(&format!("/auth/sessions/{other}")))
                .header("cookie", &jar)
                .header("x-csrf-token", &csrf),
        )
        .await
        .status;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (again, _) = app.login("olivia").await;
    r.send(
        "post",
        "/auth/logout",
        c.post(url("/auth/logout")).header("cookie", &jar),
    )
    .await;
    r.send(
        "post",
        "/auth/logout",
        c.post(url("/auth/logout"))
            .header("cookie", &jar)
            .header("x-csrf-token", &csrf),
    )
    .await;
    r.send(
        "post",
        "/auth/password",
        c.post(url(pw))
            .bearer_auth(&again)
            .json(&json!({"current_password": PASSWORD, "new_password": "a new passphrase"})),
    )
    .await;
    r.send(
        "post",
        "/auth/logout-all",
        c.post(url("/auth/logout-all")).bearer_auth(&again),
    )
    .await;
    r.send(
        "post",
        "/auth/logout-all",
        c.post(url("/auth/logout-all")).bearer_auth(&again),
    )
    .await;

    // The feed from the snapshot's cursor lists the sessions ended since and the logout-all.
    let news = r
        .send("get", feed, follow(&[("after", &cursor), ("wait", "0")]))
        .await
        .json();
    let listed = news["revocations"].as_array().unwrap();
    for sid in [other.as_str(), &sid_of(&browser_access)] {
        assert!(
            listed
                .iter()
                .any(|entry| entry["kind"] == "session" && entry["value"] == sid),
            "no session {sid} in {news}"
        );
    }
    assert!(
        listed.iter().any(|entry| entry["kind"] == "user"),
        "no user entry in {news}"
    );
    assert!(news["cursor"].as_i64().unwrap() > cursor.parse().unwrap());
    assert_eq!(news["more"], false);
    app.stop().await;

    // Throttling: a lockout after one failure, three credential requests a minute, and three
    // requests a minute to the OAuth endpoints (the feed's per-address and per-client limits).
    let app = TestApp::spawn_with(&[
        ("TESSERA_RATE_LIMIT_PER_IP", "3"),
        ("TESSERA_LOGIN_MAX_FAILURES", "1"),
    ])
    .await;
    add_client(&app).await;
    let c = &app.client;
    let url = |path: &str| app.url(path);
    let wrong = json!({"username": "olivia", "password": "not the password"});
    r.send("post", login, c.post(url(login)).json(&wrong)).await;
    let status = r
        .send("post", login, c.post(url(login)).json(&wrong))
        .await
        .status;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "account lockout");
    r.send("post", reg, c.post(url(reg)).json(&credentials))
        .await;
    for (path, request) in [
        (reg, c.post(url(reg)).json(&credentials)),
        (rf, c.post(url(rf)).json(&json!({"refresh_token": refresh}))),
        (login, c.post(url(login)).json(&credentials)),
    ] {
        let status = r.send("post", path, request).await.status;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path} per address");
    }
    let follow = |query: &[(&str, &str)]| {
        c.get(url(feed))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .query(query)
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let request = follow(&[("after", "0"), ("wait", "0")]);
        statuses.push(r.send("get", feed, request).await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "the feed past three requests a minute"
    );
    app.stop().await;

    r.verify(&document_text);

    // Every documented success response of every routed operation was seen.
    let document: Value = serde_json::from_str(&document_text).unwrap();
    let covered = r.covered();
    for (method, path) in registered_routes() {
        for status in operation(&document, &method, &path)["responses"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|status| status.starts_with('2'))
        {
            assert!(
                covered.contains(&(method.clone(), path.clone(), status.clone())),
                "{method} {path} {status} was never observed"
            );
        }
    }
}
