// Tessera's pages in Debian's Chromium (headless), against a real `tessera serve` on 127.0.0.1.
// Run by crates/tessera/tests/it/browser.rs (`cargo test`), which passes TESSERA_BIN.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  PASSWORD,
  launchBrowser,
  registerUser,
  screenshotDir,
  servePage,
  sessionItems,
  signInThroughPage,
  sleep,
  startDelayingProxy,
  startTessera,
  watchedContext,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Runs `body` with a fresh Tessera and checks, at the end, that no page saw a CSP violation. */
async function withTessera(env, body) {
  const tessera = await startTessera(env);
  const watched = [];
  const open = async (options) => {
    const created = await watchedContext(browser, options);
    watched.push(created);
    return created.context;
  };
  try {
    await body(tessera, open);
    const problems = watched.flatMap((entry) => entry.problems);
    assert.deepEqual(problems, [], "no CSP violation and no script error on any page");
  } finally {
    for (const entry of watched) await entry.context.close().catch(() => {});
    await tessera.stop();
  }
}

const alertOf = (page) => page.getByRole("alert");
const statusOf = (page) => page.getByRole("status");

test("register, sign in, list sessions, sign another device out: it lands on /sign-in", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    const first = await open();
    const page = await first.newPage();
    await page.goto(`${base}/`);
    assert.equal(page.url(), `${base}/sign-in`, "/ without a session goes to /sign-in");
    await page.getByRole("link", { name: "Create account" }).click();
    await page.waitForURL(`${base}/register`);
    // The password rules are on the page before anything is submitted.
    assert.match(await page.locator("main").innerText(), /at least 8 characters/i);
    await page.getByLabel("Username").fill("ada");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(`${base}/account`);
    // Signing in again on this browser replaces its session rather than adding one; a failed
    // attempt changes nothing.
    await page.goto(`${base}/sign-in`);
    await page.getByLabel("Username").fill("ada");
    await page.getByLabel("Password", { exact: true }).fill("a typo in it");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await alertOf(page).filter({ hasText: "Wrong username or password." }).waitFor();
    await page.goto(`${base}/account`);
    await assertSessions(page, 1);
    await signInThroughPage(page, base, "ada");
    await assertSessions(page, 1);
    assert.equal(await page.locator("#username").innerText(), "ada");
    assert.match(await sessionItems(page).first().innerText(), /This device/);
    await page.goto(`${base}/`);
    assert.equal(page.url(), `${base}/account`, "/ with a session goes to /account");

    const second = await open();
    const other = await second.newPage();
    await signInThroughPage(other, base, "ada");
    await assertSessions(other, 2);
    // The first page's list shows the new session without a reload (it is polled while in view).
    await assertSessions(page, 2);
    const otherItem = sessionItems(page).filter({ hasNotText: "This device" });
    assert.equal(await otherItem.count(), 1);
    await otherItem.getByRole("button", { name: "Sign out", exact: true }).click();
    await statusOf(page).filter({ hasText: "signed out" }).waitFor();
    await assertSessions(page, 1);

    // The signed-out device's next action lands on the sign-in page.
    await other.reload();
    await other.waitForURL(`${base}/sign-in?next=/account`);
    assert.match(await statusOf(other).innerText(), /session ended/i);
  });
});

async function assertSessions(page, count) {
  await page.waitForFunction(
    (expected) => document.querySelectorAll("#sessions > li").length === expected,
    count,
  );
  assert.equal(await sessionItems(page).count(), count);
  assert.equal(await sessionItems(page).filter({ hasText: "This device" }).count(), 1);
  assert.equal(
    await sessionItems(page).getByRole("button", { name: "Sign out", exact: true }).count(),
    count - 1,
    "a Sign out button in the item of every other session",
  );
}

test("wrong and weak passwords are said in the alert region; keyboard-only sign-in", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "grace");
    const context = await open();
    const page = await context.newPage();
    await page.goto(`${base}/sign-in`);
    await page.getByLabel("Username").fill("grace");
    await page.getByLabel("Password", { exact: true }).fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await alertOf(page).filter({ hasText: "Wrong username or password." }).waitFor();
    assert.equal(page.url(), `${base}/sign-in`);

    await page.goto(`${base}/register`);
    await page.getByLabel("Username").fill("hopper");
    await page.getByLabel("Password", { exact: true }).fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    await alertOf(page).filter({ hasText: /at least 8 characters/ }).waitFor();
    await page.getByLabel("Password", { exact: true }).fill("password");
    await page.getByRole("button", { name: "Create account" }).click();
    await alertOf(page).filter({ hasText: /too common/ }).waitFor();
    await page.getByLabel("Username").fill("grace");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Create account" }).click();
    await alertOf(page).filter({ hasText: "That username is taken" }).waitFor();
    assert.equal(page.url(), `${base}/register`);

    // Keyboard only: Tab to each field, Enter to submit.
    const keyboard = await (await open()).newPage();
    await keyboard.goto(`${base}/sign-in?next=/account`);
    await keyboard.keyboard.press("Tab");
    assert.equal(await keyboard.evaluate(() => document.activeElement.id), "username");
    await keyboard.keyboard.type("grace");
    await keyboard.keyboard.press("Tab");
    assert.equal(await keyboard.evaluate(() => document.activeElement.id), "password");
    await keyboard.keyboard.type(PASSWORD);
    await keyboard.keyboard.press("Enter");
    await keyboard.waitForURL(`${base}/account`);
    await assertSessions(keyboard, 1);
  });
});

test("next is followed only to a path of this origin", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "lin");
    const page = await (await open()).newPage();
    for (const next of [
      "https://evil.example/",
      "//evil.example/x",
      "/\\evil.example",
      "javascript:alert(1)",
      // Paths that become "//host" once their dot segments are resolved (an attacker's review).
      "/.//evil.example/x",
      "/..//evil.example/x",
      "/a/..//evil.example/x",
      "/%2e//evil.example/x",
      "/a/..\\/evil.example/x",
    ]) {
      await page.goto(`${base}/sign-in?next=${encodeURIComponent(next)}`);
      await page.getByLabel("Username").fill("lin");
      await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.waitForURL(`${base}/account`);
    }
    await page.goto(`${base}/sign-in?next=${encodeURIComponent("/account?tab=1")}`);
    await page.getByLabel("Username").fill("lin");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${base}/account?tab=1`);
  });
});

test("change password, then sign out everywhere", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "turing");
    const page = await (await open()).newPage();
    await signInThroughPage(page, base, "turing");
    const other = await (await open()).newPage();
    await signInThroughPage(other, base, "turing");
    await page.reload();
    await assertSessions(page, 2);

    await page.getByLabel("Current password").fill("not it at all");
    await page.getByLabel("New password").fill("a brand new passphrase");
    await page.getByRole("button", { name: "Change password" }).click();
    await alertOf(page).filter({ hasText: "current password is not right" }).waitFor();
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel("New password").fill("a brand new passphrase");
    await page.getByRole("button", { name: "Change password" }).click();
    await statusOf(page).filter({ hasText: "Password changed" }).waitFor();
    // The other session is signed out by the change; this one stays.
    await assertSessions(page, 1);
    await other.reload();
    await other.waitForURL(`${base}/sign-in?next=/account`);

    await signInThroughPage(other, base, "turing", "a brand new passphrase");
    await page.reload();
    await assertSessions(page, 2);
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.waitForURL(`${base}/sign-in`);
    await statusOf(page).filter({ hasText: "You are signed out." }).waitFor();
    await other.reload();
    await other.waitForURL(`${base}/sign-in?next=/account`);
    await page.goto(`${base}/account`);
    await page.waitForURL(`${base}/sign-in?next=/account`);

    // The old password no longer works; Sign out (this device) ends on /sign-in.
    await page.getByLabel("Username").fill("turing");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await alertOf(page).filter({ hasText: "Wrong username or password." }).waitFor();
    await signInThroughPage(page, base, "turing", "a brand new passphrase");
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.waitForURL(`${base}/sign-in`);
    const left = await fetch(`${base}/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "turing", password: "a brand new passphrase" }),
    });
    const token = (await left.json()).access_token;
    const sessions = await (
      await fetch(`${base}/auth/sessions`, { headers: { Authorization: `Bearer ${token}` } })
    ).json();
    assert.equal(sessions.length, 1, "signing out ended the page's session: only this one is left");
  });
});

test("two tabs stay signed in across three access-token expiries (no grace)", async () => {
  await withTessera({ JWT_ACCESS_TTL: "2s" }, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "tabs");
    const context = await open();
    const one = await context.newPage();
    await signInThroughPage(one, base, "tabs");
    const two = await context.newPage();
    await two.goto(`${base}/account`);
    await assertSessions(two, 1);
    for (let expiry = 1; expiry <= 3; expiry += 1) {
      await sleep(2300);
      // Both tabs act at the same moment, each with an expired access token.
      await Promise.all([one.reload(), two.reload()]);
      for (const page of [one, two]) {
        await page.locator("#username").filter({ hasText: "tabs" }).waitFor();
        await assertSessions(page, 1);
        assert.equal(new URL(page.url()).pathname, "/account", `after expiry ${expiry}`);
      }
    }
  });
});

/**
 * Signs in, lets the access token expire, and has the page refresh while the answer of the
 * rotation is held back at a proxy `delays[i]` ms; meanwhile the user reloads, or closes the tab
 * and opens another (`leave[i]`). The user must stay signed in with one session.
 */
async function refreshInFlight(accessTtl, delays, leave) {
  await withTessera({ JWT_ACCESS_TTL: `${accessTtl}s` }, async (tessera, open) => {
    const proxy = await startDelayingProxy(tessera);
    try {
      const base = proxy.url;
      await registerUser(tessera, "leaver");
      const context = await open();
      let page = await context.newPage();
      await signInThroughPage(page, base, "leaver");
      for (let round = 1; round <= delays.length; round += 1) {
        // From now on the answer of a rotation is held back. The page refreshes on its own once
        // the access token has expired (its list of sessions is polled), or when it is nudged;
        // the moment the rotation has reached Tessera, the user leaves.
        proxy.state.delayMs = delays[round - 1];
        const before = proxy.state.refreshes;
        const started = Date.now();
        let nudged = false;
        while (proxy.state.refreshes === before && Date.now() - started < accessTtl * 1000 + 6000) {
          if (!nudged && Date.now() - started > accessTtl * 1000 + 300) {
            nudged = true;
            await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
          }
          await sleep(10);
        }
        assert.ok(proxy.state.refreshes > before, "the page sent a refresh");
        let current = page;
        if (leave[round - 1] === "reload") {
          await page.reload();
        } else {
          await page.close();
          current = await context.newPage();
          await current.goto(`${base}/account`);
          page = current;
        }
        await current
          .locator("#username")
          .filter({ hasText: "leaver" })
          .waitFor({ timeout: 15000 })
          .catch((error) => {
            throw new Error(`round ${round}: ${error.message}\n${current.url()}\n${proxy.state.log.slice(-60).map((e) => `${e.at} ${e.request} ${e.status}`).join("\n")}`);
          });
        assert.equal(new URL(current.url()).pathname, "/account", `round ${round}`);
        proxy.state.delayMs = 0;
        await assertSessions(current, 1);
      }
    } finally {
      await proxy.stop();
    }
  });
}

test("a refresh in flight when the page reloads or closes does not sign the user out", async () => {
  await refreshInFlight(2, [800, 800], ["reload", "close"]);
});

test("nor when its answer takes 6 s (longer than a page used to wait for it)", async () => {
  await refreshInFlight(9, [6000], ["reload"]);
});

test("another site can neither sign the browser in nor read anything", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "mallory");
    await registerUser(tessera, "victim");
    const target = `${base}/auth/login`;
    const attacker = await servePage(
      "localhost",
      `<!doctype html><html><body>
<form id="plain" method="post" enctype="text/plain" action="${target}">
<input name='{"username":"mallory","password":"${PASSWORD}","cookie_only":true,"x":"' value='"}'>
</form>
<form id="urlencoded" method="post" action="${target}">
<input name="username" value="mallory"><input name="password" value="${PASSWORD}">
</form>
</body></html>`,
    );
    try {
      const context = await open();
      const page = await context.newPage();
      // The text/plain trick: a body that parses as JSON, sent by a cross-site form.
      for (const form of ["plain", "urlencoded"]) {
        await page.goto(attacker.url);
        await Promise.all([page.waitForURL(`${base}/auth/login`), page.evaluate((id) => document.getElementById(id).submit(), form)]);
        const cookies = await context.cookies(base);
        assert.deepEqual(cookies.map((cookie) => cookie.name), [], `${form}: no session cookie was set`);
      }
      // And by script: blocked by CORS (no header for an unlisted origin).
      await page.goto(attacker.url);
      const scripted = await page.evaluate(async (url) => {
        const results = [];
        for (const init of [
          { method: "POST", credentials: "include", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "mallory", password: "correct horse battery staple", cookie_only: true }) },
          { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ username: "mallory", password: "correct horse battery staple", cookie_only: true }) },
        ]) {
          try {
            const response = await fetch(url, init);
            results.push(`answered ${response.type} ${response.status}`);
          } catch (error) {
            results.push(`refused ${error.name}`);
          }
        }
        return results;
      }, target);
      assert.deepEqual(scripted, ["refused TypeError", "answered opaque 0"]);
      assert.deepEqual(await context.cookies(base), [], "no script from another site signed the browser in");

      // The victim signs in; the other site can read nothing of theirs.
      await signInThroughPage(page, base, "victim");
      await page.goto(attacker.url);
      const read = await page.evaluate(async (origin) => {
        const results = [];
        for (const path of ["/auth/me", "/auth/sessions", "/account"]) {
          try {
            const response = await fetch(origin + path, { credentials: "include" });
            results.push(`${path} read ${response.status}`);
          } catch (error) {
            results.push(`${path} refused`);
          }
        }
        return results;
      }, base);
      assert.deepEqual(read, ["/auth/me refused", "/auth/sessions refused", "/account refused"]);
      await page.goto(`${base}/account`);
      await page.locator("#username").filter({ hasText: "victim" }).waitFor();
    } finally {
      await attacker.stop();
    }
  });
});

test("CORS: a listed origin calls /auth/* with credentials, an unlisted one gets nothing", async () => {
  const app = await servePage("127.0.0.1", "<!doctype html><title>app</title>");
  const stranger = await servePage("localhost", "<!doctype html><title>stranger</title>");
  try {
    await withTessera({ TESSERA_CORS_ORIGINS: app.url }, async (tessera, open) => {
      await registerUser(tessera, "corsy");
      const page = await (await open()).newPage();
      const script = async ({ base, password }) => {
        const outcome = [];
        try {
          const login = await fetch(`${base}/auth/login`, {
            method: "POST",
            credentials: "include",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ username: "corsy", password }),
          });
          const body = await login.json();
          outcome.push(`login ${login.status}`);
          const me = await fetch(`${base}/auth/me`, {
            credentials: "include",
            headers: { Authorization: `Bearer ${body.access_token}` },
          });
          outcome.push(`me ${me.status} ${(await me.json()).username}`);
        } catch (error) {
          outcome.push(`refused ${error.name}`);
        }
        return outcome;
      };
      await page.goto(app.url);
      assert.deepEqual(await page.evaluate(script, { base: tessera.url, password: PASSWORD }), [
        "login 200",
        "me 200 corsy",
      ]);
      await page.goto(stranger.url);
      assert.deepEqual(await page.evaluate(script, { base: tessera.url, password: PASSWORD }), [
        "refused TypeError",
      ]);
    });
  } finally {
    await app.stop();
    await stranger.stop();
  }
});

test("screenshots of every page, desktop and 360 px; a cold sign-in's requests and bytes", async () => {
  await withTessera({}, async (tessera, open) => {
    const base = tessera.url;
    await registerUser(tessera, "ada.lovelace");
    const dir = screenshotDir();
    // A second device, so that the account page lists one to sign out.
    const laptop = await (
      await open({
        userAgent:
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
      })
    ).newPage();
    await signInThroughPage(laptop, base, "ada.lovelace");
    for (const [label, viewport] of [
      ["desktop", { width: 1280, height: 860 }],
      ["mobile", { width: 360, height: 780 }],
    ]) {
      for (const scheme of ["light", "dark"]) {
        const context = await open({ viewport, colorScheme: scheme, deviceScaleFactor: 1 });
        const page = await context.newPage();
        await page.goto(`${base}/sign-in`);
        await page.screenshot({ path: path.join(dir, `sign-in-${label}-${scheme}.png`), fullPage: true });
        await page.goto(`${base}/register`);
        await page.getByLabel("Username").fill("ada.lovelace");
        await page.getByLabel("Password", { exact: true }).fill("short");
        await page.getByRole("button", { name: "Create account" }).click();
        await alertOf(page).waitFor();
        await page.screenshot({ path: path.join(dir, `register-${label}-${scheme}.png`), fullPage: true });
        await signInThroughPage(page, base, "ada.lovelace");
        await page.locator("#username").filter({ hasText: "ada.lovelace" }).waitFor();
        await page.screenshot({ path: path.join(dir, `account-${label}-${scheme}.png`), fullPage: true });
        // No horizontal scrolling at this width.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${label}: the account page is ${overflow}px wider than the window`);
        await page.getByRole("button", { name: "Sign out", exact: true }).and(page.locator("#sign-out")).click();
        await page.waitForURL(`${base}/sign-in`);
      }
    }
    console.log(`screenshots: ${dir}`);

    // A cold sign-in: a new browser profile opens /sign-in, signs in and sees its account.
    // Counted where they arrive (a proxy in front of Tessera): what the browser really fetched.
    const proxy = await startDelayingProxy(tessera);
    try {
      const page = await (await open()).newPage();
      await signInThroughPage(page, proxy.url, "ada.lovelace");
      await page.locator("#username").filter({ hasText: "ada.lovelace" }).waitFor();
      await sleep(300);
      const requests = proxy.state.log;
      const names = requests.map((entry) => entry.request.replace(/\.[0-9a-f]{10}\./, ".*."));
      assert.deepEqual(
        [names[0], ...names.slice(4)],
        [
          "GET /sign-in",
          "POST /auth/login",
          "GET /account",
          "GET /auth/me",
          "GET /auth/sessions",
        ],
        "a cold sign-in makes the requests its flow needs and no other",
      );
      assert.deepEqual(names.slice(1, 4).sort(), [
        "GET /assets/icon.*.svg",
        "GET /assets/tessera.*.css",
        "GET /assets/tessera.*.js",
      ], "the assets once each: /account takes them from the cache");
      const received = requests.reduce((sum, entry) => sum + entry.received, 0);
      const sent = requests.reduce((sum, entry) => sum + entry.sent, 0);
      console.log(`cold sign-in: ${requests.length} requests, ${received} bytes received, ${sent} bytes sent (uncompressed)`);
      for (const entry of requests) {
        console.log(`  ${entry.request} ${entry.status}: ${entry.received} bytes received, ${entry.sent} sent`);
      }
    } finally {
      await proxy.stop();
    }
  });
});
