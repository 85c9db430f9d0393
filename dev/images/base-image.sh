#!/usr/bin/env bash
# Build a stand-in Python 3.11 base image from Debian bookworm's packages, for machines where no
# container registry is reachable: debootstrap (minbase + python3, python3-venv, python3-pip) from
# the Debian mirror named in this machine's apt configuration, then `podman import`.
# The root filesystem tarball is cached under .cache/images/, so a second run only re-imports it.
#
# Usage: dev/images/base-image.sh            (BASE_IMAGE=... to change the tag, REBUILD=1 to redo)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${STREAMSUITE_CACHE:-$ROOT/.cache}/images"
BASE_IMAGE="${BASE_IMAGE:-streamsuite/python-base:3.11-bookworm}"
SUITE=bookworm
TARBALL="$CACHE/python-base-$SUITE.tar"
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
ULIMITS=(--ulimit nofile=10000:10000 --ulimit nproc=10000:10000)

say() { echo "base-image: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "needs root (or sudo) for: $*"; fi
}

# podman, runc and debootstrap from Debian's packages when missing.
need_packages() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v debootstrap >/dev/null || [[ -s "$TARBALL" ]] || missing+=(debootstrap)
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    say "installing ${missing[*]} with apt-get"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Debian mirror this machine's apt already uses (deb822 .sources first, then sources.list).
debian_mirror() {
    local uri f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # The first URIs: of a stanza whose Suites include bookworm (not bookworm-security).
        uri=$(awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0; next }
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (u != "" && ok) print u }' "$f" | head -n1)
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        uri=$(awk -v suite="$SUITE" '$1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit } }' "$f")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    return 1
}

build_rootfs() {
    local mirror dir
    mirror=$(debian_mirror) || die "no Debian $SUITE mirror found in /etc/apt/sources.list{,.d/}"
    dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'as_root rm -rf "$dir"' EXIT
    say "debootstrap $SUITE from $mirror (about a minute)"
    as_root debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
        "$SUITE" "$dir" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    # Leave out what an image does not need: apt lists and caches, docs, man pages, translations.
    as_root chroot "$dir" apt-get clean
    as_root rm -rf "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* "$dir"/usr/share/man/* \
        "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old
    "$dir/usr/bin/python3" --version >/dev/null 2>&1 || as_root chroot "$dir" python3 --version
    as_root tar --numeric-owner -C "$dir" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    as_root rm -rf "$dir"
    trap - EXIT
}

mkdir -p "$CACHE"
need_packages
if [[ -s "$TARBALL" && -z "${REBUILD:-}" ]]; then
    say "reusing $TARBALL"
else
    build_rootfs
fi
"${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$TARBALL" "$BASE_IMAGE" >/dev/null
say "$BASE_IMAGE: $("${PODMAN[@]}" run --rm --network none "${ULIMITS[@]}" "$BASE_IMAGE" python3 --version 2>&1 | tr -d '\n') ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE_IMAGE" | numfmt --to=iec))"
