// Tessera's pages: sign-in, registration and the account page.
//
// The server prepends `const T = {...};`, the string catalogue (strings.en.json), so that every
// text a user reads is in one place. This script never sees a token: the session lives in
// HttpOnly cookies, and it sends the CSRF cookie's value in `X-CSRF-Token` on every call that
// changes state.
"use strict";

(() => {
  const CSRF_COOKIE = "__Host-tessera-csrf";
  // Tabs of one browser refresh one at a time (Web Locks): two refreshes with one refresh token
  // would look like a stolen token to the server, which then ends the session.
  const REFRESH_LOCK = "tessera-refresh";
  // When the last refresh of this browser landed, and when the last one left (localStorage, so
  // that every tab and the next page of this tab see it).
  const REFRESH_DONE = "tessera.refresh.done";
  const REFRESH_SENT = "tessera.refresh.sent";
  // How long a page waits for the answer to a refresh that an earlier page sent before it went
  // away (a reload, a click, a closed tab): the request outlives the page (`keepalive`), and its
  // answer sets the new cookies; presenting the old refresh token meanwhile would be reuse.
  // The server gives a request 10 s; a margin on top.
  const ORPHAN_WAIT_MS = 15000;
  const RETRY_PAUSE_MS = 200;
  const MAX_ATTEMPTS = 90;
  const NOTICE = "tessera.notice";
  // How often the account page asks for the list of sessions while it is in view.
  const SESSIONS_POLL_MS = 4000;

  const lang = document.documentElement.lang || "en";

  /** The catalogue's text for `key`, with `{name}` placeholders filled from `values`. */
  function t(key, values) {
    let text = Object.prototype.hasOwnProperty.call(T, key) ? T[key] : key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const at = part.indexOf("=");
      if (at > 0 && part.slice(0, at).trim() === CSRF_COOKIE) {
        return part.slice(at + 1).trim();
      }
    }
    return "";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function readTime(key) {
    try {
      return Number(localStorage.getItem(key)) || 0;
    } catch {
      return 0;
    }
  }

  function writeTime(key, value) {
    try {
      if (value) localStorage.setItem(key, String(value));
      else localStorage.removeItem(key);
    } catch {
      // Storage refused (private mode quota): tabs then coordinate by the lock alone.
    }
  }

  function withRefreshLock(work) {
    if (navigator.locks && typeof navigator.locks.request === "function") {
      return navigator.locks.request(REFRESH_LOCK, work);
    }
    return work();
  }

  /**
   * After a 401 to a request sent at `sentAt`: "renewed" when this page refreshed the session,
   * "retry" when another tab did after the request left, "wait" when a refresh sent by a page
   * that is gone may still land, "signed-out" when the session is over.
   */
  function renewSession(sentAt) {
    return withRefreshLock(async () => {
      const done = readTime(REFRESH_DONE);
      if (done > sentAt) return "retry"; // another tab refreshed after the request left
      const sent = readTime(REFRESH_SENT);
      if (sent > done && Date.now() - sent < ORPHAN_WAIT_MS) return "wait";
      writeTime(REFRESH_SENT, Date.now());
      let response;
      try {
        response = await fetch("/auth/refresh", {
          method: "POST",
          credentials: "same-origin",
          keepalive: true, // the rotation must land even if this page goes away meanwhile
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ cookie_only: true }),
        });
      } catch {
        // No answer: the server may still have rotated the token (this also happens when the
        // page goes away while the request is out), so the mark stays and the next page waits
        // for the answer to land before it presents the token again.
        throw new Error("unreachable");
      }
      if (response.ok) {
        writeTime(REFRESH_DONE, Date.now());
        return "renewed";
      }
      // A 5xx may come after the rotation was stored (a timeout): like no answer, the mark
      // stays. A 429 was refused before any rotation.
      if (response.status >= 500) throw new Error("busy");
      writeTime(REFRESH_SENT, 0);
      if (response.status === 429) throw new Error("busy");
      if (response.status === 400) {
        const body = await response.json().catch(() => ({}));
        if (String(body.error_description || "").includes("twice")) {
          // Not the end of the session but a request the server will not take (a cookie sent
          // twice, planted by another site): say what it says rather than sign the user out.
          throw new Refusal(sentence(body.error_description));
        }
      }
      return "signed-out";
    });
  }

  /**
   * A call to the API with the session's cookies. On a 401 the session is renewed (or a renewal
   * by another tab, or by a page that went away, is waited for) and the call is made again; a
   * 401 after this page's own renewal means the session is over.
   */
  async function api(method, path, body) {
    let renewedHere = false;
    let waited = false;
    for (let attempt = 1; ; attempt += 1) {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
      const sentAt = Date.now();
      const response = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status !== 401 && waited) {
        // The refresh a page that went away had sent has landed (its cookies work): say so to
        // every tab, which would otherwise wait for it too.
        writeTime(REFRESH_DONE, Date.now());
        writeTime(REFRESH_SENT, 0);
      }
      if (response.status !== 401 || renewedHere || attempt >= MAX_ATTEMPTS) return response;
      const verdict = await renewSession(sentAt);
      if (verdict === "signed-out") return response;
      if (verdict === "renewed") renewedHere = true;
      if (verdict === "wait") {
        waited = true;
        await sleep(RETRY_PAUSE_MS);
      }
    }
  }

  /** A refusal whose words are for the user. */
  class Refusal extends Error {}

  function setNotice(key) {
    try {
      sessionStorage.setItem(NOTICE, key);
    } catch {
      // No notice then: the page still says what to do.
    }
  }

  function takeNotice() {
    try {
      const key = sessionStorage.getItem(NOTICE);
      sessionStorage.removeItem(NOTICE);
      return key;
    } catch {
      return null;
    }
  }

  /** `/sign-in?next=PATH` for the current page (a path of this origin, `/` kept readable). */
  function signInUrlForHere() {
    return `/sign-in?next=${encodeURIComponent(location.pathname).replace(/%2F/gi, "/")}`;
  }

  function toSignIn(notice) {
    if (notice) setNotice(notice);
    location.replace(notice === "sign_in.session_ended" ? signInUrlForHere() : "/sign-in");
  }

  /**
   * The `next` query parameter as a whole URL of this origin, if it names a path here;
   * otherwise `/account`. The URL is returned whole (never its path alone: `/..//host` has the
   * path `//host`, which a browser would take for another site).
   */
  function safeNext() {
    const next = new URLSearchParams(location.search).get("next");
    if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) {
      return "/account";
    }
    try {
      const url = new URL(next, location.origin);
      if (url.origin !== location.origin || url.pathname.startsWith("//")) return "/account";
      return url.href;
    } catch {
      return "/account";
    }
  }

  // Messages ---------------------------------------------------------------------------------

  function show(kind, text) {
    const alert = document.getElementById("alert");
    const status = document.getElementById("status");
    const target = kind === "error" ? alert : status;
    const other = kind === "error" ? status : alert;
    if (other) {
      other.hidden = true;
      other.textContent = "";
    }
    if (!target) return;
    target.textContent = text;
    target.hidden = !text;
  }

  function sentence(text) {
    const trimmed = String(text || "").trim();
    if (!trimmed) return t("error.generic");
    const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
    return /[.!?]$/.test(capital) ? capital : `${capital}.`;
  }

  // The API's descriptions of the refusals a user can fix (its protocol, in English), and the
  // catalogue's words for each.
  const REFUSALS = {
    "password must be at least 8 characters long": "error.password_too_short",
    "password must be at most 1024 characters long": "error.password_too_long",
    "password is too common: it is among the 10000 most used passwords": "error.password_common",
    "password must not be the same as the username": "error.password_same_as_username",
    "new_password must differ from current_password": "error.password_unchanged",
    "current_password is incorrect": "error.current_password",
    "username must be at least 3 characters long": "error.username_too_short",
    "username must be at most 64 characters long": "error.username_too_long",
    "username may contain only ASCII letters, digits, dot, underscore and hyphen":
      "error.username_characters",
    "username must start with an ASCII letter or digit": "error.username_start",
  };

  /** Words for a refused call, from the catalogue where the refusal is known. */
  async function describe(response) {
    let body = {};
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    if (response.status === 429) {
      return t("error.too_many", { seconds: response.headers.get("Retry-After") || "60" });
    }
    if (response.status >= 500) return t("error.busy");
    if (body.error === "invalid_grant") return t("error.invalid_credentials");
    if (body.error === "username_taken") return t("error.username_taken");
    const known = Object.prototype.hasOwnProperty.call(REFUSALS, body.error_description)
      ? REFUSALS[body.error_description]
      : null;
    if (known) return t(known);
    if (body.error_description && response.status < 500) return sentence(body.error_description);
    return t("error.generic");
  }

  function busy(button, on) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (button.dataset.busy) button.textContent = button.dataset.busy;
    } else {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (button.dataset.label) button.textContent = button.dataset.label;
    }
  }

  function markInvalid(input, invalid) {
    if (!input) return;
    if (invalid) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  /** Checks that the fields are filled in, says which is not, and focuses it. */
  function filledIn(fields) {
    for (const [input, key] of fields) markInvalid(input, false);
    for (const [input, key] of fields) {
      if (!input.value) {
        markInvalid(input, true);
        show("error", t(key));
        input.focus();
        return false;
      }
    }
    return true;
  }

  /**
   * Signs in. A browser holds one session: when it already has one of the same user (an earlier
   * sign-in), that one is signed out once the new one exists, rather than left behind in the
   * account's list; a failed attempt changes nothing.
   */
  async function signIn(username, password) {
    let previous = null;
    if (csrfToken()) {
      try {
        const listed = await api("GET", "/auth/sessions");
        if (listed.ok) previous = ((await listed.json()).find((session) => session.current) || {}).id;
      } catch {
        previous = null;
      }
    }
    const response = await fetch("/auth/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password, cookie_only: true }),
    });
    if (response.ok) {
      writeTime(REFRESH_DONE, Date.now());
      writeTime(REFRESH_SENT, 0);
      if (previous) {
        try {
          // Another user's session is not this one's to end (404): it stays theirs to sign out.
          await api("DELETE", `/auth/sessions/${encodeURIComponent(previous)}`);
        } catch {
          // Out of reach: the old session's cookies are gone from this browser anyway.
        }
      }
    }
    return response;
  }

  // Pages ------------------------------------------------------------------------------------

  /**
   * The Username/Password form `formId`: checks that both are filled in, marks the button busy,
   * and runs `submit(username, password)`, which answers "left" when the page is going away.
   */
  function credentialsForm(formId, submit) {
    const form = document.getElementById(formId);
    const username = document.getElementById("username");
    const password = document.getElementById("password");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = [
        [username, "error.missing_username"],
        [password, "error.missing_password"],
      ];
      if (!filledIn(fields)) return;
      busy(button, true);
      try {
        if ((await submit(username, password)) === "left") return;
      } catch {
        show("error", t("error.unreachable"));
      }
      busy(button, false);
    });
  }

  function signInPage() {
    const notice = takeNotice();
    if (notice) show("status", t(notice));
    credentialsForm("sign-in-form", async (username, password) => {
      show("status", "");
      const response = await signIn(username.value, password.value);
      if (response.ok) {
        location.assign(safeNext());
        return "left";
      }
      show("error", await describe(response));
      if (response.status === 401) {
        password.value = "";
        markInvalid(password, true);
        password.focus();
      }
      return "stayed";
    });
  }

  function registerPage() {
    credentialsForm("register-form", async (username, password) => {
      const response = await fetch("/auth/register", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: username.value, password: password.value }),
      });
      if (response.status === 201) {
        show("status", t("register.created"));
        const signedIn = await signIn(username.value, password.value);
        location.assign(signedIn.ok ? safeNext() : "/sign-in");
        return "left";
      }
      const text = await describe(response);
      show("error", text);
      const aboutUsername = [
        "error.username_taken",
        "error.username_too_short",
        "error.username_too_long",
        "error.username_characters",
        "error.username_start",
      ].some((key) => t(key) === text);
      const field = aboutUsername ? username : password;
      markInvalid(field, true);
      field.focus();
      return "stayed";
    });
  }

  /** "Chrome on Linux" from a user agent, or the catalogue's unknown device. */
  function deviceName(agent) {
    if (!agent) return t("account.unknown_device");
    const browsers = [
      [/Edg(e|A|iOS)?\//, "Edge"],
      [/OPR\//, "Opera"],
      [/Firefox\/|FxiOS/, "Firefox"],
      [/Chrome\/|CriOS/, "Chrome"],
      [/Safari\//, "Safari"],
      [/curl\//, "curl"],
    ];
    const systems = [
      [/Windows/, "Windows"],
      [/iPhone|iPad|iPod/, "iOS"],
      [/Android/, "Android"],
      [/Mac OS X|Macintosh/, "macOS"],
      [/CrOS/, "ChromeOS"],
      [/Linux/, "Linux"],
    ];
    const browser = (browsers.find(([pattern]) => pattern.test(agent)) || [])[1];
    const system = (systems.find(([pattern]) => pattern.test(agent)) || [])[1];
    if (browser && system) return `${browser} · ${system}`;
    return browser || system || agent.slice(0, 60);
  }

  function formatDate(seconds) {
    if (!seconds) return "–";
    return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(
      new Date(seconds * 1000),
    );
  }

  function formatAgo(seconds) {
    if (!seconds) return "–";
    const delta = Math.round(seconds - Date.now() / 1000);
    const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    const units = [
      ["day", 86400],
      ["hour", 3600],
      ["minute", 60],
    ];
    for (const [unit, size] of units) {
      if (Math.abs(delta) >= size) return relative.format(Math.round(delta / size), unit);
    }
    return relative.format(0, "second");
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function accountPage() {
    const list = document.getElementById("sessions");
    const signOut = document.getElementById("sign-out");
    const everywhere = document.getElementById("sign-out-everywhere");
    const form = document.getElementById("password-form");
    const current = document.getElementById("current-password");
    const fresh = document.getElementById("new-password");
    const change = form.querySelector("button[type=submit]");

    /** Runs an API call; a session that is over (or a server out of reach) is dealt with here. */
    async function call(method, path, body) {
      let response;
      try {
        response = await api(method, path, body);
      } catch (error) {
        if (error instanceof Refusal) show("error", error.message);
        else if (error && error.message === "busy") show("error", t("error.busy"));
        else show("error", t("error.unreachable"));
        return null;
      }
      if (response.status === 401) {
        toSignIn("sign_in.session_ended");
        return null;
      }
      return response;
    }

    let shown = "";

    function renderSessions(sessions) {
      // Unchanged (same sessions, same activity): nothing to redraw.
      const signature = JSON.stringify(sessions);
      if (signature === shown) return;
      shown = signature;
      const items = sessions.map((session, index) => {
        const item = element("li", session.current ? "session current" : "session");
        const about = element("div");
        const device = element("div", "device");
        const deviceId = `session-${index}-device`;
        device.id = deviceId;
        device.append(element("span", "", deviceName(session.user_agent)));
        if (session.user_agent) device.title = session.user_agent;
        if (session.current) device.append(element("span", "badge", t("account.this_device")));
        const details = element("p", "details");
        details.append(
          element("span", "", `${t("account.ip")} ${session.ip || t("account.unknown_ip")}`),
          element("span", "", `${t("account.created")} ${formatDate(session.created_at)}`),
          element("span", "", `${t("account.last_used")} ${formatAgo(session.last_used_at)}`),
        );
        about.append(device, details);
        item.append(about);
        if (!session.current) {
          const button = element("button", "secondary", t("account.sign_out_session"));
          button.type = "button";
          button.setAttribute("aria-describedby", deviceId);
          button.dataset.session = session.id;
          button.addEventListener("click", () => endSession(session.id, button));
          item.append(button);
        }
        return item;
      });
      // Keep the keyboard where it was: the same session's button, if it still exists.
      const focused = document.activeElement && document.activeElement.dataset.session;
      list.replaceChildren(...items);
      if (focused) {
        const again = [...list.querySelectorAll("button")].find((b) => b.dataset.session === focused);
        if (again) again.focus();
      }
    }

    async function loadSessions() {
      const response = await call("GET", "/auth/sessions");
      if (!response) return;
      if (!response.ok) {
        show("error", await describe(response));
        return;
      }
      renderSessions(await response.json());
    }

    async function loadProfile() {
      const response = await call("GET", "/auth/me");
      if (!response) return false;
      if (!response.ok) {
        show("error", await describe(response));
        return false;
      }
      const me = await response.json();
      document.getElementById("username").textContent = me.username;
      document.getElementById("member-since").textContent = formatDate(me.created_at);
      const roles = Array.isArray(me.roles) && me.roles.length ? me.roles.join(", ") : t("account.no_roles");
      document.getElementById("roles").textContent = roles;
      return true;
    }

    async function endSession(id, button) {
      busy(button, true);
      const response = await call("DELETE", `/auth/sessions/${encodeURIComponent(id)}`);
      if (!response) return;
      if (response.status === 204) show("status", t("account.session_signed_out"));
      else if (response.status === 404) show("error", t("error.session_gone"));
      else show("error", await describe(response));
      await loadSessions();
    }

    async function end(path, button) {
      busy(button, true);
      let response = null;
      try {
        response = await api("POST", path);
      } catch {
        response = null;
      }
      if (response && !response.ok && response.status !== 401) {
        busy(button, false);
        show("error", await describe(response));
        return;
      }
      toSignIn("sign_in.signed_out");
    }

    signOut.addEventListener("click", () => end("/auth/logout", signOut));
    everywhere.addEventListener("click", () => end("/auth/logout-all", everywhere));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (
        !filledIn([
          [current, "error.missing_password"],
          [fresh, "error.missing_password"],
        ])
      ) {
        return;
      }
      busy(change, true);
      const response = await call("POST", "/auth/password", {
        current_password: current.value,
        new_password: fresh.value,
      });
      busy(change, false);
      if (!response) return;
      if (response.status === 204) {
        current.value = "";
        fresh.value = "";
        show("status", t("account.password_changed"));
        await loadSessions();
        return;
      }
      const text = await describe(response);
      show("error", text);
      const field = text === t("error.current_password") ? current : fresh;
      markInvalid(field, true);
      field.focus();
    });

    // The list stays current while the page is in view: a new sign-in elsewhere appears, and a
    // session ended elsewhere (this one included) is noticed without a click.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") loadSessions();
    });
    setInterval(() => {
      if (document.visibilityState === "visible") loadSessions();
    }, SESSIONS_POLL_MS);

    loadProfile().then((ok) => {
      if (ok) loadSessions();
    });
  }

  function start() {
    // The forms' buttons are disabled in the HTML: without this script a form would post the
    // password to the page itself.
    for (const button of document.querySelectorAll("form button[type=submit]")) {
      button.disabled = false;
    }
    const page = document.body.dataset.page;
    if (page === "sign-in") signInPage();
    else if (page === "register") registerPage();
    else if (page === "account") accountPage();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
