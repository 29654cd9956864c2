-- Shared by every scenario: after the run, one machine-readable line on stdout,
--   BENCH {"requests":N,"duration_s":S,"rps":R,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..,
--          "non2xx":N,"errors":N}
-- which bench/run.sh collects. wrk's own `--latency` report is printed above it.
-- `non2xx` is wrk's errors.status (responses with status > 399); `errors` is connect + read +
-- write + timeout errors.
function bench_summary(summary, latency)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      'BENCH {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
      '"p99_ms":%.3f,"max_ms":%.3f,"non2xx":%d,"errors":%d}\n',
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.status, e.connect + e.read + e.write + e.timeout))
end
