#!/usr/bin/env bash
# HTTP benchmarks of `tessera serve` beside its peers, on 127.0.0.1 only, bounded in time.
#
#   bench/run.sh                      # everything: ES256 round, then HS256 round (~6 minutes
#                                     # once built; the first build takes several more)
#   BENCH_ROUNDS=ES256 bench/run.sh   # one round
#   BENCH_DURATION=5 bench/run.sh     # shorter runs (quick check; the reported numbers use 15)
#
# What it does (see BENCHMARKS.md, "HTTP benchmarks (tessera serve)"):
#  1. installs wrk (Debian) if missing; creates bench/.venv with the pinned bench/requirements.txt
#     (Flask, PyJWT, gunicorn, argon2-cffi);
#  2. builds `tessera` (release, CARGO_TARGET_DIR, default /var/tmp/tessera-target) and the
#     bare-axum peer and argon2-time (bench/bare-axum, own target dir), and runs from copies of
#     the binaries (the target dirs are shared; another build must not swap them mid-run);
#  3. waits for a quiet machine (no rustc, CPU mostly idle), times argon2id alone;
#  4. per round (ES256: a key from `tessera keygen`; HS256: a secret from `tessera keygen`):
#     starts Tessera in a temp data dir, registers a user, logs in, hands the same key (public
#     JWKS or secret), user and token to the bare-axum and Flask peers, and runs wrk on:
#       me       GET /auth/me with a valid Bearer token: tessera, bare-axum, flask
#       refresh  POST /auth/refresh with rotating tokens (bench/lua/refresh.lua)
#       login    POST /auth/login with the right password
#       healthz  a low-rate /healthz probe, idle and while a login flood saturates the CPUs
#     After the refresh run it checks that a login still works (wrk ends a run by dropping
#     requests in flight, which can leave the store's write lock held: see BENCHMARKS.md); if not,
#     it records that and restarts Tessera before the next scenario.
#  5. stops every server it started, prints a summary (bench/report.py) and keeps the raw
#     results, the server logs (WARN/ERROR lines are counted in the summary) and /metrics in
#     bench/results/ (git-ignored).
#
# Tessera runs with TESSERA_RATE_LIMIT_PER_IP=0: every request comes from 127.0.0.1, and the
# default 600/min per address would throttle the benchmark itself. The login lockout never
# triggers: the password is right and the login load cycles over 64 accounts, so no account has
# more than one login in flight (more than 5 at once get 429 by design). Logging stays at the
# default (info, to a file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tessera-target}
BARE_TARGET_DIR=${BENCH_BARE_TARGET_DIR:-/var/tmp/tessera-bench-target}
ROUNDS=${BENCH_ROUNDS:-"ES256 HS256"}
DURATION=${BENCH_DURATION:-15}          # seconds per measured wrk run
WARMUP=${BENCH_WARMUP:-3}               # seconds of unmeasured load before each /auth/me run
THREADS=${BENCH_THREADS:-2}             # wrk threads (the machine has 2 cores; wrk shares them)
ME_CONNECTIONS=${BENCH_ME_CONNECTIONS:-64}
REFRESH_CONNECTIONS=${BENCH_REFRESH_CONNECTIONS:-64}
LOGIN_CONNECTIONS=${BENCH_LOGIN_CONNECTIONS:-16}
LOGIN_USERS=${BENCH_LOGIN_USERS:-64}    # accounts the login load cycles through (see lua/login.lua)
PROBE_DURATION=${BENCH_PROBE_DURATION:-20}
PROBE_DELAY_MS=${BENCH_PROBE_DELAY_MS:-5}
PORT_TESSERA=${BENCH_PORT_TESSERA:-28080}
PORT_BARE=${BENCH_PORT_BARE:-28081}
PORT_FLASK=${BENCH_PORT_FLASK:-28082}
FLASK_WORKER_CLASS=${BENCH_FLASK_WORKER_CLASS:-gthread}
QUIET_WAIT=${BENCH_QUIET_WAIT:-180}     # seconds to wait for a quiet machine before each round

ISSUER=https://tessera.bench.invalid
AUDIENCE=tessera
BENCH_USER=benchuser
BENCH_PASSWORD=bench-password-0123456789

STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
RESULTS_DIR=$BENCH/results
mkdir -p "$RESULTS_DIR"
RESULTS=$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ).jsonl
WORK=$(mktemp -d /tmp/tessera-bench.XXXXXX)
PIDS=()

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_all() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  PIDS=()
}
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One JSON record per line in $RESULTS.
record() { printf '%s\n' "$1" >>"$RESULTS"; }

# ---------------------------------------------------------------- 1. tools
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >/dev/null
fi
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

PY=$BENCH/.venv/bin/python
if ! "$PY" -c 'import flask, jwt, cryptography, gunicorn, argon2' 2>/dev/null \
   || ! cmp -s "$BENCH/requirements.txt" "$BENCH/.venv/requirements.installed"; then
  log "creating bench/.venv (pinned bench/requirements.txt)"
  rm -rf "$BENCH/.venv"
  if ! python3 -m venv "$BENCH/.venv" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$BENCH/.venv"
  fi
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$BENCH/requirements.txt"
  cp "$BENCH/requirements.txt" "$BENCH/.venv/requirements.installed"
fi

# ---------------------------------------------------------------- 2. builds
log "building tessera (release) into $CARGO_TARGET_DIR"
cargo build --release -p tessera --quiet
TESSERA=$CARGO_TARGET_DIR/release/tessera
log "building bench/bare-axum (release) into $BARE_TARGET_DIR"
CARGO_TARGET_DIR=$BARE_TARGET_DIR cargo build --release --quiet \
  --manifest-path "$BENCH/bare-axum/Cargo.toml" --bin bare-axum --bin argon2-time
BARE=$BARE_TARGET_DIR/release/bare-axum
ARGON2_TIME=$BARE_TARGET_DIR/release/argon2-time
# Run copies: the target dirs are shared, and another build must not swap a binary mid-run.
mkdir -p "$WORK/bin"
cp "$TESSERA" "$BARE" "$ARGON2_TIME" "$WORK/bin/"
TESSERA=$WORK/bin/tessera BARE=$WORK/bin/bare-axum ARGON2_TIME=$WORK/bin/argon2-time
GIT_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- helpers
# Percentage of CPU time busy over one second, machine-wide, from /proc/stat.
cpu_busy_percent() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  [ "$total" -gt 0 ] || { echo 0; return; }
  echo $(( 100 * (total - idle) / total ))
}

# Waits (up to QUIET_WAIT s) until no rustc runs and the CPUs are < 10% busy; records what it saw.
QUIET_NOTES=()
wait_quiet() {
  local what=$1 waited=0 busy rustc
  while :; do
    rustc=$( (pgrep -x rustc || true) | wc -l)
    busy=$(cpu_busy_percent)
    if [ "$rustc" -eq 0 ] && [ "$busy" -lt 10 ]; then break; fi
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      log "warning: machine not quiet before $what (rustc processes: $rustc, CPU busy: $busy%); going on"
      QUIET_NOTES+=("$what: not quiet after ${waited}s (rustc: $rustc, busy: $busy%)")
      record "{\"kind\":\"quiet\",\"what\":\"$what\",\"quiet\":false,\"rustc\":$rustc,\"busy\":$busy,\"waited_s\":$waited}"
      return
    fi
    sleep 4; waited=$((waited + 5))
  done
  record "{\"kind\":\"quiet\",\"what\":\"$what\",\"quiet\":true,\"rustc\":0,\"busy\":$busy,\"waited_s\":$waited}"
}

. "$BENCH/lib.sh"  # port_free, wait_ready

# run_wrk ROUND SCENARIO PEER PORT LUA THREADS CONNECTIONS DURATION [extra wrk args...]
# Runs one measured wrk run, keeps its full output, records its BENCH line.
run_wrk() {
  local round=$1 scenario=$2 peer=$3 port=$4 lua=$5 threads=$6 conns=$7 dur=$8
  shift 8
  local out=$WORK/wrk-$round-$scenario-$peer.txt
  local cmd=(wrk -t"$threads" -c"$conns" -d"${dur}s" --latency "$@" -s "bench/lua/$lua" "http://127.0.0.1:$port")
  log "$round $scenario $peer: ${cmd[*]}"
  (cd "$ROOT" && BENCH_LUA_DIR=$BENCH/lua BENCH_THREADS=$threads "${cmd[@]}") >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed"; }
  sed 's/^/    /' "$out" | grep -v '^    BENCH ' >&2
  local line
  line=$(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-)
  [ -n "$line" ] || die "no BENCH line in $out"
  record "{\"kind\":\"wrk\",\"round\":\"$round\",\"scenario\":\"$scenario\",\"peer\":\"$peer\",\"threads\":$threads,\"connections\":$conns,\"command\":\"${cmd[*]}\",\"result\":$line}"
}

json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

login_json() {  # prints the login response body
  curl -fsS "http://127.0.0.1:$PORT_TESSERA/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"
}

# ---------------------------------------------------------------- 3. environment, argon2 time
for port in "$PORT_TESSERA" "$PORT_BARE" "$PORT_FLASK"; do
  port_free "$port" || die "port $port on 127.0.0.1 is in use (set BENCH_PORT_TESSERA/BARE/FLASK)"
done
cpuinfo() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
CPU_MODEL="$(cpuinfo 'model name') (family $(cpuinfo 'cpu family') model $(cpuinfo 'model'), $(cpuinfo 'cpu MHz') MHz)"
record "$("$PY" - "$STARTED_AT" "$CPU_MODEL" "$(nproc)" "$(rustc --version)" "$(wrk --version 2>&1 | head -1)" "$(uname -r)" "$DURATION" "$FLASK_WORKER_CLASS" "$GIT_REV" <<'EOF'
import json, sys
keys = ["started_at", "cpu", "cores", "rustc", "wrk", "kernel", "duration_s", "flask_worker_class", "git"]
print(json.dumps({"kind": "machine", **dict(zip(keys, sys.argv[1:]))}))
EOF
)"

wait_quiet "argon2 timing"
log "timing argon2id alone (argon2-time: the server's hasher, and argon2 with a reused buffer)"
ARGON2=$("$ARGON2_TIME" 20)
log "  $ARGON2"
record "{\"kind\":\"argon2\",\"impl\":\"rust\",\"result\":$ARGON2}"
CFFI=$("$PY" - <<'EOF'
import json, time
from argon2 import PasswordHasher, Type
ph = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
password = "bench-password-0123456789"
phc = ph.hash(password)
for _ in range(2):
    ph.verify(phc, password)
times = []
for _ in range(20):
    t = time.perf_counter(); ph.verify(phc, password); times.append((time.perf_counter() - t) * 1e3)
times.sort()
print(json.dumps({"sequential_ms": {"median": round(times[len(times) // 2], 3),
                                    "mean": round(sum(times) / len(times), 3), "min": round(times[0], 3)}}))
EOF
)
log "  argon2-cffi (C reference implementation): $CFFI"
record "{\"kind\":\"argon2\",\"impl\":\"argon2-cffi\",\"result\":$CFFI}"

# ---------------------------------------------------------------- 4. rounds
for ROUND in $ROUNDS; do
  RW=$WORK/$ROUND
  mkdir -p "$RW/data"
  cd "$RW"   # no stray .env is read: Tessera reads ./.env from its working directory
  TESSERA_ENV=(
    TESSERA_DATA_DIR="$RW/data" TESSERA_BIND="127.0.0.1:$PORT_TESSERA"
    JWT_ISSUER="$ISSUER" JWT_AUDIENCE="$AUDIENCE" JWT_ACCESS_TTL=1h
    TESSERA_RATE_LIMIT_PER_IP=0
  )
  PEER_ENV=(JWT_ISSUER="$ISSUER" JWT_AUDIENCE="$AUDIENCE" BENCH_USERS="$RW/users.json")
  case $ROUND in
    ES256)
      "$TESSERA" keygen --alg ES256 --out "$RW/es256.pem"
      TESSERA_ENV+=(JWT_ALGORITHM=ES256 JWT_PRIVATE_KEY_FILE="$RW/es256.pem")
      env "${TESSERA_ENV[@]}" "$TESSERA" jwks >"$RW/jwks.json"
      PEER_ENV+=(JWKS_FILE="$RW/jwks.json")
      ;;
    HS256)
      SECRET=$("$TESSERA" keygen --alg HS256)
      TESSERA_ENV+=(JWT_ALGORITHM=HS256 JWT_SECRET_KEY="$SECRET")
      PEER_ENV+=(JWT_SECRET_KEY="$SECRET")
      ;;
    *) die "unknown round $ROUND (ES256 or HS256)" ;;
  esac

  start_tessera() {
    env "${TESSERA_ENV[@]}" "$TESSERA" serve >>"$WORK/tessera-$ROUND.log" 2>&1 &
    TESSERA_PID=$!; PIDS+=("$TESSERA_PID")
    wait_ready tessera "$PORT_TESSERA" "$TESSERA_PID" "$WORK"
  }
  log "== round $ROUND: starting tessera on 127.0.0.1:$PORT_TESSERA"
  start_tessera

  curl -fsS -o /dev/null "http://127.0.0.1:$PORT_TESSERA/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"
  log "registering $LOGIN_USERS more users for the login load"
  seq 0 $((LOGIN_USERS - 1)) | xargs -P2 -I{} curl -fsS -o /dev/null \
    "http://127.0.0.1:$PORT_TESSERA/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"${BENCH_USER}{}\",\"password\":\"$BENCH_PASSWORD\"}"
  ACCESS=$(login_json | json_field access_token)
  ME=$(curl -fsS "http://127.0.0.1:$PORT_TESSERA/auth/me" -H "authorization: Bearer $ACCESS")
  "$PY" -c 'import json,sys; me=json.loads(sys.argv[1]); json.dump({me["sub"]: {"username": me["username"], "created_at": me["created_at"]}}, open(sys.argv[2], "w"))' \
    "$ME" "$RW/users.json"

  log "starting bare-axum on :$PORT_BARE and flask/gunicorn ($FLASK_WORKER_CLASS) on :$PORT_FLASK"
  env "${PEER_ENV[@]}" BIND="127.0.0.1:$PORT_BARE" "$BARE" >"$WORK/bare.log" 2>&1 &
  BARE_PID=$!; PIDS+=("$BARE_PID")
  env "${PEER_ENV[@]}" BIND="127.0.0.1:$PORT_FLASK" BENCH_FLASK_WORKER_CLASS="$FLASK_WORKER_CLASS" \
    "$BENCH/.venv/bin/gunicorn" -c "$BENCH/gunicorn.conf.py" --chdir "$BENCH" flask_app:app \
    >"$WORK/flask.log" 2>&1 &
  FLASK_PID=$!; PIDS+=("$FLASK_PID")
  wait_ready bare-axum "$PORT_BARE" "$BARE_PID" "$WORK"
  wait_ready flask "$PORT_FLASK" "$FLASK_PID" "$WORK"

  # The three answer the same token with the same body (compared as JSON).
  for port in "$PORT_BARE" "$PORT_FLASK"; do
    OTHER=$(curl -fsS "http://127.0.0.1:$port/auth/me" -H "authorization: Bearer $ACCESS")
    "$PY" -c 'import json,sys; a,b=map(json.loads,sys.argv[1:3]); sys.exit(a!=b)' "$ME" "$OTHER" \
      || die "peer on :$port answered $OTHER, Tessera $ME"
  done
  log "all three answer /auth/me with $ME"

  wait_quiet "$ROUND /auth/me"
  for peer in tessera bare-axum flask; do
    case $peer in tessera) port=$PORT_TESSERA ;; bare-axum) port=$PORT_BARE ;; flask) port=$PORT_FLASK ;; esac
    BENCH_TOKEN=$ACCESS BENCH_LUA_DIR=$BENCH/lua \
      wrk -t"$THREADS" -c"$ME_CONNECTIONS" -d"${WARMUP}s" -s "$BENCH/lua/me.lua" "http://127.0.0.1:$port" >/dev/null 2>&1
    BENCH_TOKEN=$ACCESS run_wrk "$ROUND" me "$peer" "$port" me.lua "$THREADS" "$ME_CONNECTIONS" "$DURATION"
  done

  # The peers are done: stop them so that they hold no memory or CPU during the rest.
  kill "$BARE_PID" "$FLASK_PID"; wait "$BARE_PID" "$FLASK_PID" 2>/dev/null || true

  # refresh: K >= connections live refresh tokens, one login each (2 at a time: 2 cores).
  K=$((REFRESH_CONNECTIONS + 16))
  log "logging in $K times for the refresh tokens"
  seq "$K" | xargs -P2 -I{} curl -fsS "http://127.0.0.1:$PORT_TESSERA/auth/login" \
      -H 'content-type: application/json' \
      -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}" -o "$RW/login-{}.json"
  cat "$RW"/login-*.json | "$PY" -c 'import json,sys; dec=json.JSONDecoder(); s=sys.stdin.read(); i=0
while i < len(s):
    o, i = dec.raw_decode(s, i); print(o["refresh_token"])
    while i < len(s) and s[i].isspace(): i += 1' >"$RW/refresh-tokens.txt"
  [ "$(wc -l <"$RW/refresh-tokens.txt")" -eq "$K" ] || die "expected $K refresh tokens"
  wait_quiet "$ROUND refresh"
  BENCH_REFRESH_FILE=$RW/refresh-tokens.txt \
    run_wrk "$ROUND" refresh tessera "$PORT_TESSERA" refresh.lua "$THREADS" "$REFRESH_CONNECTIONS" "$DURATION"
  record "{\"kind\":\"note\",\"round\":\"$ROUND\",\"scenario\":\"refresh\",\"refresh_tokens\":$K}"

  # wrk ends a run by closing its connections with requests in flight. Check that the store still
  # takes writes afterwards (one login, 12 s at most); if not, record it and restart the server so
  # that the next scenarios measure something.
  sleep 1
  if ! curl -fsS -m 12 -o /dev/null "http://127.0.0.1:$PORT_TESSERA/auth/login" -H 'content-type: application/json' \
       -d "{\"username\":\"$BENCH_USER\",\"password\":\"$BENCH_PASSWORD\"}"; then
    log "warning: after the refresh run a login failed: the store no longer takes writes; restarting tessera"
    record "{\"kind\":\"store_stuck\",\"round\":\"$ROUND\",\"after\":\"refresh\"}"
    kill "$TESSERA_PID"; wait "$TESSERA_PID" 2>/dev/null || true
    start_tessera
  fi

  wait_quiet "$ROUND login"
  BENCH_USERNAME_PREFIX=$BENCH_USER BENCH_LOGIN_USERS=$LOGIN_USERS BENCH_PASSWORD=$BENCH_PASSWORD \
    run_wrk "$ROUND" login tessera "$PORT_TESSERA" login.lua "$THREADS" "$LOGIN_CONNECTIONS" "$DURATION" --timeout 10s

  # /healthz: the probe alone, then beside a login flood that saturates both cores.
  BENCH_PROBE_DELAY_MS=$PROBE_DELAY_MS \
    run_wrk "$ROUND" healthz-idle tessera "$PORT_TESSERA" healthz_probe.lua 1 1 10
  FLOOD_DURATION=$((PROBE_DURATION + 6))
  log "$ROUND healthz-under-login: login flood (-c$LOGIN_CONNECTIONS, ${FLOOD_DURATION}s) in the background"
  BENCH_LUA_DIR=$BENCH/lua BENCH_THREADS=$THREADS BENCH_USERNAME_PREFIX=$BENCH_USER \
    BENCH_LOGIN_USERS=$LOGIN_USERS BENCH_PASSWORD=$BENCH_PASSWORD \
    wrk -t"$THREADS" -c"$LOGIN_CONNECTIONS" -d"${FLOOD_DURATION}s" --timeout 10s --latency \
    -s "$BENCH/lua/login.lua" "http://127.0.0.1:$PORT_TESSERA" >"$WORK/flood-$ROUND.txt" 2>&1 &
  FLOOD_PID=$!
  sleep 3
  BENCH_PROBE_DELAY_MS=$PROBE_DELAY_MS \
    run_wrk "$ROUND" healthz-under-login tessera "$PORT_TESSERA" healthz_probe.lua 1 1 "$PROBE_DURATION"
  wait "$FLOOD_PID" || die "login flood failed: $(cat "$WORK/flood-$ROUND.txt")"
  FLOOD=$(grep '^BENCH ' "$WORK/flood-$ROUND.txt" | tail -1 | cut -d' ' -f2-)
  record "{\"kind\":\"wrk\",\"round\":\"$ROUND\",\"scenario\":\"login-flood\",\"peer\":\"tessera\",\"threads\":$THREADS,\"connections\":$LOGIN_CONNECTIONS,\"command\":\"wrk -t$THREADS -c$LOGIN_CONNECTIONS -d${FLOOD_DURATION}s --timeout 10s --latency -s bench/lua/login.lua\",\"result\":$FLOOD}"

  # The server's own view: responses by class, the login and refresh counters.
  curl -fsS "http://127.0.0.1:$PORT_TESSERA/metrics" >"$RESULTS_DIR/metrics-$ROUND.txt" || true
  kill "$TESSERA_PID"; wait "$TESSERA_PID" 2>/dev/null || true
  PIDS=()
  cp "$WORK/tessera-$ROUND.log" "$RESULTS_DIR/tessera-$ROUND.log" 2>/dev/null || true
  WARNS=$( (grep -E ' (WARN|ERROR) ' "$WORK/tessera-$ROUND.log" || true) | wc -l)
  FIRST_WARN=$( (grep -m1 -E ' (WARN|ERROR) ' "$WORK/tessera-$ROUND.log" || true) | cut -c1-200 \
    | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')
  record "{\"kind\":\"server_log\",\"round\":\"$ROUND\",\"warn_or_error_lines\":$WARNS,\"first\":$FIRST_WARN}"
  cd "$ROOT"
done

# ---------------------------------------------------------------- 5. summary
record "{\"kind\":\"finished\",\"at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
cp "$RESULTS" "$RESULTS_DIR/latest.jsonl"
log "raw results: $RESULTS"
"$PY" "$BENCH/report.py" "$RESULTS"
