//! `tessera doctor`: findings per check, the exit status, and that it neither creates anything
//! nor prints a secret.
//!
//! The tests against live servers use `TESSERA_TEST_DATABASE_URL` and `TESSERA_TEST_REDIS_URL`
//! (`scripts/test.sh` sets both). Without them they fail, unless `TESSERA_SKIP_POSTGRES=1` or
//! `TESSERA_SKIP_REDIS=1` says to skip them.

use crate::{ok, Workdir, TEST_KEK};
use std::os::unix::fs::PermissionsExt as _;
use tessera_test_support::{postgres as test_postgres, redis as test_redis};

/// A finished `tessera doctor` run.
struct Doctor {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Doctor {
    fn run(work: &Workdir) -> Doctor {
        let output = work.tessera(&["doctor"]);
        Doctor {
            status: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// `(level, check, message)` of every finding line (all lines but the summary).
    fn findings(&self) -> Vec<(&str, &str, &str)> {
        self.stdout
            .lines()
            .filter(|line| !line.starts_with("doctor:"))
            .map(|line| {
                let (level, rest) = line.split_once(' ').unwrap();
                let (check, message) = rest.trim_start().split_once(' ').unwrap();
                (level, check, message.trim_start())
            })
            .collect()
    }

    /// The messages of the findings at `level` for `check`.
    fn messages(&self, level: &str, check: &str) -> Vec<&str> {
        self.findings()
            .into_iter()
            .filter(|(l, c, _)| *l == level && *c == check)
            .map(|(_, _, message)| message)
            .collect()
    }

    /// Asserts a finding at `level` for `check` whose message contains `text`.
    fn expect(&self, level: &str, check: &str, text: &str) {
        assert!(
            self.messages(level, check).iter().any(|m| m.contains(text)),
            "expected `{level}  {check}` containing {text:?} in:\n{}",
            self.stdout
        );
    }

    fn expect_status(&self, status: i32) {
        assert_eq!(
            self.status,
            Some(status),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }

    fn assert_never_shows(&self, secret: &str) {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "{secret:?} was printed:\n{}{}",
            self.stdout,
            self.stderr
        );
    }

    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

#[test]
fn zero_configuration_passes_in_stored_mode_and_creates_nothing() {
    let work = Workdir::new();
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "key", "stored mode");
    doctor.expect("ok", "key", "the first start generates");
    for check in [
        "config",
        "previous-keys",
        "lifetimes",
        "database",
        "redis",
        "clock",
        "cookies",
        "issuer",
    ] {
        assert!(
            !doctor.messages("ok", check).is_empty(),
            "`ok  {check}` expected:\n{}",
            doctor.stdout
        );
    }
    doctor.expect("ok", "database", "SQLite");
    doctor.expect("ok", "redis", "single instance");
    assert_eq!(doctor.summary(), "doctor: 0 errors, 0 warnings");
    assert!(doctor.stderr.is_empty(), "{}", doctor.stderr);
    assert!(
        !work.path().join("tessera-data").exists(),
        "doctor must not create the data directory or a key"
    );
}

#[test]
fn a_too_short_secret_is_a_config_error_naming_the_variable_and_stops_there() {
    let mut work = Workdir::new();
    work.set("JWT_SECRET_KEY", "hunter2-hunter2");
    let doctor = Doctor::run(&work);
    doctor.expect_status(1);
    doctor.expect("error", "config", "JWT_SECRET_KEY");
    assert_eq!(doctor.findings().len(), 1, "{}", doctor.stdout);
    assert_eq!(doctor.summary(), "doctor: 1 error, 0 warnings");
    doctor.assert_never_shows("hunter2");
}

#[test]
fn a_placeholder_secret_passes_with_a_key_warning() {
    let mut work = Workdir::new();
    work.set("JWT_SECRET_KEY", "changemechangemechangemechangeme");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "key", "HS256");
    doctor.expect("warn", "key", "placeholder");
    doctor.assert_never_shows("changemechangeme");
}

#[test]
fn a_generated_random_secret_passes_without_warnings() {
    let mut work = Workdir::new();
    let secret = ok(&work.tessera(&["keygen", "--alg", "HS256"]));
    work.set("JWT_SECRET_KEY", &secret);
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "key", "HS256");
    assert_eq!(doctor.summary(), "doctor: 0 errors, 0 warnings");
    doctor.assert_never_shows(&secret);
}

#[test]
fn an_unreachable_database_is_an_error_that_hides_the_password() {
    let mut work = Workdir::new();
    work.set("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/x");
    let doctor = Doctor::run(&work);
    doctor.expect_status(1);
    doctor.expect("error", "database", "postgres://127.0.0.1:1/x");
    // Several instances without Redis, and a default issuer and generated key that cannot
    // serve several instances.
    doctor.expect("warn", "redis", "REDIS_URL is not set");
    doctor.expect("warn", "issuer", "default");
    doctor.expect("error", "key", "TESSERA_KEY_ENCRYPTION_KEY");
    doctor.assert_never_shows("hunter2");
}

#[test]
fn an_unreachable_redis_is_an_error_that_hides_the_password() {
    let mut work = Workdir::new();
    work.set("REDIS_URL", "redis://:hunter2@127.0.0.1:1");
    let doctor = Doctor::run(&work);
    doctor.expect_status(1);
    doctor.expect("error", "redis", "redis://127.0.0.1:1");
    doctor.assert_never_shows("hunter2");
}

#[test]
fn a_reachable_redis_is_ok_and_its_persistence_and_clock_are_checked() {
    let Some(url) = test_redis::server_url("a `tessera doctor` test") else {
        return;
    };
    let mut work = Workdir::new();
    work.set("REDIS_URL", &url);
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "redis", "answers");
    // Whatever the server's settings: reported either way (a warning when nothing is kept on
    // disk, or when CONFIG is disabled).
    let persistence = doctor
        .findings()
        .into_iter()
        .filter(|(level, check, message)| {
            *check == "redis"
                && ((*level == "ok" && message.starts_with("persistence"))
                    || (*level == "warn"
                        && (message.contains("nothing on disk")
                            || message.contains("persistence settings"))))
        })
        .count();
    assert_eq!(persistence, 1, "{}", doctor.stdout);
    doctor.expect("ok", "clock", "Redis");
}

#[test]
fn a_reachable_database_is_ok_and_its_clock_is_checked() {
    let Some(url) = test_postgres::server_url("a `tessera doctor` test") else {
        return;
    };
    let mut work = Workdir::new();
    work.set("DATABASE_URL", &url)
        .set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK);
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "database", "PostgreSQL");
    doctor.expect("ok", "clock", "PostgreSQL");
}

#[test]
fn an_http_issuer_on_another_host_is_a_cookie_warning() {
    let mut work = Workdir::new();
    work.set("JWT_ISSUER", "http://auth.example.com");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("warn", "cookies", "HTTPS");
    doctor.expect("ok", "issuer", "http://auth.example.com");

    let mut work = Workdir::new();
    work.set("JWT_ISSUER", "https://auth.example.com");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "cookies", "https");
}

#[test]
fn an_issuer_that_is_not_an_http_url_is_an_issuer_error() {
    for issuer in [
        "not-a-url",
        "https://auth.example.com/?tenant=1",
        "https://auth.example.com#x",
        "ftp://auth.example.com",
    ] {
        let mut work = Workdir::new();
        work.set("JWT_ISSUER", issuer);
        let doctor = Doctor::run(&work);
        doctor.expect_status(1);
        doctor.expect("error", "issuer", "JWT_ISSUER");
    }
    let mut work = Workdir::new();
    work.set("JWT_ISSUER", "https://auth.example.com/");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("warn", "issuer", "ends with `/`");
}

#[test]
fn the_default_issuer_on_a_public_bind_address_is_a_warning() {
    let mut work = Workdir::new();
    work.set("TESSERA_BIND", "0.0.0.0:8080");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("warn", "issuer", "TESSERA_BIND");
}

#[test]
fn the_default_issuer_on_another_loopback_port_is_a_warning_unless_jwt_issuer_is_set() {
    let mut work = Workdir::new();
    work.set("TESSERA_BIND", "127.0.0.1:38413");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect(
        "warn",
        "issuer",
        "TESSERA_BIND (127.0.0.1:38413), not 127.0.0.1:8080",
    );
    doctor.expect("warn", "issuer", "jwks_uri");

    work.set("JWT_ISSUER", "http://127.0.0.1:38413");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    assert!(
        doctor.messages("warn", "issuer").is_empty(),
        "{}",
        doctor.stdout
    );
    doctor.expect("ok", "issuer", "iss http://127.0.0.1:38413");
}

#[test]
fn key_files_are_loaded_and_checked_for_algorithm_and_permissions() {
    let mut work = Workdir::new();
    let key = work.path().join("es256.pem");
    let key_path = key.to_str().unwrap().to_owned();
    ok(&work.tessera(&["keygen", "--alg", "ES256", "--out", &key_path]));
    work.set("JWT_PRIVATE_KEY_FILE", &key_path);
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "key", "kid ");
    assert!(
        doctor.messages("warn", "key").is_empty(),
        "{}",
        doctor.stdout
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("warn", "key", "644");

    work.set("JWT_ALGORITHM", "RS256");
    let doctor = Doctor::run(&work);
    doctor.expect_status(1);
    doctor.expect("error", "key", "JWT_PRIVATE_KEY_FILE");
}

#[test]
fn previous_keys_that_do_not_load_are_errors() {
    let mut work = Workdir::new();
    let path = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
    let (current, old) = (path("current.pem"), path("old.pem"));
    ok(&work.tessera(&["keygen", "--alg", "ES256", "--out", &current]));
    ok(&work.tessera(&["keygen", "--alg", "RS256", "--out", &old]));
    work.set("JWT_PRIVATE_KEY_FILE", &current)
        .set("JWT_PREVIOUS_KEY_FILES", &format!("RS256:{old}"));
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "previous-keys", "1 previous key still verifies");

    let mut broken = Workdir::new();
    broken
        .set("JWT_PRIVATE_KEY_FILE", &current)
        .set("JWT_PREVIOUS_KEY_FILES", &format!("{old},/nonexistent.pem"));
    let doctor = Doctor::run(&broken);
    doctor.expect_status(1);
    doctor.expect("error", "previous-keys", &old);
    doctor.expect("error", "previous-keys", "/nonexistent.pem");
}

/// The configuration's rules are one list: doctor reports them and `tessera serve` logs the same
/// ones when it starts (it used to accept a configuration doctor called an error).
#[test]
fn lifetime_warnings_are_the_same_from_doctor_and_serve() {
    let mut work = Workdir::new();
    work.set("JWT_ACCESS_TTL", "2h")
        .set("JWT_REFRESH_TTL", "1h");
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("warn", "lifetimes", "refresh lifetime (1h)");
    doctor.expect("warn", "lifetimes", "short-lived");
    work.set("TESSERA_BIND", "127.0.0.1:0")
        .set("JWT_ISSUER", "http://127.0.0.1:1");
    let mut server = crate::serve::Server::start(&work);
    server.wait_for_log("refresh lifetime (1h)", std::time::Duration::from_secs(20));
    server.wait_for_log("short-lived", std::time::Duration::from_secs(5));
}

#[test]
fn doctor_reads_dotenv_like_every_command() {
    let work = Workdir::new();
    std::fs::write(
        work.path().join(".env"),
        "JWT_ISSUER=http://auth.example.com\n",
    )
    .unwrap();
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "config", ".env");
    doctor.expect("warn", "cookies", "auth.example.com");
}

#[test]
fn doctor_is_listed_in_the_help() {
    let work = Workdir::new();
    let help = ok(&work.tessera(&["--help"]));
    assert!(help.contains("doctor"), "{help}");
    assert!(ok(&work.tessera(&["doctor", "--help"])).contains("Usage"));
}

#[test]
fn the_schema_version_of_the_sqlite_database_is_reported() {
    let work = Workdir::new();
    Doctor::run(&work).expect_status(0);
    assert!(
        !work.path().join("tessera-data").exists(),
        "doctor creates nothing"
    );
    ok(&work.tessera_with_stdin(&["user", "add", "alice"], Some("a good long passphrase\n")));
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "database", "(current)");
    let version = doctor
        .messages("ok", "database")
        .into_iter()
        .find_map(|m| m.strip_prefix("schema version "))
        .expect("a schema version line");
    assert!(
        version.split(' ').next().unwrap().parse::<u32>().unwrap() >= 3,
        "{version}"
    );
}

#[test]
fn a_fresh_postgresql_database_then_a_migrated_one_show_their_schema_and_the_real_redis_prefix() {
    let Some(database) = test_postgres::TestDatabase::fresh("a `tessera doctor` test", "doctor")
    else {
        return;
    };
    let Some(redis) = test_redis::server_url("a `tessera doctor` test") else {
        return;
    };
    let mut work = Workdir::new();
    work.set("DATABASE_URL", &database.url())
        .set("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEK)
        .set("REDIS_URL", &redis);
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "database", "schema version 0 (empty)");
    doctor.expect("ok", "redis", "tessera:<the database's deployment id");

    // The CLI migrates, as `tessera serve` would.
    ok(&work.tessera_with_stdin(&["user", "add", "alice"], Some("a good long passphrase\n")));
    let doctor = Doctor::run(&work);
    doctor.expect_status(0);
    doctor.expect("ok", "database", "(current)");
    let id = {
        let url = database.url();
        tessera_test_support::block_on(async move {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let id: String = sqlx::query_scalar("SELECT id FROM deployment")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            id
        })
    };
    doctor.expect("ok", "redis", &format!("`tessera:{id}:`"));

    work.set("TESSERA_REDIS_PREFIX", "prod-eu:");
    Doctor::run(&work).expect("ok", "redis", "`prod-eu:` (TESSERA_REDIS_PREFIX)");
}
