#!/usr/bin/env bash
# fixture-images.sh — build cleanroom's local fixture images, without a registry.
#
#   cleanroom-fixtures/busybox:1   FROM scratch + Debian's busybox-static
#   cleanroom-fixtures/postgres:15 Debian postgresql-15, official-image entrypoint
#   cleanroom-fixtures/redis:7     Debian redis-server 7, official-image entrypoint
#   cleanroom-fixtures/otelapp:1   FROM scratch + internal/fixtures/otelapp, an
#                                  OpenTelemetry-instrumented Go app built static
#                                  with -cover
#
# The machines this project is built on reach no container registry (see
# DESIGN.md, "Running the engine here"), so nothing here pulls: busybox comes
# from the Debian mirror as a .deb, and postgres and redis share one Debian
# bookworm rootfs made with mmdebstrap and `docker import`ed as
# cleanroom-fixtures/bookworm-rootfs:1. otelapp is this repository's own code,
# compiled with the local Go toolchain. Dockerfiles and entrypoints live in
# scripts/fixtures/<name>/.
#
# Idempotent: an image is built only when `docker image inspect` cannot find it
# (otelapp also when its sources changed since it was built). --force rebuilds
# all of them (and removes the images they replace).
#
# Usage: scripts/fixture-images.sh [--force]
# Needs: root (mmdebstrap, apt-get), a running engine (scripts/docker-up.sh),
# the Debian mirror deb.debian.org, and go (with the module's dependencies in
# the module cache or reachable).
set -euo pipefail

readonly BUSYBOX_IMAGE=cleanroom-fixtures/busybox:1
readonly POSTGRES_IMAGE=cleanroom-fixtures/postgres:15
readonly REDIS_IMAGE=cleanroom-fixtures/redis:7
readonly ROOTFS_IMAGE=cleanroom-fixtures/bookworm-rootfs:1
readonly OTELAPP_IMAGE=cleanroom-fixtures/otelapp:1
readonly OTELAPP_PKG=github.com/cleanroomhq/cleanroom/internal/fixtures/otelapp
# Label on the otelapp image: a fingerprint of the sources it was built from.
readonly SOURCE_LABEL=dev.cleanroom.fixture.source

readonly DEBIAN_SUITE=bookworm
readonly DEBIAN_MIRROR=http://deb.debian.org/debian
readonly DEBIAN_SECURITY=http://deb.debian.org/debian-security

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly fixtures="$here/fixtures"
repo=$(cd "$here/.." && pwd)
readonly repo

# The engine here has no buildx; pin the classic builder so a DOCKER_BUILDKIT=1
# in the caller's environment cannot make `docker build` fail (or try to
# resolve FROM images remotely).
export DOCKER_BUILDKIT=0

log() { printf 'fixture-images: %s\n' "$*"; }
die() { printf 'fixture-images: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

force=0
for arg; do
	case "$arg" in
		--force) force=1 ;;
		-h | --help) usage; exit 0 ;;
		*) usage >&2; die "unknown argument: $arg" ;;
	esac
done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

work=$(mktemp -d /tmp/fixture-images.XXXXXX)
# apt-get download drops privileges to _apt, which must be able to enter it.
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

# run LOGNAME CMD...: run quietly into $work/LOGNAME.log; on failure show its tail.
run() {
	local name=$1
	shift
	if ! "$@" >"$work/$name.log" 2>&1; then
		printf 'fixture-images: %s failed; last lines of its output:\n' "$name" >&2
		tail -n 40 "$work/$name.log" >&2
		exit 1
	fi
}

# Images replaced by --force, removed once everything is rebuilt (children first).
replaced=()

# ensure IMAGE BUILD_FUNCTION: build IMAGE unless it exists (or --force).
ensure() {
	local image=$1 build=$2
	if have_image "$image" && [ "$force" = 0 ]; then
		log "$image present ($(image_size "$image")), skipped"
		return 0
	fi
	local old start
	old=$(image_id "$image")
	start=$(now)
	log "$image: building …"
	"$build"
	local new
	new=$(image_id "$image")
	[ -n "$new" ] || die "$image: build finished but the image is missing"
	if [ -n "$old" ] && [ "$old" != "$new" ]; then
		replaced=("$old" "${replaced[@]}")
	fi
	log "$image: built in $(since "$start") ($(image_size "$image"))"
}

# --- busybox ------------------------------------------------------------------

build_busybox() {
	local ctx="$work/busybox"
	mkdir -p "$ctx/deb"
	chmod 0755 "$ctx" "$ctx/deb"
	cp "$fixtures/busybox/Dockerfile" "$fixtures/busybox/passwd" "$fixtures/busybox/group" "$ctx/"
	# The local package lists may be stale or missing; refresh once on failure.
	if ! (cd "$ctx/deb" && apt-get download -q busybox-static >"$work/apt-download.log" 2>&1); then
		run apt-get-update apt-get update -q
		(cd "$ctx/deb" && run apt-download apt-get download -q busybox-static)
	fi
	run dpkg-deb dpkg-deb -x "$ctx"/deb/busybox-static_*.deb "$ctx/pkg"
	mkdir -p "$ctx/bin"
	cp "$ctx/pkg/bin/busybox" "$ctx/bin/busybox"
	log "  busybox-static $(dpkg-deb -f "$ctx"/deb/busybox-static_*.deb Version)"
	rm -rf "$ctx/deb" "$ctx/pkg"
	run docker-build-busybox docker build --tag "$BUSYBOX_IMAGE" "$ctx"
}

# --- shared Debian rootfs for postgres and redis ------------------------------

ensure_mmdebstrap() {
	command -v mmdebstrap >/dev/null 2>&1 && return 0
	log "  installing mmdebstrap with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends mmdebstrap >"$work/apt-install.log" 2>&1; then
		run apt-get-update apt-get update -q
		run apt-install apt-get install -y -q --no-install-recommends mmdebstrap
	fi
}

build_rootfs() {
	[ "$(id -u)" = 0 ] || die "mmdebstrap needs root here (it runs in root mode)"
	ensure_mmdebstrap
	# --variant=apt: Essential packages plus apt, and whatever --include needs.
	#
	# dpkg path-excludes keep the image modest (they are also written to
	# /etc/dpkg/dpkg.cfg.d/99mmdebstrap, so derived images keep them):
	# - docs, man pages, translations: never read in a test fixture (copyright
	#   files stay).
	# - LLVM (~110 MB), z3 (~23 MB) and postgres's JIT bitcode (~26 MB): Debian's
	#   postgresql-15 depends on libllvm14 only for its optional JIT provider.
	#   Without llvmjit.so postgres skips JIT silently (documented behaviour of
	#   the jit setting), and nothing else in the rootfs uses LLVM.
	#
	# Hooks: Debian's postgresql-15 postinst creates a "main" cluster in
	# /var/lib/postgresql/15 for pg_ctlcluster, which the entrypoint does not use
	# (it runs initdb into $PGDATA): drop it. mmdebstrap itself already removes
	# the apt lists and package cache, and keeps services from starting.
	#
	# xz-utils and zstd: the postgres entrypoint runs *.sql.xz and *.sql.zst init
	# scripts, like the official image.
	local id
	log "  mmdebstrap $DEBIAN_SUITE (postgresql-15, redis-server) | docker import"
	# Streamed into an untagged import, tagged only if mmdebstrap succeeded too:
	# docker import happily imports the partial tar of a failed run.
	# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, not ours
	if ! mmdebstrap \
		--variant=apt \
		--include=postgresql-15,redis-server,xz-utils,zstd \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		--dpkgopt='path-exclude=/usr/lib/*/libLLVM-*' \
		--dpkgopt='path-exclude=/usr/lib/*/libz3.so*' \
		--dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*' \
		--dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/llvmjit*' \
		--customize-hook='rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15" "$1/var/log/postgresql/"*' \
		--customize-hook='rm -rf "$1/var/log/apt/"* "$1/var/log/dpkg.log" "$1/var/log/alternatives.log" "$1/var/cache/debconf/"*-old' \
		"$DEBIAN_SUITE" - \
		"deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
		"deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
		"deb $DEBIAN_SECURITY $DEBIAN_SUITE-security main" \
		2>"$work/mmdebstrap.log" |
		docker import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'ENV LANG=C.UTF-8' \
			--change 'LABEL org.opencontainers.image.title="cleanroom-fixtures/bookworm-rootfs"' \
			--change 'CMD ["bash"]' \
			--message "mmdebstrap $DEBIAN_SUITE + postgresql-15 + redis-server (scripts/fixture-images.sh)" \
			- >"$work/docker-import.log" 2>&1
	then
		id=$(grep -o 'sha256:[0-9a-f]*' "$work/docker-import.log" | tail -n 1 || true)
		if [ -n "$id" ]; then
			docker image rm "$id" >/dev/null 2>&1 || true
		fi
		printf 'fixture-images: mmdebstrap | docker import failed; last lines:\n' >&2
		tail -n 40 "$work/mmdebstrap.log" "$work/docker-import.log" >&2
		exit 1
	fi
	id=$(grep -o 'sha256:[0-9a-f]*' "$work/docker-import.log" | tail -n 1)
	docker tag "$id" "$ROOTFS_IMAGE"
}

# --- postgres and redis -------------------------------------------------------

# The entrypoint lives with the postgres service kind, which also runs it on
# the local backend (against this machine's PostgreSQL): one script for both.
build_postgres() {
	local ctx
	ctx=$(mktemp -d)
	cp "$fixtures/postgres/Dockerfile" "$repo/service/postgres/docker-entrypoint.sh" "$ctx/"
	run docker-build-postgres docker build \
		--build-arg BASE_IMAGE="$ROOTFS_IMAGE" --tag "$POSTGRES_IMAGE" "$ctx"
	rm -rf "$ctx"
}

build_redis() {
	run docker-build-redis docker build \
		--build-arg BASE_IMAGE="$ROOTFS_IMAGE" --tag "$REDIS_IMAGE" "$fixtures/redis"
}

# --- otelapp ------------------------------------------------------------------

# otelapp_sources: a fingerprint of what the otelapp image is built from — the
# app (tests excluded), its Dockerfile, the module's dependencies, the Go
# toolchain and the build commands.
otelapp_sources() {
	(
		cd "$repo"
		go version
		declare -f build_otelapp
		find internal/fixtures/otelapp -name '*.go' ! -name '*_test.go' -print0 |
			sort -z | xargs -0 sha256sum
		sha256sum scripts/fixtures/otelapp/Dockerfile go.mod go.sum
	) | sha256sum | cut -c1-16
}

build_otelapp() {
	local ctx="$work/otelapp"
	mkdir -p "$ctx"
	cp "$fixtures/otelapp/Dockerfile" "$ctx/"
	# Static (CGO_ENABLED=0) for FROM scratch; -cover so that a container given
	# GOCOVERDIR leaves coverage counters when it stops, limited by -coverpkg to
	# the app's package; -trimpath keeps this machine's paths out of the image;
	# -s -w drop the symbol table and DWARF (a third of the binary; panics
	# still print file:line).
	(cd "$repo" && export CGO_ENABLED=0 && run go-build-otelapp go build -cover -coverpkg="$OTELAPP_PKG" \
		-trimpath -ldflags='-s -w' -o "$ctx/otelapp" ./internal/fixtures/otelapp)
	log "  $(go version | cut -d' ' -f3), binary $(du -k "$ctx/otelapp" | cut -f1) KiB"
	run docker-build-otelapp docker build \
		--label "$SOURCE_LABEL=$otelapp_fingerprint" --tag "$OTELAPP_IMAGE" "$ctx"
}

# ensure_otelapp: like ensure, but an image built from other sources (see
# otelapp_sources) counts as missing. The Debian-based images change only with
# --force; this one changes with the repository.
ensure_otelapp() {
	local forced=$force built
	command -v go >/dev/null 2>&1 || die "go not found; it builds $OTELAPP_IMAGE from $OTELAPP_PKG"
	otelapp_fingerprint=$(otelapp_sources)
	if [ "$force" = 0 ] && have_image "$OTELAPP_IMAGE"; then
		built=$(docker image inspect --format "{{index .Config.Labels \"$SOURCE_LABEL\"}}" "$OTELAPP_IMAGE")
		if [ "$built" != "$otelapp_fingerprint" ]; then
			log "$OTELAPP_IMAGE: sources changed since it was built (${built:-unlabelled} → $otelapp_fingerprint)"
			force=1
		fi
	fi
	ensure "$OTELAPP_IMAGE" build_otelapp
	force=$forced
}

# --- main ---------------------------------------------------------------------

if ! docker info >/dev/null 2>&1; then
	log "engine not answering; running scripts/docker-up.sh"
	"$here/docker-up.sh"
fi

total=$(now)
ensure "$BUSYBOX_IMAGE" build_busybox
# The rootfs is needed only to build postgres or redis; it is built (or
# skipped) on its own line so that their times show the build alone.
if [ "$force" = 1 ] || ! have_image "$POSTGRES_IMAGE" || ! have_image "$REDIS_IMAGE"; then
	ensure "$ROOTFS_IMAGE" build_rootfs
fi
ensure "$POSTGRES_IMAGE" build_postgres
ensure "$REDIS_IMAGE" build_redis
ensure_otelapp

# After --force: the replaced images are untagged now; remove them unless a
# container still uses them. Removing an image also removes its untagged
# parents, so the old rootfs is usually gone by the time its turn comes.
for id in "${replaced[@]}"; do
	if ! have_image "$id"; then
		log "replaced image ${id:7:12} removed"
	elif docker image rm "$id" >/dev/null 2>&1; then
		log "replaced image ${id:7:12} removed"
	else
		log "replaced image ${id:7:12} kept (still in use)"
	fi
done

log "done in $(since "$total")"
