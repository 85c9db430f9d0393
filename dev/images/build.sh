#!/usr/bin/env bash
# Build the service images streamsuite/<name>:dev from services/<name>/Dockerfile, with the
# repository root as the build context: with Docker where a Docker engine answers, else Podman
# (with the flags this project's build machines need, see DESIGN.md "Machine notes").
#
# Usage: dev/images/build.sh [publisher|ingestor|query-api|web ...]   (default: all four)
#   PYTHON_IMAGE=...  base image; default: the local stand-in from `make base-image` when it
#                     exists, else the Dockerfiles' own default (python:3.11-slim-bookworm)
#   TAG=dev           image tag;  ENGINE=docker|podman to choose the engine
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TAG="${TAG:-dev}"
LOCAL_BASE="${BASE_IMAGE:-streamsuite/python-base:3.11-bookworm}"
ALL=(publisher ingestor query-api web)
SERVICES=("$@")
[[ ${#SERVICES[@]} -gt 0 ]] || SERVICES=("${ALL[@]}")

say() { echo "images: $*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck source=dev/images/engine.sh
source "$ROOT/dev/images/engine.sh"
pick_engine || exit 1
case "$ENGINE" in
    docker) BUILD=(docker build); export DOCKER_BUILDKIT=1 ;;
    podman) BUILD=("${CLI[@]}" build --layers "${ULIMITS[@]}") ;;
esac

ARGS=(--network host)
if [[ -z "${PYTHON_IMAGE:-}" ]] && "${CLI[@]}" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    PYTHON_IMAGE="$LOCAL_BASE"
fi
[[ -n "${PYTHON_IMAGE:-}" ]] && ARGS+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")

# Downloads inside the build trust the same CA bundle as this machine's pip (a TLS-inspecting
# proxy's CA, for instance); it reaches the builder stage as a build secret, never a layer.
ca="${PIP_CERT:-${SSL_CERT_FILE:-}}"
if [[ -z "$ca" ]] && command -v pip3 >/dev/null; then
    ca=$(pip3 config get global.cert 2>/dev/null || true)
fi
[[ -n "$ca" && -s "$ca" ]] && ARGS+=(--secret "id=ca-certificates,src=$ca")

REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[[ -n "$(git status --porcelain 2>/dev/null)" ]] && REVISION="$REVISION-dirty"
SOURCE=$(git remote get-url origin 2>/dev/null || true)
ARGS+=(--build-arg "REVISION=$REVISION")
[[ -n "$SOURCE" ]] && ARGS+=(--build-arg "SOURCE=$SOURCE")

say "engine $ENGINE, base ${PYTHON_IMAGE:-python:3.11-slim-bookworm (Dockerfile default)}"
for name in "${SERVICES[@]}"; do
    [[ -f "services/$name/Dockerfile" ]] || die "no services/$name/Dockerfile (one of: ${ALL[*]})"
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "services/$name/pyproject.toml" | head -n1)
    start=$SECONDS
    say "building streamsuite/$name:$TAG"
    "${BUILD[@]}" "${ARGS[@]}" --build-arg "VERSION=$version" \
        -f "services/$name/Dockerfile" -t "streamsuite/$name:$TAG" .
    say "streamsuite/$name:$TAG built in $((SECONDS - start))s"
done
for name in "${SERVICES[@]}"; do
    size=$("${CLI[@]}" image inspect --format '{{.Size}}' "streamsuite/$name:$TAG")
    printf '  streamsuite/%-10s %s\n' "$name:$TAG" "$(numfmt --to=si --suffix=B "$size")" >&2
done
