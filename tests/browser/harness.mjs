// What the browser tests share: a real `tessera serve` on 127.0.0.1, Debian's Chromium driven by
// Playwright, small servers for other origins, and the CSP and script-error watch.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

/** The `tessera` binary under test (the Rust test that runs this suite passes it). */
export const TESSERA_BIN = process.env.TESSERA_BIN;
/** Debian's Chromium; never a browser downloaded by Playwright. */
export const CHROMIUM = process.env.TESSERA_TEST_CHROMIUM || "/usr/bin/chromium";
/** Where screenshots are written. */
export const SCREENSHOTS =
  process.env.TESSERA_BROWSER_SCREENSHOTS || path.join(os.tmpdir(), "tessera-screenshots");

export const PASSWORD = "correct horse battery staple";

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export { sleep };

/** Starts `tessera serve` in a fresh data directory; `stop()` ends it and removes the directory. */
export async function startTessera(extraEnv = {}) {
  if (!TESSERA_BIN) throw new Error("TESSERA_BIN must name the tessera binary");
  const dir = mkdtempSync(path.join(os.tmpdir(), "tessera-browser-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    TESSERA_DATA_DIR: path.join(dir, "data"),
    JWT_ISSUER: url,
    JWT_LEEWAY: "0",
    TESSERA_RATE_LIMIT_PER_IP: "100000",
    ...extraEnv,
  };
  const child = spawn(TESSERA_BIN, ["serve", "--bind", `127.0.0.1:${port}`], {
    cwd: dir,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log += chunk;
  });
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited: ${log}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 30000) throw new Error(`tessera serve did not start: ${log}`);
    await sleep(50);
  }
  return {
    url,
    port,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve();
        else child.once("exit", resolve);
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers `username` through the API (for tests whose subject is not registration). */
export async function registerUser(tessera, username, password = PASSWORD) {
  const response = await fetch(`${tessera.url}/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 201) {
    throw new Error(`register ${username}: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

/** Headless Debian Chromium, as the machine's notes say to start it. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A browser context whose pages report every CSP violation (the `securitypolicyviolation`
 * event and Chromium's console message) and every script error into `problems`.
 */
export async function watchedContext(browser, options = {}) {
  const context = await browser.newContext(options);
  const problems = [];
  await context.exposeBinding("__tesseraReportViolation", (_source, text) => {
    problems.push(`CSP violation: ${text}`);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      // eslint-disable-next-line no-undef
      window.__tesseraReportViolation(
        `${event.violatedDirective} blocked ${event.blockedURI} on ${document.location.pathname}`,
      );
    });
  });
  const watch = (page) => {
    page.on("console", (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to/i.test(text)) problems.push(`console: ${text}`);
    });
    page.on("pageerror", (error) => problems.push(`script error: ${error.message}`));
  };
  context.on("page", watch);
  return { context, problems };
}

/** A small HTTP server on `host` serving `html` at `/` (a page of another origin). */
export async function servePage(host, html) {
  const port = await freePort();
  const server = http.createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(typeof html === "function" ? html(request) : html);
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://${host}:${port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * A reverse proxy in front of Tessera that can hold back the answers to `POST /auth/refresh`
 * for `delayMs` after Tessera sent them (the request reaches Tessera at once): the answer of a
 * rotation is then still on its way when the page goes away.
 */
export async function startDelayingProxy(target) {
  const port = await freePort();
  // `log`: every request that reached Tessera through the proxy, with its status and the bytes
  // of the answer (headers and body) and of the request.
  const state = { delayMs: 0, refreshes: 0, log: [] };
  const server = http.createServer((request, response) => {
    const upstream = http.request(
      {
        host: "127.0.0.1",
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        const isRefresh = request.method === "POST" && request.url === "/auth/refresh";
        if (isRefresh) state.refreshes += 1;
        const chunks = [];
        answer.on("data", (chunk) => chunks.push(chunk));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          const headerBytes = answer.rawHeaders.reduce((sum, text) => sum + text.length + 2, 0);
          const requestHeaderBytes = request.rawHeaders.reduce((sum, text) => sum + text.length + 2, 0);
          state.log.push({
            request: `${request.method} ${request.url}`,
            at: Date.now() % 100000,
            status: answer.statusCode,
            received: body.length + headerBytes,
            sent: requestHeaderBytes + Number(request.headers["content-length"] || 0),
          });
          const send = () => {
            response.writeHead(answer.statusCode, answer.headers);
            response.end(body);
          };
          if (isRefresh && state.delayMs > 0) setTimeout(send, state.delayMs);
          else send();
        });
      },
    );
    upstream.on("error", () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

export function screenshotDir() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return SCREENSHOTS;
}

/** Signs in through the page, as a user would. */
export async function signInThroughPage(page, base, username, password = PASSWORD) {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByRole("list").getByRole("listitem").first().waitFor();
}

/** The session items the account page lists. */
export function sessionItems(page) {
  return page.locator("#sessions > li");
}
