-- GET /healthz as fast as the answers come back: the cheapest request there is, the peer of a
-- flood of refused requests (bench/password_flood.py --healthz-peer).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

wrk.path = "/healthz"
done = bench_summary
