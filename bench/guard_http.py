#!/usr/bin/env python3
"""tessera-guard against its peers over real HTTP (issue 11, "Performance").

Builds `crates/tessera-guard/examples/http_peers.rs` in release, mints one ES256 and one HS256
token (one key each, the same token for every server), then for ROUNDS rounds, for each
algorithm, for each peer (bare, jsonwebtoken, guard, guard-feed; the order rotated by one each
round): starts the server pinned to CPU SERVER_CPU (`taskset`; the server has one core and one
tokio worker), checks GET /me answers 200 with the token, warms it with WARMUP seconds of wrk,
then measures DURATION seconds with `wrk -t1 -cCONNS` pinned to CPU WRK_CPU, and stops it.

Reports the median (and min-max) req/s per peer over the rounds, the ratios guard/bare and
guard/jsonwebtoken, the server's CPU time per request (utime+stime of the server process over
the measured window, from /proc, divided by the requests: steadier than req/s on a shared
machine), non-2xx counts (must be 0) and the load average before and after.

Usage: bench/guard_http.py [--rounds 3] [--duration 10] [--warmup 2] [--conns 32]
                           [--out bench/results/....md]
Environment: CARGO_TARGET_DIR (default /var/tmp/guard-target), SERVER_CPU (0), WRK_CPU (1).
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/guard-target")
SERVER_CPU = os.environ.get("SERVER_CPU", "0")
WRK_CPU = os.environ.get("WRK_CPU", "1")
PEERS = ["bare", "jsonwebtoken", "guard", "guard-feed"]
ALGS = ["es256", "hs256"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[guard_http] {msg}", file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime, stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_times(cpu):
    """(total, steal) jiffies of one CPU, from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v[:8]), v[7]
    return 0, 0


def wait_ok(port, token, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/me", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(req, timeout=2) as resp:
                body = resp.read().decode()
                if resp.status == 200:
                    return body
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no 200 on port {port} after {seconds} s")


def wrk(port, token, duration, conns):
    cmd = [
        "taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency",
        "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}/me",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    return {
        "rps": rps, "requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(0) if errors else "", "p50": p50, "p99": p99,
    }


def run_one(binary, peer, alg, keydir, port, token, args):
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, binary, "serve", peer, alg, keydir, str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        body = wait_ok(port, token, proc)
        if body.strip() != "T_UyBv5yBzuoKgtAkayIrA":
            raise RuntimeError(f"{peer}/{alg}: unexpected body {body!r}")
        if args.warmup > 0:
            wrk(port, token, args.warmup, args.conns)
        before = cpu_seconds(proc.pid)
        total0, steal0 = cpu_times(SERVER_CPU)
        result = wrk(port, token, args.duration, args.conns)
        result["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(result["requests"], 1) * 1e6
        total1, steal1 = cpu_times(SERVER_CPU)
        result["steal"] = 100.0 * (steal1 - steal0) / max(total1 - total0, 1)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--port", type=int, default=18600)
    ap.add_argument("--out", help="also write the markdown report here")
    args = ap.parse_args()

    build = ["cargo", "build", "--release", "-p", "tessera-guard", "--example", "http_peers"]
    log(f"CARGO_TARGET_DIR={TARGET} {' '.join(build)}")
    subprocess.run(build, check=True, cwd=ROOT, env={**os.environ, "CARGO_TARGET_DIR": TARGET})
    binary = os.path.join(TARGET, "release", "examples", "http_peers")

    keydir = tempfile.mkdtemp(prefix="guard-http-")
    subprocess.run([binary, "mint", keydir], check=True, stdout=subprocess.DEVNULL)
    tokens = {alg: open(os.path.join(keydir, f"{alg}.token")).read().strip() for alg in ALGS}

    load_before = loadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    results = {(alg, peer): [] for alg in ALGS for peer in PEERS}
    port = args.port
    loads = []
    for rnd in range(args.rounds):
        order = PEERS[rnd % len(PEERS):] + PEERS[:rnd % len(PEERS)]
        for alg in ALGS:
            for peer in order:
                port += 1
                r = run_one(binary, peer, alg, keydir, port, tokens[alg], args)
                r["load"] = loadavg()
                loads.append(r["load"])
                results[(alg, peer)].append(r)
                log(f"round {rnd + 1} {alg:5} {peer:12} {r['rps']:>10.0f} req/s  "
                    f"cpu {r['cpu_us']:.2f} us/req  p50 {r['p50']} p99 {r['p99']}  "
                    f"non2xx {r['non2xx']} {r['errors']}  steal {r['steal']:.1f}%  load {r['load']}")
    load_after = loadavg()

    def med(alg, peer, key="rps"):
        return statistics.median(r[key] for r in results[(alg, peer)])

    def best_of(alg, peer):
        return max(r["rps"] for r in results[(alg, peer)])

    cmd = f"CARGO_TARGET_DIR={TARGET} SERVER_CPU={SERVER_CPU} WRK_CPU={WRK_CPU} " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]
    )
    lines = [
        f"Started {started}; commit {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}"
        f"{' (with local changes)' if subprocess.run(['git', 'status', '--porcelain', '--', 'bench/guard_http.py', 'crates/tessera-guard'], cwd=ROOT, capture_output=True, text=True).stdout.strip() else ''}; {os.cpu_count()} CPUs.",
        "",
        f"Command: `{cmd}`",
        "",
        f"Server pinned to CPU {SERVER_CPU} (one tokio worker), `wrk -t1 -c{args.conns}` pinned to CPU {WRK_CPU}; "
        f"{args.rounds} rounds x 2 algorithms x 4 peers, {args.warmup} s warm-up + {args.duration} s measured each, "
        "peer order rotated each round; a fresh server process per measurement. Median over the rounds, [min-max].",
        "",
        f"Load average (1/5/15 min): before {load_before}, after {load_after}; "
        f"1-min load over the measurements {min(float(l.split()[0]) for l in loads):.2f}-{max(float(l.split()[0]) for l in loads):.2f}.",
        "",
        "| alg | peer | req/s median [min-max] | median / bare | median / jsonwebtoken | best req/s | best / bare | best / jsonwebtoken "
        "| server CPU us/req (median) | CPU: bare / peer | CPU: jsonwebtoken / peer | p50 / p99 (median run) | non-2xx |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for alg in ALGS:
        bare, jwt = med(alg, "bare"), med(alg, "jsonwebtoken")
        for peer in PEERS:
            rs = results[(alg, peer)]
            m = med(alg, peer)
            mid = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
            best = max(r["rps"] for r in rs)
            cpu = med(alg, peer, "cpu_us")
            lines.append(
                f"| {alg.upper()} | {peer} | {m:,.0f} [{min(r['rps'] for r in rs):,.0f}-{best:,.0f}] "
                f"| {m / bare:.3f} | {m / jwt:.3f} | {best:,.0f} | {best / best_of(alg, 'bare'):.3f} "
                f"| {best / best_of(alg, 'jsonwebtoken'):.3f} | {cpu:.2f} | {med(alg, 'bare', 'cpu_us') / cpu:.3f} "
                f"| {med(alg, 'jsonwebtoken', 'cpu_us') / cpu:.3f} | {mid['p50']} / {mid['p99']} "
                f"| {sum(r['non2xx'] for r in rs)} |"
            )
    lines += ["", "Verdict (issue 11: guard >= jsonwebtoken, and within 10% of bare, i.e. >= 0.90 x bare):", ""]
    for alg in ALGS:
        bare, jwt = med(alg, "bare"), med(alg, "jsonwebtoken")
        for peer in ("guard", "guard-feed"):
            g = med(alg, peer)
            b, bb, bj = best_of(alg, peer), best_of(alg, "bare"), best_of(alg, "jsonwebtoken")
            c, cb, cj = (med(alg, p, "cpu_us") for p in (peer, "bare", "jsonwebtoken"))
            lines.append(
                f"- {alg.upper()} {peer}: median req/s {g / bare:.3f} x bare ({'within' if g >= 0.9 * bare else 'NOT within'} 10%), "
                f"{g / jwt:.3f} x jsonwebtoken ({'>=' if g >= jwt else '<'}); best req/s {b / bb:.3f} x bare, "
                f"{b / bj:.3f} x jsonwebtoken; CPU per request {c / cb:.2f} x bare's, {c / cj:.3f} x jsonwebtoken's."
            )
    lines += ["", "Every run (round, alg, peer, req/s, server CPU us/req, steal % on the server's CPU, load after):", "", "```"]
    for alg in ALGS:
        for peer in PEERS:
            for i, r in enumerate(results[(alg, peer)]):
                lines.append(f"{i + 1} {alg} {peer:12} {r['rps']:>10.0f} {r['cpu_us']:6.2f} {r['steal']:5.1f} {r['load']}")
    lines.append("```")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report)


if __name__ == "__main__":
    main()
