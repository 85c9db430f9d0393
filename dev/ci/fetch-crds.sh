#!/usr/bin/env bash
# Put the CRD schemas the chart checks validate against where devstack.chartcheck looks for them,
# ../shared/k8s-crds beside the checkout (the build machines have them there already): Strimzi
# 1.2.0's and the Prometheus Operator's, fetched from their release commits and checked against
# the SHA-256 of the copies the project validates with, so CI checks against the same bytes.
#
# Usage: dev/ci/fetch-crds.sh [DIR]   (default: ../shared/k8s-crds of this checkout)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${1:-$ROOT/../shared/k8s-crds}"
STRIMZI=strimzi/strimzi-kafka-operator/6c7b43c4af0db547c10463ba09d1dfa6f5e156a0/packaging/install/cluster-operator
PROMETHEUS=prometheus-operator/prometheus-operator/f8fafd475f3d132e239432ae6172de60a6cb6516/example/prometheus-operator-crd
# <folder>/<file> <source path under raw.githubusercontent.com> <sha256>
FILES=(
    "strimzi/040-Crd-kafka.yaml $STRIMZI b5b27fc8d52068a77cde7c40d47c068023c7b4e92fc266c45200db2d2506392a"
    "strimzi/043-Crd-kafkatopic.yaml $STRIMZI 36390f0731c699448076d4ee739e8b7f331d083e91a7fb71500aaa830ab1127e"
    "strimzi/044-Crd-kafkauser.yaml $STRIMZI c7e91b9b027a516b43dc7d369e781ee23a6ea177ae15fe0c33af6f722e26e05f"
    "strimzi/045-Crd-kafkanodepool.yaml $STRIMZI 411c1b32ef8c1a6408ac9d4fe791115a6ce2b41107204588f976a3ed19be2430"
    "strimzi/049-Crd-kafkarebalance.yaml $STRIMZI e84ffcd975c62025436ead73298c53b3e3409746986295d57dc156b6710201b2"
    "monitoring/monitoring.coreos.com_podmonitors.yaml $PROMETHEUS 45a93443daa687d3654f7e9631909ff7edcdf3ec09c5e60251b74aa2722aee5d"
    "monitoring/monitoring.coreos.com_prometheusrules.yaml $PROMETHEUS 78be98554b9c8506ab2b4f4feb91c5f3a56e536a0a510f3a8e876a459970d56d"
    "monitoring/monitoring.coreos.com_servicemonitors.yaml $PROMETHEUS a99047972c9dd7679ce2050b9968e8a08773492e671b3e17abd476d42aa78a32"
)

say() { echo "fetch-crds: $*" >&2; }

for entry in "${FILES[@]}"; do
    read -r file source sha <<<"$entry"
    target="$DIR/$file"
    if [[ -f $target ]] && sha256sum --check --status <<<"$sha  $target"; then continue; fi
    mkdir -p "$(dirname "$target")"
    say "$file"
    curl -fsSL --retry 3 -o "$target.tmp" "https://raw.githubusercontent.com/$source/${file#*/}"
    sha256sum --check --status <<<"$sha  $target.tmp" \
        || { rm -f "$target.tmp"; say "$file: not the expected bytes (sha256 $sha)"; exit 1; }
    mv "$target.tmp" "$target"
done
say "CRD schemas in $DIR"
