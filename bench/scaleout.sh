#!/usr/bin/env bash
# Scale-out benchmarks of `tessera serve` (issue 4): two instances sharing PostgreSQL and Redis,
# on 127.0.0.1 only, bounded in time (~2.5 minutes once built, plus any wait for a quiet machine).
#
#   bench/scaleout.sh                     # everything (the reported numbers)
#   BENCH_DURATION=5 bench/scaleout.sh    # shorter wrk runs (quick check; reported numbers use 15)
#
# Needs PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432, a role that may
# CREATE DATABASE) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379), psql and
# redis-cli; installs wrk (Debian) if missing. Python: the system python3 (stdlib only).
#
# What it does (see BENCHMARKS.md, "Scale-out benchmarks (two instances, PostgreSQL + Redis)"):
#  1. builds `tessera` (release, CARGO_TARGET_DIR, default /var/tmp/tessera-target) and runs from
#     a copy (the target dir is shared; another build must not swap the binary mid-run);
#  2. creates a fresh database bench_scaleout_<time>_<pid> and a unique Redis key prefix; one
#     HS256 secret (`tessera keygen`) for every instance;
#  3. starts instance A (:28090), then B (:28091), both with DATABASE_URL, REDIS_URL, the prefix,
#     TESSERA_RATE_LIMIT_PER_IP=0; and the peer S (:28092): the default configuration, SQLite in a
#     temp data dir, no Redis. Registers a user on A (shared with B through PostgreSQL) and one
#     on S; logs each in once for the /auth/me token;
#  4. waits for a quiet machine before each phase (no rustc/clippy-driver, CPUs < 10 % busy), then
#       me        GET /auth/me (bench/lua/me.lua), 3 s warm-up + 15 s: S alone (-t2 -c64), A alone
#                 (-t2 -c64), then A and B at once: two wrk processes (-t1 -c32 each, same start
#                 and duration; the sum has bench/run.sh's -t2 -c64);
#       refresh   POST /auth/refresh (bench/lua/refresh.lua, rotating tokens from 80 logins each):
#                 S (-t2 -c64), A (-t2 -c64), A and B at once (-t1 -c32 each, 40 tokens each);
#                 after each, a login must still work (else: recorded, server restarted);
#       propagation  bench/propagation.py (1000 iterations, alternating A->B and B->A) idle,
#                 then again while wrk (-t2 -c64 /auth/me) loads B;
#  5. stops everything (trap), drops the database, deletes the Redis keys under the prefix, and
#     prints a summary. Raw results (JSON lines), wrk outputs, server logs (WARN/ERROR counted)
#     and /metrics are kept in bench/results/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tessera-target}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL_BASE=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
DURATION=${BENCH_DURATION:-15}          # seconds per measured wrk run
WARMUP=${BENCH_WARMUP:-3}               # seconds of unmeasured load before each /auth/me run
THREADS=${BENCH_THREADS:-2}             # wrk threads, as bench/run.sh
ME_CONNECTIONS=${BENCH_ME_CONNECTIONS:-64}
REFRESH_CONNECTIONS=${BENCH_REFRESH_CONNECTIONS:-64}
PROP_ITERATIONS=${BENCH_PROP_ITERATIONS:-1000}  # per propagation run (~1 s idle, ~10 s loaded)
PORT_A=${BENCH_PORT_A:-28090}
PORT_B=${BENCH_PORT_B:-28091}
PORT_S=${BENCH_PORT_S:-28092}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}     # seconds to wait for a quiet machine before each phase

ISSUER=https://tessera.bench.invalid
AUDIENCE=tessera
BENCH_USER=benchuser
BENCH_PASSWORD=bench-password-0123456789

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RESULTS_DIR=$BENCH/results
mkdir -p "$RESULTS_DIR"
RESULTS=$RESULTS_DIR/scaleout-$STAMP.jsonl
OUT=$RESULTS_DIR/scaleout-$STAMP        # wrk outputs, logs, /metrics of this run
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/tessera-scaleout.XXXXXX)
DB_NAME=bench_scaleout_$(date -u +%Y%m%d%H%M%S)_$$
DB_CREATED=0
REDIS_PREFIX="tessera-bench-$STAMP-$$:"
PIDS=()

log() { printf '[scaleout %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
record() { printf '%s\n' "$1" >>"$RESULTS"; }

stop_pid() {
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do stop_pid "$pid"; done
  PIDS=()
  if [ "$DB_CREATED" = 1 ]; then
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 \
      || log "warning: could not drop database $DB_NAME"
  fi
  local keys
  keys=$(redis-cli -u "$REDIS_URL_BASE" --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null | wc -l) || keys=0
  if [ "$keys" -gt 0 ]; then
    redis-cli -u "$REDIS_URL_BASE" --scan --pattern "${REDIS_PREFIX}*" \
      | xargs -r -n 500 redis-cli -u "$REDIS_URL_BASE" del >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. tools, build
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >/dev/null
fi
for tool in curl psql redis-cli python3; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done
PY=python3

log "building tessera (release) into $CARGO_TARGET_DIR"
cargo build --release -p tessera --quiet
mkdir -p "$WORK/bin"
cp "$CARGO_TARGET_DIR/release/tessera" "$WORK/bin/"
TESSERA=$WORK/bin/tessera
GIT_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- helpers
cpu_busy_percent() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  [ "$total" -gt 0 ] || { echo 0; return; }
  echo $(( 100 * (total - idle) / total ))
}

# Waits (up to QUIET_WAIT s) until no compiler runs and the CPUs are < 10 % busy; records it.
wait_quiet() {
  local what=$1 waited=0 busy compilers
  while :; do
    compilers=$( (pgrep -x rustc; pgrep -x clippy-driver; true) | wc -l)
    busy=$(cpu_busy_percent)
    if [ "$compilers" -eq 0 ] && [ "$busy" -lt 10 ]; then break; fi
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      log "warning: machine not quiet before $what (compilers: $compilers, CPU busy: $busy%); going on"
      record "{\"kind\":\"quiet\",\"what\":\"$what\",\"quiet\":false,\"compilers\":$compilers,\"busy\":$busy,\"waited_s\":$waited}"
      return
    fi
    sleep 4; waited=$((waited + 5))
  done
  [ "$waited" -eq 0 ] || log "quiet before $what after ${waited}s"
  record "{\"kind\":\"quiet\",\"what\":\"$what\",\"quiet\":true,\"compilers\":0,\"busy\":$busy,\"waited_s\":$waited}"
}

. "$BENCH/lib.sh"  # port_free, wait_ready

SECRET=$("$TESSERA" keygen --alg HS256)
COMMON_ENV=(
  JWT_ALGORITHM=HS256 JWT_SECRET_KEY="$SECRET" JWT_ISSUER="$ISSUER" JWT_AUDIENCE="$AUDIENCE"
  JWT_ACCESS_TTL=1h TESSERA_RATE_LIMIT_PER_IP=0
)
SHARED_ENV=(
  DATABASE_URL="$PG_URL/$DB_NAME" REDIS_URL="$REDIS_URL_BASE" TESSERA_REDIS_PREFIX="$REDIS_PREFIX"
)
declare -A PORT=([A]=$PORT_A [B]=$PORT_B [S]=$PORT_S)
declare -A PID=()

start_instance() {  # A | B | S
  local name=$1
  local vars=("${COMMON_ENV[@]}" TESSERA_BIND="127.0.0.1:${PORT[$name]}" TESSERA_DATA_DIR="$WORK/data-$name")
  mkdir -p "$WORK/data-$name"
  [ "$name" = S ] || vars+=("${SHARED_ENV[@]}")
  # Its own working directory: no stray .env is read.
  (cd "$WORK/data-$name" && exec env "${vars[@]}" "$TESSERA" serve) >>"$OUT/tessera-$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=("$!")
  wait_ready "$name" "${PORT[$name]}" "${PID[$name]}" "$OUT/tessera-$name.log"
}
restart_instance() {
  stop_pid "${PID[$1]}"
  start_instance "$1"
}

url() { echo "http://127.0.0.1:${PORT[$1]}"; }

login_json() {  # instance
  curl -fsS "$(url "$1")/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"
}
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# wrk_cmd INSTANCE LUA THREADS CONNECTIONS DURATION: the command line, as an array in CMD.
wrk_cmd() {
  CMD=(wrk -t"$3" -c"$4" -d"${5}s" --latency -s "bench/lua/$2" "$(url "$1")")
}

# record_wrk SCENARIO PEER OUTFILE THREADS CONNECTIONS COMMAND...
record_wrk() {
  local scenario=$1 peer=$2 out=$3 threads=$4 conns=$5
  shift 5
  sed 's/^/    /' "$out" | grep -v '^    BENCH ' >&2
  local line
  line=$(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-)
  [ -n "$line" ] || die "no BENCH line in $out"
  record "{\"kind\":\"wrk\",\"scenario\":\"$scenario\",\"peer\":\"$peer\",\"threads\":$threads,\"connections\":$conns,\"command\":\"$*\",\"result\":$line}"
}

# run_wrk SCENARIO PEER INSTANCE LUA THREADS CONNECTIONS DURATION (env passed through)
run_wrk() {
  local scenario=$1 peer=$2 inst=$3 lua=$4 threads=$5 conns=$6 dur=$7
  local out=$OUT/wrk-$scenario-$peer.txt
  wrk_cmd "$inst" "$lua" "$threads" "$conns" "$dur"
  log "$scenario $peer: ${CMD[*]}"
  (cd "$ROOT" && BENCH_LUA_DIR=$BENCH/lua BENCH_THREADS=$threads "${CMD[@]}") >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed"; }
  record_wrk "$scenario" "$peer" "$out" "$threads" "$conns" "${CMD[*]}"
}

# run_wrk_pair SCENARIO LUA CONNECTIONS DURATION ENV_A ENV_B: A and B at once, -t1 and half the
# connections each; ENV_A / ENV_B: one NAME=value of extra environment per process.
run_wrk_pair() {
  local scenario=$1 lua=$2 conns=$3 dur=$4 env_a=$5 env_b=$6 half pid_a pid_b
  half=$((conns / 2))
  wrk_cmd A "$lua" 1 "$half" "$dur"; local cmd_a=("${CMD[@]}")
  wrk_cmd B "$lua" 1 "$half" "$dur"; local cmd_b=("${CMD[@]}")
  log "$scenario A+B: ${cmd_a[*]}  &  ${cmd_b[*]}"
  (cd "$ROOT" && env BENCH_LUA_DIR="$BENCH/lua" BENCH_THREADS=1 "$env_a" "${cmd_a[@]}") \
    >"$OUT/wrk-$scenario-pair-A.txt" 2>&1 &
  pid_a=$!
  (cd "$ROOT" && env BENCH_LUA_DIR="$BENCH/lua" BENCH_THREADS=1 "$env_b" "${cmd_b[@]}") \
    >"$OUT/wrk-$scenario-pair-B.txt" 2>&1 &
  pid_b=$!
  wait "$pid_a" || { cat "$OUT/wrk-$scenario-pair-A.txt" >&2; die "wrk (A) failed"; }
  wait "$pid_b" || { cat "$OUT/wrk-$scenario-pair-B.txt" >&2; die "wrk (B) failed"; }
  record_wrk "$scenario" "pair-A" "$OUT/wrk-$scenario-pair-A.txt" 1 "$half" "${cmd_a[*]}"
  record_wrk "$scenario" "pair-B" "$OUT/wrk-$scenario-pair-B.txt" 1 "$half" "${cmd_b[*]}"
}

# K live refresh tokens from K logins on INSTANCE (2 at a time: 2 cores), into FILE.
refresh_tokens() {  # instance count file
  local inst=$1 k=$2 file=$3 dir=$WORK/logins-$1-$RANDOM
  mkdir -p "$dir"
  seq "$k" | xargs -P2 -I{} curl -fsS "$(url "$inst")/auth/login" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}" -o "$dir/login-{}.json"
  cat "$dir"/login-*.json | "$PY" -c 'import json,sys; dec=json.JSONDecoder(); s=sys.stdin.read(); i=0
while i < len(s):
    o, i = dec.raw_decode(s, i); print(o["refresh_token"])
    while i < len(s) and s[i].isspace(): i += 1' >"$file"
  [ "$(wc -l <"$file")" -eq "$k" ] || die "expected $k refresh tokens from $inst"
}

# After a refresh run (wrk drops requests in flight), a login must still work within 12 s.
check_store() {  # instance
  sleep 1
  if ! curl -fsS -m 12 -o /dev/null "$(url "$1")/auth/login" -H 'content-type: application/json' \
       -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"; then
    log "warning: after the refresh run a login on $1 failed; restarting it"
    record "{\"kind\":\"store_stuck\",\"instance\":\"$1\"}"
    restart_instance "$1"
  fi
}

# ---------------------------------------------------------------- 2. environment
for port in "$PORT_A" "$PORT_B" "$PORT_S"; do
  port_free "$port" || die "port $port on 127.0.0.1 is in use (set BENCH_PORT_A/B/S)"
done
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB_NAME" >/dev/null || die "cannot create database"
DB_CREATED=1
redis-cli -u "$REDIS_URL_BASE" ping >/dev/null || die "Redis does not answer at $REDIS_URL_BASE"
cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
CPU_MODEL="$(cpuinfo 'model name') (family $(cpuinfo 'cpu family') model $(cpuinfo 'model'), $(cpuinfo 'cpu MHz') MHz)"
PG_VERSION=$(psql -At "$PG_URL/postgres" -c 'SHOW server_version' 2>/dev/null || echo unknown)
REDIS_VERSION=$(redis-cli -u "$REDIS_URL_BASE" info server | tr -d '\r' | sed -n 's/^redis_version://p')
record "$("$PY" - "$STARTED_AT" "$CPU_MODEL" "$(nproc)" "$(rustc --version)" "$(wrk --version 2>&1 | head -1)" "$(uname -r)" "$DURATION" "$GIT_REV" "$PG_VERSION" "$REDIS_VERSION" "$DB_NAME" "$REDIS_PREFIX" <<'EOF'
import json, sys
keys = ["started_at", "cpu", "cores", "rustc", "wrk", "kernel", "duration_s", "git", "postgres",
        "redis", "database", "redis_prefix"]
print(json.dumps({"kind": "machine", **dict(zip(keys, sys.argv[1:]))}))
EOF
)"
log "database $DB_NAME, Redis prefix $REDIS_PREFIX, results in $OUT"

# ---------------------------------------------------------------- 3. instances, users, tokens
# A first (it runs the migrations on the fresh database), then B.
log "starting A (:$PORT_A) and B (:$PORT_B) on PostgreSQL + Redis, S (:$PORT_S) on SQLite"
start_instance A
start_instance B
start_instance S
for inst in A S; do
  curl -fsS -o /dev/null "$(url "$inst")/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"
done
TOKEN_A=$(login_json A | json_field access_token)   # used on A and on B
TOKEN_S=$(login_json S | json_field access_token)   # S has its own user (its own database)
for inst in A B; do
  curl -fsS -o "$WORK/me-$inst.json" "$(url "$inst")/auth/me" -H "authorization: Bearer $TOKEN_A"
done
cmp -s "$WORK/me-A.json" "$WORK/me-B.json" || die "A and B answer /auth/me differently"
curl -fsS -o /dev/null "$(url S)/auth/me" -H "authorization: Bearer $TOKEN_S"
log "A and B answer /auth/me with $(cat "$WORK/me-A.json")"
grep -q 'following revocations through Redis' "$OUT/tessera-A.log" "$OUT/tessera-B.log" \
  || log "warning: no 'following revocations through Redis' in the logs yet"

# ---------------------------------------------------------------- 4a. GET /auth/me
warm() {  # instance token
  BENCH_TOKEN=$2 BENCH_LUA_DIR=$BENCH/lua \
    wrk -t"$THREADS" -c"$ME_CONNECTIONS" -d"${WARMUP}s" -s "$BENCH/lua/me.lua" "$(url "$1")" >/dev/null 2>&1
}
wait_quiet "me S"
warm S "$TOKEN_S"
BENCH_TOKEN=$TOKEN_S run_wrk me sqlite-single S me.lua "$THREADS" "$ME_CONNECTIONS" "$DURATION"
wait_quiet "me A"
warm A "$TOKEN_A"
BENCH_TOKEN=$TOKEN_A run_wrk me pg-single A me.lua "$THREADS" "$ME_CONNECTIONS" "$DURATION"
wait_quiet "me A+B"
warm B "$TOKEN_A"
run_wrk_pair me me.lua "$ME_CONNECTIONS" "$DURATION" "BENCH_TOKEN=$TOKEN_A" "BENCH_TOKEN=$TOKEN_A"

# ---------------------------------------------------------------- 4b. POST /auth/refresh
K=$((REFRESH_CONNECTIONS + 16))
log "logging in $K times on S, $K on A, $((K / 2)) each on A and B for the refresh tokens"
refresh_tokens S "$K" "$WORK/refresh-S.txt"
refresh_tokens A "$K" "$WORK/refresh-A.txt"
refresh_tokens A $((K / 2)) "$WORK/refresh-pair-A.txt"
refresh_tokens B $((K / 2)) "$WORK/refresh-pair-B.txt"
wait_quiet "refresh S"
BENCH_REFRESH_FILE=$WORK/refresh-S.txt run_wrk refresh sqlite-single S refresh.lua "$THREADS" "$REFRESH_CONNECTIONS" "$DURATION"
check_store S
wait_quiet "refresh A"
BENCH_REFRESH_FILE=$WORK/refresh-A.txt run_wrk refresh pg-single A refresh.lua "$THREADS" "$REFRESH_CONNECTIONS" "$DURATION"
check_store A
wait_quiet "refresh A+B"
run_wrk_pair refresh refresh.lua "$REFRESH_CONNECTIONS" "$DURATION" \
  "BENCH_REFRESH_FILE=$WORK/refresh-pair-A.txt" "BENCH_REFRESH_FILE=$WORK/refresh-pair-B.txt"
check_store A
check_store B
record "{\"kind\":\"note\",\"scenario\":\"refresh\",\"refresh_tokens\":$K}"
# S is done: stop it so that it holds no CPU or memory during the propagation runs.
curl -fsS "$(url S)/metrics" >"$OUT/metrics-S.txt" || true
stop_pid "${PID[S]}"

# ---------------------------------------------------------------- 4c. propagation
prop() {  # label
  "$PY" "$BENCH/propagation.py" --a "$(url A)" --b "$(url B)" --username "$BENCH_USER" \
    --password "$BENCH_PASSWORD" --iterations "$PROP_ITERATIONS" --label "$1" \
    --json-out "$OUT/propagation-$1.json" | tee "$OUT/propagation-$1.txt" >&2
  record "{\"kind\":\"propagation\",\"result\":$(cat "$OUT/propagation-$1.json")}"
}
wait_quiet "propagation idle"
log "propagation, idle: $PROP_ITERATIONS iterations"
prop idle

wait_quiet "propagation loaded"
LOAD_MAX=$((DURATION * 4))
wrk_cmd B me.lua "$THREADS" "$ME_CONNECTIONS" "$LOAD_MAX"
LOAD_CMD=("${CMD[@]}")
log "propagation, loaded: ${LOAD_CMD[*]} in the background (stopped with SIGINT when done)"
(cd "$ROOT" && BENCH_TOKEN=$TOKEN_A BENCH_LUA_DIR=$BENCH/lua BENCH_THREADS=$THREADS exec "${LOAD_CMD[@]}") \
  >"$OUT/wrk-propagation-load-B.txt" 2>&1 &
LOAD_PID=$!; PIDS+=("$LOAD_PID")
sleep 3
prop loaded
kill -0 "$LOAD_PID" 2>/dev/null || log "warning: the load on B ended before the loaded propagation run did"
kill -INT "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" || true
record_wrk propagation-load pg-B "$OUT/wrk-propagation-load-B.txt" "$THREADS" "$ME_CONNECTIONS" "${LOAD_CMD[*]} (SIGINT at the end)"

# ---------------------------------------------------------------- 5. logs, summary
for inst in A B; do curl -fsS "$(url "$inst")/metrics" >"$OUT/metrics-$inst.txt" || true; done
# PostgreSQL's view (rows, dead rows, autovacuum runs), before the database is dropped.
psql "$PG_URL/$DB_NAME" -c "SELECT relname, n_live_tup, n_dead_tup, n_tup_upd, autovacuum_count, autoanalyze_count, last_autovacuum FROM pg_stat_user_tables ORDER BY relname" \
  >"$OUT/pg-stat-user-tables.txt" 2>&1 || true
for inst in A B; do stop_pid "${PID[$inst]}"; done
for inst in A B S; do
  WARNS=$( (grep -E ' (WARN|ERROR) ' "$OUT/tessera-$inst.log" || true) | wc -l)
  FIRST_WARN=$( (grep -m1 -E ' (WARN|ERROR) ' "$OUT/tessera-$inst.log" || true) | cut -c1-300 \
    | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')
  record "{\"kind\":\"server_log\",\"instance\":\"$inst\",\"warn_or_error_lines\":$WARNS,\"first\":$FIRST_WARN}"
done
record "{\"kind\":\"finished\",\"at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
cp "$RESULTS" "$RESULTS_DIR/scaleout-latest.jsonl"
log "raw results: $RESULTS (wrk outputs, logs, /metrics: $OUT)"

"$PY" - "$RESULTS" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
machine = next(r for r in records if r["kind"] == "machine")
print(f"\n## Scale-out run {machine['started_at']} ({machine['git']})")
print(f"{machine['cpu']}, {machine['cores']} cores, kernel {machine['kernel']}, {machine['rustc']}, "
      f"{machine['wrk']}, PostgreSQL {machine['postgres']}, Redis {machine['redis']}")
quiet = [r for r in records if r["kind"] == "quiet"]
noisy = [r for r in quiet if not r["quiet"]]
print("quiet before every phase" if not noisy else
      "NOT quiet before: " + ", ".join(f"{r['what']} (busy {r['busy']}%, compilers {r['compilers']})" for r in noisy))
waits = [f"{r['what']}: {r['waited_s']} s" for r in quiet if r["waited_s"]]
if waits:
    print("waited for quiet: " + ", ".join(waits))
wrk = {(r["scenario"], r["peer"]): r for r in records if r["kind"] == "wrk"}

def row(label, r):
    x = r["result"]
    return (f"| {label} | {x['rps']:,.0f} | {x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms | "
            f"{x['non2xx']} | {x['errors']} | -t{r['threads']} -c{r['connections']} |")

for scenario, title in (("me", "GET /auth/me"), ("refresh", "POST /auth/refresh")):
    print(f"\n| {title} | req/s | p50 | p99 | non-2xx | errors | wrk |")
    print("|---|---:|---:|---:|---:|---:|---|")
    single = wrk.get((scenario, "sqlite-single"))
    if single:
        print(row("S: one instance, SQLite, no Redis (default config)", single))
    if (scenario, "pg-single") in wrk:
        print(row("A alone: PostgreSQL + Redis", wrk[(scenario, "pg-single")]))
    a, b = wrk.get((scenario, "pair-A")), wrk.get((scenario, "pair-B"))
    if a and b:
        print(row("A and B at once: A", a))
        print(row("A and B at once: B", b))
        total = a["result"]["rps"] + b["result"]["rps"]
        print(f"| **A + B (sum)** | **{total:,.0f}** | | | "
              f"{a['result']['non2xx'] + b['result']['non2xx']} | "
              f"{a['result']['errors'] + b['result']['errors']} | 2 x -t1 -c{a['connections']} |")

for key, title in (("", "from the revoke's 200 to the first 401"),
                   ("from_send", "from the revoke request sent to the first 401")):
    print(f"\n| propagation (ms), {title} | iterations | min | p50 | p90 | p99 | max | > 100 ms | timeouts | first probe refused |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in (r["result"] for r in records if r["kind"] == "propagation"):
        total = r["from_send"] if key else r["all"]
        directions = r["from_send_by_direction"] if key else r["by_direction"]
        for name, s in [("all", total), *directions.items()]:
            if not s.get("n"):
                continue
            extra = (f"{r['timeouts']} | {r['probes']['first_probe_refused']}" if name == "all" else " | ")
            print(f"| {r['label']} {name} | {s['n']} | {s['min_ms']:.2f} | {s['p50_ms']:.2f} | "
                  f"{s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} | {s['over_100ms']} | {extra} |")
for r in (r["result"] for r in records if r["kind"] == "propagation"):
    rv = r["revoke_request"]
    print(f"{r['label']}: POST /oauth/revoke itself p50 {rv['p50_ms']:.2f} ms, p99 {rv['p99_ms']:.2f} ms; "
          f"probes per iteration median {r['probes']['median']}, max {r['probes']['max']}")
    for name, d in r["histogram_delta"].items():
        buckets = ", ".join(f"<= {k}: {int(v)}" for k, v in d.items() if not k.startswith("_"))
        print(f"  {name} /metrics propagation histogram over the run: count {int(d.get('_count', 0))}; {buckets}")
load = wrk.get(("propagation-load", "pg-B"))
if load:
    print("load on B during the loaded run: " + row("", load))
for r in records:
    if r["kind"] == "server_log":
        print(f"server log {r['instance']}: {r['warn_or_error_lines']} WARN/ERROR lines"
              + (f"; first: {r['first']}" if r["first"] else ""))
    if r["kind"] == "store_stuck":
        print(f"store stuck after refresh on {r['instance']} (restarted)")
EOF
