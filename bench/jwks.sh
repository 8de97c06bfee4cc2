#!/usr/bin/env bash
# /jwks and discovery under load: one release node on PostgreSQL + Redis, wrk on the same host.
source "$(dirname "$0")/lib.sh"
build_release
start_node
echo "# $(nproc) cores; idp $(git -C "$BENCH_ROOT" rev-parse --short HEAD)"
run_wrk warmup "http://127.0.0.1:$BENCH_PORT/jwks" -d3s >/dev/null
run_wrk jwks "http://127.0.0.1:$BENCH_PORT/jwks"
run_wrk jwks-304 "http://127.0.0.1:$BENCH_PORT/jwks" -H "If-None-Match: $(curl -sI "http://127.0.0.1:$BENCH_PORT/jwks" | awk -F': ' 'tolower($1)=="etag" { print $2 }' | tr -d '\r')"
run_wrk openid-configuration "http://127.0.0.1:$BENCH_PORT/.well-known/openid-configuration"
