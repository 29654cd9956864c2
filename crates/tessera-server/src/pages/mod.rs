//! The browser pages: `GET /sign-in`, `/register`, `/account` and `/`, and their assets.
//!
//! Plain HTML, one stylesheet and one small script, compiled into the binary and rendered once
//! (the first time a page is asked for): every string comes from one catalogue
//! (`assets/strings.en.json`), which fills the HTML templates and is prepended to the script.
//! The script and stylesheet are served under names that carry a hash of their content, so they
//! are cached for a year (`immutable`); the pages themselves are revalidated (`no-cache` with an
//! `ETag`, answered 304 when unchanged).
//!
//! The pages use the API in cookie mode only (`cookie_only` logins and refreshes): no token is
//! ever in reach of their script. Their Content-Security-Policy allows scripts, styles and
//! requests from this origin only, no inline code, no framing, and forms posting only here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::cookies::session_cookies;
use crate::error::ApiError;
use crate::state::AppState;

/// The Content-Security-Policy of the pages (the API's own responses keep `default-src 'none'`).
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Where the versioned assets are served.
const ASSET_PREFIX: &str = "/assets/";

/// How long a browser may keep a versioned asset: a year (its name changes with its content).
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// Pages are revalidated on every visit (a 304 when unchanged), and kept by no shared cache
/// (`/account` answers by the cookies the browser holds).
const PAGE_CACHE: &str = "private, no-cache";

const LAYOUT: &str = include_str!("assets/layout.html");
const SIGN_IN: &str = include_str!("assets/sign-in.html");
const REGISTER: &str = include_str!("assets/register.html");
const ACCOUNT: &str = include_str!("assets/account.html");
const STYLESHEET: &str = include_str!("assets/tessera.css");
const SCRIPT: &str = include_str!("assets/tessera.js");
const ICON: &str = include_str!("assets/icon.svg");
/// The string catalogue: every text of the pages, in English.
const STRINGS: &str = include_str!("assets/strings.en.json");

/// One thing served from memory: its bytes, type and entity tag.
#[derive(Debug)]
struct Served {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl Served {
    fn new(body: String, content_type: &'static str) -> Served {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex(&digest.as_ref()[..12])))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Served {
            body: Bytes::from(body),
            content_type,
            etag,
        }
    }

    /// The name part of the asset's versioned path: the first 10 hex digits of its hash.
    fn version(&self) -> &str {
        self.etag
            .to_str()
            .ok()
            .and_then(|tag| tag.get(1..11))
            .unwrap_or("0")
    }

    /// 200 with the body, or 304 if the request already holds this version.
    fn respond(
        &self,
        request: &HeaderMap,
        cache: &'static str,
        csp: Option<&'static str>,
    ) -> Response {
        let fresh = request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == self.etag
            });
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = Response::new(Body::from(self.body.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if let Some(csp) = csp {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(csp),
            );
        }
        response
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// Everything the pages serve, rendered once.
#[derive(Debug)]
struct Rendered {
    sign_in: Served,
    register: Served,
    account: Served,
    stylesheet: Served,
    script: Served,
    icon: Served,
    /// `/assets/tessera.<version>.css` and the others, as the pages name them.
    stylesheet_path: String,
    script_path: String,
    icon_path: String,
}

/// The string catalogue, parsed. A catalogue that does not parse (a unit test sees to it that
/// it does) leaves the keys in place of the words rather than failing the server.
fn catalogue() -> BTreeMap<String, String> {
    serde_json::from_str(STRINGS).unwrap_or_default()
}

/// Text for HTML: the five characters that could end an element or an attribute escaped.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Fills `{{name}}` placeholders: from `values` (already HTML) first, then from the catalogue
/// (escaped). An unknown name is left as it is, where a test finds it.
fn fill(template: &str, values: &[(&str, &str)], strings: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if let Some((_, value)) = values.iter().find(|(key, _)| *key == name) {
            out.push_str(value);
        } else if let Some(text) = strings.get(name) {
            out.push_str(&escape_html(text));
        } else {
            out.push_str(&rest[start..start + 2 + end + 2]);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn render() -> Rendered {
    let strings = catalogue();
    let stylesheet = Served::new(STYLESHEET.to_owned(), "text/css; charset=utf-8");
    let script = Served::new(
        format!(
            "const T = {};\n{SCRIPT}",
            serde_json::to_string(&strings).unwrap_or_else(|_| "{}".to_owned())
        ),
        "text/javascript; charset=utf-8",
    );
    let icon = Served::new(ICON.to_owned(), "image/svg+xml");
    let stylesheet_path = format!("{ASSET_PREFIX}tessera.{}.css", stylesheet.version());
    let script_path = format!("{ASSET_PREFIX}tessera.{}.js", script.version());
    let icon_path = format!("{ASSET_PREFIX}icon.{}.svg", icon.version());
    let page = |name: &str, title_key: &str, body: &str| {
        let title = escape_html(strings.get(title_key).map_or(title_key, String::as_str));
        let body = fill(body, &[], &strings);
        Served::new(
            fill(
                LAYOUT,
                &[
                    ("title", &title),
                    ("page", name),
                    ("body", &body),
                    ("asset:css", &stylesheet_path),
                    ("asset:js", &script_path),
                    ("asset:icon", &icon_path),
                ],
                &strings,
            ),
            "text/html; charset=utf-8",
        )
    };
    Rendered {
        sign_in: page("sign-in", "sign_in.title", SIGN_IN),
        register: page("register", "register.title", REGISTER),
        account: page("account", "account.title", ACCOUNT),
        stylesheet,
        script,
        icon,
        stylesheet_path,
        script_path,
        icon_path,
    }
}

fn rendered() -> &'static Rendered {
    static RENDERED: OnceLock<Rendered> = OnceLock::new();
    RENDERED.get_or_init(render)
}

/// The routes of the pages and their assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in))
        .route("/register", get(register))
        .route("/account", get(account))
        .route("/assets/{name}", get(asset))
}

/// Whether the browser holds a session's cookies (not whether they are still good: the page's
/// script finds that out, and renews the session or goes to the sign-in page).
fn has_session_cookies(headers: &HeaderMap) -> bool {
    session_cookies(headers).is_ok_and(|cookies| cookies.access.is_some() || cookies.csrf.is_some())
}

fn see_other(location: &'static str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static(location));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
    response
}

/// `GET /` -> 303 to `/account` when the browser holds a session's cookies, else `/sign-in`.
pub async fn home(headers: HeaderMap) -> Response {
    if has_session_cookies(&headers) {
        see_other("/account")
    } else {
        see_other("/sign-in")
    }
}

/// `GET /sign-in` -> the sign-in page (a same-origin `next` path is where it goes after).
pub async fn sign_in(headers: HeaderMap) -> Response {
    rendered()
        .sign_in
        .respond(&headers, PAGE_CACHE, Some(PAGE_CSP))
}

/// `GET /register` -> the registration page.
pub async fn register(headers: HeaderMap) -> Response {
    rendered()
        .register
        .respond(&headers, PAGE_CACHE, Some(PAGE_CSP))
}

/// `GET /account` -> the account page, or 303 to `/sign-in?next=/account` when the browser
/// holds no session cookie.
pub async fn account(headers: HeaderMap) -> Response {
    if !has_session_cookies(&headers) {
        return see_other("/sign-in?next=/account");
    }
    let mut response = rendered()
        .account
        .respond(&headers, PAGE_CACHE, Some(PAGE_CSP));
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Cookie"));
    response
}

/// `GET /assets/{name}` -> a versioned asset of the pages (cached for a year), or 404.
///
/// # Errors
/// 404 for any other name (an old version included).
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let pages = rendered();
    let path = format!("{ASSET_PREFIX}{name}");
    let served = if path == pages.stylesheet_path {
        &pages.stylesheet
    } else if path == pages.script_path {
        &pages.script
    } else if path == pages.icon_path {
        &pages.icon
    } else {
        return Err(ApiError::NotFound);
    };
    Ok(served.respond(&headers, ASSET_CACHE, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_every_placeholder_of_every_page_is_filled() {
        let strings = catalogue();
        assert!(strings.len() > 40, "{}", strings.len());
        let pages = rendered();
        for page in [&pages.sign_in, &pages.register, &pages.account] {
            let html = std::str::from_utf8(&page.body).unwrap();
            assert!(!html.contains("{{"), "{html}");
            assert!(html.contains(&pages.script_path));
            assert!(html.contains(&pages.stylesheet_path));
        }
    }

    #[test]
    fn every_key_the_script_names_is_in_the_catalogue() {
        let strings = catalogue();
        let mut named = 0;
        for literal in SCRIPT.split('"').skip(1).step_by(2) {
            let Some((area, word)) = literal.split_once('.') else {
                continue;
            };
            let is_key = ["sign_in", "register", "account", "error", "field"].contains(&area)
                && !word.is_empty()
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if is_key {
                named += 1;
                assert!(
                    strings.contains_key(literal),
                    "{literal} is not in strings.en.json"
                );
            }
        }
        assert!(named > 20, "{named}");
    }

    #[test]
    fn pages_have_no_inline_script_or_style() {
        let pages = rendered();
        for page in [&pages.sign_in, &pages.register, &pages.account] {
            let html = std::str::from_utf8(&page.body).unwrap();
            assert!(!html.contains("<script>"), "inline script");
            assert!(!html.contains("<style"), "inline style");
            assert!(!html.contains(" style="), "style attribute");
            let handler = html.split(" on").skip(1).any(|rest| {
                let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(!handler, "event handler attribute");
        }
    }

    #[test]
    fn html_is_escaped_and_unknown_placeholders_stay_visible() {
        let strings = BTreeMap::from([("a".to_owned(), "<b>&\"'".to_owned())]);
        assert_eq!(
            fill("x{{a}}y{{missing}}z{{raw}}", &[("raw", "<i>")], &strings),
            "x&lt;b&gt;&amp;&quot;&#39;y{{missing}}z<i>"
        );
        assert_eq!(fill("open {{a", &[], &strings), "open {{a");
    }
}
