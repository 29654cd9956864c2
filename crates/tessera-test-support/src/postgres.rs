//! PostgreSQL for the tests: the server named by `TESSERA_TEST_DATABASE_URL`, and a fresh
//! database of a test's own on it, dropped when the test ends, passed or failed.

use crate::service::Service;
use crate::{block_on, on_own_thread, unique_name};
use sqlx::{Connection as _, PgConnection};

/// `TESSERA_TEST_DATABASE_URL`, skipped with `TESSERA_SKIP_POSTGRES=1`.
const POSTGRES: Service = Service {
    name: "PostgreSQL",
    url_var: "TESSERA_TEST_DATABASE_URL",
    skip_var: "TESSERA_SKIP_POSTGRES",
    example: "postgres://postgres@127.0.0.1:5432/test",
};

/// The URL of the test PostgreSQL server (and of a database on it to connect to for creating
/// others), after checking that it answers; `None` when PostgreSQL tests are explicitly skipped
/// (said loudly). `what` names the test in the messages ("a PostgreSQL backend test"). Blocking;
/// callable from async tests too.
///
/// # Panics
/// When `TESSERA_TEST_DATABASE_URL` is unset without `TESSERA_SKIP_POSTGRES=1`, or set and the
/// server does not answer: the rule of the [crate docs](crate).
pub fn server_url(what: &str) -> Option<String> {
    let url = POSTGRES.url(what)?;
    let answered = on_own_thread(|| {
        block_on(async {
            let connection = PgConnection::connect(&url).await?;
            connection.close().await
        })
    });
    if let Err(error) = answered {
        POSTGRES.unreachable(error);
    }
    Some(url)
}

/// A database of one test's own, created through the server's URL and dropped, with any
/// connection still open to it, when the value is dropped (so also when the test fails).
pub struct TestDatabase {
    /// The URL it was created through, used again to drop it.
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh, empty database on the test server, named `{tag}_{pid}_{time}_{n}`; `None` when
    /// PostgreSQL tests are explicitly skipped. `what` names the test for [`server_url`]'s
    /// messages; `tag` must be a lowercase SQL identifier. Blocking; callable from async tests.
    ///
    /// # Panics
    /// As [`server_url`], and when the database cannot be created.
    pub fn fresh(what: &str, tag: &str) -> Option<TestDatabase> {
        let admin_url = server_url(what)?;
        Some(TestDatabase::create(&admin_url, tag))
    }

    /// A fresh, empty database named `{tag}_{pid}_{time}_{n}`, created through `admin_url` (a
    /// PostgreSQL URL naming a database that exists). Blocking; callable from async tests.
    ///
    /// # Panics
    /// When PostgreSQL does not answer at `admin_url` or the database cannot be created.
    pub fn create(admin_url: &str, tag: &str) -> TestDatabase {
        let name = unique_name(tag);
        let created = on_own_thread(|| {
            block_on(async {
                let mut admin = PgConnection::connect(admin_url)
                    .await
                    .unwrap_or_else(|e| POSTGRES.unreachable(e));
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        });
        if let Err(error) = created {
            panic!("cannot create the test database {name}: {error}");
        }
        TestDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database: the server's URL with its database replaced (user, password,
    /// host and query parameters kept).
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    /// `host:port` of the server, as its URL has it (for a proxy in front of it).
    pub fn host_port(&self) -> &str {
        &self.admin_url[host_port_range(&self.admin_url)]
    }

    /// [`Self::url`] with `host_port` in place of the server's (to reach it through a proxy).
    pub fn url_via(&self, host_port: &str) -> String {
        // `url` differs from the server's URL only after the authority.
        let url = self.url();
        let range = host_port_range(&self.admin_url);
        format!("{}{host_port}{}", &url[..range.start], &url[range.end..])
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // No async drop: a thread with a runtime of its own drops the database, forcing off any
        // connection still open (a store the test did not close, or one left by a failure).
        // Best effort: a database left behind only costs disk space.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        on_own_thread(|| {
            block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
                    let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
                    let _ = admin.close().await;
                }
            });
        });
    }
}

/// Where `host:port` stands in a URL: after `scheme://` and any `userinfo@`, up to the path or
/// the query.
fn host_port_range(url: &str) -> std::ops::Range<usize> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    start..end
}

/// `url` with its database replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{database}?{query}", &base[..path]),
        None => format!("{}/{database}", &base[..path]),
    }
}

#[cfg(test)]
mod tests {
    use super::{with_database, TestDatabase};

    #[test]
    fn test_urls_name_the_test_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
        assert_eq!(
            with_database("postgres:///test?host=/run/postgresql", "t1"),
            "postgres:///t1?host=/run/postgresql"
        );
    }

    #[test]
    fn a_proxied_url_keeps_all_but_the_host_and_port() {
        // Not created: only the URL arithmetic. `forget` keeps Drop from reaching for a server.
        let database = TestDatabase {
            admin_url: "postgres://u:p@localhost:5432/test?sslmode=disable".into(),
            name: "t1".into(),
        };
        assert_eq!(database.host_port(), "localhost:5432");
        assert_eq!(
            database.url_via("127.0.0.1:6000"),
            "postgres://u:p@127.0.0.1:6000/t1?sslmode=disable"
        );
        std::mem::forget(database);
    }
}
