#!/usr/bin/env bash
# Run a command with a Docker daemon at hand: install Debian's docker.io, docker-compose, wrk and
# debootstrap when missing (needs root), start dockerd when none answers, and stop the
# daemon this script started when the command ends. Usage: scripts/with-docker.sh CMD...
set -euo pipefail

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null \
    || ! command -v debootstrap >/dev/null || ! command -v wrk >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io docker-compose debootstrap wrk >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log=$(mktemp -t dockerd.XXXXXX.log)
  dockerd >"$log" 2>&1 &
  dockerd_pid=$!
  trap 'status=$?; kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null; exit $status' EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$log"; exit 1; }
fi

"$@"
