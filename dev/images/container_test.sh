#!/usr/bin/env bash
# Run the four images streamsuite/<name>:dev against the local Kafka and PostgreSQL (host
# network), then check what the process stack cannot show: each container is ready in time,
# runs as UID 10001 on a read-only root filesystem, passes the target-agnostic e2e test
# (tests/e2e/test_pipeline.py) and stops on SIGTERM with exit code 0.
#
# Usage: make container-test   (or dev/images/container_test.sh; it starts Kafka and PostgreSQL
#        through `devstack run` unless DEVSTACK_KAFKA_BOOTSTRAP says a stack is already there)
#   PORT_OFFSET=20000  added to each service's HTTP port, so the containers never clash with the
#                      process services of a running `make up` (publisher 29101, web 28080, ...)
#   TAG=dev            image tag
#   ENGINE=docker|podman  the container engine (default: Docker where one answers, else Podman)
# Fails on: a container that is not ready, not UID 10001, has a writable root filesystem, fails
# the e2e test or exits non-zero on SIGTERM. The issue's limits (ready < 10 s, stopped < 5 s,
# image < 250 MB) are reported, and a miss is a WARNING, so a slow machine does not fail it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
if [[ -z "${DEVSTACK_KAFKA_BOOTSTRAP:-}" ]]; then
    exec "$BIN/devstack" run -- bash "$ROOT/dev/images/container_test.sh" "$@"
fi

TAG="${TAG:-dev}"
PORT_OFFSET="${PORT_OFFSET:-20000}"
READY_DEADLINE_S=60 READY_LIMIT_S=10 STOP_LIMIT_S=5 SIZE_LIMIT_MB=250 APP_UID=10001
# shellcheck source=dev/images/engine.sh
source "$ROOT/dev/images/engine.sh"
pick_engine || exit 1
RUN=(run --detach --network host --read-only "${ULIMITS[@]}")
# Podman waits at most 2 s for a container it removes; Docker's rm -f kills at once.
RM=(rm -f); [[ $ENGINE == podman ]] && RM+=(-t 2)
PREFIX="streamsuite-ct-$$"
INBOX="${DEVSTACK_VAR:-$ROOT/var}/containers/inbox"
# In start-up order (as devstack starts the processes): name, HTTP port, database role.
SERVICES=(ingestor:9102:WRITER query-api:8000:READER web:8080:READER publisher:9101:)

say() { echo "container-test: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
over() { awk -v v="$1" -v lim="$2" 'BEGIN { exit !(v >= lim) }'; }

declare -A PORT READY STOP CODE UID_OK RO_OK SIZE
FAILED=()
fail() { say "FAIL: $*"; FAILED+=("$*"); }

cleanup() {
    local ids
    ids=$("${CLI[@]}" ps -aq --filter "name=^$PREFIX-" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one argument per container id
    [[ -n "$ids" ]] && "${CLI[@]}" "${RM[@]}" $ids >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$INBOX"
JWT_SECRET=$("$BIN/python" -c 'from devstack.auth import jwt_secret
from devstack.settings import StackSettings
print(jwt_secret(StackSettings.from_env()))') || { echo "no JWT secret" >&2; exit 1; }
# The publisher (UID 10001) moves files out of the inbox the tests (this user) write into: as
# root, the inbox is its own; otherwise (a CI runner's user) anyone may write this scratch dir.
if [[ $EUID -eq 0 ]]; then chown -R "$APP_UID:$APP_UID" "$INBOX"; else chmod 0777 "$INBOX"; fi

start() {  # name port role
    local name=$1 port=$2 role=$3 c="$PREFIX-$1" env=() started
    env+=(--env STREAMSUITE_LOG__FORMAT=json
          --env "STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS=$DEVSTACK_KAFKA_BOOTSTRAP"
          --env "STREAMSUITE_KAFKA__TOPIC=$DEVSTACK_TOPIC"
          --env "STREAMSUITE_KAFKA__DLQ_TOPIC=$DEVSTACK_DLQ_TOPIC"
          --env STREAMSUITE_KAFKA__COMPRESSION=gzip
          --env "STREAMSUITE_KAFKA__PRODUCER_CLIENT_ID=streamsuite-$name"
          --env "STREAMSUITE_KAFKA__CONSUMER_CLIENT_ID=streamsuite-$name"
          --env STREAMSUITE_HTTP__HOST=127.0.0.1 --env "STREAMSUITE_HTTP__PORT=$port")
    if [[ -n "$role" ]]; then
        local user_var="DEVSTACK_${role}_ROLE" pwd_var="DEVSTACK_${role}_PASSWORD_FILE"
        env+=(--env "STREAMSUITE_DATABASE__HOST=$DEVSTACK_PG_HOST"
              --env "STREAMSUITE_DATABASE__PORT=$DEVSTACK_PG_PORT"
              --env "STREAMSUITE_DATABASE__DBNAME=$DEVSTACK_PG_DBNAME"
              --env "STREAMSUITE_DATABASE__DBUSER=${!user_var}"
              --env STREAMSUITE_DATABASE__USER_PWD)  # value from this process, not argv
    fi
    [[ $name == publisher ]] && env+=(--volume "$INBOX:/var/lib/streamsuite/inbox")
    # The API and the UI verify tokens signed with the stack's secret (the tests sign theirs
    # with it too: devstack.e2e_target); the value from this process, not argv.
    [[ $name == query-api || $name == web ]] && env+=(--env STREAMSUITE_AUTH__JWT_SECRET)
    started=$(now)
    STREAMSUITE_AUTH__JWT_SECRET="$JWT_SECRET" \
    STREAMSUITE_DATABASE__USER_PWD="$([[ -n "$role" ]] && cat "${!pwd_var}")" \
        "${CLI[@]}" "${RUN[@]}" --name "$c" "${env[@]}" "streamsuite/$name:$TAG" >/dev/null
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]
    do
        if [[ $("${CLI[@]}" inspect -f '{{.State.Running}}' "$c") != true ]]; then
            "${CLI[@]}" logs --tail 20 "$c" >&2 || true
            fail "$name exited before it was ready"; return 1
        fi
        if over "$(since "$started")" "$READY_DEADLINE_S"; then
            "${CLI[@]}" logs --tail 20 "$c" >&2 || true
            fail "$name not ready within ${READY_DEADLINE_S}s"; return 1
        fi
        sleep 0.1
    done
    READY[$name]=$(since "$started")
    say "$name ready in ${READY[$name]}s on :$port"
}

inspect() {  # name: non-root, read-only root filesystem
    local name=$1 c="$PREFIX-$1" uid out
    uid=$("${CLI[@]}" exec "$c" id -u 2>&1 || true)
    if [[ $uid == "$APP_UID" ]]; then UID_OK[$name]=$uid; else UID_OK[$name]="${uid:-?}"
        fail "$name runs as uid '$uid', not $APP_UID"; fi
    # As root, so that it is the filesystem that refuses, not the permissions of /.
    out=$("${CLI[@]}" exec --user 0 "$c" sh -c 'touch /x' 2>&1) || true
    if [[ $out == *"Read-only file system"* ]]; then RO_OK[$name]=yes
    else RO_OK[$name]=no; fail "$name: writing / was not refused as read-only: '${out}'"; fi
}

stop() {  # name: SIGTERM, time to exit, exit code
    local name=$1 c="$PREFIX-$1" t
    t=$(now)
    "${CLI[@]}" stop -t 10 "$c" >/dev/null
    STOP[$name]=$(since "$t")
    CODE[$name]=$("${CLI[@]}" inspect -f '{{.State.ExitCode}}' "$c")
    if [[ ${CODE[$name]} != 0 ]]; then
        "${CLI[@]}" logs --tail 20 "$c" >&2 || true
        fail "$name exited with ${CODE[$name]} on SIGTERM"
    fi
    "${CLI[@]}" rm "$c" >/dev/null
}

say "Kafka $DEVSTACK_KAFKA_BOOTSTRAP, PostgreSQL $DEVSTACK_PG_HOST:$DEVSTACK_PG_PORT, inbox $INBOX"
running=()
for entry in "${SERVICES[@]}"; do
    IFS=: read -r name port role <<<"$entry"
    PORT[$name]=$((port + PORT_OFFSET))
    SIZE[$name]=$("${CLI[@]}" image inspect -f '{{.Size}}' "streamsuite/$name:$TAG") \
        || { fail "no image streamsuite/$name:$TAG (run \`make images\`)"; break; }
    running+=("$name")
    start "$name" "${PORT[$name]}" "$role" || break
    inspect "$name"
done

if [[ ${#FAILED[@]} -eq 0 ]]; then
    # The helm test hook's command runs in the query-api image, as in the chart's test pod.
    say "e2e: tests/e2e/test_pipeline.py and test_helm_test_hook.py against the containers"
    STREAMSUITE_E2E_API_URL="http://127.0.0.1:${PORT[query-api]}" \
    STREAMSUITE_E2E_WEB_URL="http://127.0.0.1:${PORT[web]}" \
    STREAMSUITE_E2E_INBOX="$INBOX" \
    STREAMSUITE_E2E_HEALTH_URLS="$(for n in "${running[@]}"; do
        printf 'http://127.0.0.1:%s ' "${PORT[$n]}"; done)" \
        STREAMSUITE_E2E_PYTHON="${CLI[*]} run --rm --network host --read-only \
            --user $APP_UID:$APP_UID ${ULIMITS[*]} \
            --entrypoint python streamsuite/query-api:$TAG" \
        "$BIN/pytest" tests/e2e/test_pipeline.py tests/e2e/test_helm_test_hook.py -q \
            -p no:cacheprovider || fail "e2e tests"
fi

for (( i = ${#running[@]} - 1; i >= 0; i-- )); do stop "${running[$i]}"; done

warnings=()
printf '\n%-28s %8s %9s %7s %5s %6s %10s\n' image size ready_s stop_s exit uid read-only
for entry in "${SERVICES[@]}"; do
    name=${entry%%:*}
    [[ -n "${SIZE[$name]:-}" ]] || continue
    mb=$((SIZE[$name] / 1000000))
    printf '%-28s %5s MB %9s %7s %5s %6s %10s\n' "streamsuite/$name:$TAG" "$mb" \
        "${READY[$name]:--}" "${STOP[$name]:--}" "${CODE[$name]:--}" "${UID_OK[$name]:--}" \
        "${RO_OK[$name]:--}"
    (( mb < SIZE_LIMIT_MB )) || warnings+=("$name image is $mb MB (limit $SIZE_LIMIT_MB MB)")
    [[ -z "${READY[$name]:-}" ]] || ! over "${READY[$name]}" "$READY_LIMIT_S" \
        || warnings+=("$name took ${READY[$name]}s to be ready (limit ${READY_LIMIT_S}s)")
    [[ -z "${STOP[$name]:-}" ]] || ! over "${STOP[$name]}" "$STOP_LIMIT_S" \
        || warnings+=("$name took ${STOP[$name]}s to stop (limit ${STOP_LIMIT_S}s)")
done
echo "limits: ready < ${READY_LIMIT_S}s, stop < ${STOP_LIMIT_S}s, exit 0, size < ${SIZE_LIMIT_MB} MB"
for w in "${warnings[@]}"; do echo "WARNING: $w"; done
if [[ ${#FAILED[@]} -gt 0 ]]; then
    printf 'FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "container-test: all checks passed"
