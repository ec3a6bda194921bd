#!/usr/bin/env bash
# browser.sh — make sure Debian's chromium is installed, for the test that
# opens the HTML report in a real browser (report/html_browser_test.go).
#
# Idempotent and silent when /usr/bin/chromium exists. Otherwise installs the
# `chromium` package with apt-get (no recommended packages), running
# `apt-get update` first only when the package is not known yet.
#
# Usage: scripts/browser.sh
# Needs: root (or sudo) and the Debian mirror.
set -euo pipefail

readonly CHROMIUM=/usr/bin/chromium

if [[ -x $CHROMIUM ]]; then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "browser.sh: $CHROMIUM is missing and installing it needs root (no sudo found)" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "browser.sh: installing chromium" >&2
if ! apt-cache show chromium >/dev/null 2>&1; then
	"${sudo[@]}" apt-get update -qq
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null

if [[ ! -x $CHROMIUM ]]; then
	echo "browser.sh: apt-get installed chromium but $CHROMIUM is missing" >&2
	exit 1
fi
"$CHROMIUM" --version >&2
