#!/usr/bin/env python3
"""A password-change flood from one account while another user logs in (issue 9, item 4).

    bench/password_flood.py [--duration S] [--rounds N] [--flooders N] LABEL=BINARY [LABEL=BINARY ...]

For each binary, alternating over the rounds so that the drift of a shared machine hits all alike:
starts `BINARY serve` on 127.0.0.1 with a fresh data directory and the default settings (argon2id
at the production parameters, the default per-address and per-user limits), registers a victim
and an attacker, logs the attacker in, then for --duration seconds:

  - the flood: wrk (-t1, --flooders connections) on 127.0.0.1 posts `/auth/password` with the
    attacker's token and `new_password == current_password` (the cheapest way to make the server
    hash twice), as fast as the answers come back (bench/lua/password_flood.lua);
  - the victim: logs in from 127.0.0.2 (another client address, as a real victim would be), one
    login at a time, starting one every --victim-interval seconds (default 0.25 s: 240 a minute,
    under the default per-address limit of 600, so the victim is never refused for its own
    rate).

With --healthz-peer LABEL, each round also floods that binary's `GET /healthz` the same way (the
cheapest request there is): the peer that shows what any flood of cheap requests costs the victim
on this machine, so that what is left of the password flood's effect can be told from it.

It prints, per run, the victim's login latency (p50, p99, max, logins) and what the server
answered the flood (count per status, requests per second), then a summary of the medians over
the rounds. A run of the victim alone (no flood) comes first for each binary, as the floor.
Needs wrk (Debian's package); otherwise the standard library only. Targets 127.0.0.1 and
127.0.0.2, bounded in time.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PASSWORD = "bench-password-0123456789"
LUA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, body=None, headers=None, source="127.0.0.1", timeout=30):
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        data = json.dumps(body) if body is not None else None
        all_headers = {"content-type": "application/json"} if data else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Server:
    def __init__(self, binary):
        # A free port may be taken by someone else before the server binds it: try a few.
        for _ in range(5):
            try:
                self.start(binary)
                return
            except RuntimeError:
                self.stop()
        raise RuntimeError(f"{binary} did not start")

    def start(self, binary):
        self.data = tempfile.mkdtemp(prefix="tessera-flood-")
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "TESSERA_"))}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        env.update(
            TESSERA_DATA_DIR=self.data,
            TESSERA_BIND=f"127.0.0.1:{self.port}",
            JWT_ISSUER=f"http://127.0.0.1:{self.port}",
            RUST_LOG="warn",
        )
        self.process = subprocess.Popen(
            [binary, "serve"], env=env, cwd=self.data,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 60
        while time.time() < deadline and self.process.poll() is None:
            try:
                if request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{binary} did not start on port {self.port}")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run(binary, duration, flooders, flood, victim_interval):
    """One run; `flood` is None, or the wrk script to flood with."""
    server = Server(binary)
    try:
        for user in ("victim", "attacker"):
            status, body = request(server.port, "POST", "/auth/register",
                                   {"username": user, "password": PASSWORD})
            assert status == 201, body
        status, body = request(server.port, "POST", "/auth/login",
                               {"username": "attacker", "password": PASSWORD})
        assert status == 200, body
        token = json.loads(body)["access_token"]
        stop = time.time() + duration
        flood_process = None
        if flood:
            env = dict(os.environ, BENCH_LUA_DIR=LUA_DIR, BENCH_TOKEN=token,
                       BENCH_PASSWORD=PASSWORD)
            flood_process = subprocess.Popen(
                ["wrk", "-t1", f"-c{flooders}", f"-d{int(duration)}s", "--timeout", "10s",
                 "-s", os.path.join(LUA_DIR, flood),
                 f"http://127.0.0.1:{server.port}"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
        latencies = []
        victim_statuses = {}
        next_login = time.time()
        while time.time() < stop:
            time.sleep(max(0.0, next_login - time.time()))
            next_login += victim_interval
            started = time.perf_counter()
            status, _ = request(server.port, "POST", "/auth/login",
                                {"username": "victim", "password": PASSWORD},
                                source="127.0.0.2")
            latencies.append((time.perf_counter() - started) * 1000)
            victim_statuses[status] = victim_statuses.get(status, 0) + 1
        flood_summary = {}
        if flood_process is not None:
            output, _ = flood_process.communicate(timeout=duration + 60)
            lines = [line for line in output.splitlines() if line.startswith("BENCH ")]
            if not lines:
                raise RuntimeError(f"wrk gave no summary: {output}")
            flood_summary = json.loads(lines[-1][len("BENCH "):])
        return {
            "login_p50_ms": percentile(latencies, 0.50),
            "login_p99_ms": percentile(latencies, 0.99),
            "login_max_ms": max(latencies) if latencies else float("nan"),
            "logins": len(latencies),
            "victim_statuses": victim_statuses,
            "flood_rps": flood_summary.get("rps", 0.0),
            "flood_refused": flood_summary.get("non2xx", 0),
            "flood_requests": flood_summary.get("requests", 0),
            "flood_p99_ms": flood_summary.get("p99_ms", float("nan")),
        }
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--flooders", type=int, default=16)
    parser.add_argument("--victim-interval", type=float, default=0.25)
    parser.add_argument("--healthz-peer", metavar="LABEL")
    parser.add_argument("binaries", nargs="+", metavar="LABEL=BINARY")
    args = parser.parse_args()
    binaries = [item.split("=", 1) for item in args.binaries]
    results = {label: [] for label, _ in binaries}
    for label, binary in binaries:
        alone = run(binary, args.duration, args.flooders, None, args.victim_interval)
        print(f"{label:>8} alone  login p50 {alone['login_p50_ms']:7.1f} ms  "
              f"p99 {alone['login_p99_ms']:7.1f} ms  ({alone['logins']} logins "
              f"{alone['victim_statuses']})", flush=True)
    runs = [(label, binary, "password_flood.lua", label) for label, binary in binaries]
    if args.healthz_peer:
        binary = dict(binaries)[args.healthz_peer]
        peer = f"{args.healthz_peer}/healthz"
        results[peer] = []
        runs.append((args.healthz_peer, binary, "healthz_flood.lua", peer))
    for round_number in range(args.rounds):
        for _, binary, script, label in runs:
            result = run(binary, args.duration, args.flooders, script, args.victim_interval)
            results[label].append(result)
            print(f"{label:>8} flood  login p50 {result['login_p50_ms']:7.1f} ms  "
                  f"p99 {result['login_p99_ms']:7.1f} ms  max {result['login_max_ms']:7.1f} ms  "
                  f"({result['logins']} logins {result['victim_statuses']})  "
                  f"flood {result['flood_rps']:7.1f} req/s, {result['flood_refused']} of "
                  f"{result['flood_requests']} refused (4xx), flood p99 {result['flood_p99_ms']:.1f} ms",
                  flush=True)
    print("summary (medians over the rounds):")
    for label, runs in results.items():
        print(f"{label:>8}  victim login p99 {statistics.median(r['login_p99_ms'] for r in runs):.1f} ms, "
              f"p50 {statistics.median(r['login_p50_ms'] for r in runs):.1f} ms; "
              f"flood answered {statistics.median(r['flood_rps'] for r in runs):.0f} req/s")


if __name__ == "__main__":
    sys.exit(main())
