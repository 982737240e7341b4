-- wrk script for benchmarks/serve_load.py: POST /recommend with JSON bodies read from a file
-- (one per line), each connection thread cycling over them from its own offset; counts
-- responses that are not 2xx and prints "non2xx N" at the end (serve_load.py parses it).
--
--   wrk -t1 -c8 -d60s --latency -s benchmarks/serve_load.lua http://127.0.0.1:8000 -- bodies.jsonl

local bodies = {}
local threads = {}
local counter = 1
local next_index = 1
errors = 0

function setup(thread)
   thread:set("thread_no", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("give the bodies file after --, e.g. wrk ... -s serve_load.lua URL -- bodies.jsonl")
   end
   for line in io.lines(path) do
      if #line > 0 then
         table.insert(bodies, line)
      end
   end
   if #bodies == 0 then
      error("no request bodies in " .. path)
   end
   -- threads start far apart so that they do not ask for the same users in step
   next_index = ((thread_no or 1) - 1) * 7919 % #bodies + 1
   wrk.method = "POST"
   wrk.path = "/recommend"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local body = bodies[next_index]
   next_index = next_index % #bodies + 1
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      errors = errors + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + (thread:get("errors") or 0)
   end
   io.write(string.format("non2xx %d\n", total))
end
