//! A small blocking HTTP/1.1 client for a server on 127.0.0.1 (the real `tessera serve` process),
//! usable from plain threads: one connection per request, `Connection: close`, the answer read
//! to its end.

use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// How long a request may wait for its answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// One request to the server on 127.0.0.1:`port`, with `headers` and `body` (a
/// `Content-Length` is always sent); returns the status and the body.
///
/// # Panics
/// When the server cannot be reached, does not answer within 10 s, or answers something that is
/// not HTTP.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = exchange(port, method, path, headers, body);
    (status, body)
}

/// [`request`], also returning the response's header block (the lines after the status line,
/// as sent).
///
/// # Panics
/// As [`request`].
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(ANSWER_WITHIN)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let header_block = head.split_once("\r\n").map_or("", |(_, rest)| rest);
    (status, header_block.to_owned(), body.to_owned())
}

/// `GET path` on the server on 127.0.0.1:`port`: the status and the body as JSON (Tessera's JSON
/// answers carry a `Content-Length`, never chunks).
///
/// # Panics
/// As [`request`], and when the body is not JSON.
pub fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (status, body) = request(port, "GET", path, &[], "");
    (status, crate::json(&body))
}
