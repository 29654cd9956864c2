//! The rule for a test service's variable, once for PostgreSQL and Redis: set, the URL (the
//! caller then checks that the server answers); unset with the skip switch, a loud skip; unset
//! without it, a failure.

use std::io::Write as _;

/// A service the tests need, and the two variables that say where it is or that it is skipped.
pub(crate) struct Service {
    /// The service, for people: `PostgreSQL`, `Redis`.
    pub(crate) name: &'static str,
    /// The variable naming the server: `TESSERA_TEST_DATABASE_URL`.
    pub(crate) url_var: &'static str,
    /// The variable that, set to `1`, skips the tests when `url_var` is not set.
    pub(crate) skip_var: &'static str,
    /// An example value of `url_var`, for the failure message.
    pub(crate) example: &'static str,
}

impl Service {
    /// The URL from [`Self::url_var`], or `None` after a loud skip note when it is unset (or
    /// empty) and [`Self::skip_var`] is `1`. `what` names the test for the messages ("a
    /// PostgreSQL backend test").
    ///
    /// # Panics
    /// When the variable is unset and the skip switch is not `1`.
    pub(crate) fn url(&self, what: &str) -> Option<String> {
        let Service {
            name,
            url_var,
            skip_var,
            example,
        } = self;
        match std::env::var(url_var) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var(skip_var).as_deref() == Ok("1") => {
                // Straight to stderr: `eprintln!` would be captured, and shown only on failure.
                let _ = writeln!(
                    std::io::stderr(),
                    "!!! SKIPPED: {what}, because {skip_var}=1 and {url_var} is not set. This run \
                     does NOT test it against {name}. !!!"
                );
                None
            }
            _ => panic!(
                "{url_var} is not set: {what} needs a {name} server, e.g. {url_var}={example} \
                 (scripts/test.sh provisions one and sets it). To skip such tests knowingly, set \
                 {skip_var}=1."
            ),
        }
    }

    /// Fails the test, saying that the server named by [`Self::url_var`] does not answer.
    pub(crate) fn unreachable(&self, error: impl std::fmt::Display) -> ! {
        panic!(
            "{} is set but {} does not answer there: {error}",
            self.url_var, self.name
        )
    }
}
