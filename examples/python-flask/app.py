"""A Flask API that accepts Tessera's access tokens.

It verifies each token itself, from Tessera's JWK Set (PyJWT's PyJWKClient, keys cached for the
JWKS max-age), with every check a service must make: the signature with the algorithm the key
names (pinned by key, never taken from the token), `typ: at+jwt`, `iss`, `aud`, `exp`. Alone that
sees a revocation only when the token expires, so it also follows Tessera's revocation feed
(docs/revocation-feed.md) and refuses a logged-out token within a second, failing closed (503)
when the feed is stale.

    TESSERA_URL=https://auth.example.com TESSERA_AUDIENCE=tessera \\
    TESSERA_CLIENT_ID=tsc_... TESSERA_CLIENT_SECRET=tss_... PORT=5000 python app.py

TESSERA_URL is Tessera's `JWT_ISSUER`: the issuer and where its metadata is. The client (from
`tessera client add NAME`) is for the feed; without it the API sees revocations only at expiry.
"""

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request

import jwt
from flask import Flask, jsonify, request

ISSUER = os.environ["TESSERA_URL"].rstrip("/")
AUDIENCE = os.environ.get("TESSERA_AUDIENCE", "tessera")
# The asymmetric algorithms Tessera signs with; a JWK naming anything else is refused.
ALLOWED_ALGORITHMS = {"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

with urllib.request.urlopen(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=5) as answer:
    METADATA = json.load(answer)
assert METADATA["issuer"].rstrip("/") == ISSUER, "TESSERA_URL is not the issuer Tessera names"
JWKS = jwt.PyJWKClient(METADATA["jwks_uri"], cache_keys=True, lifespan=300)


class Revocations:
    """Follows GET /oauth/revocations (a long poll) and answers whether claims are revoked."""

    def __init__(self, issuer, client_id, client_secret, wait=10, stale_after=15.0):
        self.url = issuer + "/oauth/revocations"
        self.auth = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.jti, self.sid, self.user = {}, {}, {}
        self.cursor, self.fresh_at, self.wait, self.stale_after = 0, 0.0, wait, stale_after
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self):
        while True:
            try:
                wait = self.wait if self.fresh_at else 0
                request_ = urllib.request.Request(
                    f"{self.url}?after={self.cursor}&wait={wait}", headers={"Authorization": self.auth}
                )
                with urllib.request.urlopen(request_, timeout=self.wait + 5) as answer:
                    page = json.load(answer)
            except urllib.error.HTTPError as error:
                if error.code == 400:
                    self.cursor = 0  # a cursor the record does not know: a new snapshot
                time.sleep(1)
                continue
            except Exception:
                time.sleep(1)
                continue
            for entry in page["revocations"]:
                table = {"token": self.jti, "session": self.sid, "user": self.user}[entry["kind"]]
                table[entry["value"]] = entry
            self.cursor, self.fresh_at = page["cursor"], time.monotonic()

    def stale(self):
        return time.monotonic() - self.fresh_at > self.stale_after

    def revoked(self, claims):
        user = self.user.get(claims["sub"])
        return (
            claims.get("jti") in self.jti
            or claims.get("sid") in self.sid
            or (user is not None and claims["iat"] < user["not_before"])
        )


REVOCATIONS = (
    Revocations(ISSUER, os.environ["TESSERA_CLIENT_ID"], os.environ["TESSERA_CLIENT_SECRET"])
    if os.environ.get("TESSERA_CLIENT_ID")
    else None
)

app = Flask(__name__)


class Refused(Exception):
    def __init__(self, status, error, description, scope=None):
        super().__init__(description)
        self.status, self.error, self.description, self.scope = status, error, description, scope


@app.errorhandler(Refused)
def refused(exc):
    response = jsonify(error=exc.error, error_description=exc.description)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
    elif exc.status == 403:
        response.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{exc.scope}"'
    return response


def verified_claims():
    """The claims of the request's Bearer token, or Refused. One generic 401: no oracle."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise Refused(401, "invalid_token", "a Bearer access token is required")
    token = header[7:].strip()
    try:
        if jwt.get_unverified_header(token).get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("not an access token")
        key = JWKS.get_signing_key_from_jwt(token)
        if key.algorithm_name not in ALLOWED_ALGORITHMS:
            raise jwt.InvalidTokenError("unexpected key algorithm")
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],  # pinned by the key, never by the token
            audience=AUDIENCE,
            issuer=METADATA["issuer"],
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        raise Refused(401, "invalid_token", "the access token is invalid or expired") from None
    if REVOCATIONS is not None:
        if REVOCATIONS.stale():
            raise Refused(503, "temporarily_unavailable", "revocations cannot be checked right now")
        if REVOCATIONS.revoked(claims):
            raise Refused(401, "invalid_token", "the access token is invalid or expired")
    return claims


@app.get("/me")
def me():
    claims = verified_claims()
    return jsonify(user=claims["sub"], roles=claims.get("roles", []))


@app.get("/admin")
def admin():
    claims = verified_claims()
    if "admin" not in claims.get("roles", []):
        raise Refused(403, "insufficient_scope", "the admin role is required", scope="admin")
    return jsonify(user=claims["sub"], admin=True)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)
