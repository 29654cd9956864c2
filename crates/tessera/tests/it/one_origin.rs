//! Tessera behind one origin (docs/one-origin.md): `examples/nginx-one-origin/nginx.conf` serves
//! a browser app, Tessera and an API on one origin with Debian's nginx. A cookie-only sign-in
//! through it sets the cookies; the API, asking Tessera about each request, answers reads with the
//! cookie alone and state-changing requests only with the CSRF header; a sign-out ends both.

use crate::forward::{free_port, nginx_binary, start_nginx};
use crate::serve::Server;
use crate::Workdir;
use tessera_test_support::http;

/// The `name=value` of a `Set-Cookie` header named `name` in a raw header block.
fn cookie(headers: &str, name: &str) -> String {
    headers
        .lines()
        .filter_map(|line| {
            let (field, value) = line.split_once(':')?;
            field
                .eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim())
        })
        .find(|value| value.starts_with(&format!("{name}=")))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in:\n{headers}"))
        .to_owned()
}

#[test]
fn an_app_tessera_and_an_api_share_one_origin_with_cookies_and_csrf() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let mut work = Workdir::new();
    work.set("TESSERA_FORWARD_USER_HEADERS", "true");
    let server = Server::start(&work);
    let (app_port, api_port) = (free_port(), free_port());
    let site = tessera_test_support::repository().join("examples/nginx-one-origin/site");
    let _nginx = start_nginx(
        &binary,
        "examples/nginx-one-origin/nginx.conf",
        &[
            ("TESSERA_PORT", server.port.to_string()),
            ("APP_PORT", app_port.to_string()),
            ("API_PORT", api_port.to_string()),
            ("SITE", site.to_str().unwrap().to_owned()),
        ],
        &[app_port, api_port],
    );

    // The app's page, from the same origin.
    let (status, page) = http::request(app_port, "GET", "/index.html", &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("one origin"));

    // Register and sign in through the origin, cookies only.
    let json_type = [("content-type", "application/json")];
    let (status, _) = http::request(
        app_port,
        "POST",
        "/auth/register",
        &json_type,
        r#"{"username":"origin","password":"correct horse battery staple"}"#,
    );
    assert_eq!(status, 201);
    let (status, headers, body) = http::exchange(
        app_port,
        "POST",
        "/auth/login",
        &json_type,
        r#"{"username":"origin","password":"correct horse battery staple","cookie_only":true}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("access_token") && !body.contains("tsr_"),
        "{body}"
    );
    let access = cookie(&headers, "__Host-tessera-access");
    let csrf = cookie(&headers, "__Host-tessera-csrf");
    let csrf_value = csrf.split_once('=').unwrap().1.to_owned();
    let jar = format!("{access}; {csrf}");

    // The API: reads with the cookie alone; writes only with the CSRF header.
    let (status, body) = http::request(
        app_port,
        "GET",
        "/api/items",
        &[("cookie", jar.as_str())],
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("GET /api/items for user="), "{body}");
    assert!(
        !body.trim().ends_with("user="),
        "the API is told who: {body}"
    );
    let (status, _) = http::request(
        app_port,
        "POST",
        "/api/items",
        &[("cookie", jar.as_str())],
        "x",
    );
    assert_eq!(
        status, 403,
        "a cookie-authenticated write without the CSRF header"
    );
    let (status, body) = http::request(
        app_port,
        "POST",
        "/api/items",
        &[
            ("cookie", jar.as_str()),
            ("x-csrf-token", csrf_value.as_str()),
        ],
        "x",
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = http::request(app_port, "GET", "/api/items", &[], "");
    assert_eq!(status, 401, "no cookie, no API");

    // Signing out (through the origin, with the CSRF header) ends the API access at once.
    let (status, _) = http::request(
        app_port,
        "POST",
        "/auth/logout",
        &[
            ("cookie", jar.as_str()),
            ("x-csrf-token", csrf_value.as_str()),
        ],
        "",
    );
    assert_eq!(status, 204);
    let (status, _) = http::request(
        app_port,
        "GET",
        "/api/items",
        &[("cookie", jar.as_str())],
        "",
    );
    assert_eq!(status, 401);
}
