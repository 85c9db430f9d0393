#!/usr/bin/env bash
# `make kind-e2e`: the chart with its defaults (Strimzi Kafka with SCRAM + TLS, the bundled
# PostgreSQL) on a kind cluster, as the CI job `kind-e2e` runs it and as a developer with Docker
# (or Podman) and kind runs it locally:
#
#   1. kind cluster from a digest-pinned node image (K8S=1.34 or 1.31)
#   2. the Strimzi operator 1.2.0 from its Helm chart, in the release's namespace
#   3. the images `make images` built, tagged with the chart's default names, `kind load`ed
#   4. helm install --wait (15m: a cold Strimzi start pulls Kafka and issues certificates), helm test
#   5. tests/e2e/test_pipeline.py through port-forwards (files go in with kubectl cp + exec mv)
#   6. helm upgrade (a config change that rolls every service) --wait, helm test again
#   7. helm uninstall --wait: nothing of the release is left running, no KafkaTopic stuck
# On failure: events, describe and current and previous logs of every pod (the Strimzi operator
# too) and `kind export logs`, all under $ARTIFACTS (CI uploads it).
#
# Usage: dev/ci/kind-e2e.sh
#   K8S=1.34|1.31     Kubernetes of the node (default 1.34); KIND_NODE_IMAGE=... overrides
#   TAG=dev           tag of the images streamsuite/<name>:TAG to load
#   CLUSTER=streamsuite-e2e  kind cluster name; KEEP_CLUSTER=1 leaves it running at the end
#   ARTIFACTS=var/kind-e2e   where diagnostics go
#   ENGINE=docker|podman     engine holding the images (default: Docker where one answers)
#   DRY_RUN=1         print every command it would run, run none (where kind cannot start)
#   KIND, HELM, KUBECTL      the binaries (default: from PATH; `make kind-e2e` passes its own)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Node images built for kind v0.30.0 (its release notes list them with these digests; a node
# image works only with the kind release it was built for).
KIND_VERSION=v0.30.0
declare -A NODE_IMAGES=(
    [1.34]=kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a
    [1.31]=kindest/node:v1.31.12@sha256:0f5cc49c5e73c0c2bb6e2df56e7df189240d83cf94edfa30946482eb08ec57d2
)
STRIMZI_CHART=oci://quay.io/strimzi-helm/strimzi-kafka-operator
STRIMZI_VERSION=1.2.0

K8S="${K8S:-1.34}"
NODE_IMAGE="${KIND_NODE_IMAGE:-${NODE_IMAGES[$K8S]:-}}"
TAG="${TAG:-dev}"
CLUSTER="${CLUSTER:-streamsuite-e2e}"
NAMESPACE=streamsuite
RELEASE=streamsuite
CHART=helm/streamsuite
ARTIFACTS="${ARTIFACTS:-$ROOT/var/kind-e2e}"
DRY_RUN="${DRY_RUN:-}"
KIND="${KIND:-kind}" HELM="${HELM:-helm}" KUBECTL="${KUBECTL:-kubectl}"
PYTHON="$ROOT/.venv/bin/python"
SERVICES=(publisher ingestor query-api web)
# Local ports of the port-forwards (clear of a running `make up`): service -> port.
declare -A LOCAL_PORT=([query-api]=18000 [web]=18080 [publisher]=19101 [ingestor]=19102)
declare -A SERVICE_PORT=([query-api]=8000 [web]=8080 [publisher]=9101 [ingestor]=9102)

say() { echo "kind-e2e: $*" >&2; }
die() { say "$*"; exit 1; }
# Every command that changes something goes through run: printed, and run unless DRY_RUN.
show() { { printf '+'; printf ' %q' "$@"; echo "${SUFFIX:-}"; } >&2; }
run() {
    show "$@"
    [[ -n $DRY_RUN ]] || "$@"
}

[[ -n $NODE_IMAGE ]] || die "K8S must be one of ${!NODE_IMAGES[*]}, not '$K8S'"

if [[ -z $DRY_RUN ]]; then
    missing=()
    for tool in "$KIND" "$HELM" "$KUBECTL"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    [[ -x $PYTHON ]] || missing+=(".venv (make venv)")
    [[ ${#missing[@]} -eq 0 ]] || die "missing: ${missing[*]} (kind $KIND_VERSION: make kind-e2e builds kind and helm)"
    # shellcheck source=dev/images/engine.sh
    source "$ROOT/dev/images/engine.sh"
    pick_engine || exit 1
else
    ENGINE="${ENGINE:-docker}" CLI=("${ENGINE:-docker}")
fi

# The names the chart's defaults give the images: <image.registry>/<repository>.
chart_image() {  # service
    local key
    case "$1" in query-api) key=queryApi ;; *) key=$1 ;; esac
    if [[ -x $PYTHON ]]; then
        "$PYTHON" - "$CHART/values.yaml" "$key" <<'EOF'
import sys, yaml
values = yaml.safe_load(open(sys.argv[1]))
registry = values["image"]["registry"].rstrip("/")
repository = values[sys.argv[2]]["image"]["repository"]
print(f"{registry}/{repository}" if registry else repository)
EOF
    else
        echo "ghcr.io/streamsuite/streamsuite-$1"
    fi
}

PIDS=()
diagnostics() {
    [[ -z $DRY_RUN ]] || return 0
    say "collecting diagnostics into $ARTIFACTS"
    mkdir -p "$ARTIFACTS/logs"
    "$KUBECTL" get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
    "$KUBECTL" get all,pvc,kafka,kafkanodepool,kafkatopic,kafkauser -A -o wide \
        >"$ARTIFACTS/objects.txt" 2>&1 || true
    "$KUBECTL" describe pods -A >"$ARTIFACTS/describe-pods.txt" 2>&1 || true
    local ns pod container
    while read -r ns pod; do
        for container in $("$KUBECTL" -n "$ns" get pod "$pod" \
                -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}'); do
            "$KUBECTL" -n "$ns" logs "$pod" -c "$container" \
                >"$ARTIFACTS/logs/$ns.$pod.$container.log" 2>&1 || true
            "$KUBECTL" -n "$ns" logs "$pod" -c "$container" --previous \
                >"$ARTIFACTS/logs/$ns.$pod.$container.previous.log" 2>/dev/null \
                || rm -f "$ARTIFACTS/logs/$ns.$pod.$container.previous.log"
        done
    done < <("$KUBECTL" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace} {.metadata.name}{"\n"}{end}' 2>/dev/null)
    tail -n 40 "$ARTIFACTS/events.txt" >&2 || true
    "$KIND" export logs --name "$CLUSTER" "$ARTIFACTS/kind-logs" >/dev/null 2>&1 || true
}

finish() {
    local code=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ $code -eq 0 ]] || diagnostics
    if [[ -z ${KEEP_CLUSTER:-} ]]; then run "$KIND" delete cluster --name "$CLUSTER" || true; fi
    say "$([[ $code -eq 0 ]] && echo passed || echo "FAILED (exit $code)")"
    exit "$code"
}
trap finish EXIT

wait_for_url() {  # url deadline_s
    local started=$SECONDS
    until curl -fs -o /dev/null "$1"; do
        (( SECONDS - started < $2 )) || die "$1 did not answer within $2s"
        sleep 1
    done
}

say "kind $KIND_VERSION, node $NODE_IMAGE, images streamsuite/<name>:$TAG ($ENGINE)"
mkdir -p "$ARTIFACTS"
run "$KIND" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --wait 5m
run "$KUBECTL" create namespace "$NAMESPACE"

# The operator watches its own namespace, the one the release goes into.
run "$HELM" install strimzi-cluster-operator "$STRIMZI_CHART" --version "$STRIMZI_VERSION" \
    --namespace "$NAMESPACE" --wait --timeout 10m

for name in "${SERVICES[@]}"; do
    image="$(chart_image "$name"):$TAG"
    if [[ $ENGINE == podman ]]; then
        run "${CLI[@]}" tag "streamsuite/$name:$TAG" "$image"
        run "${CLI[@]}" save -o "$ARTIFACTS/$name.tar" "$image"
        run "$KIND" load image-archive --name "$CLUSTER" "$ARTIFACTS/$name.tar"
        run rm -f "$ARTIFACTS/$name.tar"
    else
        run docker tag "streamsuite/$name:$TAG" "$image"
        run "$KIND" load docker-image --name "$CLUSTER" "$image"
    fi
done

started=$SECONDS
run "$HELM" install "$RELEASE" "$CHART" --namespace "$NAMESPACE" --set "image.tag=$TAG" \
    --wait --timeout 15m
say "helm install -> every pod Ready in $((SECONDS - started))s"
run "$KUBECTL" -n "$NAMESPACE" get pods -o wide
run "$HELM" test "$RELEASE" --namespace "$NAMESPACE" --timeout 5m

health=()
for name in "${SERVICES[@]}"; do
    SUFFIX=' &' show "$KUBECTL" -n "$NAMESPACE" port-forward "svc/$RELEASE-$name" \
        "${LOCAL_PORT[$name]}:${SERVICE_PORT[$name]}"
    if [[ -z $DRY_RUN ]]; then
        "$KUBECTL" -n "$NAMESPACE" port-forward "svc/$RELEASE-$name" \
            "${LOCAL_PORT[$name]}:${SERVICE_PORT[$name]}" >>"$ARTIFACTS/port-forward.log" 2>&1 &
        PIDS+=($!)
        wait_for_url "http://127.0.0.1:${LOCAL_PORT[$name]}/healthz" 60
    fi
    health+=("http://127.0.0.1:${LOCAL_PORT[$name]}")
done

run env STREAMSUITE_E2E_API_URL="http://127.0.0.1:${LOCAL_PORT[query-api]}" \
    STREAMSUITE_E2E_WEB_URL="http://127.0.0.1:${LOCAL_PORT[web]}" \
    STREAMSUITE_E2E_HEALTH_URLS="${health[*]}" \
    STREAMSUITE_E2E_INBOX_POD="$NAMESPACE/app.kubernetes.io/component=publisher" \
    "$PYTHON" -m pytest tests/e2e/test_pipeline.py -q -p no:cacheprovider
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
PIDS=()

# A config change rolls every service (checksum annotation); the release must come back Ready
# with its generated passwords kept, which helm test then shows through the query API.
started=$SECONDS
run "$HELM" upgrade "$RELEASE" "$CHART" --namespace "$NAMESPACE" --reuse-values \
    --set config.logLevel=debug --wait --timeout 15m
say "helm upgrade -> every pod Ready in $((SECONDS - started))s"
run "$HELM" test "$RELEASE" --namespace "$NAMESPACE" --timeout 5m

run "$HELM" uninstall "$RELEASE" --namespace "$NAMESPACE" --wait --timeout 10m
if [[ -z $DRY_RUN ]]; then
    # Strimzi's pods go with the Kafka resource helm deleted (garbage collection): wait for it.
    selector="app.kubernetes.io/instance=$RELEASE"
    if [[ -n $("$KUBECTL" -n "$NAMESPACE" get pods -l "$selector" -o name) ]]; then
        run "$KUBECTL" -n "$NAMESPACE" wait --for=delete pods -l "$selector" --timeout=5m
    fi
    # No KafkaTopic may be left stuck in Terminating (the Topic Operator runs without finalizers).
    left=$("$KUBECTL" -n "$NAMESPACE" get kafkatopics,kafkausers,kafkas,kafkanodepools -o name)
    [[ -z $left ]] || die "left after helm uninstall: $left"
fi
