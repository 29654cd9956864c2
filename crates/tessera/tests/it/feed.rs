//! The revocation feed as a user copies it: the Python follower of docs/revocation-feed.md,
//! run as written against a real `tessera serve`, sees a logout within a second.

use crate::serve::Server;
use crate::{ok, Workdir};
use std::process::Command;
use tessera_test_support::json;

/// Drives the documented follower: log in, check it is not revoked, log out, and time how long
/// until the follower says it is. Prints the milliseconds.
const DRIVER: &str = r#"
import base64, json, re, sys, time, urllib.request
doc = open(sys.argv[1]).read()
exec(re.search(r"```python\n(.*?)```", doc, re.S).group(1))
base, client_id, client_secret = sys.argv[2], sys.argv[3], sys.argv[4]
follower = Revocations(base, client_id, client_secret)

def post(path, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(base + path, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.load(response) if response.status != 204 else None

post("/auth/register", {"username": "follower", "password": "correct horse battery staple"})
tokens = post("/auth/login", {"username": "follower", "password": "correct horse battery staple"})
payload = tokens["access_token"].split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
deadline = time.monotonic() + 5
while follower.fresh_at == 0 and time.monotonic() < deadline:
    time.sleep(0.01)
assert not follower.revoked(claims), "revoked before the logout"
started = time.monotonic()
post("/auth/logout", None, tokens["access_token"])
while not follower.revoked(claims):
    assert time.monotonic() - started < 5, "not revoked 5 s after the logout"
    time.sleep(0.002)
print(round((time.monotonic() - started) * 1000, 1))
"#;

#[test]
fn the_documented_python_follower_sees_a_logout_within_a_second() {
    let work = Workdir::new();
    let client = json(&ok(&work.tessera(&["client", "add", "follower"])));
    let server = Server::start(&work);
    let doc = tessera_test_support::repository().join("docs/revocation-feed.md");
    let output = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(&doc)
        .arg(format!("http://127.0.0.1:{}", server.port))
        .arg(client["client_id"].as_str().unwrap())
        .arg(client["client_secret"].as_str().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let millis: f64 = stdout.trim().parse().unwrap();
    assert!(
        millis < 1000.0,
        "the follower saw the logout after {millis} ms"
    );
}
