#!/usr/bin/env bash
# Run a command with a Docker daemon at hand: install the Debian packages the tests use when
# any is missing (needs root): docker.io, docker-compose, debootstrap, wrk, prometheus (with
# promtool), docker-registry and postgresql (the tests start their own servers on free
# ports, and stop them); start dockerd when none answers, and stop the daemon this script
# started when the command ends. kubectl is not a Debian package recent enough for
# kustomize's `labels` (bookworm's kubernetes-client is 1.20): the Kubernetes tests say so
# when it is missing. Usage: scripts/with-docker.sh CMD...
set -euo pipefail

packages=(docker.io docker-compose debootstrap wrk prometheus docker-registry postgresql)
commands=(dockerd docker-compose debootstrap wrk promtool docker-registry pg_ctlcluster)
for command in "${commands[@]}"; do
  if ! command -v "$command" >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${packages[@]}" >/dev/null
    break
  fi
done

if ! docker info >/dev/null 2>&1; then
  log=$(mktemp -t dockerd.XXXXXX.log)
  dockerd >"$log" 2>&1 &
  dockerd_pid=$!
  trap 'status=$?; kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null; exit $status' EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$log"; exit 1; }
fi

"$@"
