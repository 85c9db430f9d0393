#!/usr/bin/env bash
# Package the chart as a release publishes it: version and appVersion are the release's version
# (so `image.tag`, empty, means the images pushed with that tag) and the default image.registry
# is ghcr.io/<owner>, where the release workflow pushed them. PUSH=1 then pushes the package to
# oci://ghcr.io/<owner>/charts (logged in with REGISTRY_USER / REGISTRY_PASSWORD when set).
#
# Usage: dev/ci/release-chart.sh VERSION OWNER [OUT_DIR]   (VERSION: 1.2.3 or v1.2.3)
#   HELM=...  the helm binary (default: helm on PATH; make exports its own)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="${1:?usage: release-chart.sh VERSION OWNER [OUT_DIR]}"
OWNER="${2:?usage: release-chart.sh VERSION OWNER [OUT_DIR]}"
OUT="${3:-$ROOT/dist}"
HELM="${HELM:-helm}"
VERSION="${VERSION#v}"
OWNER="${OWNER,,}"  # GHCR names are lower case
REGISTRY="ghcr.io/$OWNER"

say() { echo "release-chart: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] \
    || die "VERSION must be semantic (1.2.3 or 1.2.3-rc.1), not '$VERSION'"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$ROOT/helm/streamsuite" "$work/streamsuite"
# The first `registry:` under the top-level `image:` block, comments and layout kept.
sed -i "/^image:/,/^[^ #]/ s|^  registry: .*|  registry: $REGISTRY|" "$work/streamsuite/values.yaml"
grep -qx "  registry: $REGISTRY" "$work/streamsuite/values.yaml" \
    || die "could not set image.registry in values.yaml"

mkdir -p "$OUT"
"$HELM" package "$work/streamsuite" --version "$VERSION" --app-version "$VERSION" \
    --destination "$OUT" >&2
package="$OUT/streamsuite-$VERSION.tgz"
say "$package (images $REGISTRY/streamsuite-<service>:$VERSION)"

if [[ -n ${PUSH:-} ]]; then
    if [[ -n ${REGISTRY_PASSWORD:-} ]]; then
        printf '%s' "$REGISTRY_PASSWORD" \
            | "$HELM" registry login ghcr.io --username "${REGISTRY_USER:?}" --password-stdin
    fi
    "$HELM" push "$package" "oci://$REGISTRY/charts"
fi
echo "$package"
