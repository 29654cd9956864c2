//! Black-box tests of the `tessera` binary: the CLI contract, users and clients in the store,
//! interop with PyJWT, and the OpenAPI document fuzzed against a live `tessera serve` by
//! Schemathesis.
//!
//! The interop tests need Python with PyJWT (`pyjwt[crypto]`), the fuzzer Python with
//! Schemathesis: `scripts/test.sh` installs both into `.venv` and exports `TESSERA_TEST_PYTHON`.
//! Without them these tests fail, saying so; they never skip.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

mod accounts;
mod api_fuzz;
mod browser;
mod cli;
mod doctor;
mod examples;
mod feed;
mod forward;
mod interop;
mod keys;
mod one_origin;
mod operations;
mod review;
mod scaleout;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A key-encryption key for tests that keep signing keys in PostgreSQL (32 bytes, base64).
pub const TEST_KEK: &str = "dGVzc2VyYSB0ZXN0IGtleS1lbmNyeXB0aW9uIGtleSE=";

/// A scratch working directory with its own environment for the `tessera` binary.
pub struct Workdir {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Default for Workdir {
    fn default() -> Self {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }
}

impl Workdir {
    pub fn new() -> Self {
        Workdir::default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs `tessera ARGS` in this directory with only this environment's Tessera variables.
    pub fn tessera(&self, args: &[&str]) -> Output {
        self.tessera_with_stdin(args, None)
    }

    pub fn tessera_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write as _;
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command.args(args).current_dir(self.path());
        for (name, _) in std::env::vars() {
            if name.starts_with("JWT_")
                || name.starts_with("TESSERA_")
                || name == "DATABASE_URL"
                || name == "REDIS_URL"
            {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        command.stdin(std::process::Stdio::piped());
        command.stdout(std::process::Stdio::piped());
        command.stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }
}

/// stdout of a successful run, trimmed; panics with stderr otherwise.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "expected success, got {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

/// stderr of a failed run; panics if it succeeded or if stderr is not one line.
pub fn fails(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("note:")).collect();
    assert_eq!(lines.len(), 1, "one-line reason expected: {stderr}");
    lines[0].to_owned()
}

/// The Python interpreter with PyJWT: `TESSERA_TEST_PYTHON`, else the repo's `.venv`. Panics with
/// what to do when there is none or PyJWT is missing.
pub fn python() -> PathBuf {
    tessera_test_support::python::interpreter(
        "PyJWT interop (pyjwt[crypto])",
        &["jwt", "cryptography"],
    )
}
