#!/usr/bin/env bash
# check-leaks.sh — fail when containers, networks or volumes labelled by cleanroom
# remain on the engine. Run after the tests: every test cleans up after
# itself, so anything left is a leak to find, not to sweep away silently.
set -euo pipefail
label=dev.cleanroom.session
containers=$(docker ps -aq --filter "label=$label")
networks=$(docker network ls -q --filter "label=$label")
volumes=$(docker volume ls -q --filter "label=$label")
# Built images are leaks too, unless a suite asked to keep them.
images=$(docker images --filter "label=$label" --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Labels}}' 2>/dev/null | grep -v 'dev.cleanroom.keep=true' || true)
if [ -n "$containers$networks$volumes$images" ]; then
  echo "check-leaks: resources labelled $label remain after the tests:" >&2
  [ -n "$containers" ] && docker ps -a --filter "label=$label" --format '  container {{.Names}} ({{.Image}}) session={{.Label "dev.cleanroom.session"}}' >&2
  [ -n "$networks" ] && docker network ls --filter "label=$label" --format '  network {{.Name}}' >&2
  [ -n "$volumes" ] && printf '  volume %s\n' $volumes >&2
  [ -n "$images" ] && printf '  image %s\n' "$images" >&2
  exit 1
fi
echo "check-leaks: no cleanroom containers, networks, volumes or built images left"
