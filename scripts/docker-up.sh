#!/usr/bin/env bash
# docker-up.sh — make sure a Docker engine answers on this machine.
#
# Idempotent: installs Debian's docker.io only when dockerd is missing, and
# starts dockerd only when `docker info` fails. The engine it starts is locked
# to loopback: published ports bind 127.0.0.1, containers resolve nothing
# outside (--dns 127.0.0.1), and any image pull goes to a closed loopback
# proxy so it fails at once instead of leaving the machine. Every cleanroom
# session gets its own network, so the address pool is cut into /24s: 256
# concurrent sessions instead of the default pools' ~30. The default bridge
# (network "bridge" in a policy) gets its own subnet outside that pool, so no
# session network can ever share its addresses.
set -euo pipefail

log() { printf 'docker-up: %s\n' "$*"; }

if docker info >/dev/null 2>&1; then
  log "engine already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd missing: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
  log "installed $(dockerd --version)"
fi

state=${CLEANROOM_DOCKERD_STATE:-/var/lib/cleanroom-dockerd}
mkdir -p "$state"
logfile="$state/dockerd.log"

log "starting dockerd (log: $logfile)"
# setsid: the engine must outlive the shell (and the make target) that started it.
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy= \
  setsid dockerd \
    --ip 127.0.0.1 \
    --dns 127.0.0.1 \
    --default-address-pool base=10.213.0.0/16,size=24 \
    --bip 10.212.0.1/24 \
    --pidfile "$state/dockerd.pid" \
    >"$logfile" 2>&1 </dev/null &

for i in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "engine answering after ${i}x0.5s ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done

log "dockerd did not answer within 30s; last lines of its log:"
tail -n 30 "$logfile" >&2 || true
exit 1
