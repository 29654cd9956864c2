-- POST /auth/refresh with rotating refresh tokens.
--
-- Every refresh rotates the token away, and presenting a rotated-away token revokes its whole
-- session (a 401 from then on), so a static body cannot work. Each wrk thread keeps a queue of
-- live refresh tokens: request() pops one and sends it; response() takes the new refresh_token
-- out of the 200 body and pushes it back. The queues are seeded from BENCH_REFRESH_FILE (one
-- token per line, obtained by bench/run.sh with one login each), dealt round-robin to the
-- threads; each thread needs at least as many tokens as it has connections (one request in
-- flight per connection, no pipelining). A 401 in the results means a token was reused (or lost
-- with its queue running dry), so non2xx must be 0.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
require "summary"

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   queue = {}
   head, tail = 1, 0
   local n = 0
   for line in io.lines(os.getenv("BENCH_REFRESH_FILE")) do
      if #line > 0 then
         if n % nthreads == thread_id then
            tail = tail + 1
            queue[tail] = line
         end
         n = n + 1
      end
   end
   dry = 0
   wrk.method = "POST"
   wrk.path = "/auth/refresh"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local token
   if head <= tail then
      token = queue[head]
      queue[head] = nil
      head = head + 1
   else
      -- The queue ran dry (tokens lost to failed requests): send a token that cannot be valid,
      -- so the failure shows in non2xx rather than stalling the connection.
      dry = dry + 1
      token = "tsr_queue_ran_dry"
   end
   return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
   if status ~= 200 then
      failures = (failures or 0) + 1
      if failures <= 3 then
         io.stderr:write(string.format("refresh: HTTP %d: %s\n", status, body))
      end
   end
   if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"(tsr_[%w_%-]+)"')
      if token then
         tail = tail + 1
         queue[tail] = token
      end
   end
end

function done(summary, latency, requests)
   local dry_total = 0
   for _, thread in ipairs(threads) do
      dry_total = dry_total + (thread:get("dry") or 0)
   end
   io.write(string.format("queue ran dry %d times\n", dry_total))
   bench_summary(summary, latency)
end
