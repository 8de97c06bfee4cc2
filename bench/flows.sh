#!/usr/bin/env bash
# The browser flows under load: the code exchange (ES256 and RS256 ID tokens), refresh-token
# rotation, and whole authorization code flows. One release node on PostgreSQL + Redis.
#
# Codes and refresh tokens are single-use, so `examples/flow_load.rs` makes them just before
# each run (codes live 60 s) and wrk sends each exactly once (`each-once.lua`). A whole flow is a
# chain of five requests that wrk cannot script, so flow_load drives it and reports flows/s.
: "${BENCH_THREADS:=1}" "${BENCH_CONNECTIONS:=32}" "${BENCH_DURATION:=10s}"
source "$(dirname "$0")/lib.sh"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_NAME_WIDTH=44
require jq jq
build_release --bin idp --example flow_load
LOAD="$BENCH_BIN_DIR/flow_load"
start_node

base="http://127.0.0.1:$BENCH_PORT"
token_url="$base/token"
redirect="http://127.0.0.1:8400/callback"
resource="https://api.bench.example"
register_resource "$resource" read
password="bench-password-$$"
printf '%s\n' "$password" | idp_cli users create --username bench --email bench@example.com --password-stdin --json >/dev/null

# web_app NAME ALG: a first-party confidential web app with that ID token algorithm.
web_app() {
    local created
    created="$(idp_cli clients create --name "$1" --grant authorization_code --grant refresh_token \
        --resource "$resource" --scope openid --scope profile --scope email --scope offline_access --scope read \
        --redirect-uri "$redirect" --first-party --id-token-alg "$2" --json)"
    CLIENT_ID="$(jq -er .client_id <<<"$created")"
    CLIENT_SECRET="$(jq -er .client_secret <<<"$created")"
}
load() {
    timeout 300 "$LOAD" --base "$base" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
        --redirect-uri "$redirect" --username bench --password "$password" "$@"
}
seconds="$(duration_seconds "$BENCH_DURATION")"
supply=$(( ${BENCH_RATE:-8000} * seconds ))

bench_header
echo "# wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION; inputs per run: $supply (BENCH_RATE x duration)"

for alg in ES256 RS256; do
    web_app "bench-web-$alg" "$alg"
    basic="$(basic_auth "$CLIENT_ID" "$CLIENT_SECRET")"
    sleep 1 # the new client reaches the node through the registry poll
    codes="$BENCH_WORK/codes.txt"
    load codes --count "$supply" --out "$codes" 2>&1 | sed 's/^/# /'
    body="grant_type=authorization_code&code=%LINE%&redirect_uri=$(jq -rn --arg v "$redirect" '$v | @uri')&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    BENCH_QUIET_CHECKED=1 run_wrk "code exchange (ID token $alg)" "$token_url" \
        -s "$BENCH_DIR/each-once.lua" -H "Authorization: $basic" -- "$codes" "$BENCH_THREADS" "$body"
done

# Refresh rotation (the last client: RS256 ID tokens; ask for no openid so the rotation itself
# is measured, not the RSA signature).
tokens="$BENCH_WORK/refresh.txt"
load --scope read refresh-tokens --count "$supply" --out "$tokens" 2>&1 | sed 's/^/# /'
BENCH_QUIET_CHECKED=1 run_wrk "refresh-token rotation" "$token_url" \
    -s "$BENCH_DIR/each-once.lua" -H "Authorization: $basic" -- "$tokens" "$BENCH_THREADS" \
    "grant_type=refresh_token&refresh_token=%LINE%"

load --concurrency "${BENCH_FLOW_CONCURRENCY:-8}" flows --seconds "$seconds"
echo "# peak RSS $(peak_rss_mb) MB"
