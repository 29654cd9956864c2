//! The Python interpreter of the independent peers (PyJWT for interop, `openapi-spec-validator`
//! for the OpenAPI document, Schemathesis for the API fuzzer), which `scripts/test.sh` installs,
//! at pinned versions, into the repository's `.venv`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The interpreter for `needed_for` ("PyJWT interop"), checked to import every module of
/// `modules` (`["jwt", "cryptography"]`): `TESSERA_TEST_PYTHON`, else the repository's
/// `.venv/bin/python`. The check runs once per interpreter and module list in a test binary.
///
/// # Panics
/// When there is no such interpreter or it lacks a module: a test that needs a peer fails, saying
/// what to do; it never skips.
pub fn interpreter(needed_for: &str, modules: &[&str]) -> PathBuf {
    static CHECKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let python = match std::env::var_os("TESSERA_TEST_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => crate::repository().join(".venv/bin/python"),
    };
    let import = format!("import {}", modules.join(", "));
    let key = format!("{} {import}", python.display());
    if CHECKED.lock().unwrap().contains(&key) {
        return python;
    }
    let output = Command::new(&python).args(["-c", &import]).output();
    let answer = match &output {
        Ok(output) if output.status.success() => {
            CHECKED.lock().unwrap().insert(key);
            return python;
        }
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        Err(error) => error.to_string(),
    };
    panic!(
        "{needed_for} needs Python with the modules {modules:?}, and `{}` answered `{import}` \
         with: {answer}. Run scripts/test.sh (it installs the pinned packages into .venv) or set \
         TESSERA_TEST_PYTHON to an interpreter that has them.",
        python.display()
    )
}
