"""A FastAPI API that accepts Tessera's access tokens (the same checks as the Flask example).

Verifies each token from Tessera's JWK Set (PyJWT's PyJWKClient): the algorithm pinned by the
key, `typ: at+jwt`, `iss`, `aud`, `exp`; follows the revocation feed (docs/revocation-feed.md) so
a logged-out token is refused within a second, and answers 503 while the feed is stale.

    TESSERA_URL=https://auth.example.com TESSERA_AUDIENCE=tessera \\
    TESSERA_CLIENT_ID=tsc_... TESSERA_CLIENT_SECRET=tss_... PORT=8000 python app.py
"""

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request

import jwt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request

ISSUER = os.environ["TESSERA_URL"].rstrip("/")
AUDIENCE = os.environ.get("TESSERA_AUDIENCE", "tessera")
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
                    self.cursor = 0
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

app = FastAPI()


def invalid_token() -> HTTPException:
    return HTTPException(401, "the access token is invalid or expired", {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def claims(request: Request) -> dict:
    """The verified claims of the request's Bearer token (a FastAPI dependency)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise invalid_token()
    token = header[7:].strip()
    try:
        if jwt.get_unverified_header(token).get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("not an access token")
        key = JWKS.get_signing_key_from_jwt(token)
        if key.algorithm_name not in ALLOWED_ALGORITHMS:
            raise jwt.InvalidTokenError("unexpected key algorithm")
        verified = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=AUDIENCE,
            issuer=METADATA["issuer"],
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        raise invalid_token() from None
    if REVOCATIONS is not None:
        if REVOCATIONS.stale():
            raise HTTPException(503, "revocations cannot be checked right now")
        if REVOCATIONS.revoked(verified):
            raise invalid_token()
    return verified


def require_role(role: str):
    def check(verified: dict = Depends(claims)) -> dict:
        if role not in verified.get("roles", []):
            raise HTTPException(403, f"the {role} role is required", {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{role}"'})
        return verified

    return check


@app.get("/me")
def me(verified: dict = Depends(claims)):
    return {"user": verified["sub"], "roles": verified.get("roles", [])}


@app.get("/admin")
def admin(verified: dict = Depends(require_role("admin"))):
    return {"user": verified["sub"], "admin": True}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), log_level="warning")
