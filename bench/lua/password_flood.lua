-- POST /auth/password as fast as the answers come back, with one account's access token and
-- new_password == current_password: the cheapest request that made the server hash twice
-- (issue 9, item 4). BENCH_TOKEN is the access token, BENCH_PASSWORD the account's password.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

function init(args)
   local password = os.getenv("BENCH_PASSWORD")
   local token = os.getenv("BENCH_TOKEN")
   assert(password and token, "BENCH_PASSWORD / BENCH_TOKEN not set")
   wrk.method = "POST"
   wrk.path = "/auth/password"
   wrk.headers["content-type"] = "application/json"
   wrk.headers["authorization"] = "Bearer " .. token
   -- The password used by the bench needs no JSON escaping.
   wrk.body = string.format('{"current_password":"%s","new_password":"%s"}', password, password)
end

done = bench_summary
