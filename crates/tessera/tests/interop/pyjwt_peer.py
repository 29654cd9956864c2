"""PyJWT as an independent peer for Tessera's interop tests.

Usage (all output on stdout, one line):
  pyjwt_peer.py verify ALG KEY ISS AUD TOKEN   -> verified claims as JSON (header checked too)
  pyjwt_peer.py mint ALG KEY ISS AUD SUB KID [EXTRA_JSON]  -> a compact token
  pyjwt_peer.py kid ALG KEY                    -> the RFC 7638 thumbprint, computed here
  pyjwt_peer.py ecdsa-s low|high ALG TOKEN     -> the ES* token with S put in that half (s or n - s)

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


# The group orders n of the ECDSA curves (SEC 2 v2, sections 2.4.2, 2.5.2, 2.6.2).
ECDSA_ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    "ES512": 0x01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
}


def ecdsa_s(form, alg, token):
    """The token with its signature (r, s) as (r, s) or (r, n - s), whichever puts S in `form`:
    both verify, as ECDSA does not fix the sign of S. Python integers, independent of Tessera."""
    n = ECDSA_ORDERS[alg]
    signing_input, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    size = len(raw) // 2
    r, s = raw[:size], int.from_bytes(raw[size:], "big")
    if (s > n // 2) != (form == "high"):
        s = n - s
    return signing_input + "." + b64(r + s.to_bytes(size, "big"))


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
    elif command == "ecdsa-s":
        form, alg, token = argv[2], argv[3], argv[4]
        print(ecdsa_s(form, alg, token))
    elif command == "kid":
        print(thumbprint(alg, argv[3]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
