#!/usr/bin/env bash
# The admin API under load: listing users (the first page and a deep page, 100,000 users in the
# database), the username/email prefix search, replacing a client, and POST /token
# (client_credentials) in the same run, to compare with token.sh. One release node on
# PostgreSQL + Redis, wrk on the same host. Every scenario's response is checked once before it
# is loaded; the summary lines print wrk's non-2xx count. Then EXPLAIN ANALYZE of the users
# queries on the bench database: which index each uses, and its time.
#
# Auth: wrk cannot sign a DPoP proof per request, so the bench relaxes the admin API's resource
# server as an operator would for automation that cannot (docs/admin-api.md, "Getting in"):
# `idp resources update <issuer>/admin --patch '{"require_dpop": false}'`, then registers an
# admin client with the CLI and calls with a Bearer token. Access tokens live 2h on this node
# (IDP_TOKENS__ACCESS_TOKEN_LIFETIME), so the one token outlives the run.
#
# wrk -t1 -c32 by default, as token.sh. BENCH_USERS (default 100000, at most 999999) sets how
# many users are seeded; BENCH_SEARCH (default user0500) the prefix searched.
: "${BENCH_THREADS:=1}" "${BENCH_CONNECTIONS:=32}"
source "$(dirname "$0")/lib.sh"
BENCH_DIR="$BENCH_ROOT/bench"
BENCH_NAME_WIDTH=52
BENCH_USERS="${BENCH_USERS:-100000}"
BENCH_SEARCH="${BENCH_SEARCH:-user0500}"
(( BENCH_USERS >= 400 && BENCH_USERS <= 999999 )) || { echo "bench: BENCH_USERS is 400 to 999999" >&2; exit 1; }
require jq jq
BENCH_NODE_SETTINGS=(IDP_TOKENS__ACCESS_TOKEN_LIFETIME=2h)
build_release --bin idp
start_node

base="http://127.0.0.1:$BENCH_PORT"
admin_audience="$base/admin"
token_url="$base/token"
db_url="${BENCH_PG_ADMIN%/*}/$BENCH_PG_DB"

# --- the users ----------------------------------------------------------------------------------
# Seeding, not the service path: one INSERT … SELECT generate_series straight into the bench
# database (the node has made the schema), so 100,000 users take seconds instead of 100,000
# `POST /admin/v1/users` with an audit row each. No password hashes, hence no argon2 cost; the
# rows are what the service would store for a user created without a password: a UUID id, a
# lowercase username (user000001, …), an email.
seed_started=$SECONDS
psql -q -v ON_ERROR_STOP=1 -v users="$BENCH_USERS" "$db_url" <<'SQL'
INSERT INTO users (user_id, username, email, email_verified, name, given_name, family_name,
                   password_hash, enabled, created_at, updated_at)
SELECT gen_random_uuid()::text, 'user' || lpad(i::text, 6, '0'), 'user' || lpad(i::text, 6, '0') || '@bench.example',
       true, 'Bench User ' || i, 'Bench', 'User ' || i, NULL, true,
       extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint
FROM generate_series(1, :users) AS i;
ANALYZE users;
SQL
seed_seconds=$(( SECONDS - seed_started ))

# --- who calls ----------------------------------------------------------------------------------
resource="https://api.bench.example"
register_resource "$resource" bench.read bench.write
# The client of the token scenario, as token.sh registers it.
register_client bench-client-credentials "$resource" bench.read
basic="$(basic_auth "$CLIENT_ID" "$CLIENT_SECRET")"
form=(-H "Authorization: $basic" -H "Content-Type: application/x-www-form-urlencoded")
# The client the update scenario replaces, again and again.
register_client bench-admin-target "$resource" bench.read
target_id="$CLIENT_ID"
# Bearer tokens for the admin API (a decision to audit, not a default: docs/admin-api.md).
idp_cli resources update "$admin_audience" --patch '{"require_dpop": false}' >/dev/null
register_client bench-admin "$admin_audience" admin:read --scope admin:write
admin_basic="$(basic_auth "$CLIENT_ID" "$CLIENT_SECRET")"
admin_token_form=(-H "Authorization: $admin_basic" -d grant_type=client_credentials
    --data-urlencode "resource=$admin_audience" --data-urlencode "scope=admin:read admin:write")
wait_200 "the admin client's token request" "${admin_token_form[@]}" "$token_url"
answer="$(expect_200 "the admin token" "${admin_token_form[@]}" "$token_url")"
[[ "$(jq -r '.token_type, .scope' <<<"$answer" | paste -sd' ')" == "Bearer admin:read admin:write" ]] ||
    { echo "bench: unexpected admin token response $answer" >&2; exit 1; }
lifetime="$(jq -r .expires_in <<<"$answer")"
(( lifetime >= 3600 )) || { echo "bench: the admin token lives ${lifetime}s, less than the run may take" >&2; exit 1; }
bearer="Bearer $(jq -r .access_token <<<"$answer")"
admin=(-H "Authorization: $bearer")
wait_200 "the new client's token request" "${form[@]}" -d grant_type=client_credentials "$token_url"

bench_header
echo "# $BENCH_USERS users seeded with SQL in ${seed_seconds}s; admin client $CLIENT_ID (Bearer, require_dpop off);" \
    "target client $target_id; wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION"

# --- POST /token, client_credentials: token.sh's first scenario, for comparison -----------------
sample="$(expect_200 "client_credentials" "${form[@]}" -d grant_type=client_credentials "$token_url")"
[[ "$(jq -r .token_type <<<"$sample")" == Bearer ]] || { echo "bench: unexpected token response $sample" >&2; exit 1; }
run_wrk warmup "$token_url" -d3s -s "$BENCH_DIR/token-basic.lua" -H "Authorization: $basic" >/dev/null
run_wrk "client_credentials (client_secret_basic)" "$token_url" \
    -s "$BENCH_DIR/token-basic.lua" -H "Authorization: $basic"

# --- GET /admin/v1/users: the first page ---------------------------------------------------------
users_url="$base/admin/v1/users"
first_url="$users_url?limit=50"
sample="$(expect_200 "the first users page" "${admin[@]}" "$first_url")"
[[ "$(jq -r '(.items | length), .items[0].username, (.next != null)' <<<"$sample" | paste -sd' ')" == "50 user000001 true" ]] ||
    { echo "bench: unexpected first page $(head -c 300 <<<"$sample")" >&2; exit 1; }
run_wrk warmup "$first_url" -d3s "${admin[@]}" >/dev/null
run_wrk "GET /admin/v1/users?limit=50 (first page)" "$first_url" "${admin[@]}"

# --- a deep page: follow the cursor ---------------------------------------------------------------
# Follow `next` links 200 users a page to the middle of the listing, then load 50 users from
# the cursor found there. Keyset pages: the cursor is the last username, so any page is an
# index range like the first.
next="/admin/v1/users?limit=200"
for (( page = 0; page < BENCH_USERS / 2 / 200; page++ )); do
    listed="$(expect_200 "a users page" "${admin[@]}" "$base$next")"
    next="$(jq -er .next <<<"$listed")"
done
cursor="$(sed -n 's/.*[?&]cursor=\([^&]*\).*/\1/p' <<<"$next")"
deep_url="$users_url?limit=50&cursor=$cursor"
expected="$(printf 'user%06d' $(( BENCH_USERS / 2 / 200 * 200 + 1 )))"
sample="$(expect_200 "a deep users page" "${admin[@]}" "$deep_url")"
[[ "$(jq -r '(.items | length), .items[0].username' <<<"$sample" | paste -sd' ')" == "50 $expected" ]] ||
    { echo "bench: the deep page does not start at $expected: $(head -c 300 <<<"$sample")" >&2; exit 1; }
run_wrk "GET /admin/v1/users?limit=50&cursor= (from $expected)" "$deep_url" "${admin[@]}"

# --- ?q=: the admin API's username/email prefix filter ------------------------------------------
# (A SCIM `filter=userName eq "…"` bench comes with SCIM.)
search_url="$users_url?q=$BENCH_SEARCH"
sample="$(expect_200 "the prefix search" "${admin[@]}" "$search_url")"
[[ "$(jq --arg q "$BENCH_SEARCH" -r '(.items | length > 0) and all(.items[]; .username | startswith($q))' <<<"$sample")" == true ]] ||
    { echo "bench: unexpected search answer $(head -c 300 <<<"$sample")" >&2; exit 1; }
run_wrk "GET /admin/v1/users?q=$BENCH_SEARCH (prefix search)" "$search_url" "${admin[@]}"

# --- PUT /admin/v1/clients/{id}: replacing one client -------------------------------------------
# The same valid body every time, no If-Match. Each request is a write even when nothing
# changes: one transaction that reads the client, updates its row, bumps the registry version
# and inserts a `client.update` audit row (a commit, fsync'ed), then this node reloads its
# registry (every resource server and client) and announces the change on Redis, on which
# every node checks the registry version again.
body="$BENCH_WORK/client.json"
jq -n --arg r "$resource" '{client_name: "Bench target (replaced)", grant_types: ["client_credentials"],
    resources: [$r], scope: "bench.read"}' >"$body"
client_url="$base/admin/v1/clients/$target_id"
sample="$(expect_200 "PUT of the client" "${admin[@]}" -X PUT -H "Content-Type: application/json" --data-binary "@$body" "$client_url")"
[[ "$(jq -r .client_name <<<"$sample")" == "Bench target (replaced)" ]] ||
    { echo "bench: unexpected PUT answer $sample" >&2; exit 1; }
audit_updates() {
    psql -At "$db_url" -c "SELECT count(*) FROM audit_events WHERE action = 'client.update' AND client_id = '$target_id'"
}
updates_before="$(audit_updates)"
run_wrk "PUT /admin/v1/clients/{id} (no If-Match)" "$client_url" "${admin[@]}" -s "$BENCH_DIR/admin-put.lua" -- "$body"
echo "bench:   client.update audit rows written during the run: $(( $(audit_updates) - updates_before ))"
sample="$(expect_200 "the client after the run" "${admin[@]}" "$client_url")"
[[ "$(jq -r .client_name <<<"$sample")" == "Bench target (replaced)" ]] || { echo "bench: client changed: $sample" >&2; exit 1; }

# --- the users queries' plans ---------------------------------------------------------------------
# EXPLAIN ANALYZE on the bench database of the statements the node sends for these pages
# (src/store/models/user.rs, the SQL as PostgreSQL receives it, with its parameters). The node
# prepares them (one prepared statement per pooled connection): PostgreSQL plans the first five
# executions with the values (`custom`) and may then keep a plan made without them (`generic`).
# One line each: the plan's nodes, outermost first, and its time.
columns='"users"."user_id", "users"."username", "users"."email", "users"."email_verified", "users"."name",
    "users"."given_name", "users"."family_name", "users"."password_hash", "users"."enabled", "users"."created_at",
    "users"."updated_at"'
explain() {
    local name=$1 mode=$2 sql=$3 values=$4
    psql -qAt -v ON_ERROR_STOP=1 "$db_url" -c "SET plan_cache_mode = force_${mode}_plan" -c "PREPARE page AS $sql" \
        -c "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE page($values)" | jq -r --arg name "$name ($mode)" '
        .[0] as $r
        | [$r.Plan | recurse(.Plans[]?)
           | ."Node Type" + (if ."Index Name" then " using " + ."Index Name" else "" end)
             + (if (."Rows Removed by Filter" // 0) > 0 then " (\(."Rows Removed by Filter") rows filtered out)" else "" end)]
        | "plan: \($name): " + join(" > ") + ", \($r."Execution Time") ms"'
}
by_username='ORDER BY "users"."username"'
search='(("users"."username" LIKE $1 ESCAPE $2) OR ("users"."email" LIKE $3 ESCAPE $4))'
last_shown="$(printf 'user%06d' $(( BENCH_USERS / 2 / 200 * 200 )))"
explain "first page" generic "SELECT $columns FROM \"users\" $by_username LIMIT \$1" "51"
explain "deep page" generic "SELECT $columns FROM \"users\" WHERE (\"users\".\"username\" > \$1) $by_username LIMIT \$2" \
    "'$last_shown', 51"
for mode in custom generic; do
    explain "q=$BENCH_SEARCH" "$mode" "SELECT $columns FROM \"users\" WHERE $search $by_username LIMIT \$5" \
        "'$BENCH_SEARCH%', '\\', '$BENCH_SEARCH%', '\\', 51"
done
