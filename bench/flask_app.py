"""The seed's stack, reproduced as a benchmark peer: Flask + PyJWT under gunicorn.

``GET /auth/me`` does the same verify-and-respond as Tessera's:

- the token from ``Authorization: Bearer <token>``;
- ``jwt.decode_complete`` with the algorithm pinned (ES256 with the public key from Tessera's JWKS,
  or HS256 with the same secret as Tessera, used as raw UTF-8 bytes), ``iss`` and ``aud`` checked
  and ``exp``, ``iat``, ``iss``, ``aud``, ``sub``, ``jti`` required, default 0 s leeway replaced by
  Tessera's 30 s; then ``typ`` must be ``at+jwt`` (RFC 9068), as Tessera requires;
- a deny-list check of ``jti`` and ``sid``. The seed kept its blacklist in Redis; here it is an
  in-process ``set`` (empty, as Tessera's is during the benchmark), so the peer pays no network
  round trip: this favours Flask;
- ``{sub, username, created_at}`` from an in-memory dict (Tessera reads the user from SQLite).

``GET /healthz`` answers ``{"status": "ok"}`` (the readiness probe of ``bench/run.sh``).

Configuration (environment): ``JWKS_FILE`` (ES256) or ``JWT_SECRET_KEY`` (HS256), ``JWT_ISSUER``,
``JWT_AUDIENCE``, ``BENCH_USERS`` (a JSON file ``{"<sub>": {"username": ..., "created_at": ...}}``).
Run: ``gunicorn -c bench/gunicorn.conf.py flask_app:app`` (see ``bench/run.sh``).
"""

import json
import os

import jwt
from flask import Flask, jsonify, request

ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ.get("JWT_AUDIENCE", "tessera")
LEEWAY = 30
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]

if os.environ.get("JWKS_FILE"):
    with open(os.environ["JWKS_FILE"], encoding="utf-8") as f:
        _jwk = json.load(f)["keys"][0]
    KEY = jwt.PyJWK(_jwk).key  # an EllipticCurvePublicKey, parsed once
    ALGORITHM = _jwk["alg"]
else:
    KEY = os.environ["JWT_SECRET_KEY"].encode("utf-8")
    ALGORITHM = "HS256"

with open(os.environ["BENCH_USERS"], encoding="utf-8") as f:
    USERS = json.load(f)

# The seed's blacklist lived in Redis; here it is in-process (see the module docstring).
DENIED_JTI = set()
DENIED_SID = set()

app = Flask(__name__)


def _unauthorized():
    response = jsonify(error="invalid_token")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@app.get("/auth/me")
def me():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _unauthorized()
    try:
        decoded = jwt.decode_complete(
            token.strip(),
            KEY,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=AUDIENCE,
            leeway=LEEWAY,
            options={"require": REQUIRED},
        )
    except jwt.InvalidTokenError:
        return _unauthorized()
    if decoded["header"].get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        return _unauthorized()
    claims = decoded["payload"]
    if claims["jti"] in DENIED_JTI or claims.get("sid") in DENIED_SID:
        return _unauthorized()
    user = USERS.get(claims["sub"])
    if user is None:
        return _unauthorized()
    return jsonify(sub=claims["sub"], username=user["username"], created_at=user["created_at"])


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
