#!/usr/bin/env python3
"""Logout to a feed-following service's first 401 (issue 11), idle or under load.

    python3 bench/feed_latency.py --tessera /var/tmp/bench-feed-target/release/tessera \\
        [--python /work/main/.venv/bin/python] [--trials 200] [--load] [--json-out FILE]

Builds nothing. Everything on 127.0.0.1, on free ports, bounded in time; every process it
starts is stopped at the end.

1. A fresh data directory; `tessera client add bench-feed` there; `tessera serve` with
   JWT_ISSUER set to its own URL and TESSERA_RATE_LIMIT_PER_IP=0 (zero configuration otherwise:
   SQLite, a stored ES256 key).
2. `examples/python-flask/app.py` as written, with TESSERA_URL, TESSERA_AUDIENCE=tessera, the
   client's id and secret and PORT: it verifies tokens from the JWKS and follows the revocation
   feed (a Python thread, long poll with wait=10). This is the service measured, not a Rust guard.
3. One user registered. Per trial, sequentially:
   a. POST /auth/login (a new session) -> access token;
   b. GET /me on the Flask API with it must answer 200;
   c. t0; POST /auth/logout with the token (must be 204; t_204 when it has been read);
   d. GET /me on the Flask API on one kept-alive connection, as fast as possible (each probe
      waits for its answer), until 401: t1. Reported: t1 - t0 (logout sent to first 401) and
      t1 - t_204. More than --timeout seconds (default 5) without a 401: a miss.
   Meanwhile a follower of the bench's own (a thread here, same feed, same long poll as the
   example) records when Tessera's feed answer carrying the logout's session revocation arrives:
   t_feed - t0 is the long-poll wake-up as seen from a Python client over 127.0.0.1, without
   Flask (--no-feed-probe leaves it out).
4. With --load: `wrk -t1 -c16` GET /auth/me on Tessera with a valid token of another session,
   from before the first trial until after the last (stopped with SIGINT), its req/s reported.
   Without wrk on PATH, a pool of 16 Python threads does the same.

Prints min/p50/p90/p99/max in ms (nearest rank), misses, the probe counts, and the load.
"""

import argparse
import base64
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "examples", "python-flask", "app.py")
USER = {"username": "feedbench", "password": "correct horse battery staple"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, limit=30.0):
    started = time.monotonic()
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit(f"{what} exited early ({proc.returncode})")
        if time.monotonic() - started > limit:
            sys.exit(f"{what} did not listen within {limit} s")
        time.sleep(0.05)


class Conn:
    """One keep-alive HTTP/1.1 connection; reconnects if the server closed it."""

    def __init__(self, port, timeout=10):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class FeedProbe(threading.Thread):
    """Follows the feed like the example does (wait=10) and notes when each session id arrives."""

    def __init__(self, port, client_id, secret):
        super().__init__(daemon=True)
        self.conn = Conn(port, timeout=20)
        self.auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.cursor, self.seen, self.stop = 0, {}, False
        self.ready = threading.Event()

    def run(self):
        while not self.stop:
            wait = 10 if self.ready.is_set() else 0
            try:
                status, body = self.conn.request(
                    "GET", f"/oauth/revocations?after={self.cursor}&wait={wait}",
                    headers={"authorization": self.auth})
            except OSError:
                time.sleep(0.2)
                continue
            now = time.perf_counter()
            if status != 200:
                time.sleep(0.2)
                continue
            page = json.loads(body)
            for entry in page["revocations"]:
                if entry["kind"] == "session":
                    self.seen.setdefault(entry["value"], now)
            self.cursor = page["cursor"]
            self.ready.set()


class PythonLoad:
    """16 threads, each a keep-alive loop of GET /auth/me (when wrk is not installed)."""

    def __init__(self, port, token, threads=16):
        self.port, self.token, self.count, self.non2xx = port, token, 0, 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]

    def loop(self):
        conn, n, bad = Conn(self.port), 0, 0
        while not self.stop.is_set():
            status, _ = conn.request("GET", "/auth/me", headers={"authorization": "Bearer " + self.token})
            n += 1
            bad += status >= 400
        with self.lock:
            self.count += n
            self.non2xx += bad

    def start(self):
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        seconds = time.monotonic() - self.started
        return {"tool": "python threads (16)", "requests": self.count, "duration_s": seconds,
                "rps": self.count / seconds, "non2xx": self.non2xx}


def start_wrk(port, token, logdir):
    env = dict(os.environ, BENCH_TOKEN=token, BENCH_LUA_DIR=os.path.join(ROOT, "bench", "lua"))
    out = open(os.path.join(logdir, "wrk.txt"), "w")
    proc = subprocess.Popen(
        ["wrk", "-t1", "-c16", "-d3600s", "--latency", "-s",
         os.path.join(ROOT, "bench", "lua", "me.lua"), f"http://127.0.0.1:{port}"],
        env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, out


def finish_wrk(proc, out, logdir):
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    out.close()
    text = open(os.path.join(logdir, "wrk.txt")).read()
    match = re.search(r"^BENCH (\{.*\})$", text, re.M)
    result = json.loads(match.group(1)) if match else {"raw": text[-2000:]}
    result["tool"] = "wrk -t1 -c16"
    return result


def pct(values, p):
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(name, values):
    if not values:
        return f"{name:34s} (none)"
    ms = [v * 1000 for v in values]
    return (f"{name:34s} n={len(ms):4d}  min {min(ms):7.2f}  p50 {pct(ms, 50):7.2f}  "
            f"p90 {pct(ms, 90):7.2f}  p99 {pct(ms, 99):7.2f}  max {max(ms):7.2f}  ms")



def describe_load(load_result):
    """One line on the load generator's run: rate, volume, refusals and its own latency."""
    return (f"load ({load_result.get('tool')}): {load_result.get('rps', float('nan')):,.0f} req/s, "
            f"{load_result.get('requests')} requests in {load_result.get('duration_s', 0):.1f} s, "
            f"non-2xx {load_result.get('non2xx')}, errors {load_result.get('errors', 0)}, "
            f"p50 {load_result.get('p50_ms', float('nan')):.2f} ms, p99 {load_result.get('p99_ms', float('nan')):.2f} ms")


def stop_all(wrk, procs, tmp):
    """Stops the load generator and every started process (newest first), then removes tmp."""
    if wrk is not None:
        wrk[0].kill()
        wrk[0].wait()
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="a release build of the tessera binary")
    parser.add_argument("--python", default="/work/main/.venv/bin/python",
                        help="an interpreter with flask and pyjwt[crypto] for the example")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--load", action="store_true", help="wrk GET /auth/me on Tessera meanwhile")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a trial is a miss")
    parser.add_argument("--no-feed-probe", action="store_true", help="no follower of the bench's own")
    parser.add_argument("--json-out", help="write the raw results (one JSON object) here")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="tessera-feed-bench-")
    procs, wrk = [], None
    try:
        tport, aport = free_port(), free_port()
        issuer = f"http://127.0.0.1:{tport}"
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("JWT_") or k.startswith("TESSERA_") or k in ("DATABASE_URL", "REDIS_URL"))}
        env.update(JWT_ISSUER=issuer, TESSERA_RATE_LIMIT_PER_IP="0",
                   TESSERA_DATA_DIR=os.path.join(tmp, "data"))
        client = json.loads(subprocess.run(
            [args.tessera, "client", "add", "bench-feed"], env=env, cwd=tmp,
            check=True, capture_output=True, text=True).stdout)
        tlog = open(os.path.join(tmp, "tessera.log"), "w")
        tessera = subprocess.Popen([args.tessera, "serve", "--bind", f"127.0.0.1:{tport}"],
                                   env=env, cwd=tmp, stdout=tlog, stderr=subprocess.STDOUT)
        procs.append(tessera)
        wait_port(tport, tessera, "tessera serve")

        aenv = {k: v for k, v in env.items() if not k.startswith("TESSERA_") and not k.startswith("JWT_")}
        aenv.update(TESSERA_URL=issuer, TESSERA_AUDIENCE="tessera", PORT=str(aport),
                    TESSERA_CLIENT_ID=client["client_id"], TESSERA_CLIENT_SECRET=client["client_secret"])
        flask = subprocess.Popen([args.python, APP], env=aenv, cwd=tmp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(flask)
        wait_port(aport, flask, "the Flask example")

        tess, api = Conn(tport), Conn(aport)
        jtype = {"content-type": "application/json"}
        status, body = tess.request("POST", "/auth/register", json.dumps(USER), jtype)
        assert status == 201, (status, body)

        def login():
            status, body = tess.request("POST", "/auth/login", json.dumps(USER), jtype)
            assert status == 200, (status, body)
            return json.loads(body)["access_token"]

        def me(token):
            return api.request("GET", "/me", headers={"authorization": "Bearer " + token})[0]

        # The example refuses (503) until its first feed answer.
        token = login()
        started = time.monotonic()
        while me(token) == 503 and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert me(token) == 200

        probe = None
        if not args.no_feed_probe:
            probe = FeedProbe(tport, client["client_id"], client["client_secret"])
            probe.start()
            assert probe.ready.wait(10), "the feed probe got no first answer"

        load, load_result = None, None
        load_token = login()
        loadavg_before = os.getloadavg()
        if args.load:
            if shutil.which("wrk"):
                wrk = start_wrk(tport, load_token, tmp)
            else:
                load = PythonLoad(tport, load_token)
                load.start()
            time.sleep(2)  # let the load settle before the first trial

        results, misses = [], 0
        run_started = time.monotonic()
        for trial in range(args.trials):
            token = login()
            status = me(token)
            assert status == 200, f"trial {trial}: the API answered {status} before the logout"
            sid = claims(token)["sid"]
            t0 = time.perf_counter()
            status, body = tess.request("POST", "/auth/logout", headers={"authorization": "Bearer " + token})
            t204 = time.perf_counter()
            assert status == 204, (status, body)
            probes, t1 = 0, None
            while True:
                status = me(token)
                probes += 1
                now = time.perf_counter()
                if status == 401:
                    t1 = now
                    break
                assert status == 200, f"trial {trial}: the API answered {status} while polling"
                if now - t0 > args.timeout:
                    break
            tfeed = None
            if probe is not None:
                deadline = time.perf_counter() + 1.0
                while sid not in probe.seen and time.perf_counter() < deadline:
                    time.sleep(0.001)
                tfeed = probe.seen.get(sid)
            if t1 is None:
                misses += 1
            results.append({
                "to_401": None if t1 is None else t1 - t0,
                "from_204": None if t1 is None else t1 - t204,
                "logout": t204 - t0,
                "feed": None if tfeed is None else tfeed - t0,
                "probes": probes,
            })
        run_seconds = time.monotonic() - run_started
        loadavg_after = os.getloadavg()

        if wrk is not None:
            load_result = finish_wrk(*wrk, tmp)
            wrk = None
        elif load is not None:
            load_result = load.finish()
        if probe is not None:
            probe.stop = True
        tess.close()
        api.close()

        ok = [r for r in results if r["to_401"] is not None]
        print(f"trials {args.trials}, misses (no 401 within {args.timeout:g} s) {misses}, "
              f"{run_seconds:.1f} s, {'under load' if args.load else 'idle'}")
        print(f"nproc {os.cpu_count()}, load average before {loadavg_before[0]:.2f} "
              f"{loadavg_before[1]:.2f} {loadavg_before[2]:.2f}, after {loadavg_after[0]:.2f} "
              f"{loadavg_after[1]:.2f} {loadavg_after[2]:.2f}")
        print(summary("logout sent -> first 401", [r["to_401"] for r in ok]))
        print(summary("logout 204 read -> first 401", [r["from_204"] for r in ok]))
        print(summary("POST /auth/logout (to 204)", [r["logout"] for r in results]))
        if probe is not None:
            print(summary("logout sent -> bench's feed answer", [r["feed"] for r in results if r["feed"] is not None]))
        probes = sorted(r["probes"] for r in ok)
        if probes:
            print(f"probes per trial (GET /me until 401): p50 {pct(probes, 50)}, p99 {pct(probes, 99)}, "
                  f"max {probes[-1]}; first probe already 401 in {sum(p == 1 for p in probes)} of {len(probes)}")
        if load_result is not None:
            print(describe_load(load_result))
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"trials": args.trials, "load": args.load, "misses": misses,
                           "results": results, "load_result": load_result,
                           "loadavg": [loadavg_before, loadavg_after], "seconds": run_seconds}, f)
    finally:
        stop_all(wrk, procs, tmp)


if __name__ == "__main__":
    main()
