# Shared by the bench scripts: build the release binary, start one node on PostgreSQL + Redis
# with fresh data, drive it with wrk, print requests/s, p50/p99 latency and peak RSS.
# Only loopback addresses are used; every run is bounded in time.

set -euo pipefail
BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_PORT="${BENCH_PORT:-18080}"
BENCH_PG_ADMIN="${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
BENCH_PG_DB="${BENCH_PG_DB:-idp_bench}"
BENCH_REDIS="${BENCH_REDIS:-redis://127.0.0.1:6379}"
BENCH_DURATION="${BENCH_DURATION:-15s}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-64}"
BENCH_THREADS="${BENCH_THREADS:-2}"

require() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install $2)" >&2; exit 1; }; }

build_release() {
    (cd "$BENCH_ROOT" && cargo build --release --quiet)
    IDP_BIN="$BENCH_ROOT/target/release/idp"
}

# start_node: fresh database and Redis prefix, node on $BENCH_PORT; sets IDP_PID, BENCH_WORK.
start_node() {
    require wrk wrk
    require psql postgresql-client
    BENCH_WORK="$(mktemp -d)"
    psql -q "$BENCH_PG_ADMIN" -c "DROP DATABASE IF EXISTS $BENCH_PG_DB" -c "CREATE DATABASE $BENCH_PG_DB" >/dev/null
    local base="${BENCH_PG_ADMIN%/*}"
    (cd "$BENCH_WORK" && \
        IDP_ISSUER="http://127.0.0.1:$BENCH_PORT" IDP_LISTEN="127.0.0.1:$BENCH_PORT" \
        IDP_DATABASE_URL="$base/$BENCH_PG_DB" IDP_REDIS_URL="$BENCH_REDIS" \
        IDP_REDIS_PREFIX="idpbench:$$:" IDP_KEYS_DIR="$BENCH_WORK/keys" IDP_LOG="${BENCH_LOG:-warn}" \
        exec "$IDP_BIN" serve >"$BENCH_WORK/idp.log" 2>&1) &
    IDP_PID=$!
    trap stop_node EXIT
    for _ in $(seq 1 100); do
        if curl -fs "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "bench: idp did not become ready; log:" >&2
    cat "$BENCH_WORK/idp.log" >&2
    exit 1
}

stop_node() {
    if [[ -n "${IDP_PID:-}" ]]; then
        kill "$IDP_PID" 2>/dev/null || true
        wait "$IDP_PID" 2>/dev/null || true
        IDP_PID=""
    fi
    [[ -n "${BENCH_WORK:-}" ]] && rm -rf "$BENCH_WORK"
}

peak_rss_mb() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$IDP_PID/status"
}

# run_wrk NAME URL [wrk args…]: prints one summary line.
run_wrk() {
    local name=$1 url=$2; shift 2
    local out
    out="$(wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"$BENCH_DURATION" --latency "$@" "$url")"
    echo "$out" >"$BENCH_WORK/wrk-$name.txt"
    local rps p50 p99 errors
    rps="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
    p50="$(awk '$1 == "50%" { print $2 }' <<<"$out")"
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
    errors="$(awk '/Non-2xx or 3xx/ { print $NF }' <<<"$out")"
    printf '%-28s %10s req/s   p50 %-8s p99 %-8s non-2xx %-6s peak RSS %s MB   (wrk -t%s -c%s -d%s)\n' \
        "$name" "$rps" "$p50" "$p99" "${errors:-0}" "$(peak_rss_mb)" "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_DURATION"
}
