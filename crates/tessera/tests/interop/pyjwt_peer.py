"""PyJWT as an independent peer for Tessera's interop tests.

Usage (all output on stdout, one line):
  pyjwt_peer.py verify ALG KEY ISS AUD TOKEN   -> verified claims as JSON (header checked too)
  pyjwt_peer.py mint ALG KEY ISS AUD SUB KID [EXTRA_JSON]  -> a compact token
  pyjwt_peer.py kid ALG KEY                    -> the RFC 7638 thumbprint, computed here

KEY is a path to a PKCS#8 PEM private key, or for HS* the secret itself (raw UTF-8 bytes).
Algorithms are always pinned; iss, aud, exp, iat, sub and jti are required.
"""
import base64
import hashlib
import json
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization


def load_key(alg, key):
    if alg.startswith("HS"):
        return key.encode("utf-8"), key.encode("utf-8")
    with open(key, "rb") as handle:
        private = serialization.load_pem_private_key(handle.read(), password=None)
    return private, private.public_key()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(alg, key):
    """RFC 7638, written from the RFC: SHA-256 over the required members in lexicographic order."""
    _, public = load_key(alg, key)
    if alg.startswith("HS"):
        members = {"k": b64(key.encode("utf-8")), "kty": "oct"}
    else:
        jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(public))
        required = {"RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"], "OKP": ["crv", "kty", "x"]}
        members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode("utf-8")).digest())


def main(argv):
    command, alg = argv[1], argv[2]
    if command == "verify":
        key, iss, aud, token = argv[3], argv[4], argv[5], argv[6]
        _, public = load_key(alg, key)
        header = jwt.get_unverified_header(token)
        assert header["typ"] == "at+jwt", header
        assert header["kid"] == thumbprint(alg, key), (header["kid"], thumbprint(alg, key))
        claims = jwt.decode(
            token,
            public,
            algorithms=[alg],
            issuer=iss,
            audience=aud,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
        )
        print(json.dumps(claims, sort_keys=True))
    elif command == "mint":
        key, iss, aud, sub, kid = argv[3], argv[4], argv[5], argv[6], argv[7]
        extra = json.loads(argv[8]) if len(argv) > 8 else {}
        private, _ = load_key(alg, key)
        now = int(time.time())
        claims = {"iss": iss, "aud": aud, "sub": sub, "iat": now, "nbf": now, "exp": now + 300,
                  "jti": uuid.uuid4().hex, **extra}
        print(jwt.encode(claims, private, algorithm=alg, headers={"typ": "at+jwt", "kid": kid}))
    elif command == "kid":
        print(thumbprint(alg, argv[3]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
