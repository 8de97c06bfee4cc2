-- POST /introspect, client_secret_basic, cycling through the access tokens in a file.
-- Script args: TOKENS-FILE (one token per line). `Authorization: Basic …` comes from wrk's -H.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   local path = assert(args[1], "usage: -- TOKENS-FILE")
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   requests = {}
   for token in io.lines(path) do
      if #token > 0 then
         requests[#requests + 1] = wrk.format(nil, nil, nil, "token=" .. token)
      end
   end
   assert(#requests > 0, "no tokens in " .. path)
   ntokens = #requests
   -- Threads start at different tokens.
   nxt = ((id - 1) * 7919) % #requests
end

function request()
   nxt = nxt % #requests + 1
   return requests[nxt]
end

function done(summary, latency, requests)
   io.write(string.format("bench:   cycled through %d distinct tokens\n", threads[1]:get("ntokens")))
end
