#!/usr/bin/env bash
# Installs what the stack and its tests need outside Python when it is missing: a Java runtime
# (17+) for the Kafka broker, Maven to fetch its jars, and Chromium for the web UI's browser
# tests (WITH_BROWSER=0 skips it, e.g. for `make up`), and with WITH_KUBE_NODE=1 what the
# single-node Kubernetes cluster runs on (containerd, runc, the CNI plugins, iptables, nftables,
# Podman to hand images over, gcc for the pause binary), and with WITH_BENCH=1 wrk, the load
# generator of `make bench`. Debian/Ubuntu only; needs root or sudo.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ "${WITH_BROWSER:-1}" = 1 ] && ! command -v chromium >/dev/null; then
  missing+=(chromium)
fi
if [ "${WITH_BENCH:-0}" = 1 ]; then
  command -v wrk >/dev/null || missing+=(wrk)
fi
if [ "${WITH_KUBE_NODE:-0}" = 1 ]; then
  for tool in containerd runc iptables nft podman gcc; do
    command -v "$tool" >/dev/null || case $tool in
      nft) missing+=(nftables) ;;
      *) missing+=("$tool") ;;
    esac
  done
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] \
    || missing+=(libc6-dev)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "missing: ${missing[*]}; install a Java 17+ runtime and Maven, then retry" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]} from Debian packages ..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
