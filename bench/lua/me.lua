-- GET /auth/me with a valid access token (Bearer), the same token on every request.
-- The token comes from the environment: BENCH_TOKEN (set by bench/run.sh).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

local token = os.getenv("BENCH_TOKEN")
assert(token and #token > 0, "BENCH_TOKEN is not set")
wrk.method = "GET"
wrk.path = "/auth/me"
wrk.headers["Authorization"] = "Bearer " .. token

done = bench_summary
