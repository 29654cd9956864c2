#!/usr/bin/env python3
"""Revocation propagation latency between two Tessera instances (issue 4).

    python3 bench/propagation.py --a http://127.0.0.1:28090 --b http://127.0.0.1:28091 \\
        --username U --password P [--iterations 300] [--label idle] [--json-out FILE]

Standard library only. One keep-alive HTTP/1.1 connection per instance (http.client).

1. Logs in once on A (a session of its own, separate from any load).
2. N iterations; even ones revoke on A and probe B (A->B), odd ones revoke on B and probe A
   (B->A). Each iteration:
   a. POST /auth/refresh on the revoking instance with the current refresh token (the chain goes
      on: the new refresh token is kept) -> a fresh access token;
   b. GET /auth/me on the other instance with it: must be 200 (it is valid there);
   c. POST /oauth/revoke (form token=...) on the revoking instance: must be 200, and from then on
      the token is revoked there;
   d. from the moment that 200 has been read, GET /auth/me on the other instance in a tight loop
      (each probe waits for its answer) until it answers 401. The propagation time is from (c)'s
      200 to the arrival of the first 401: an upper bound, the revocation was applied somewhere
      during the last probe's round trip. Probes per iteration are counted too (1 means the first
      probe was already refused: the revocation had arrived before the client read the 200, since
      the revoking instance publishes before it answers, and the number is one probe's round
      trip). Also recorded: the time from sending (c) to the first 401 (end to end, including
      the revoke request itself: database write and publish).
3. Prints min/p50/p90/p99/max in ms (nearest rank), the number over 100 ms, per direction too,
   the same from the revoke request sent, the revoke request's own latency, and the change in
   each instance's
   tessera_revocation_propagation_seconds histogram over the run (publisher clock to receiver,
   millisecond timestamps). Writes one JSON object to --json-out if given.

An iteration whose probe is not refused within --timeout seconds is counted as a timeout (the
instances also re-read revocations from the database every second, so anything near 1 s means
the broadcast was missed). Any unexpected status stops the run with an error.
"""

import argparse
import http.client
import json
import math
import sys
import time
import urllib.parse


class Instance:
    """One instance, one keep-alive connection; reconnects if the server closed it."""

    def __init__(self, name, base_url):
        url = urllib.parse.urlsplit(base_url)
        self.name = name
        self.host = url.hostname
        self.port = url.port or 80
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes). One retry on a connection the server had closed."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def me(self, token):
        status, _ = self.request("GET", "/auth/me", headers={"authorization": "Bearer " + token})
        return status

    def post_json(self, path, payload):
        return self.request("POST", path, body=json.dumps(payload),
                            headers={"content-type": "application/json"})

    def revoke(self, token):
        return self.request("POST", "/oauth/revoke", body=urllib.parse.urlencode({"token": token}),
                            headers={"content-type": "application/x-www-form-urlencoded"})

    def propagation_histogram(self):
        """{le: cumulative count} plus '_count' and '_sum' of the propagation histogram."""
        status, body = self.request("GET", "/metrics")
        if status != 200:
            return {}
        out = {}
        for line in body.decode().splitlines():
            if not line.startswith("tessera_revocation_propagation_seconds"):
                continue
            name, _, value = line.rpartition(" ")
            if "_bucket" in name:
                le = name.split('le="', 1)[1].split('"', 1)[0]
                out[le] = float(value)
            elif name.endswith("_count"):
                out["_count"] = float(value)
            elif name.endswith("_sum"):
                out["_sum"] = float(value)
        return out


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values_ms):
    values = sorted(values_ms)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min_ms": round(values[0], 3),
        "p50_ms": round(percentile(values, 50), 3),
        "p90_ms": round(percentile(values, 90), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(values[-1], 3),
        "mean_ms": round(sum(values) / len(values), 3),
        "over_100ms": sum(1 for v in values if v > 100.0),
    }


def histogram_delta(before, after):
    delta = {}
    for key, value in after.items():
        delta[key] = round(value - before.get(key, 0.0), 6)
    return delta


def fail(message):
    print(f"propagation: error: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="base URL of instance A")
    parser.add_argument("--b", required=True, help="base URL of instance B")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for a 401 before counting a timeout")
    parser.add_argument("--label", default="idle")
    parser.add_argument("--json-out")
    args = parser.parse_args()

    a, b = Instance("A", args.a), Instance("B", args.b)
    hist_before = {inst.name: inst.propagation_histogram() for inst in (a, b)}

    status, body = a.post_json("/auth/login", {"username": args.username, "password": args.password})
    if status != 200:
        fail(f"login on A: HTTP {status}: {body[:200]!r}")
    refresh_token = json.loads(body)["refresh_token"]

    samples = []      # one dict per iteration
    started = time.perf_counter()
    for i in range(args.iterations):
        revoker, prober = (a, b) if i % 2 == 0 else (b, a)
        status, body = revoker.post_json("/auth/refresh", {"refresh_token": refresh_token})
        if status != 200:
            fail(f"iteration {i}: refresh on {revoker.name}: HTTP {status}: {body[:200]!r}")
        pair = json.loads(body)
        refresh_token, access = pair["refresh_token"], pair["access_token"]

        status = prober.me(access)
        if status != 200:
            fail(f"iteration {i}: fresh token on {prober.name}: HTTP {status} (expected 200)")

        t_send = time.perf_counter()
        status, body = revoker.revoke(access)
        t_revoked = time.perf_counter()
        if status != 200:
            fail(f"iteration {i}: revoke on {revoker.name}: HTTP {status}: {body[:200]!r}")

        probes = 0
        while True:
            probes += 1
            status = prober.me(access)
            t_now = time.perf_counter()
            if status == 401:
                break
            if status != 200:
                fail(f"iteration {i}: probe on {prober.name}: HTTP {status}")
            if t_now - t_revoked > args.timeout:
                break
        elapsed_ms = (t_now - t_revoked) * 1e3
        samples.append({
            "direction": f"{revoker.name}->{prober.name}",
            "ms": elapsed_ms,
            "from_send_ms": (t_now - t_send) * 1e3,
            "probes": probes,
            "revoke_ms": (t_revoked - t_send) * 1e3,
            "timeout": status != 401,
        })
    wall = time.perf_counter() - started

    hist_after = {inst.name: inst.propagation_histogram() for inst in (a, b)}
    done = [s for s in samples if not s["timeout"]]
    result = {
        "label": args.label,
        "iterations": len(samples),
        "timeouts": len(samples) - len(done),
        "wall_s": round(wall, 3),
        "all": summary([s["ms"] for s in done]),
        "by_direction": {d: summary([s["ms"] for s in done if s["direction"] == d])
                         for d in ("A->B", "B->A")},
        "from_send": summary([s["from_send_ms"] for s in done]),
        "from_send_by_direction": {
            d: summary([s["from_send_ms"] for s in done if s["direction"] == d])
            for d in ("A->B", "B->A")},
        "probes": {
            "min": min(s["probes"] for s in samples),
            "median": sorted(s["probes"] for s in samples)[len(samples) // 2],
            "max": max(s["probes"] for s in samples),
            "first_probe_refused": sum(1 for s in samples if s["probes"] == 1),
        },
        "revoke_request": summary([s["revoke_ms"] for s in samples]),
        "slowest": sorted(samples, key=lambda s: -s["ms"])[:5],
        "histogram_delta": {name: histogram_delta(hist_before[name], hist_after[name])
                            for name in hist_after},
    }

    def line(name, s):
        if not s.get("n"):
            return f"  {name:>6}: no samples"
        return (f"  {name:>6}: n={s['n']} min {s['min_ms']:.2f}  p50 {s['p50_ms']:.2f}  "
                f"p90 {s['p90_ms']:.2f}  p99 {s['p99_ms']:.2f}  max {s['max_ms']:.2f} ms; "
                f"over 100 ms: {s['over_100ms']}")

    print(f"propagation ({args.label}): {len(samples)} iterations in {wall:.1f} s, "
          f"timeouts (> {args.timeout} s): {result['timeouts']}")
    print(" from the revoke's 200 to the first 401:")
    print(line("all", result["all"]))
    for direction, s in result["by_direction"].items():
        print(line(direction, s))
    print(" from the revoke request sent to the first 401:")
    print(line("all", result["from_send"]))
    for direction, s in result["from_send_by_direction"].items():
        print(line(direction, s))
    p = result["probes"]
    print(f"  probes per iteration: min {p['min']}, median {p['median']}, max {p['max']}; "
          f"first probe already refused: {p['first_probe_refused']}/{len(samples)}")
    print(line("revoke", result["revoke_request"]).replace("over 100 ms", "revoke requests over 100 ms"))
    print("  slowest: " + ", ".join(f"{s['ms']:.2f} ms ({s['direction']}, {s['probes']} probes, "
                                    f"revoke {s['revoke_ms']:.2f} ms)"
                                    for s in result["slowest"]))
    for name, delta in result["histogram_delta"].items():
        buckets = " ".join(f"le{k}={int(v)}" for k, v in delta.items() if not k.startswith("_"))
        print(f"  {name} /metrics tessera_revocation_propagation_seconds over this run: "
              f"count {int(delta.get('_count', 0))}, sum {delta.get('_sum', 0):.3f} s; "
              f"cumulative buckets: {buckets}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as out:
            json.dump(result, out)
            out.write("\n")


if __name__ == "__main__":
    main()
