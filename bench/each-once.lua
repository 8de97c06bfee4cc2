-- POST a form with one value from a file, each line used exactly once: codes for the code
-- exchange, refresh tokens for rotation, DPoP proofs. Script args: FILE THREADS BODY [HEADER].
-- Without HEADER the line replaces `%LINE%` in BODY; with HEADER (e.g. DPoP) the line is that
-- header's value and BODY is sent as it is. Each wrk thread reads its own contiguous part of
-- the file; once a thread has used up its part it sends `exhausted`, which the server refuses
-- (non-2xx), and done() prints how many such requests there were.
-- `Authorization: Basic …` comes from wrk's -H.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads)
end

local function load(path, nthreads)
   local file = assert(io.open(path, "rb"))
   local size = file:seek("end")
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
   lines = to > from and file:read(to - from) or ""
   file:close()
   supply = 0
   local at = 1
   while true do
      local nl = lines:find("\n", at, true)
      if not nl then break end
      supply, at = supply + 1, nl + 1
   end
end

function init(args)
   path, nthreads, body, header = args[1], tonumber(args[2]), args[3], args[4]
   assert(path and nthreads and body, "usage: -- FILE THREADS BODY [HEADER]")
   lines, supply, position, used, exhausted = nil, 0, 1, 0, 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   if header then
      -- The request's length does not depend on the header value: format it once and splice.
      local placeholder = "<line>"
      wrk.body = body
      wrk.headers[header] = placeholder
      local template = wrk.format()
      local slot = template:find(placeholder, 1, true)
      prefix, suffix = template:sub(1, slot - 1), template:sub(slot + #placeholder)
   end
end

local function with_line(line)
   if header then return prefix .. line .. suffix end
   local at = body:find("%LINE%", 1, true)
   return wrk.format(nil, nil, nil, body:sub(1, at - 1) .. line .. body:sub(at + 6))
end

function request()
   if not lines then load(path, nthreads) end
   local nl = lines:find("\n", position, true)
   if nl then
      local line = lines:sub(position, nl - 1)
      position = nl + 1
      used = used + 1
      return with_line(line)
   end
   exhausted = exhausted + 1
   return with_line("exhausted")
end

function done(summary, latency, requests)
   local supplied, sent, short = 0, 0, 0
   for _, thread in ipairs(threads) do
      supplied = supplied + thread:get("supply")
      sent = sent + thread:get("used")
      short = short + thread:get("exhausted")
   end
   io.write(string.format(
      "bench:   inputs: %d supplied, %d taken (each once), %d requests beyond the supply (refused, in non-2xx)\n",
      supplied, sent, short))
end
