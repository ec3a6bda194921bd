#!/usr/bin/env bash
# local-deps.sh — make sure this machine has the programs the local backend's
# tests and examples run (backend/local, runner/adversarial_local_test.go,
# suites run with --backend local):
#
#   /bin/busybox                          busybox-static: the applets the tests
#                                         put on a sandbox's PATH (sh, httpd,
#                                         nc, ps, …; busybox --install -s)
#   /usr/lib/postgresql/*/bin/initdb      postgresql: the server a postgres
#                                         service runs on the local backend
#   redis-server                          redis-server: a redis service's server
#   setpriv                               util-linux: how the postgres and redis
#                                         entrypoints drop root
#   newuidmap, newgidmap                  uidmap: give a rootless runner's user
#                                         namespace the user's subordinate ids
#
# Idempotent and silent when everything is there. Otherwise installs what is
# missing with apt-get (no recommended packages), running `apt-get update`
# first only when a package is not known yet.
#
# The tests start their own servers, each inside a sandbox; a server the
# packages' maintainer scripts start on the host would only hold its ports
# and state for nothing. So the install runs under a policy-rc.d that refuses
# every start (Debian's switch for invoke-rc.d, which is how postinst
# scripts start daemons, with or without systemd), unless the machine has a
# policy-rc.d of its own; and any server that runs afterwards anyway, and did
# not run before, is stopped through its pidfile (never by name: a server of
# the same program may be someone else's).
#
# Usage: scripts/local-deps.sh
# Needs: root (or sudo) and the Debian mirror, only when something is missing.
set -euo pipefail

log() { printf 'local-deps.sh: %s\n' "$*" >&2; }

missing=()
[[ -x /bin/busybox ]] || missing+=(busybox-static)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v newuidmap >/dev/null || missing+=(uidmap)

if ((${#missing[@]} == 0)); then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		log "missing ${missing[*]}, and installing needs root (no sudo found)"
		exit 1
	fi
	sudo=(sudo)
fi

# The pidfiles the packages' servers write: Debian's postgresql-common
# (external_pid_file, one per cluster; the data directory's postmaster.pid)
# and redis-server's init script and unit.
pidfiles() {
	compgen -G '/run/postgresql/*.pid' || true
	compgen -G '/var/lib/postgresql/*/*/postmaster.pid' || true
	compgen -G '/run/redis/*.pid' || true
}

# serverPid prints the PID a pidfile names if that process is alive and is
# the server the file belongs to (a stale file may name a reused PID). The
# program is its executable or, where that link is not readable (root
# without CAP_SYS_PTRACE, as in a container, cannot read another user's),
# its command name.
serverPid() {
	local file=$1 pid prog
	pid=$(head -n1 "$file" 2>/dev/null | tr -dc 0-9) || return 1
	[[ -n $pid && -d /proc/$pid ]] || return 1
	prog=$(readlink "/proc/$pid/exe" 2>/dev/null) || prog=
	[[ -n $prog ]] || prog=/$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	case $file:$prog in
	*postgres*:*/postgres | *redis*:*/redis-server | *redis*:*/redis-check-rdb) echo "$pid" ;;
	*) return 1 ;;
	esac
}

declare -A before=()
while read -r f; do
	[[ -n $f ]] || continue
	if pid=$(serverPid "$f"); then before[$pid]=1; fi
done < <(pidfiles)

policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e $policy ]]; then
	own_policy=true
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# scripts/local-deps.sh: no daemon starts while it installs packages.\nexit 101\n' |
		"${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
fi

export DEBIAN_FRONTEND=noninteractive
log "installing ${missing[*]}"
for pkg in "${missing[@]}"; do
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update -qq
		break
	fi
done
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

if $own_policy; then
	"${sudo[@]}" rm -f "$policy"
	trap - EXIT
fi

# Stop what the install started all the same: SIGTERM (postgres: a smart
# shutdown; redis: save-less exit as configured), then SIGKILL after 30s.
while read -r f; do
	[[ -n $f ]] || continue
	pid=$(serverPid "$f") || continue
	[[ -z ${before[$pid]:-} ]] || continue
	log "stopping the server the install started (pid $pid, from $f)"
	"${sudo[@]}" kill -TERM "$pid" 2>/dev/null || continue
	for _ in $(seq 1 60); do
		[[ -d /proc/$pid ]] || break
		sleep 0.5
	done
	if [[ -d /proc/$pid ]]; then
		log "pid $pid still runs after 30s: SIGKILL"
		"${sudo[@]}" kill -KILL "$pid" 2>/dev/null || true
	fi
done < <(pidfiles)

# Say what is still missing rather than let a test say it later.
fail=0
[[ -x /bin/busybox ]] || { log "/bin/busybox is missing after installing busybox-static"; fail=1; }
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { log "no /usr/lib/postgresql/*/bin/initdb after installing postgresql"; fail=1; }
command -v redis-server >/dev/null || { log "redis-server is missing after installing redis-server"; fail=1; }
command -v setpriv >/dev/null || { log "setpriv is missing after installing util-linux"; fail=1; }
exit $fail
