-- A low-rate latency probe on GET /healthz: one connection (run with -t1 -c1), a pause of
-- BENCH_PROBE_DELAY_MS (default 5) between a response and the next request, so about
-- 1000 / (5 + latency) requests per second: what a load balancer's health check sees, not a
-- second load. Run it beside a login flood to see whether the flood starves the event loop.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

local pause = tonumber(os.getenv("BENCH_PROBE_DELAY_MS") or "5")
wrk.method = "GET"
wrk.path = "/healthz"

function delay()
   return pause
end

done = bench_summary
