#!/usr/bin/env python3
"""Logout to the first 401 of the Rust guard's example and of the Flask example, in one run (issue 11).

    python3 bench/guard_feed_latency.py --tessera TESSERA_BIN --guard AXUM_SERVICE_BIN \\
        [--python /work/main/.venv/bin/python] [--trials 200] [--load] [--json-out FILE]

The method of bench/feed_latency.py (its helpers are imported, not copied), with two services
instead of one, so that the guard and its peer are measured under the same conditions:

1. A fresh data directory; `tessera client add bench-feed`; `tessera serve` with JWT_ISSUER set
   to its own URL and TESSERA_RATE_LIMIT_PER_IP=0, as in feed_latency.py.
2. Both services, as written, with TESSERA_URL, TESSERA_AUDIENCE=tessera, the client's id and
   secret and PORT, both following the feed the whole run (long poll, wait=10 in both):
   - guard: `crates/tessera-guard/examples/axum_service.rs` (a release build, given by --guard);
   - flask: `examples/python-flask/app.py` under the interpreter given by --python.
   Each must answer 200 (both answer 503 until their first feed answer) before the first trial.
3. --trials trials per service (so 2 x --trials logouts), in rounds of one trial per service;
   the order within a round alternates (guard first in even rounds, flask first in odd ones).
   A trial is feed_latency.py's: POST /auth/login (a new session); GET /me on the service under
   test must answer 200; t0; POST /auth/logout (204); GET /me on that service on one kept-alive
   connection, each probe waiting for its answer, until 401: t1. More than --timeout seconds
   (default 5) without a 401: a miss. The other service is not probed in that trial.
   The bench's own feed follower (feed_latency.FeedProbe, wait=10) runs as there, unless
   --no-feed-probe: three followers wait on Tessera's feed.
4. --load: the same load as feed_latency.py, `wrk -t1 -c16` GET /auth/me on Tessera with a valid
   token of another session, from 2 s before the first trial until after the last.

Prints, per service, min/p50/p90/p99/max in ms (nearest rank), misses, the probe counts; then the
load. Everything on 127.0.0.1, on free ports, bounded in time; every process it starts is
stopped at the end and the data directory deleted.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed_latency as fl  # noqa: E402

SERVICES = ("guard", "flask")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="a release build of the tessera binary")
    parser.add_argument("--guard", required=True,
                        help="a release build of tessera-guard's example axum_service")
    parser.add_argument("--python", default="/work/main/.venv/bin/python",
                        help="an interpreter with flask and pyjwt[crypto] for the Flask example")
    parser.add_argument("--trials", type=int, default=200, help="trials per service")
    parser.add_argument("--load", action="store_true", help="wrk GET /auth/me on Tessera meanwhile")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a trial is a miss")
    parser.add_argument("--no-feed-probe", action="store_true", help="no follower of the bench's own")
    parser.add_argument("--json-out", help="write the raw results (one JSON object) here")
    args = parser.parse_args()
    if not shutil.which("wrk") and args.load:
        print("note: wrk is not on PATH; the load is feed_latency.py's 16 Python threads", file=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="tessera-guard-feed-bench-")
    procs, wrk = [], None
    try:
        tport = fl.free_port()
        ports = {name: fl.free_port() for name in SERVICES}
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
        fl.wait_port(tport, tessera, "tessera serve")

        base = {k: v for k, v in env.items() if not k.startswith("TESSERA_") and not k.startswith("JWT_")}
        base.update(TESSERA_URL=issuer, TESSERA_AUDIENCE="tessera",
                    TESSERA_CLIENT_ID=client["client_id"], TESSERA_CLIENT_SECRET=client["client_secret"])
        commands = {"guard": [args.guard], "flask": [args.python, fl.APP]}
        for name in SERVICES:
            log = open(os.path.join(tmp, f"{name}.log"), "w")
            proc = subprocess.Popen(commands[name], env=dict(base, PORT=str(ports[name])), cwd=tmp,
                                    stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
            fl.wait_port(ports[name], proc, name)

        tess = fl.Conn(tport)
        apis = {name: fl.Conn(ports[name]) for name in SERVICES}
        jtype = {"content-type": "application/json"}
        status, body = tess.request("POST", "/auth/register", json.dumps(fl.USER), jtype)
        assert status == 201, (status, body)

        def login():
            status, body = tess.request("POST", "/auth/login", json.dumps(fl.USER), jtype)
            assert status == 200, (status, body)
            return json.loads(body)["access_token"]

        def me(name, token):
            return apis[name].request("GET", "/me", headers={"authorization": "Bearer " + token})[0]

        # Both services refuse (503) until their first feed answer.
        token = login()
        for name in SERVICES:
            started = time.monotonic()
            while me(name, token) == 503 and time.monotonic() - started < 10:
                time.sleep(0.05)
            assert me(name, token) == 200, f"{name} does not accept a fresh token"

        probe = None
        if not args.no_feed_probe:
            probe = fl.FeedProbe(tport, client["client_id"], client["client_secret"])
            probe.start()
            assert probe.ready.wait(10), "the feed probe got no first answer"

        load, load_result = None, None
        load_token = login()
        loadavg_before = os.getloadavg()
        if args.load:
            if shutil.which("wrk"):
                wrk = fl.start_wrk(tport, load_token, tmp)
            else:
                load = fl.PythonLoad(tport, load_token)
                load.start()
            time.sleep(2)  # let the load settle before the first trial

        results = {name: [] for name in SERVICES}
        run_started = time.monotonic()
        for rnd in range(args.trials):
            order = SERVICES if rnd % 2 == 0 else tuple(reversed(SERVICES))
            for name in order:
                token = login()
                status = me(name, token)
                assert status == 200, f"{name} round {rnd}: answered {status} before the logout"
                sid = fl.claims(token)["sid"]
                t0 = time.perf_counter()
                status, body = tess.request("POST", "/auth/logout", headers={"authorization": "Bearer " + token})
                t204 = time.perf_counter()
                assert status == 204, (status, body)
                probes, t1 = 0, None
                while True:
                    status = me(name, token)
                    probes += 1
                    now = time.perf_counter()
                    if status == 401:
                        t1 = now
                        break
                    assert status == 200, f"{name} round {rnd}: answered {status} while polling"
                    if now - t0 > args.timeout:
                        break
                tfeed = None
                if probe is not None:
                    deadline = time.perf_counter() + 1.0
                    while sid not in probe.seen and time.perf_counter() < deadline:
                        time.sleep(0.001)
                    tfeed = probe.seen.get(sid)
                results[name].append({
                    "round": rnd,
                    "to_401": None if t1 is None else t1 - t0,
                    "from_204": None if t1 is None else t1 - t204,
                    "logout": t204 - t0,
                    "feed": None if tfeed is None else tfeed - t0,
                    "probes": probes,
                })
        run_seconds = time.monotonic() - run_started
        loadavg_after = os.getloadavg()

        if wrk is not None:
            load_result = fl.finish_wrk(*wrk, tmp)
            wrk = None
        elif load is not None:
            load_result = load.finish()
        if probe is not None:
            probe.stop = True
        tess.close()
        for api in apis.values():
            api.close()
        alive = {name: proc.poll() is None for name, proc in zip(("tessera",) + SERVICES, procs)}

        misses = {name: sum(r["to_401"] is None for r in results[name]) for name in SERVICES}
        print(f"{args.trials} trials per service, {run_seconds:.1f} s, "
              f"{'under load' if args.load else 'idle'}, misses (no 401 within {args.timeout:g} s) "
              + ", ".join(f"{n} {misses[n]}" for n in SERVICES)
              + "; processes alive at the end: " + ", ".join(f"{n} {a}" for n, a in alive.items()))
        print(f"nproc {os.cpu_count()}, load average before {loadavg_before[0]:.2f} "
              f"{loadavg_before[1]:.2f} {loadavg_before[2]:.2f}, after {loadavg_after[0]:.2f} "
              f"{loadavg_after[1]:.2f} {loadavg_after[2]:.2f}")
        for name in SERVICES:
            rs = results[name]
            ok = [r for r in rs if r["to_401"] is not None]
            print(f"--- {name}")
            print(fl.summary("logout sent -> first 401", [r["to_401"] for r in ok]))
            print(fl.summary("logout 204 read -> first 401", [r["from_204"] for r in ok]))
            print(fl.summary("POST /auth/logout (to 204)", [r["logout"] for r in rs]))
            if probe is not None:
                print(fl.summary("logout sent -> bench's feed answer",
                                 [r["feed"] for r in rs if r["feed"] is not None]))
            print(fl.summary("204 -> 401 when the 1st probe was", [r["from_204"] for r in ok if r["probes"] == 1]))
            probes = sorted(r["probes"] for r in ok)
            if probes:
                print(f"probes per trial (GET /me until 401): p50 {fl.pct(probes, 50)}, p99 {fl.pct(probes, 99)}, "
                      f"max {probes[-1]}; first probe already 401 in {sum(p == 1 for p in probes)} of {len(probes)}")
        if load_result is not None:
            print(fl.describe_load(load_result))
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"trials": args.trials, "load": args.load, "misses": misses,
                           "results": results, "load_result": load_result,
                           "loadavg": [loadavg_before, loadavg_after], "seconds": run_seconds}, f)
    finally:
        fl.stop_all(wrk, procs, tmp)


if __name__ == "__main__":
    main()
