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

# build_release [cargo targets…]: builds the release binary (and e.g. `--bin idp --example X`),
# then runs a private copy of it, so another `cargo build` in the tree cannot swap it mid-run.
# BENCH_NO_BUILD=1 skips cargo and uses what target/release already holds; BENCH_RELEASE_DIR=DIR
# (implies BENCH_NO_BUILD) takes `idp` and the examples from DIR instead, e.g. a saved build to
# compare with.
build_release() {
    local from="${BENCH_RELEASE_DIR:-$BENCH_ROOT/target/release}"
    if [[ "${BENCH_NO_BUILD:-0}" != 1 && -z "${BENCH_RELEASE_DIR:-}" ]]; then
        (cd "$BENCH_ROOT" && cargo build --release --quiet "$@")
    fi
    BENCH_BIN_DIR="$(mktemp -d)"
    cp -p "$from/idp" "$BENCH_BIN_DIR/idp"
    IDP_BIN="$BENCH_BIN_DIR/idp"
    local example
    for example in "$from"/examples/* "$from"/dpop_proofs; do
        [[ -f "$example" && -x "$example" && "$(basename "$example")" != *-* ]] && cp -p "$example" "$BENCH_BIN_DIR/"
    done
    return 0
}

# One header line: cores, commit (and whether the tree had uncommitted changes), binary age.
bench_header() {
    local commit dirty="" built
    commit="$(git -C "$BENCH_ROOT" rev-parse --short HEAD)"
    [[ -n "$(git -C "$BENCH_ROOT" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock)" ]] &&
        dirty=" + uncommitted changes"
    built="$(date -r "$IDP_BIN" '+%F %T')"
    if [[ -n "${BENCH_RELEASE_DIR:-}" ]]; then
        echo "# $(nproc) cores; idp from $BENCH_RELEASE_DIR, built $built (tree now at $commit$dirty)"
    elif [[ "${BENCH_NO_BUILD:-0}" == 1 ]]; then
        echo "# $(nproc) cores; idp binary built $built, not rebuilt (tree now at $commit$dirty)"
    else
        echo "# $(nproc) cores; idp $commit$dirty (binary built $built)"
    fi
}

# start_node: fresh database and Redis prefix, node on $BENCH_PORT; sets IDP_PID, BENCH_WORK.
# BENCH_NODE_SETTINGS=(IDP_…=…) adds settings of the script's own.
start_node() {
    require wrk wrk
    require psql postgresql-client
    BENCH_WORK="$(mktemp -d)"
    psql -q "$BENCH_PG_ADMIN" -c "DROP DATABASE IF EXISTS $BENCH_PG_DB" -c "CREATE DATABASE $BENCH_PG_DB" >/dev/null
    local base="${BENCH_PG_ADMIN%/*}"
    # The node's settings; idp_cli uses the same, so the CLI sees the node's database and KEK
    # and its registry changes reach the node through the same Redis prefix.
    BENCH_NODE_ENV=(
        IDP_ISSUER="http://127.0.0.1:$BENCH_PORT" IDP_LISTEN="127.0.0.1:$BENCH_PORT"
        IDP_DATABASE_URL="$base/$BENCH_PG_DB" IDP_REDIS_URL="$BENCH_REDIS"
        IDP_REDIS_PREFIX="idpbench:$$:" IDP_KEYS_DIR="$BENCH_WORK/keys" IDP_LOG="${BENCH_LOG:-warn}"
    )
    # The abuse limits at a quota no run reaches: every check runs and costs what it costs, and
    # nothing is refused. BENCH_RATE_LIMIT=off measures without them (docs/security.md "Rate limits").
    local limit
    for limit in TOKEN PAR INTROSPECTION REVOCATION PAGES; do
        BENCH_NODE_ENV+=("IDP_RATE_LIMITS__$limit=${BENCH_RATE_LIMIT:-1000000000/1m}")
    done
    # A script's own settings (e.g. IDP_TOKENS__ACCESS_TOKEN_LIFETIME=2h), for the node and the CLI.
    BENCH_NODE_ENV+=(${BENCH_NODE_SETTINGS[@]+"${BENCH_NODE_SETTINGS[@]}"})
    (cd "$BENCH_WORK" && exec env "${BENCH_NODE_ENV[@]}" "$IDP_BIN" serve >"$BENCH_WORK/idp.log" 2>&1) &
    IDP_PID=$!
    trap stop_node EXIT
    for _ in $(seq 1 100); do
        if curl -fs --noproxy '*' "http://127.0.0.1:$BENCH_PORT/readyz" >/dev/null; then return 0; fi
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
    [[ -n "${BENCH_BIN_DIR:-}" ]] && rm -rf "$BENCH_BIN_DIR"
    return 0
}

# idp_cli ARGS…: the idp command line against the running bench node's database and Redis.
idp_cli() {
    (cd "$BENCH_WORK" && env "${BENCH_NODE_ENV[@]}" IDP_LOG=warn "$IDP_BIN" "$@")
}

# register_resource URI SCOPE…: a resource server accepting these scopes.
register_resource() {
    local uri=$1; shift
    local scopes=() scope
    for scope in "$@"; do scopes+=(--scope "$scope"); done
    idp_cli resources create --identifier "$uri" "${scopes[@]}" --json >/dev/null
}

# register_client NAME RESOURCE SCOPE [extra `clients create` args…]: a confidential
# client_credentials client (client_secret_basic) for RESOURCE; sets CLIENT_ID, CLIENT_SECRET.
register_client() {
    local name=$1 resource=$2 scope=$3; shift 3
    local created
    created="$(idp_cli clients create --name "$name" --grant client_credentials --resource "$resource" \
        --scope "$scope" "$@" --json)"
    CLIENT_ID="$(jq -er .client_id <<<"$created")"
    CLIENT_SECRET="$(jq -er .client_secret <<<"$created")"
}

# basic_auth ID SECRET: the `Authorization` value for client_secret_basic (RFC 6749 §2.3.1).
basic_auth() {
    local id secret
    id="$(jq -rn --arg v "$1" '$v | @uri')"
    secret="$(jq -rn --arg v "$2" '$v | @uri')"
    printf 'Basic %s' "$(printf '%s:%s' "$id" "$secret" | base64 -w0)"
}

# expect_200 WHAT CURL-ARGS…: one request; fails the bench unless it answers 200. Prints the body.
expect_200() {
    local what=$1; shift
    local body status
    body="$(curl -s --noproxy '*' --max-time 5 -w '\n%{http_code}' "$@")"
    status="${body##*$'\n'}"
    body="${body%$'\n'*}"
    if [[ "$status" != 200 ]]; then
        echo "bench: $what answered $status: $body" >&2
        exit 1
    fi
    printf '%s' "$body"
}

# wait_200 WHAT CURL-ARGS…: as expect_200, retrying for up to 5 s (registry changes reach the
# node through Redis).
wait_200() {
    local what=$1; shift
    for _ in $(seq 1 50); do
        if [[ "$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "$@")" == 200 ]]; then return 0; fi
        sleep 0.1
    done
    expect_200 "$what" "$@" >/dev/null
}

# Seconds in a wrk duration such as 15s, 2m or 1h.
duration_seconds() {
    local d=$1
    case "$d" in
        *h) echo $(( ${d%h} * 3600 )) ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *s) echo "${d%s}" ;;
        *) echo "$d" ;;
    esac
}

peak_rss_mb() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$IDP_PID/status"
}

# wait_quiet: with BENCH_WAIT_QUIET=SECONDS, waits (at most that long) until the host has been
# idle for 10 s, so a run does not share the cores with someone's compiler. The node and Redis
# idle at well under the 15% threshold. Off by default.
wait_quiet() {
    local limit="${BENCH_WAIT_QUIET:-0}"
    (( limit > 0 )) || return 0
    local deadline=$(( SECONDS + limit )) quiet=0 a b
    while (( SECONDS < deadline )); do
        a=($(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat))
        sleep 5
        b=($(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat))
        if (( 100 * (b[0] - a[0]) < 15 * (b[1] - a[1]) )); then
            (( ++quiet >= 2 )) && return 0
        else
            quiet=0
        fi
    done
    echo "# bench: host still busy after ${limit}s; measuring anyway (see the cpu line)"
}

# run_wrk NAME URL [wrk args…] [-- script args…]: prints one summary line, then any line the
# wrk script printed starting with `bench:`. `non-2xx` is wrk's count of responses that were
# not 2xx/3xx; `sock-err` its connect/read/write/timeout errors. Peak RSS is the node's VmHWM
# so far (it only grows, so a scenario's line covers it and everything before it).
run_wrk() {
    local name=$1 url=$2; shift 2
    local options=() script_args=()
    while (($#)); do
        if [[ "$1" == -- ]]; then shift; script_args=("$@"); break; fi
        options+=("$1"); shift
    done
    # BENCH_PERF=DIR: also `perf record -g` the node for the first 10 s of the run, into
    # DIR/NAME.perf.data (read with `perf report -i FILE --no-children --sort sym`).
    local perf_pid=""
    if [[ -n "${BENCH_PERF:-}" && "$name" != warmup ]]; then
        mkdir -p "$BENCH_PERF"
        perf record -q -g -p "$IDP_PID" -o "$BENCH_PERF/${name//[^A-Za-z0-9_.-]/_}.perf.data" -- sleep 10 \
            >/dev/null 2>&1 &
        perf_pid=$!
    fi
    [[ "$name" == warmup || -n "${BENCH_QUIET_CHECKED:-}" ]] || wait_quiet
    local out cpu0 cpu1
    cpu0="$(cpu_snapshot)"
    out="$(timeout --kill-after=10 "$(( $(duration_seconds "$BENCH_DURATION") + 120 ))" \
        "${BENCH_TIME[@]}" wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"$BENCH_DURATION" --latency "${options[@]}" "$url" \
        ${script_args[@]+-- "${script_args[@]}"} 2>&1)"
    cpu1="$(cpu_snapshot)"
    [[ -n "$perf_pid" ]] && { wait "$perf_pid" || true; }
    echo "$out" >"$BENCH_WORK/wrk-${name//[^A-Za-z0-9_.-]/_}.txt"
    local rps p50 p99 non2xx sockerr
    rps="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
    p50="$(awk '$1 == "50%" { print $2 }' <<<"$out")"
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
    non2xx="$(awk '/Non-2xx or 3xx/ { print $NF }' <<<"$out")"
    sockerr="$(awk '/Socket errors/ { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i; print n }' <<<"$out")"
    printf "%-${BENCH_NAME_WIDTH:-28}s %10s req/s   p50 %-8s p99 %-8s non-2xx %-6s sock-err %-4s peak RSS %s MB   (wrk -t%s -c%s -d%s)\n" \
        "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "${sockerr:-0}" "$(peak_rss_mb)" \
        "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_DURATION"
    grep '^bench:' <<<"$out" || true
    cpu_line "$cpu0" "$cpu1" "$(awk '/requests in/ { print $1 }' <<<"$out")" "$out"
}

# CPU accounting, so a line can be read: is the node saturated, and did something else on the
# host (a compiler, another bench) take cores during the run?
BENCH_TIME=()
[[ -x /usr/bin/time ]] && BENCH_TIME=(/usr/bin/time -f "bench-wrk-cpu %U %S")
cpu_snapshot() {
    local f
    read -r -a f <"/proc/$IDP_PID/stat"
    echo "$(( f[13] + f[14] )) $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9 }' /proc/stat)" \
        "$(services_ticks)"
}
# CPU ticks so far of every PostgreSQL and Redis process on the host (all their databases, not
# only the bench's): the node's queries run there, so a database-bound scenario shows up here
# rather than as "everything else". A process that exits between two snapshots is not counted.
services_ticks() {
    awk '$2 == "(postgres)" { pg += $14 + $15 } $2 == "(redis-server)" { redis += $14 + $15 }
        END { print pg + 0, redis + 0 }' /proc/[0-9]*/stat 2>/dev/null
}
cpu_line() {
    local before=($1) after=($2) requests=$3 out=$4
    local hz wrk_cpu
    hz="$(getconf CLK_TCK)"
    wrk_cpu="$(awk '/^bench-wrk-cpu/ { print $2 + $3 }' <<<"$out")"
    awk -v hz="$hz" -v n="${requests:-0}" -v wrk="${wrk_cpu:-}" -v ncpu="$(nproc)" \
        -v idp=$(( after[0] - before[0] )) -v busy=$(( after[1] - before[1] )) -v total=$(( after[2] - before[2] )) \
        -v steal=$(( after[3] - before[3] )) -v pg=$(( after[4] - before[4] )) -v redis=$(( after[5] - before[5] )) '
        BEGIN {
            wall = total / hz / ncpu
            idp_s = idp / hz
            line = sprintf("bench:   cpu over %.1f s: idp %.2f cores (%.0f us/request)", wall, idp_s / wall, n ? idp_s * 1e6 / n : 0)
            if (wrk != "") line = line sprintf(", wrk %.2f, postgres %.2f, redis %.2f, everything else %.2f", wrk / wall,
                pg / hz / wall, redis / hz / wall, (busy / hz - idp_s - wrk - (pg + redis) / hz) / wall)
            # steal: time the hypervisor gave these cores to other guests
            printf "%s, steal %.2f, of %d cores\n", line, steal / hz / wall, ncpu
        }'
}
