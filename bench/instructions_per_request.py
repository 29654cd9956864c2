#!/usr/bin/env python3
"""Instructions the server executes per `GET /auth/me`, counted by valgrind (callgrind).

    bench/instructions_per_request.py [--requests N] [--zero-config] [--match-idle]
                                      LABEL=BINARY [LABEL=BINARY ...]

Wall-clock throughput on a shared 2-core machine moves by 20 % between identical runs; the count
of instructions a request costs does not (callgrind counts them, whatever else runs). For each
binary: starts `BINARY serve` under `valgrind --tool=callgrind` with an HS256 secret and a fresh
data directory, registers a user, logs in, sends `--requests` (default 1000) `GET /auth/me` on
one kept-alive connection, stops the server, and reads the total; then does the same with no
`/auth/me` request at all. The difference divided by the requests is the cost of one request
(start-up, registration and login cancel out). Needs valgrind (Debian's package); targets
127.0.0.1, bounded by the request count.

--zero-config starts the server with no key variable at all instead of the HS256 secret: ES256
with the key the binary keeps itself (a PEM file in the data directory before issue 12, stored in
the database under a generated key-encryption key since; made during start-up, which cancels out).

--match-idle measures the run with requests first and then keeps the run without requests idle,
connected, for as long as the requests took, so that work the server does on a timer (the
deny-list sync every second; in stored-key mode, the key ring's version read every 500 ms)
cancels out instead of being charged to the requests. Without it (the default, as in earlier
runs) that timer work during the request loop counts as request cost.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = "bench-password-0123456789"
SECRET = "an-hs256-secret-for-the-instruction-count-0123456789"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def total_instructions(binary, requests, zero_config=False, idle_seconds=0.0):
    """Total instructions of one server run, and the seconds its request loop took."""
    data = tempfile.mkdtemp(prefix="tessera-ir-")
    port = free_port()
    out = os.path.join(data, "callgrind.out")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "TESSERA_"))}
    env.update(
        TESSERA_DATA_DIR=os.path.join(data, "tessera-data"),
        TESSERA_BIND=f"127.0.0.1:{port}",
        JWT_ISSUER=f"http://127.0.0.1:{port}",
        TESSERA_RATE_LIMIT_PER_IP="0",
        RUST_LOG="warn",
    )
    if not zero_config:
        env.update(JWT_ALGORITHM="HS256", JWT_SECRET_KEY=SECRET)
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve"],
        env=env, cwd=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        connection = None
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"{binary} did not start under valgrind")

        def call(method, path, body=None, token=None):
            headers = {}
            if body is not None:
                headers["content-type"] = "application/json"
            if token:
                headers["authorization"] = f"Bearer {token}"
            connection.request(method, path, body=json.dumps(body) if body else None,
                               headers=headers)
            response = connection.getresponse()
            return response.status, response.read()

        call("POST", "/auth/register", {"username": "counter", "password": PASSWORD})
        status, body = call("POST", "/auth/login", {"username": "counter", "password": PASSWORD})
        assert status == 200, body
        token = json.loads(body)["access_token"]
        started = time.monotonic()
        for _ in range(requests):
            status, body = call("GET", "/auth/me", token=token)
            assert status == 200, body
        if idle_seconds:
            time.sleep(idle_seconds)
        loop_seconds = time.monotonic() - started
        connection.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(300)
    text = open(out).read()
    shutil.rmtree(data, ignore_errors=True)
    match = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    return int(match.group(1)), loop_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--zero-config", action="store_true",
                        help="no key variables: ES256 with the key the server keeps itself")
    parser.add_argument("--match-idle", action="store_true",
                        help="keep the run without requests idle as long as the requests took")
    parser.add_argument("binaries", nargs="+", metavar="LABEL=BINARY")
    args = parser.parse_args()
    for item in args.binaries:
        label, binary = item.split("=", 1)
        if args.match_idle:
            loaded, seconds = total_instructions(binary, args.requests, args.zero_config)
            base, _ = total_instructions(binary, 0, args.zero_config, idle_seconds=seconds)
        else:
            base, _ = total_instructions(binary, 0, args.zero_config)
            loaded, seconds = total_instructions(binary, args.requests, args.zero_config)
        notes = []
        if args.zero_config:
            notes.append("zero-config")
        if args.match_idle:
            notes.append("idle-matched")
        if notes:
            notes.append(f"request loop {seconds:.1f} s")
        notes = "; " + "; ".join(notes) if notes else ""
        print(f"{label}: {(loaded - base) / args.requests:,.0f} instructions per GET /auth/me "
              f"({args.requests} requests; totals {base:,} and {loaded:,}{notes})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
