//! The pages in a real browser: tests/browser/pages.test.mjs drives Debian's Chromium with
//! Playwright (`playwright-core`, no browser download) against real `tessera serve` processes
//! of this build. scripts/test.sh installs both when missing; without them this test fails
//! (saying what to install) unless `TESSERA_SKIP_BROWSER=1`.

use std::path::Path;
use std::process::Command;

/// Debian's Chromium, or the one `TESSERA_TEST_CHROMIUM` names.
fn chromium() -> String {
    std::env::var("TESSERA_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

#[test]
fn the_pages_work_in_chromium() {
    let suite = tessera_test_support::repository().join("tests/browser");
    let ready =
        suite.join("node_modules/playwright-core").exists() && Path::new(&chromium()).exists();
    if !ready && std::env::var("TESSERA_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!(
            "!!! SKIPPED: the browser tests (TESSERA_SKIP_BROWSER=1): the pages were not tested in \
             a browser"
        );
        return;
    }
    assert!(
        suite.join("node_modules/playwright-core").exists(),
        "tests/browser has no node_modules: run `npm ci --prefix tests/browser` (scripts/test.sh \
         does), or set TESSERA_SKIP_BROWSER=1"
    );
    assert!(
        Path::new(&chromium()).exists(),
        "{} is missing: install Debian's chromium package (scripts/test.sh does), or set \
         TESSERA_SKIP_BROWSER=1",
        chromium()
    );
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let output = Command::new("node")
        .args(["--test", "--test-concurrency=1", "pages.test.mjs"])
        .current_dir(&suite)
        .env("TESSERA_BIN", env!("CARGO_BIN_EXE_tessera"))
        .env("TESSERA_TEST_CHROMIUM", chromium())
        .env("TESSERA_BROWSER_SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs (scripts/test.sh installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    // The summary, the cold sign-in's numbers and where the screenshots are, for the log.
    for line in report.lines() {
        if line.starts_with("ok ") || line.starts_with("not ok ") || line.starts_with("# ") {
            println!("{line}");
        }
    }
    assert!(
        output.status.success(),
        "the browser tests failed:\n{report}\n{errors}"
    );
    assert!(
        report.contains("# pass ") && !report.contains("# pass 0"),
        "no browser test ran:\n{report}"
    );
    println!("screenshots of the pages: {}", screenshots.display());
}
