-- POST /token, client_credentials with client_secret_basic and a fresh DPoP proof per request.
-- Script args: PROOFS-FILE THREADS. The file holds one proof per line (examples/dpop_proofs.rs);
-- each wrk thread takes its own contiguous part of it, so no proof is sent twice. Once a
-- thread has used up its part it sends `DPoP: exhausted`, which the server refuses: such
-- requests show in wrk's non-2xx count, and done() prints how many there were.
-- `Authorization: Basic …` comes from wrk's -H.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2])
   assert(path and nthreads, "usage: -- PROOFS-FILE THREADS")
   local file = assert(io.open(path, "rb"))
   local all = file:read("*a")
   file:close()
   -- Thread k (1-based) takes the lines that start in [(k-1)/n, k/n) of the file.
   local function line_start(fraction)
      if fraction <= 0 then return 1 end
      if fraction >= 1 then return #all + 1 end
      local at = math.floor(#all * fraction)
      if at > 0 and all:sub(at, at) == "\n" then return at + 1 end
      local nl = all:find("\n", at + 1, true)
      return nl and nl + 1 or #all + 1
   end
   local from, to = line_start((id - 1) / nthreads), line_start(id / nthreads)
   proofs = all:sub(from, to - 1)
   all = nil
   collectgarbage()
   supply = select(2, proofs:gsub("\n", "\n"))
   position, used, exhausted = 1, 0, 0

   wrk.method = "POST"
   wrk.body = "grant_type=client_credentials"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   local placeholder = "<proof>"
   wrk.headers["DPoP"] = placeholder
   local template = wrk.format()
   local at = template:find(placeholder, 1, true)
   prefix, suffix = template:sub(1, at - 1), template:sub(at + #placeholder)
end

function request()
   local nl = proofs:find("\n", position, true)
   if nl then
      local proof = proofs:sub(position, nl - 1)
      position = nl + 1
      used = used + 1
      return prefix .. proof .. suffix
   end
   exhausted = exhausted + 1
   return prefix .. "exhausted" .. suffix
end

function done(summary, latency, requests)
   local supplied, sent, short = 0, 0, 0
   for _, thread in ipairs(threads) do
      supplied = supplied + thread:get("supply")
      sent = sent + thread:get("used")
      short = short + thread:get("exhausted")
   end
   io.write(string.format(
      "bench:   DPoP proofs: %d supplied, %d sent (each once), %d requests beyond the supply (refused, in non-2xx)\n",
      supplied, sent, short))
end
