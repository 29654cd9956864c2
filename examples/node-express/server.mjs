// An Express API that accepts Tessera's access tokens, with jose's createRemoteJWKSet: keys
// cached and refetched (once, with a cooldown) on an unknown `kid`; the algorithms pinned to
// Tessera's asymmetric ones; `typ: at+jwt`, `iss`, `aud`, `exp` checked by jwtVerify. It also
// follows Tessera's revocation feed (docs/revocation-feed.md), so a logged-out token is refused
// within a second, and answers 503 while the feed is stale.
//
//   TESSERA_URL=https://auth.example.com TESSERA_AUDIENCE=tessera \
//   TESSERA_CLIENT_ID=tsc_... TESSERA_CLIENT_SECRET=tss_... PORT=3000 node server.mjs

import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";

const issuer = process.env.TESSERA_URL.replace(/\/$/, "");
const audience = process.env.TESSERA_AUDIENCE ?? "tessera";
const algorithms = ["ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
if (metadata.issuer.replace(/\/$/, "") !== issuer) throw new Error("TESSERA_URL is not the issuer Tessera names");
const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));

// The revocation feed: a long poll from a cursor; entries kept in memory.
const revoked = { token: new Map(), session: new Map(), user: new Map() };
let cursor = 0;
let freshAt = 0;
const staleAfterMs = 15_000;
const auth = "Basic " + Buffer.from(`${process.env.TESSERA_CLIENT_ID}:${process.env.TESSERA_CLIENT_SECRET}`).toString("base64");
async function follow() {
  for (;;) {
    try {
      const wait = freshAt ? 10 : 0;
      const answer = await fetch(`${issuer}/oauth/revocations?after=${cursor}&wait=${wait}`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout((wait + 5) * 1000),
      });
      if (answer.status === 400) cursor = 0; // a cursor the record does not know: a new snapshot
      if (!answer.ok) throw new Error(`feed answered ${answer.status}`);
      const page = await answer.json();
      for (const entry of page.revocations) revoked[entry.kind].set(entry.value, entry);
      cursor = page.cursor;
      freshAt = Date.now();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
const followFeed = Boolean(process.env.TESSERA_CLIENT_ID);
if (followFeed) follow();

function isRevoked(claims) {
  const user = revoked.user.get(claims.sub);
  return revoked.token.has(claims.jti) || revoked.session.has(claims.sid) || (user !== undefined && claims.iat < user.not_before);
}

// Middleware: the verified claims in req.claims, or 401 (one generic answer), or 503 when blind.
async function authenticate(req, res, next) {
  const header = req.get("authorization") ?? "";
  const fail = () =>
    res.status(401).set("WWW-Authenticate", 'Bearer error="invalid_token"').json({ error: "invalid_token", error_description: "the access token is invalid or expired" });
  if (!header.toLowerCase().startsWith("bearer ")) return fail();
  try {
    const { payload } = await jwtVerify(header.slice(7).trim(), jwks, {
      issuer: metadata.issuer,
      audience,
      algorithms,
      typ: "at+jwt",
      requiredClaims: ["exp", "iat", "sub"],
    });
    if (followFeed) {
      if (Date.now() - freshAt > staleAfterMs) return res.status(503).json({ error: "temporarily_unavailable", error_description: "revocations cannot be checked right now" });
      if (isRevoked(payload)) return fail();
    }
    req.claims = payload;
    return next();
  } catch {
    return fail();
  }
}

const requireRole = (role) => (req, res, next) =>
  (req.claims.roles ?? []).includes(role)
    ? next()
    : res.status(403).set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="${role}"`).json({ error: "insufficient_scope", error_description: `the ${role} role is required` });

const app = express();
app.get("/me", authenticate, (req, res) => res.json({ user: req.claims.sub, roles: req.claims.roles ?? [] }));
app.get("/admin", authenticate, requireRole("admin"), (req, res) => res.json({ user: req.claims.sub, admin: true }));
app.listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
