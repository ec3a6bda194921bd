#!/usr/bin/env bash
# rootless-user.sh — make the user that the tests run the local backend as
# when they prove it works without root (backend/local's rootless tests,
# and `cleanroom run` as that user): cleanroom-rootless, a system user with
# no home and no login shell, with a range of subordinate ids in /etc/subuid
# and /etc/subgid, which newuidmap (Debian's uidmap, installed by
# local-deps.sh) maps into its sessions' user namespaces.
#
# A person running cleanroom as themselves needs the same for their own
# user: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`
# (useradd gives new ordinary users a range by itself).
#
# Idempotent and silent when the user and its ranges are there.
#
# Usage: scripts/rootless-user.sh
# Needs: root (or sudo) when something is missing.
set -euo pipefail

user=cleanroom-rootless
# Far above the ranges useradd hands out (100000 on), so as not to share ids
# with a real user's.
first=3000000
count=65536

log() { printf 'rootless-user.sh: %s\n' "$*" >&2; }

has_range() { grep -q "^$user:" "$1" 2>/dev/null; }

if id "$user" >/dev/null 2>&1 && has_range /etc/subuid && has_range /etc/subgid; then
	exit 0
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { log "creating $user needs root (no sudo found)"; exit 1; }
	sudo=(sudo)
fi
if ! id "$user" >/dev/null 2>&1; then
	log "creating user $user"
	"${sudo[@]}" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi
last=$((first + count - 1))
if ! has_range /etc/subuid; then
	"${sudo[@]}" usermod --add-subuids "$first-$last" "$user"
fi
if ! has_range /etc/subgid; then
	"${sudo[@]}" usermod --add-subgids "$first-$last" "$user"
fi
log "$user has subordinate ids $first-$last"
