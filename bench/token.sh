#!/usr/bin/env bash
# POST /token (client_credentials, with and without DPoP) and POST /introspect under load: one
# release node on PostgreSQL + Redis, wrk on the same host. Every response must be a real 200;
# the summary lines print wrk's non-2xx count.
#
# wrk -t1 -c32 by default: the node is CPU-bound here, so more connections only add queueing
# (same req/s, higher p99), and a second wrk thread takes CPU from the node on a small host.
# BENCH_THREADS / BENCH_CONNECTIONS override it.
: "${BENCH_THREADS:=1}" "${BENCH_CONNECTIONS:=32}"
source "$(dirname "$0")/lib.sh"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_NAME_WIDTH=52
require jq jq
build_release --bin idp --example dpop_proofs
DPOP_PROOFS_BIN="$BENCH_BIN_DIR/dpop_proofs"
start_node

base="http://127.0.0.1:$BENCH_PORT"
token_url="$base/token"
introspect_url="$base/introspect"
resource="https://api.bench.example"
register_resource "$resource" bench.read bench.write
register_client bench-client-credentials "$resource" bench.read
basic="$(basic_auth "$CLIENT_ID" "$CLIENT_SECRET")"
form=(-H "Authorization: $basic" -H "Content-Type: application/x-www-form-urlencoded")
wait_200 "the new client's token request" "${form[@]}" -d grant_type=client_credentials "$token_url"

bench_header
echo "# client $CLIENT_ID, resource $resource; wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION"

# --- client_credentials, client_secret_basic --------------------------------------------------
sample="$(expect_200 "client_credentials" "${form[@]}" -d grant_type=client_credentials "$token_url")"
[[ "$(jq -r .token_type <<<"$sample")" == Bearer ]] || { echo "bench: unexpected token response $sample" >&2; exit 1; }
run_wrk warmup "$token_url" -d3s -s "$BENCH_DIR/token-basic.lua" -H "Authorization: $basic" >/dev/null
run_wrk "client_credentials (client_secret_basic)" "$token_url" \
    -s "$BENCH_DIR/token-basic.lua" -H "Authorization: $basic"

# --- client_credentials + DPoP, a fresh proof per request -------------------------------------
# Enough proofs for the whole run at 20k req/s (each jti is accepted once).
proofs="$BENCH_WORK/proofs.txt"
proof_count="${BENCH_DPOP_PROOFS:-$(( 20000 * $(duration_seconds "$BENCH_DURATION") ))}"
wait_quiet # before making the proofs: they must be used within dpop.proof_max_age (5 min)
timeout 300 "$DPOP_PROOFS_BIN" --htu "$token_url" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --count "$proof_count" --out "$proofs" 2>"$BENCH_WORK/dpop_proofs.log" ||
    { cat "$BENCH_WORK/dpop_proofs.log" >&2; exit 1; }
sed 's/^/# /' "$BENCH_WORK/dpop_proofs.log"
BENCH_QUIET_CHECKED=1 run_wrk "client_credentials + DPoP (fresh proof per request)" "$token_url" \
    -s "$BENCH_DIR/each-once.lua" -H "Authorization: $basic" -- "$proofs" "$BENCH_THREADS" \
    grant_type=client_credentials DPoP
rm -f "$proofs"

# --- introspection ----------------------------------------------------------------------------
tokens="$BENCH_WORK/tokens.txt"
timeout 120 "$DPOP_PROOFS_BIN" --htu "$token_url" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
    --tokens "${BENCH_INTROSPECT_TOKENS:-1000}" --out "$tokens" 2>"$BENCH_WORK/tokens.log" ||
    { cat "$BENCH_WORK/tokens.log" >&2; exit 1; }
# 200 alone proves little here (an unknown token is a 200 `active: false`): the tokens must be
# active before and after the run.
check_active() {
    local token body
    for token in "$(head -n1 "$tokens")" "$(tail -n1 "$tokens")"; do
        body="$(expect_200 "introspection" "${form[@]}" --data-urlencode "token=$token" "$introspect_url")"
        [[ "$(jq -r .active <<<"$body")" == true ]] || { echo "bench: token not active ($1): $body" >&2; exit 1; }
    done
}
check_active "before the run"
run_wrk "introspection" "$introspect_url" -s "$BENCH_DIR/introspect.lua" -H "Authorization: $basic" -- "$tokens"
check_active "after the run"
