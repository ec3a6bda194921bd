#!/usr/bin/env bash
# ctrf-schema.sh — fetch the published JSON schema of CTRF (ctrf.io), against
# which report/ctrf_schema_test.go validates the CTRF reports cleanroom writes.
#
# The schema comes from the npm package `ctrf`, CTRF's reference
# implementation published by the CTRF project (github.com/ctrf-io/ctrf-js),
# which ships it as src/ctrf-schema-0.0.json (spec version 0.0.0, JSON Schema
# draft-07) and validates documents with it. The version is pinned, and so is
# the schema's sha256: a new release is taken on purpose, by changing both.
#
#   .cache/ctrf/ctrf-0.3.0.tgz          the package, as `npm pack` fetched it
#   .cache/ctrf/ctrf-schema-0.0.json    the schema the tests read
#
# Idempotent and silent when the schema is already there with the pinned
# hash; extracts it again from a cached tarball without asking the registry.
#
# Usage: scripts/ctrf-schema.sh
# Needs: npm (and the npm registry, the first time), tar, sha256sum.
set -euo pipefail

readonly CTRF_PACKAGE=ctrf
readonly CTRF_VERSION=0.3.0
readonly SCHEMA_IN_PACKAGE=package/src/ctrf-schema-0.0.json
readonly SCHEMA_SHA256=742dee4cffda469902a9c30c4a87b0b7000d59d2ee502dcccb12ec471cea96a2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly cache=$root/.cache/ctrf
readonly tarball=$cache/$CTRF_PACKAGE-$CTRF_VERSION.tgz
readonly schema=$cache/${SCHEMA_IN_PACKAGE##*/}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -f $schema && $(sha256 "$schema") == "$SCHEMA_SHA256" ]]; then
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [[ ! -f $tarball ]]; then
	if ! command -v npm >/dev/null; then
		echo "ctrf-schema.sh: npm is needed to fetch $CTRF_PACKAGE@$CTRF_VERSION (Debian: apt-get install npm)" >&2
		exit 1
	fi
	echo "ctrf-schema.sh: fetching $CTRF_PACKAGE@$CTRF_VERSION from the npm registry" >&2
	# npm checks the tarball against the registry's integrity hash.
	(cd "$tmp" && npm pack --silent "$CTRF_PACKAGE@$CTRF_VERSION" >/dev/null)
	mv "$tmp/$CTRF_PACKAGE-$CTRF_VERSION.tgz" "$tarball"
fi

tar -xzf "$tarball" -C "$tmp" "$SCHEMA_IN_PACKAGE"
got=$(sha256 "$tmp/$SCHEMA_IN_PACKAGE")
if [[ $got != "$SCHEMA_SHA256" ]]; then
	echo "ctrf-schema.sh: $SCHEMA_IN_PACKAGE in $tarball has sha256 $got, want $SCHEMA_SHA256" >&2
	echo "ctrf-schema.sh: remove $cache to fetch it again, or review the new schema and update the pin" >&2
	exit 1
fi
# Renamed into place: a test never reads half a file.
mv "$tmp/$SCHEMA_IN_PACKAGE" "$schema"
