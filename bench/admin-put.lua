-- PUT one fixed JSON body, the same every time (e.g. PUT /admin/v1/clients/{id}). Script args:
-- BODY-FILE. `Authorization: Bearer …` comes from wrk's -H. One static request: the body is
-- read once per thread in init(), and wrk sends the same bytes each time, no Lua per request.
function init(args)
   local path = assert(args[1], "usage: -- BODY-FILE")
   local file = assert(io.open(path, "rb"))
   wrk.body = file:read("*a")
   file:close()
   wrk.method = "PUT"
   wrk.headers["Content-Type"] = "application/json"
end
