-- POST /auth/login with valid credentials: every request is a full login (argon2id verification,
-- a new session in the store, a signed access token).
--
-- The users are BENCH_USERNAME_PREFIX0 .. BENCH_USERNAME_PREFIX<BENCH_LOGIN_USERS - 1>, all with
-- the password BENCH_PASSWORD (bench/run.sh registers them). Each wrk thread takes its share of
-- them and cycles through it, so one account never has more than one login in flight. That
-- matters: Tessera counts a login attempt as a failure until it succeeds, so more than
-- TESSERA_LOGIN_MAX_FAILURES (5) concurrent logins of ONE account get 429 even with the right
-- password (the lockout must not let parallel guesses through).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

local next_id = 0

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
end

function init(args)
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local nusers = tonumber(os.getenv("BENCH_LOGIN_USERS") or "1")
   local prefix = os.getenv("BENCH_USERNAME_PREFIX")
   local password = os.getenv("BENCH_PASSWORD")
   assert(prefix and password, "BENCH_USERNAME_PREFIX / BENCH_PASSWORD not set")
   bodies = {}
   for i = 0, nusers - 1 do
      if i % nthreads == (thread_id or 0) then
         -- Names and the password used by run.sh need no JSON escaping.
         table.insert(bodies, string.format('{"username":"%s%d","password":"%s"}', prefix, i, password))
      end
   end
   assert(#bodies > 0, "no users for this thread")
   current = 0
   wrk.method = "POST"
   wrk.path = "/auth/login"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   current = current % #bodies + 1
   return wrk.format(nil, nil, nil, bodies[current])
end

done = bench_summary
