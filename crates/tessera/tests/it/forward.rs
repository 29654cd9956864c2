//! Forward authentication with a real nginx (Debian's package; `scripts/test.sh` installs it):
//! `examples/nginx-forward-auth/nginx.conf` protects a static upstream with `auth_request` to
//! `GET /auth/forward`. Without a token 401 and the upstream is not reached; with one 200 and the
//! upstream sees the user (never what the client claimed); after a logout 401 at once.
//!
//! Fails, rather than skips, without `nginx` on the PATH, unless `TESSERA_SKIP_NGINX=1`.

use crate::serve::Server;
use crate::Workdir;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_test_support::{http, json};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx running the example configuration, stopped when dropped.
pub(crate) struct Nginx {
    child: Child,
    binary: String,
    conf: std::path::PathBuf,
    prefix: tempfile::TempDir,
}

impl Drop for Nginx {
    /// Stops nginx the way it is meant to be stopped (`-s stop`: the master ends its workers);
    /// killing the master alone would leave the workers running, holding the ports.
    fn drop(&mut self) {
        let _ = Command::new(&self.binary)
            .arg("-p")
            .arg(self.prefix.path())
            .arg("-c")
            .arg(&self.conf)
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let stopping = Instant::now();
        while stopping.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn nginx_binary() -> Option<String> {
    for candidate in ["nginx", "/usr/sbin/nginx"] {
        if Command::new(candidate)
            .arg("-v")
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return Some(candidate.to_owned());
        }
    }
    if std::env::var("TESSERA_SKIP_NGINX").as_deref() == Ok("1") {
        eprintln!("SKIPPED: nginx is not installed and TESSERA_SKIP_NGINX=1");
        return None;
    }
    panic!(
        "nginx is not installed: the forward-auth example needs Debian's nginx (scripts/test.sh \
         installs it); set TESSERA_SKIP_NGINX=1 to skip knowingly"
    );
}

/// Runs the example configuration `example` (a path in the repository) with its `{{NAME}}`
/// placeholders replaced (`{{PREFIX}}` is nginx's own temporary directory), and waits until
/// every port in `ports` answers.
pub(crate) fn start_nginx(
    binary: &str,
    example: &str,
    replacements: &[(&str, String)],
    ports: &[u16],
) -> Nginx {
    let prefix = tempfile::tempdir().unwrap();
    let template =
        std::fs::read_to_string(tessera_test_support::repository().join(example)).unwrap();
    let mut conf = template.replace("{{PREFIX}}", prefix.path().to_str().unwrap());
    for (name, value) in replacements {
        conf = conf.replace(&format!("{{{{{name}}}}}"), value);
    }
    assert!(
        conf.lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .all(|line| !line.contains("{{")),
        "a placeholder is left in {example}"
    );
    let path = prefix.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while ports
        .iter()
        .any(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_err())
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start: {}",
            std::fs::read_to_string(prefix.path().join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx {
        child,
        binary: binary.to_owned(),
        conf: path,
        prefix,
    }
}

#[test]
fn nginx_lets_through_only_live_tokens_and_tells_the_upstream_who() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let mut work = Workdir::new();
    work.set("TESSERA_FORWARD_USER_HEADERS", "true");
    let server = Server::start(&work);
    let (app_port, upstream_port) = (free_port(), free_port());
    let _nginx = start_nginx(
        &binary,
        "examples/nginx-forward-auth/nginx.conf",
        &[
            ("TESSERA_PORT", server.port.to_string()),
            ("APP_PORT", app_port.to_string()),
            ("UPSTREAM_PORT", upstream_port.to_string()),
        ],
        &[app_port, upstream_port],
    );

    let credentials = r#"{"username":"proxied","password":"correct horse battery staple"}"#;
    let json_type = [("content-type", "application/json")];
    let (status, registered) = http::request(
        server.port,
        "POST",
        "/auth/register",
        &json_type,
        credentials,
    );
    assert_eq!(status, 201, "{registered}");
    let user_id = json(&registered)["id"].as_str().unwrap().to_owned();
    let (status, body) = http::request(server.port, "POST", "/auth/login", &json_type, credentials);
    assert_eq!(status, 200, "{body}");
    let token = json(&body)["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");

    // No token: refused by the proxy, the upstream never answers.
    let (status, body) = http::request(app_port, "GET", "/page", &[], "");
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("user="));
    // A forged token, or headers claiming a user: refused all the same.
    let (status, _) = http::request(
        app_port,
        "GET",
        "/page",
        &[
            ("authorization", "Bearer not.a.token"),
            ("x-tessera-user-id", "admin"),
        ],
        "",
    );
    assert_eq!(status, 401);
    // A live token: through, and the upstream sees the real user, not what the client claimed.
    let (status, body) = http::request(
        app_port,
        "GET",
        "/page",
        &[
            ("authorization", bearer.as_str()),
            ("x-tessera-user-id", "someone-else"),
            ("x-tessera-username", "root"),
        ],
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.trim(),
        format!("user={user_id} name=proxied roles="),
        "the proxy overwrote the client's headers"
    );
    // Any method: a POST to the app is asked about the same way.
    let (status, _) = http::request(
        app_port,
        "POST",
        "/form",
        &[("authorization", bearer.as_str())],
        "x=1",
    );
    assert_eq!(status, 200);

    // After a logout: refused at once.
    let (status, _) = http::request(
        server.port,
        "POST",
        "/auth/logout",
        &[("authorization", bearer.as_str())],
        "",
    );
    assert_eq!(status, 204);
    let (status, body) = http::request(
        app_port,
        "GET",
        "/page",
        &[("authorization", bearer.as_str())],
        "",
    );
    assert_eq!(status, 401, "{body}");
}
