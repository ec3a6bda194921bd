#!/usr/bin/env bash
# check-leaks.sh — fail when containers, networks or volumes labelled by cleanroom
# remain on the engine, or when the local backend left a sandbox process, a
# session directory or a cgroup. Run after the tests: every test cleans up
# after itself, so anything left is a leak to find, not to sweep away
# silently.
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

# The local backend: sandbox inits (and a rootless session's holder) carry
# their session in their environment, sessions keep state under
# /run/cleanroom/local (a user's under $TMPDIR/cleanroom-<uid>/local, or
# $XDG_RUNTIME_DIR/cleanroom/local), and cgroups are
# .../cleanroom/<session>/<container> in each hierarchy.
sandboxes=$(grep -lsa 'CLEANROOM_SANDBOX_SESSION=' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true)
sessions=$(ls -d /run/cleanroom/local/* /tmp/cleanroom-*/local/* /run/user/*/cleanroom/local/* 2>/dev/null || true)
# Below this job's own cgroups, where its tests made theirs (other jobs on
# the machine have their own).
cgroups=$(while IFS=: read -r _ controllers path; do
  for c in ${controllers//,/ }; do
    [ -d "/sys/fs/cgroup/$c$path/cleanroom" ] && find "/sys/fs/cgroup/$c$path/cleanroom" -mindepth 1 -type d
  done
  [ -z "$controllers" ] && [ -d "/sys/fs/cgroup$path/cleanroom" ] && find "/sys/fs/cgroup$path/cleanroom" -mindepth 1 -type d
done < /proc/self/cgroup 2>/dev/null | sort -u || true)
if [ -n "$sandboxes$sessions$cgroups" ]; then
  echo "check-leaks: the local backend left things behind after the tests:" >&2
  for pid in $sandboxes; do printf '  sandbox process %s: %s\n' "$pid" "$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)" >&2; done
  [ -n "$sessions" ] && printf '  session directory %s\n' $sessions >&2
  [ -n "$cgroups" ] && printf '  cgroup %s\n' $cgroups >&2
  exit 1
fi
echo "check-leaks: no cleanroom containers, networks, volumes, built images, sandboxes, local sessions or cgroups left"
