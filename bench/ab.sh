#!/usr/bin/env bash
# Same-day A/B of two `tessera` binaries on one scenario, alternating A, B, A, B, ... so that the
# drift of a shared machine hits both alike. Each run starts the binary on a fresh data directory
# on 127.0.0.1, sets the scenario up over HTTP, measures with wrk, and stops it.
#
#   bench/ab.sh SCENARIO BIN_A BIN_B [ROUNDS]
#
# Scenarios:
#   me-hs256       GET /auth/me with one valid HS256 Bearer token (wrk -t2 -c64, after 2 s warm-up)
#   me-es256       the same in zero configuration (no key variables: ES256, with the key the
#                  binary keeps itself: a PEM file in the data directory before issue 12, the
#                  database sealed under a generated key-encryption key since; made on first
#                  start, which is start-up, not measured)
#   login-es256    POST /auth/login in zero configuration (ES256): 8 users registered, then
#                  bench/lua/login.lua cycling over them (wrk -t2 -c8 --timeout 10s, one login
#                  per account in flight); argon2id-bound, so tens per second
#   refresh-es256  POST /auth/refresh with rotating tokens (bench/lua/refresh.lua, 80 tokens from
#   refresh-hs256  80 logins; wrk -t2 -c64)
#   flood          GET /healthz probe (bench/lua/healthz_probe.lua, -t1 -c1) started 2 s into a
#                  login flood (bench/lua/login.lua, 64 users, -t2 -c16)
#
# One line per run: the binary, req/s, and the server's CPU per request (user + system time of
# the process during the measured run, divided by the requests: steadier than req/s on a busy
# machine), then `non2xx N` / `socket_errors ...` only if wrk saw any; for `flood`, the probe's
# p50/p99 and the logins/s meanwhile.
#
# Environment: BENCH_AB_DURATION (seconds per measured run, default 8), BENCH_AB_DATA (where the
# data directories go, default /var/tmp; a tmpfs such as /dev/shm leaves the disk out),
# BENCH_AB_PORT (default 29100).
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH=$PWD/bench
. "$BENCH/lib.sh"  # port_free, wait_ready

log() { printf '[ab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ $# -ge 3 ] || die "usage: bench/ab.sh SCENARIO BIN_A BIN_B [ROUNDS]"
SCENARIO=$1 BIN_A=$2 BIN_B=$3 ROUNDS=${4:-4}
DURATION=${BENCH_AB_DURATION:-8}
DATA_ROOT=${BENCH_AB_DATA:-/var/tmp}
PORT=${BENCH_AB_PORT:-29100}
PASSWORD=bench-password-0123456789
CLK_TCK=$(getconf CLK_TCK)
export BENCH_LUA_DIR=$BENCH/lua
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
for bin in "$BIN_A" "$BIN_B"; do [ -x "$bin" ] || die "$bin is not an executable"; done
case $SCENARIO in me-hs256 | me-es256 | login-es256 | refresh-es256 | refresh-hs256 | flood) ;; *) die "unknown scenario $SCENARIO" ;; esac
port_free "$PORT" || die "port $PORT on 127.0.0.1 is in use (set BENCH_AB_PORT)"

URL=http://127.0.0.1:$PORT
SERVER_PID=
DATA=
cleanup() {
  [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  [ -z "$DATA" ] || rm -rf "$DATA"
  SERVER_PID= DATA=
}
trap cleanup EXIT

post_json() { curl -fsS -X POST -H 'content-type: application/json' -d "$2" "$URL$1"; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# start BIN ALG: the server on a fresh data directory.
start() {
  DATA=$(mktemp -d "$DATA_ROOT/tessera-ab.XXXXXX")
  local env=(TESSERA_DATA_DIR="$DATA" TESSERA_BIND="127.0.0.1:$PORT" TESSERA_RATE_LIMIT_PER_IP=0
    JWT_ISSUER="$URL" JWT_ACCESS_TTL=1h)
  if [ "$2" = HS256 ]; then env+=(JWT_ALGORITHM=HS256 JWT_SECRET_KEY="$("$1" keygen --alg HS256)"); fi
  env "${env[@]}" "$1" serve >"$DATA/server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready tessera "$PORT" "$SERVER_PID" "$DATA/server.log"
}

# measure WRK_ARGS...: one measured wrk run; prints "req/s cpu_us_per_req" (and what wrk
# counted as non-2xx or socket errors, if any).
measure() {
  local before after out requests
  before=$(cpu_ticks)
  out=$(wrk "$@")
  after=$(cpu_ticks)
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")" -v t="$((after - before))" \
    -v n="$requests" -v hz="$CLK_TCK" 'BEGIN {
      if (rps < 100) printf "req/s %.1f  cpu_us_per_req %.0f", rps, t * 1e6 / hz / n
      else printf "req/s %.0f  cpu_us_per_req %.1f", rps, t * 1e6 / hz / n }'
  awk '/Non-2xx or 3xx responses:/ {printf "  non2xx %s", $NF}
       /Socket errors:/ {sub(/^ *Socket errors: */, ""); printf "  socket_errors %s", $0}' <<<"$out"
}

run_one() {  # BIN
  local bin=$1 token i
  case $SCENARIO in
    me-hs256 | me-es256)
      if [ "$SCENARIO" = me-hs256 ]; then start "$bin" HS256; else start "$bin" ES256; fi
      post_json /auth/register "{\"username\":\"abuser\",\"password\":\"$PASSWORD\"}" >/dev/null
      token=$(post_json /auth/login "{\"username\":\"abuser\",\"password\":\"$PASSWORD\"}" | field access_token)
      wrk -t2 -c64 -d2s -H "authorization: Bearer $token" "$URL/auth/me" >/dev/null
      measure -t2 -c64 -d"${DURATION}s" -H "authorization: Bearer $token" "$URL/auth/me"
      ;;
    refresh-es256 | refresh-hs256)
      if [ "$SCENARIO" = refresh-hs256 ]; then start "$bin" HS256; else start "$bin" ES256; fi
      for i in $(seq 0 7); do
        post_json /auth/register "{\"username\":\"ab$i\",\"password\":\"$PASSWORD\"}" >/dev/null
      done
      for i in $(seq 0 79); do
        post_json /auth/login "{\"username\":\"ab$((i % 8))\",\"password\":\"$PASSWORD\"}" | field refresh_token
      done >"$DATA/refresh-tokens.txt"
      BENCH_THREADS=2 BENCH_REFRESH_FILE=$DATA/refresh-tokens.txt \
        measure -t2 -c64 -d"${DURATION}s" -s "$BENCH/lua/refresh.lua" "$URL"
      ;;
    login-es256)
      start "$bin" ES256
      for i in $(seq 0 7); do
        post_json /auth/register "{\"username\":\"ab$i\",\"password\":\"$PASSWORD\"}" >/dev/null
      done
      BENCH_THREADS=2 BENCH_LOGIN_USERS=8 BENCH_USERNAME_PREFIX=ab BENCH_PASSWORD=$PASSWORD \
        measure -t2 -c8 -d"${DURATION}s" --timeout 10s -s "$BENCH/lua/login.lua" "$URL"
      ;;
    flood)
      start "$bin" ES256
      for i in $(seq 0 63); do
        post_json /auth/register "{\"username\":\"ab$i\",\"password\":\"$PASSWORD\"}" >/dev/null
      done
      local flood probe
      BENCH_THREADS=2 BENCH_LOGIN_USERS=64 BENCH_USERNAME_PREFIX=ab BENCH_PASSWORD=$PASSWORD \
        wrk -t2 -c16 -d"$((DURATION + 4))s" --timeout 10s -s "$BENCH/lua/login.lua" "$URL" >"$DATA/flood.txt" 2>&1 &
      flood=$!
      sleep 2
      probe=$(BENCH_THREADS=1 wrk -t1 -c1 -d"${DURATION}s" -s "$BENCH/lua/healthz_probe.lua" "$URL" | grep '^BENCH ')
      wait "$flood"
      python3 -c 'import json,sys; p=json.loads(sys.argv[1][6:]); print("probe p50_ms %.2f  p99_ms %.2f  " % (p["p50_ms"], p["p99_ms"]), end="")' "$probe"
      awk '/Requests\/sec/ {printf "logins/s %.1f", $2}' "$DATA/flood.txt"
      ;;
  esac
  cleanup
}

log "$SCENARIO: A=$BIN_A B=$BIN_B, $ROUNDS rounds, ${DURATION}s each, data in $DATA_ROOT"
for round in $(seq 1 "$ROUNDS"); do
  for label in A B; do
    if [ $label = A ]; then bin=$BIN_A; else bin=$BIN_B; fi
    printf '%s round %d  ' "$label" "$round"
    run_one "$bin"
    echo
  done
done
