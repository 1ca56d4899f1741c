#!/usr/bin/env bash
# The Docker daemon of kto's offline kind cluster.
#   hack/kind/docker.sh up     print the DOCKER_HOST to use: a Docker that already answers (`docker info`), else
#                              Debian's dockerd started here in the background, recorded in $state/dockerd.pid
#   hack/kind/docker.sh down   stop the dockerd that `up` started (by its process id); nothing else
# The daemon started here keeps its images in ${KTO_CACHE:-~/.cache/kto}/kind-docker/data, so a second
# `make kind-up` finds the node, Kafka and Python images already built. It runs every container through
# runc-nosysresource (hack/kind/runc-nosysresource), which drops CAP_SYS_RESOURCE: a machine whose VM withholds
# that capability cannot start privileged containers (kind's node) with plain runc.
# Debian's docker.io (20.10) is the daemon and its client /usr/bin/docker is preferred: a newer client talks to
# it too, but only Debian's builds `RUN --mount` with DOCKER_BUILDKIT=1 without the buildx plugin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${KTO_CACHE:-$HOME/.cache/kto}
state=$cache/kind-docker
sock=$state/docker.sock
say() { printf '[kind-docker %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The dockerd of $state/dockerd.pid runs (a pid reused by another program after a crash does not count).
alive() {
  [[ -f $state/dockerd.pid ]] || return 1
  local pid; pid=$(cat "$state/dockerd.pid")
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]
}

up() {
  local client=/usr/bin/docker
  [[ -x $client ]] || client=$(command -v docker || true)
  [[ -n $client ]] || { say "no docker client: apt-get install docker.io"; exit 1; }
  # A Docker that already answers (a developer's Docker Desktop or system daemon, DOCKER_HOST): use it as it is.
  if [[ ${KTO_KIND_OWN_DOCKER:-} != 1 ]] && ! alive && "$client" info >/dev/null 2>&1; then
    echo "${DOCKER_HOST:-unix:///var/run/docker.sock}"
    return 0
  fi
  bash "$here/build-binaries.sh" wrapper
  local wrapper; wrapper=$(bash "$here/build-binaries.sh" wrapper-path)
  if alive && [[ $(cat "$state/runtime" 2>/dev/null) != "$wrapper" ]]; then
    say "the running dockerd uses an older runc-nosysresource: restarting it"
    down
  fi
  if alive && DOCKER_HOST=unix://$sock "$client" info >/dev/null 2>&1; then
    echo "unix://$sock"
    return 0
  fi
  command -v dockerd >/dev/null || { say "no dockerd: apt-get install docker.io"; exit 1; }
  mkdir -p "$state/data" "$state/exec"
  rm -f "$sock" "$state/dockerd.pid"   # stale ones, if an earlier dockerd died
  say "starting dockerd (data: $state/data, log: $state/dockerd.log)"
  # setsid: the daemon outlives this script and `make`; `down` stops it by the recorded pid.
  setsid dockerd --data-root "$state/data" --exec-root "$state/exec" --pidfile "$state/dockerd.pid" \
    --host "unix://$sock" --add-runtime "nosysresource=$wrapper" --default-runtime nosysresource \
    >"$state/dockerd.log" 2>&1 < /dev/null &
  echo "$wrapper" > "$state/runtime"
  local i
  for i in $(seq 1 60); do
    DOCKER_HOST=unix://$sock "$client" info >/dev/null 2>&1 && { echo "unix://$sock"; return 0; }
    sleep 1
  done
  say "dockerd did not answer within 60 s; its log: $state/dockerd.log"
  tail -20 "$state/dockerd.log" >&2
  exit 1
}

down() {
  alive || { rm -f "$state/dockerd.pid"; return 0; }
  local pid; pid=$(cat "$state/dockerd.pid")
  say "stopping dockerd (pid $pid)"
  kill "$pid"
  local i
  for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || { rm -f "$state/dockerd.pid"; return 0; }; sleep 1; done
  say "dockerd (pid $pid) still running after 30 s: sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
