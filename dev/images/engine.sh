# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Sourced by build.sh and container_test.sh: picks the container engine and the command line it
# needs. ENGINE=docker|podman chooses; unset, Docker where a Docker engine answers (GitHub's
# Ubuntu runners, most workstations), else Podman (this project's build machines, with the flags
# DESIGN.md "Machine notes" names). Sets ENGINE, CLI (the engine's command) and ULIMITS.

ULIMITS=(--ulimit nofile=10000:10000 --ulimit nproc=10000:10000)

pick_engine() {  # what the caller's die() should say when neither is there
    if [[ -z "${ENGINE:-}" ]]; then
        if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
            ENGINE=docker
        elif command -v podman >/dev/null; then
            ENGINE=podman
        else
            echo "neither a Docker engine nor podman: install one (apt-get install podman runc)" >&2
            return 1
        fi
    fi
    case "$ENGINE" in
        docker) CLI=(docker) ;;
        podman) CLI=(podman --runtime runc --cgroup-manager=cgroupfs) ;;
        *) echo "ENGINE must be docker or podman, not '$ENGINE'" >&2; return 1 ;;
    esac
}
