-- POST /token, grant_type=client_credentials, client_secret_basic.
-- The `Authorization: Basic …` header comes from wrk's -H. One static request: wrk sends it
-- as is, no Lua runs per request.
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
