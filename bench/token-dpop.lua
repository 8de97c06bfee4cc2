-- POST /token, client_credentials with client_secret_basic and a fresh DPoP proof per request.
-- Script args: PROOFS-FILE THREADS. The file holds one proof per line (examples/dpop_proofs.rs);
-- each wrk thread reads its own contiguous part of it, so no proof is sent twice. Once a
-- thread has used up its part it sends `DPoP: exhausted`, which the server refuses: such
-- requests show in wrk's non-2xx count, and done() prints how many there were.
-- `Authorization: Basic …` comes from wrk's -H.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

-- Reads this thread's part of the file. Called on the thread's first request, so a thread
-- never sends while a later thread is still being set up outside wrk's timed window (wrk
-- starts each thread as soon as it is set up, and starts its clock after the last one).
local function load(path, nthreads)
   local file = assert(io.open(path, "rb"))
   local size = file:seek("end")
   -- Thread k (1-based) of n takes the lines that start in [size*(k-1)/n, size*k/n): it reads
   -- only that part of the file.
   local function line_start(k)
      local at = math.floor(size * k / nthreads)
      if at <= 0 then return 0 end
      if at >= size then return size end
      file:seek("set", at - 1)
      local rest = file:read("*l")
      return rest and math.min(at + #rest, size) or size
   end
   local from, to = line_start(id - 1), line_start(id)
   file:seek("set", from)
   proofs = to > from and file:read(to - from) or ""
   file:close()
   supply = 0
   local at = 1
   while true do
      local nl = proofs:find("\n", at, true)
      if not nl then break end
      supply, at = supply + 1, nl + 1
   end
end

function init(args)
   proofs_path, nthreads = args[1], tonumber(args[2])
   assert(proofs_path and nthreads, "usage: -- PROOFS-FILE THREADS")
   proofs, supply, position, used, exhausted = nil, 0, 1, 0, 0

   wrk.method = "POST"
   wrk.body = "grant_type=client_credentials"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   local placeholder = "<proof>"
   wrk.headers["DPoP"] = placeholder
   local template = wrk.format()
   local slot = template:find(placeholder, 1, true)
   prefix, suffix = template:sub(1, slot - 1), template:sub(slot + #placeholder)
end

function request()
   if not proofs then load(proofs_path, nthreads) end
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
      "bench:   DPoP proofs: %d supplied, %d taken (each once), %d requests beyond the supply (refused, in non-2xx)\n",
      supplied, sent, short))
end
