# Shell helpers shared by bench/run.sh, bench/scaleout.sh and bench/ab.sh (sourced; each script
# defines its own `log` and `die`).

# port_free PORT: true if nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready NAME PORT PID [WHERE_THE_LOGS_ARE]: waits up to 30 s for GET /healthz to answer,
# and dies if the process exits first.
wait_ready() {
  local i
  for i in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$2/healthz" 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || die "$1 exited during start-up${4:+ (logs: $4)}"
    sleep 0.2
  done
  die "$1 not ready on port $2 after 30 s"
}
