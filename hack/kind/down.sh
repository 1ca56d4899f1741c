#!/usr/bin/env bash
# `make kind-down`: delete the kind cluster `make kind-up` created and stop the dockerd it started (by its process
# id, hack/kind/docker.sh down). The images and builds stay cached under ${KTO_CACHE:-~/.cache/kto}.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
state=$repo/.kto
say() { printf '[kind-down %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
CLUSTER=kto-e2e
DOCKER_HOST=
# shellcheck disable=SC1091
[[ -f $state/kind-state ]] && source "$state/kind-state"
export PATH=$state/kind-bin:$PATH
# No state (kind-up stopped early): the dockerd hack/kind/docker.sh starts, if it runs.
own=${KTO_CACHE:-$HOME/.cache/kto}/kind-docker
if [[ -z $DOCKER_HOST && -f $own/dockerd.pid ]] && kill -0 "$(cat "$own/dockerd.pid")" 2>/dev/null; then
  DOCKER_HOST=unix://$own/docker.sock
fi
if [[ -n $DOCKER_HOST ]]; then
  export DOCKER_HOST
  if command -v kind >/dev/null && docker info >/dev/null 2>&1; then
    say "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
  fi
fi
bash hack/kind/docker.sh down
rm -rf "$state/kind-state" "$state/kind-env.sh" "$state/kind-kubeconfig" "$state/kind-kafka-password" "$state/kind-bin"
say "done"
