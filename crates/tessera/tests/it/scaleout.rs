//! Two real `tessera serve` processes sharing PostgreSQL and Redis, as behind a load balancer:
//! accounts and sessions are shared, a revocation on one is enforced by the other within 100 ms,
//! a refresh race across both has one winner, failed logins add up across both; and the faults:
//! Redis flushed, Redis stopped (fail closed, then recovery), PostgreSQL connection loss.
//!
//! Needs `TESSERA_TEST_DATABASE_URL` and `TESSERA_TEST_REDIS_URL` (`scripts/test.sh` sets both);
//! each test gets its own database and Redis key prefix. The fault tests also start a Redis of
//! their own (`redis-server` on `PATH`, or `TESSERA_TEST_REDIS_SERVER`), since they stop and
//! flush it. Without the variables these tests fail, unless `TESSERA_SKIP_POSTGRES=1` or
//! `TESSERA_SKIP_REDIS=1` says to skip them.

use crate::operations::{documented_message, sample};
use crate::serve::Server;
use crate::Workdir;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tessera_test_support::{
    http, json, postgres as test_postgres, redis as test_redis, TestDatabase,
};

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const JSON: (&str, &str) = ("content-type", "application/json");

/// The PostgreSQL and Redis URLs of the test services, or `None` if explicitly skipped.
fn services() -> Option<(String, String)> {
    let what = "a two-instance test";
    Some((
        test_postgres::server_url(what)?,
        test_redis::server_url(what)?,
    ))
}

/// A fresh database of its own on the test PostgreSQL server (dropped when the value is).
fn fresh_database(admin_url: &str) -> TestDatabase {
    TestDatabase::create(admin_url, "tessera_scaleout")
}

/// The environment both instances share: one database and one HS256 secret. No
/// `TESSERA_REDIS_PREFIX`: the default prefix comes from the database's deployment id, so the
/// two instances share keys and every test's instances are apart from every other test's.
fn shared_workdir(database_url: &str, redis_url: &str) -> Workdir {
    let mut work = Workdir::new();
    work.set("DATABASE_URL", database_url)
        .set("REDIS_URL", redis_url)
        .set(
            "JWT_SECRET_KEY",
            "a-test-secret-of-more-than-32-bytes-for-hs256",
        )
        .set("TESSERA_RATE_LIMIT_PER_IP", "0")
        .set("RUST_LOG", "info");
    work
}

/// What two instances share and what must outlive them: their working directory (and
/// environment) and their database.
pub(crate) struct Shared {
    pub(crate) work: Workdir,
    pub(crate) database: TestDatabase,
}

/// Two instances sharing a fresh database and Redis (`redis`, or the shared test Redis), with
/// `settings` on top of [`shared_workdir`]'s; `None` when the services are explicitly skipped.
/// Keep the returned [`Shared`] bound (`_shared`, not `_`) for as long as the servers run.
pub(crate) fn cluster(
    redis: Option<&PrivateRedis>,
    settings: &[(&str, &str)],
) -> Option<(Shared, Server, Server)> {
    let (database_admin, shared_redis) = services()?;
    let database = fresh_database(&database_admin);
    let redis_url = redis.map_or(shared_redis, PrivateRedis::url);
    let mut work = shared_workdir(&database.url(), &redis_url);
    for (name, value) in settings {
        work.set(name, value);
    }
    let (a, b) = (Server::start(&work), Server::start(&work));
    Some((Shared { work, database }, a, b))
}

pub(crate) fn logout(server: &Server, access: &str) -> u16 {
    server
        .request(
            "POST",
            "/auth/logout",
            &[("authorization", &format!("Bearer {access}"))],
            "",
        )
        .0
}

pub(crate) fn credentials(username: &str, password: &str) -> String {
    format!(r#"{{"username":"{username}","password":"{password}"}}"#)
}

/// Registers `username` with [`PASSWORD`]; returns the user's id.
pub(crate) fn register(server: &Server, username: &str) -> String {
    let (status, body) = server.request(
        "POST",
        "/auth/register",
        &[JSON],
        &credentials(username, PASSWORD),
    );
    assert_eq!(status, 201, "{body}");
    json(&body)["id"].as_str().unwrap().to_owned()
}

/// Logs in; returns (access token, refresh token).
pub(crate) fn login(server: &Server, username: &str) -> (String, String) {
    let (status, body) = server.request(
        "POST",
        "/auth/login",
        &[JSON],
        &credentials(username, PASSWORD),
    );
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn me(server: &Server, access: &str) -> (u16, String) {
    server.request(
        "GET",
        "/auth/me",
        &[("authorization", &format!("Bearer {access}"))],
        "",
    )
}

/// Polls `probe` every 20 ms until it returns true, up to `limit`; returns how long it took.
pub(crate) fn until(limit: Duration, mut probe: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if probe() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_account_made_on_one_instance_logs_in_on_the_other_and_logout_reaches_it_within_100_ms() {
    let Some((_shared, a, b)) = cluster(None, &[]) else {
        return;
    };
    register(&a, "alice");
    let (access, refresh) = login(&b, "alice");
    assert_eq!(me(&a, &access).0, 200);
    assert_eq!(me(&b, &access).0, 200);

    // Logout on A; B must refuse the access token within 100 ms of A's answer.
    assert_eq!(logout(&a, &access), 204);
    let logged_out = Instant::now();
    let mut probes = 0;
    loop {
        probes += 1;
        if me(&b, &access).0 == 401 {
            break;
        }
        assert!(
            logged_out.elapsed() < Duration::from_millis(100),
            "B still accepted the token 100 ms after the logout on A ({probes} probes)"
        );
    }
    let elapsed = logged_out.elapsed();
    assert!(elapsed < Duration::from_millis(100), "{elapsed:?}");
    // The session's refresh token is dead on both.
    let (status, _) = b.request(
        "POST",
        "/auth/refresh",
        &[JSON],
        &format!(r#"{{"refresh_token":"{refresh}"}}"#),
    );
    assert_eq!(status, 401);
    // B reports the shared state as healthy.
    let (status, body) = b.get_json("/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redis"], "ok");
}

#[test]
fn a_refresh_race_split_across_two_instances_has_exactly_one_winner() {
    let Some((_shared, a, b)) = cluster(None, &[]) else {
        return;
    };
    register(&a, "bob");
    let (_, refresh) = login(&b, "bob");
    let ports = [a.port, b.port];
    let body = format!(r#"{{"refresh_token":"{refresh}"}}"#);
    let barrier = Arc::new(std::sync::Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|n| {
            let (barrier, body, port) = (barrier.clone(), body.clone(), ports[n % 2]);
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let request = format!(
                    "POST /auth/refresh HTTP/1.1\r\nHost: x\r\nConnection: close\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                barrier.wait();
                stream.write_all(request.as_bytes()).unwrap();
                let mut response = String::new();
                std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
                response.split_whitespace().nth(1).unwrap().parse::<u16>().unwrap()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[test]
fn failed_logins_on_two_instances_add_up_to_one_lockout() {
    let Some((_shared, a, b)) = cluster(None, &[("TESSERA_LOGIN_MAX_FAILURES", "4")]) else {
        return;
    };
    register(&a, "carol");
    let wrong = credentials("carol", "not the password at all");
    for server in [&a, &b, &a, &b] {
        assert_eq!(
            server.request("POST", "/auth/login", &[JSON], &wrong).0,
            401
        );
    }
    // Four failures spread over both: locked on both, even with the right password.
    for server in [&a, &b] {
        let (status, body) = server.request(
            "POST",
            "/auth/login",
            &[JSON],
            &credentials("carol", PASSWORD),
        );
        assert_eq!(status, 429, "{body}");
    }
}

/// A Redis of the test's own, which it may flush, stop and restart.
pub(crate) struct PrivateRedis {
    child: Option<Child>,
    pub(crate) port: u16,
}

impl PrivateRedis {
    /// Starts one on a free port. A port free when picked may be taken before redis-server binds
    /// it (by another test's server, or as the local port of a connection), so a start that
    /// fails is retried on another port.
    pub(crate) fn start() -> PrivateRedis {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut redis = PrivateRedis { child: None, port };
            if redis.try_restart() {
                return redis;
            }
        }
        panic!("no private redis-server answered, on five ports");
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) fn restart(&mut self) {
        assert!(self.try_restart(), "private redis-server answers");
    }

    /// Starts redis-server on this port; whether it answers (false if it exited, say because the
    /// port is taken).
    fn try_restart(&mut self) -> bool {
        let binary =
            std::env::var("TESSERA_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start `{binary}` (install redis-server or set TESSERA_TEST_REDIS_SERVER): {err}")
            });
        self.child = Some(child);
        let mut exited = false;
        until(Duration::from_secs(10), || {
            exited = self
                .child
                .as_mut()
                .is_none_or(|child| child.try_wait().ok().flatten().is_some());
            exited || self.cli(&["PING"]) == "PONG"
        })
        .is_some()
            && !exited
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn after_flushall_revocations_stay_enforced_and_redis_is_rebuilt_from_the_database() {
    let redis = PrivateRedis::start();
    let Some((_shared, mut a, mut b)) = cluster(Some(&redis), &[]) else {
        return;
    };
    register(&a, "dave");
    let (revoked, _) = login(&a, "dave");
    let (live, _) = login(&b, "dave");
    assert_eq!(logout(&a, &revoked), 204);
    // B applies it within milliseconds, not at once (more under load): wait, then flush.
    until(Duration::from_secs(1), || me(&b, &revoked).0 == 401).expect("the logout reaches B");
    assert!(
        redis.cli(&["KEYS", "*deny:sid:*"]).contains("deny:sid:"),
        "the revocation is in Redis with its TTL"
    );
    let rebuilt = r#"event="deny_list_rebuilt""#;
    let rebuilt_before = a.count_log(rebuilt) + b.count_log(rebuilt);
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    for server in [&a, &b] {
        assert_eq!(me(server, &revoked).0, 401, "still revoked after FLUSHALL");
        assert_eq!(me(server, &live).0, 200);
    }
    // Within seconds an instance notices, says so, and writes the entries back.
    until(Duration::from_secs(5), || {
        a.count_log(rebuilt) + b.count_log(rebuilt) > rebuilt_before
    })
    .expect("a log line saying the deny-list was rebuilt");
    let lost = r#"event="redis_deny_list_lost""#;
    assert!(a.count_log(lost) + b.count_log(lost) > 0);
    assert!(redis.cli(&["KEYS", "*deny:sid:*"]).contains("deny:sid:"));
    for server in [&a, &b] {
        assert_eq!(me(server, &revoked).0, 401);
    }
}

#[test]
fn with_redis_stopped_authenticated_requests_fail_closed_then_recover_on_their_own() {
    let mut redis = PrivateRedis::start();
    let Some((_shared, a, b)) = cluster(Some(&redis), &[]) else {
        return;
    };
    register(&a, "erin");
    let (access, _) = login(&b, "erin");
    assert_eq!(me(&a, &access).0, 200);

    redis.stop();
    let refused =
        until(Duration::from_secs(5), || me(&a, &access).0 == 503).expect("503 once Redis is gone");
    assert!(refused < Duration::from_secs(3), "{refused:?}");
    let (status, body) = a.request(
        "GET",
        "/auth/me",
        &[("authorization", &format!("Bearer {access}"))],
        "",
    );
    assert_eq!(status, 503);
    let body = json(&body);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Redis"),
        "{body}"
    );
    // B notices on its own (its subscription closes too), and says so.
    until(Duration::from_secs(5), || {
        let (status, body) = b.get_json("/readyz");
        status == 503 && body["redis"] == "unreachable"
    })
    .expect("B's /readyz reports Redis unreachable");
    // Credential endpoints cannot count attempts: refused too, never a hang.
    let started = Instant::now();
    let (status, _) = b.request(
        "POST",
        "/auth/login",
        &[JSON],
        &credentials("erin", PASSWORD),
    );
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_secs(5));

    redis.restart();
    for server in [&a, &b] {
        until(Duration::from_secs(10), || me(server, &access).0 == 200)
            .expect("recovers on its own once Redis is back");
        assert_eq!(server.request("GET", "/readyz", &[], "").0, 200);
    }
    // And the broadcast works again: a logout on B reaches A at once.
    assert_eq!(logout(&b, &access), 204);
    until(Duration::from_millis(100), || me(&a, &access).0 == 401)
        .expect("revocation propagated within 100 ms after the reconnect");
    // The shared throttle counters work again too.
    login(&a, "erin");
}

#[test]
fn a_user_disabled_by_the_cli_is_refused_by_every_instance_within_100_ms() {
    let Some((shared, a, b)) = cluster(None, &[]) else {
        return;
    };
    register(&a, "heidi");
    let (access, _) = login(&a, "heidi");
    assert_eq!(me(&b, &access).0, 200);
    crate::ok(&shared.work.tessera(&["user", "disable", "heidi"]));
    let disabled = Instant::now();
    for server in [&a, &b] {
        until(Duration::from_millis(100), || me(server, &access).0 == 401).unwrap_or_else(|| {
            panic!(
                "still accepted {:?} after `tessera user disable`",
                disabled.elapsed()
            )
        });
    }
}

#[test]
fn with_the_database_fallback_a_redis_outage_keeps_serving_and_revocations_still_propagate() {
    let mut redis = PrivateRedis::start();
    let Some((_shared, a, b)) = cluster(Some(&redis), &[("TESSERA_REDIS_FALLBACK", "database")])
    else {
        return;
    };
    register(&a, "frank");
    let (access, _) = login(&b, "frank");

    redis.stop();
    until(Duration::from_secs(5), || {
        let (status, body) = a.get_json("/readyz");
        status == 200 && body["redis"] == "unreachable_falling_back_to_database"
    })
    .expect("readyz reports the fallback");
    assert_eq!(
        me(&a, &access).0,
        200,
        "still served from the database-backed cache"
    );
    // Logins count locally meanwhile.
    login(&a, "frank");
    // A revocation on B reaches A through the database poll (every 100 ms).
    assert_eq!(logout(&b, &access), 204);
    let took = until(Duration::from_secs(2), || me(&a, &access).0 == 401)
        .expect("revocation reaches A without Redis");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every connection dropped, new ones
/// closed at once), stall (every connection dropped, new ones accepted and never answered: a
/// server that hangs) and restore.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accept_open, accept_connections) = (open.clone(), connections.clone());
        let accept_stalled = stalled.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if accept_stalled.load(Ordering::SeqCst) {
                    // Held open, never answered (dropped at `restore`).
                    accept_connections.lock().unwrap().push(client);
                    continue;
                }
                if !accept_open.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(target) else {
                    continue;
                };
                let mut tracked = accept_connections.lock().unwrap();
                tracked.push(client.try_clone().unwrap());
                tracked.push(upstream.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            open,
            stalled,
            connections,
        }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.stalled.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        self.open.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_lost_database_connection_gives_503_and_the_server_recovers_on_its_own() {
    let Some((database_admin, redis)) = services() else {
        return;
    };
    let database = fresh_database(&database_admin);
    let target: SocketAddr = database
        .host_port()
        .replace("localhost", "127.0.0.1")
        .parse()
        .unwrap();
    let proxy = Proxy::start(target);
    let proxied = database.url_via(&format!("127.0.0.1:{}", proxy.port));
    let work = shared_workdir(&proxied, &redis);
    let a = Server::start(&work);
    register(&a, "grace");
    let (_, refresh) = login(&a, "grace");

    proxy.cut();
    let started = Instant::now();
    let (status, body) = a.request(
        "POST",
        "/auth/login",
        &[JSON],
        &credentials("grace", PASSWORD),
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["error"], "temporarily_unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the request timeout"
    );
    let (status, _) = a.request(
        "POST",
        "/auth/refresh",
        &[JSON],
        &format!(r#"{{"refresh_token":"{refresh}"}}"#),
    );
    assert_eq!(status, 503);
    // Readiness follows the background check (every second).
    until(Duration::from_secs(3), || a.get_json("/readyz").0 == 503)
        .expect("not ready within a second or two of losing PostgreSQL");
    assert_eq!(a.get_json("/readyz").1["store"], "unreachable");
    assert_eq!(
        a.request("GET", "/healthz", &[], "").0,
        200,
        "alive, not ready"
    );

    proxy.restore();
    until(Duration::from_secs(15), || {
        a.request("GET", "/readyz", &[], "").0 == 200
    })
    .expect("ready again once PostgreSQL is reachable");
    login(&a, "grace");
}

/// `GET /metrics` of `server`.
fn scrape(server: &Server) -> String {
    let (status, text) = server.request("GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn while_postgresql_hangs_readiness_answers_at_once_and_the_signals_say_so() {
    let Some((database_admin, redis)) = services() else {
        return;
    };
    let database = fresh_database(&database_admin);
    let target: SocketAddr = database
        .host_port()
        .replace("localhost", "127.0.0.1")
        .parse()
        .unwrap();
    let proxy = Proxy::start(target);
    let proxied = database.url_via(&format!("127.0.0.1:{}", proxy.port));
    let mut work = shared_workdir(&proxied, &redis);
    // The default log filter, as an operator gets it.
    work.env.retain(|(name, _)| name != "RUST_LOG");
    let mut a = Server::start(&work);
    assert_eq!(a.get_json("/readyz").0, 200);
    assert_eq!(sample(&scrape(&a), "tessera_store_up"), Some(1.0));

    proxy.stall();
    until(Duration::from_secs(5), || a.get_json("/readyz").0 == 503)
        .expect("not ready within seconds of PostgreSQL hanging");
    // From state the background check keeps: never a wait on the pool.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, headers, body) = http::exchange(a.port, "GET", "/readyz", &[], "");
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert!(took < Duration::from_millis(100), "/readyz took {took:?}");
        assert!(
            headers.to_lowercase().contains("retry-after: 1"),
            "{headers}"
        );
        assert_eq!(json(&body)["store"], "unreachable");
    }
    let metrics = scrape(&a);
    assert_eq!(sample(&metrics, "tessera_store_up"), Some(0.0), "{metrics}");
    let lost = a.wait_for_log(&documented_message("store_lost"), Duration::from_secs(5));
    assert!(
        lost.contains(r#"event="store_lost""#) && lost.contains("WARN"),
        "{lost}"
    );
    // The deny-list ages, and is declared stale once checks stop trusting it (10 s).
    let stale = a.wait_for_log(
        &documented_message("deny_list_stale"),
        Duration::from_secs(20),
    );
    assert!(stale.contains(r#"event="deny_list_stale""#), "{stale}");
    let age = sample(&scrape(&a), "tessera_deny_list_sync_age_seconds").unwrap();
    assert!(age > 10.0, "{age}");
    assert_eq!(
        json(&a.request("GET", "/readyz", &[], "").1)["deny_list"],
        "stale"
    );

    proxy.restore();
    until(Duration::from_secs(15), || a.get_json("/readyz").0 == 200)
        .expect("ready again once PostgreSQL answers");
    let back = a.wait_for_log(&documented_message("store_back"), Duration::from_secs(5));
    assert!(
        back.contains(r#"event="store_back""#) && back.contains("down_s="),
        "{back}"
    );
    a.wait_for_log(
        &documented_message("deny_list_current"),
        Duration::from_secs(5),
    );
    let metrics = scrape(&a);
    assert_eq!(sample(&metrics, "tessera_store_up"), Some(1.0));
    assert!(sample(&metrics, "tessera_deny_list_sync_age_seconds").unwrap() < 3.0);
    // Each state change once, not once per failed request or check.
    assert_eq!(a.count_log(r#"event="store_lost""#), 1);
    assert_eq!(a.count_log(r#"event="deny_list_stale""#), 1);
    assert_eq!(a.count_log(r#"event="deny_list_sync_failed""#), 1);
    assert_eq!(
        a.count_log("sqlx::"),
        0,
        "the driver's notices are off by default"
    );
}
