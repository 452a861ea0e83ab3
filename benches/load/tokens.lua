-- wrk script of benches/load.sh: POSTs a small JSON-RPC body to /mcp with a bearer token read
-- from a file, one token a line, and counts what comes back. Configured by environment:
--
--   LOAD_TOKENS  the token file (required)
--   LOAD_LIMIT   cycle over the first N tokens of the file (0: the whole file)
--   LOAD_SKIP    start after the first N tokens of the file (the one the script checked
--                with curl); a later pass over the file starts at its first line
--   LOAD_MAX     stop after N requests have been sent (0: run for wrk's -d duration)
--   LOAD_OUT     where done() writes its key=value results (required)
--
-- Tokens are read from the file as requests are made (not loaded into memory), so a file of a
-- million tokens costs wrk no memory. Every response's status is counted, and so is every
-- `Connection: close`: wrk opens a new connection after each of those.

local path = assert(os.getenv("LOAD_TOKENS"), "LOAD_TOKENS is not set")
local limit = tonumber(os.getenv("LOAD_LIMIT") or "0") or 0
local skip = tonumber(os.getenv("LOAD_SKIP") or "0") or 0
local max = tonumber(os.getenv("LOAD_MAX") or "0") or 0
local out = assert(os.getenv("LOAD_OUT"), "LOAD_OUT is not set")

local body = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'

-- Per-thread state (each wrk thread has its own Lua state).
local file
local prefix, suffix
local line = 0
local last
sent = 0
wraps = 0
closes = 0
statuses = {}

-- Main-state: the threads, for done().
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   file = assert(io.open(path, "r"))
   local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
   prefix = "POST " .. wrk.path .. " HTTP/1.1\r\n"
      .. "Host: " .. host .. "\r\n"
      .. "Content-Type: application/json\r\n"
      .. "Accept: application/json, text/event-stream\r\n"
      .. "Content-Length: " .. #body .. "\r\n"
      .. "Authorization: Bearer "
   suffix = "\r\n\r\n" .. body
   for _ = 1, skip do
      if file:read("*l") == nil then
         break
      end
      line = line + 1
   end
end

local function rewind()
   file:seek("set", 0)
   line = 0
   wraps = wraps + 1
end

local function next_token()
   if limit > 0 and line >= limit then
      rewind()
   end
   local token = file:read("*l")
   if token == nil or token == "" then
      rewind()
      token = assert(file:read("*l"), "the token file is empty")
   end
   line = line + 1
   return token
end

-- Ends the run early: stop this thread's loop, and wake wrk's main thread (which sleeps for
-- the -d duration and wakes on SIGINT) through LuaJIT's FFI.
local function finish()
   wrk.thread:stop()
   local ok, ffi = pcall(require, "ffi")
   if ok then
      pcall(ffi.cdef, "int getpid(void); int kill(int pid, int sig);")
      ffi.C.kill(ffi.C.getpid(), 2)
   end
end

function request()
   if max > 0 and sent >= max then
      -- Stopping: wrk may still ask for a request or two; they never count as tokens used.
      return last
   end
   sent = sent + 1
   if max > 0 and sent == max then
      finish()
   end
   last = prefix .. next_token() .. suffix
   return last
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   local connection = headers["Connection"] or headers["connection"]
   if connection ~= nil and string.lower(connection) == "close" then
      closes = closes + 1
   end
end

function done(summary, latency, requests)
   local f = assert(io.open(out, "w"))
   f:write(string.format("requests=%d\n", summary.requests))
   f:write(string.format("duration_us=%d\n", summary.duration))
   f:write(string.format("p50_us=%d\n", latency:percentile(50)))
   f:write(string.format("p99_us=%d\n", latency:percentile(99)))
   f:write(string.format("max_us=%d\n", latency.max))
   local e = summary.errors
   f:write(string.format("errors_connect=%d\nerrors_read=%d\nerrors_write=%d\nerrors_timeout=%d\n",
      e.connect, e.read, e.write, e.timeout))
   local total = { sent = 0, wraps = 0, closes = 0 }
   local codes = {}
   for _, thread in ipairs(threads) do
      for _, name in ipairs({ "sent", "wraps", "closes" }) do
         total[name] = total[name] + (thread:get(name) or 0)
      end
      for code, n in pairs(thread:get("statuses") or {}) do
         codes[code] = (codes[code] or 0) + n
      end
   end
   f:write(string.format("sent=%d\nwraps=%d\ncloses=%d\n", total.sent, total.wraps, total.closes))
   for code, n in pairs(codes) do
      f:write(string.format("status_%d=%d\n", code, n))
   end
   f:close()
end
