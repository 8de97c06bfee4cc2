#!/usr/bin/env bash
# CI: scim2-tester, an independent SCIM 2.0 compliance checker, against /scim/v2 of a throwaway
# node: the embedded default (SQLite + in-process store) in a temp dir with its own port and
# keys dir. A client registered with the CLI gets a plain Bearer token for <issuer>/scim with
# client_credentials (what an HR connector does) and the checker runs every check it has:
# discovery documents, create, read, list, attributes/excludedAttributes, search, replace,
# delete, and PATCH add/replace/remove of each attribute the published User schema has.
# Any check that does not pass fails the run (.ci/scim_check.py says which statuses pass).
#
# Environment: SCIM_VENV is where the checker is installed (default target/scim-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

# Pinned: a new release brings new checks, and those come in as a change of these lines.
readonly TESTER_VERSION=0.5.2
readonly CLIENT_VERSION=0.13.2
venv="${SCIM_VENV:-$PWD/target/scim-venv}"
started=$SECONDS

if ! "$venv/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(not (m.version('scim2-tester') == '$TESTER_VERSION' and m.version('scim2-client') == '$CLIENT_VERSION'
              and m.version('httpx2')))" 2>/dev/null; then
    echo "scim: installing scim2-tester $TESTER_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "scim2-tester==$TESTER_VERSION" "scim2-client[httpx2]==$CLIENT_VERSION"
fi

echo "scim: cargo build --locked"
cargo build --locked --quiet
idp="$PWD/target/debug/idp"

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "scim: $*" >&2
    if [[ -s "$tmp/server.log" ]]; then
        echo "scim: the node's last log lines:" >&2
        tail -n 40 "$tmp/server.log" >&2
    fi
    echo "scim: FAILED after $((SECONDS - started)) s: $*"
    exit 1
}

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
audience="$base/scim"
# The node and its CLI see only these settings (`env -i`: none of CI's IDP_TEST_*).
node_env=(
    env -i "PATH=$PATH" "HOME=$tmp"
    "IDP_ISSUER=$base" "IDP_LISTEN=127.0.0.1:$port"
    "IDP_DATABASE_URL=sqlite://$tmp/idp.db" "IDP_KEYS_DIR=$tmp/keys"
    "IDP_LOG=warn" "IDP_WORKERS=2"
    # One token serves the whole run; it must not expire halfway (the default is 10 minutes).
    "IDP_TOKENS__ACCESS_TOKEN_LIFETIME=1h"
)

"${node_env[@]}" "$idp" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
    if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$server_pid" 2>/dev/null || fail "the node stopped at start"
    sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null 2>&1 || fail "the node did not answer /healthz within 30 s"

# The node registered <issuer>/scim on its first start.
"${node_env[@]}" "$idp" clients create --name "scim2-tester" --grant client_credentials \
    --resource "$audience" --scope scim --json >"$tmp/client.json" \
    || fail "could not register the SCIM client"
read -r client_id client_secret < <(python3 -c '
import json, sys
client = json.load(open(sys.argv[1]))
print(client["client_id"], client["client_secret"])' "$tmp/client.json")
# The running node picks up registry changes within half a second.
sleep 1.2

token="$(curl -fsS -u "$client_id:$client_secret" "$base/token" \
    -d grant_type=client_credentials -d "resource=$audience" -d scope=scim \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" \
    || fail "no SCIM token from /token"

echo "scim: scim2-tester $TESTER_VERSION against $base/scim/v2"
set +e
(
    cd "$tmp"
    SCIM_TOKEN="$token" timeout 900 "$venv/bin/python" "$repo/.ci/scim_check.py" "$base/scim/v2"
) 2>&1 | tee "$tmp/check.log"
status=${PIPESTATUS[0]}
set -e
kill -0 "$server_pid" 2>/dev/null || fail "the node stopped during the run"
summary="$(grep -E '^scim2-tester: [0-9]+ passed' "$tmp/check.log" | tail -n 1 || true)"
if [[ $status -ne 0 ]]; then
    fail "scim2-tester exit $status (${summary:-no summary})"
fi
echo "scim: passed in $((SECONDS - started)) s: ${summary#scim2-tester: }"
