"""Summarises one bench/run.sh results file (JSON lines) as Markdown: tables and the targets.

Usage: python bench/report.py bench/results/latest.jsonl
"""

import json
import sys

# The targets.
ME_VS_FLASK = 25.0  # /auth/me at least 25x the Flask stack's requests/s
ME_VS_BARE = 0.90  # ... and at least 90% of the bare axum handler's
LOGIN_SHARE = 0.95  # login at least 95% of cores / argon2 time
REFRESH_MIN = 3000.0  # refresh at least 3,000/s on SQLite
HEALTHZ_P99_MS = 5.0  # p99 of /healthz under 5 ms while logins saturate the CPUs


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def row(label, r, extra=""):
    res = r["result"]
    return (
        f"| {label} | {res['rps']:,.0f} | {res['p50_ms']:.2f} | {res['p99_ms']:.2f} | "
        f"{res['non2xx']} | {res['errors']} | -t{r['threads']} -c{r['connections']}{extra} |"
    )


HEADER = (
    "| peer | req/s | p50 ms | p99 ms | non-2xx | socket errors | wrk |\n"
    "|---|---:|---:|---:|---:|---:|---|"
)


def main(path):
    records = load(path)
    machine = next(r for r in records if r["kind"] == "machine")
    argon2 = [r for r in records if r["kind"] == "argon2"]
    wrk = [r for r in records if r["kind"] == "wrk"]
    quiet = [r for r in records if r["kind"] == "quiet"]
    cores = int(machine["cores"])

    out = []
    out.append(f"Run started {machine['started_at']}: {machine['cores']} cores, {machine['cpu']}, "
               f"kernel {machine['kernel']}, {machine['rustc']}, {machine['wrk']}, "
               f"{machine['duration_s']} s per measured run, Flask workers: "
               f"gunicorn {machine['flask_worker_class']}.")
    out.append(f"Code measured: `{machine.get('git', 'unknown')}`.")
    for r in records:
        if r["kind"] == "store_stuck":
            out.append(f"**{r['round']}: after the {r['after']} run the store no longer took writes "
                       "(a login failed); the server was restarted before the next scenario.**")
        if r["kind"] == "server_log" and r["warn_or_error_lines"]:
            out.append(f"{r['round']}: {r['warn_or_error_lines']} WARN/ERROR lines in the server log; "
                       f"first: `{r['first']}`")
    noisy = [q for q in quiet if not q["quiet"]]
    if noisy:
        out.append("Machine NOT quiet before: " + "; ".join(
            f"{q['what']} (rustc {q['rustc']}, CPU busy {q['busy']}%)" for q in noisy))
    else:
        out.append("Machine quiet before every phase (no rustc, CPU < 10% busy).")
    out.append("")

    rust = next(a for a in argon2 if a["impl"] == "rust")["result"]
    cffi = next((a for a in argon2 if a["impl"] == "argon2-cffi"), None)
    # The target's denominator: the server's own hasher, timed alone (tessera-password, as a
    # login runs it). A stricter reading uses the hash with a reused buffer (see BENCHMARKS.md).
    argon2_ms = rust["server"]["sequential_ms"]["median"]
    floor_ms = rust["reused"]["sequential_ms"]["median"]
    login_ceiling = cores / (argon2_ms / 1e3)
    login_target = LOGIN_SHARE * login_ceiling
    strict_ceiling = cores / (floor_ms / 1e3)
    out.append("### argon2id alone (m=19456 KiB, t=2, p=1)")
    out.append("")
    out.append("| how | sequential median | mean | min | one loop per core: per hash | hashes/s on all cores |")
    out.append("|---|---:|---:|---:|---:|---:|")
    rows = [("tessera-password `PasswordHasher::verify` (what a login runs)", rust["server"]),
            ("argon2 0.5 `hash_password_into_with_memory`, buffer reused", rust["reused"])]
    if cffi:
        rows.append(("argon2-cffi 25.1 (C reference), `verify`", cffi["result"]))
    for label, res in rows:
        seq = res["sequential_ms"]
        par = res.get("parallel")
        out.append(
            f"| {label} | {seq['median']:.2f} ms | {seq['mean']:.2f} ms | {seq['min']:.2f} ms | "
            + (f"{par['per_hash_ms']:.2f} ms | {par['hashes_per_s']:.1f} |" if par else "- | - |"))
    out.append("")
    out.append(f"Login target: {LOGIN_SHARE:.0%} x {cores} cores / {argon2_ms:.2f} ms = "
               f"{login_target:.1f} logins/s (ceiling {login_ceiling:.1f}/s). Stricter, against the "
               f"hash with a reused buffer: {LOGIN_SHARE:.0%} x {cores} / {floor_ms:.2f} ms = "
               f"{LOGIN_SHARE * strict_ceiling:.1f}/s.")
    out.append("")

    targets = []
    for rnd in dict.fromkeys(r["round"] for r in wrk):
        by = {(r["scenario"], r["peer"]): r for r in wrk if r["round"] == rnd}
        out.append(f"### {rnd}")
        out.append("")
        out.append("GET /auth/me (valid Bearer token):")
        out.append("")
        out.append(HEADER)
        for peer in ("tessera", "bare-axum", "flask"):
            if ("me", peer) in by:
                out.append(row(peer, by[("me", peer)]))
        out.append("")
        me = by.get(("me", "tessera"))
        if me:
            t = me["result"]["rps"]
            if ("me", "flask") in by:
                f = by[("me", "flask")]["result"]["rps"]
                ratio = t / f
                targets.append((rnd, f"/auth/me >= {ME_VS_FLASK:.0f}x Flask", f"{ratio:.1f}x ({t:,.0f} vs {f:,.0f} req/s)", ratio >= ME_VS_FLASK))
            if ("me", "bare-axum") in by:
                b = by[("me", "bare-axum")]["result"]["rps"]
                ratio = t / b
                targets.append((rnd, f"/auth/me >= {ME_VS_BARE:.0%} of bare axum", f"{ratio:.1%} ({t:,.0f} vs {b:,.0f} req/s)", ratio >= ME_VS_BARE))
        out.append("POST /auth/refresh, POST /auth/login, GET /healthz probe (Tessera):")
        out.append("")
        out.append(HEADER.replace("| peer |", "| scenario |"))
        for scen in ("refresh", "login", "healthz-idle", "healthz-under-login", "login-flood"):
            if (scen, "tessera") in by:
                r = by[(scen, "tessera")]
                out.append(row(scen, r).replace(f"-c{r['connections']} |", f"-c{r['connections']} |"))
        out.append("")
        if ("refresh", "tessera") in by:
            res = by[("refresh", "tessera")]["result"]
            ok = res["rps"] >= REFRESH_MIN and res["non2xx"] == 0 and res["errors"] == 0
            targets.append((rnd, f"refresh >= {REFRESH_MIN:,.0f}/s, 0 non-2xx", f"{res['rps']:,.0f}/s, {res['non2xx']} non-2xx", ok))
        if ("login", "tessera") in by:
            res = by[("login", "tessera")]["result"]
            share = res["rps"] / login_ceiling
            ok = res["rps"] >= login_target and res["non2xx"] == 0
            targets.append((rnd, f"login >= {LOGIN_SHARE:.0%} of cores/argon2 (server's hasher, {argon2_ms:.1f} ms)", f"{res['rps']:.1f}/s = {share:.1%} of {login_ceiling:.1f}/s, {res['non2xx']} non-2xx", ok))
            strict = res["rps"] / strict_ceiling
            targets.append((rnd, f"(stricter) login >= {LOGIN_SHARE:.0%} of cores/argon2 (reused buffer, {floor_ms:.1f} ms)", f"{res['rps']:.1f}/s = {strict:.1%} of {strict_ceiling:.1f}/s", strict >= LOGIN_SHARE))
        if ("healthz-under-login", "tessera") in by:
            res = by[("healthz-under-login", "tessera")]["result"]
            flood = by.get(("login-flood", "tessera"))
            during = f", logins meanwhile {flood['result']['rps']:.1f}/s" if flood else ""
            ok = res["p99_ms"] < HEALTHZ_P99_MS and res["non2xx"] == 0
            targets.append((rnd, f"/healthz p99 < {HEALTHZ_P99_MS:.0f} ms under login flood", f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms{during}", ok))

    out.append("### Targets")
    out.append("")
    out.append("| round | target | measured | met? |")
    out.append("|---|---|---|---|")
    for rnd, what, measured, ok in targets:
        out.append(f"| {rnd} | {what} | {measured} | {'**met**' if ok else '**missed**'} |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.jsonl")
