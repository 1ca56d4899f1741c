#!/usr/bin/env bash
# kto's end-to-end tier on kind (`make kind-e2e`; CI runs it after `make test`): up, tests, down.
#   1. hack/kind/up.sh (`make kind-up`): the cluster, kto's image built from ./Dockerfile and loaded, Kafka in the
#      cluster (KRaft, SASL/SCRAM, the authorizer), kto from helm/kto with 2 replicas; .kto/kind-env.sh
#   2. `pytest -m e2e tests/e2e` with that environment: the Media Gateway topics Ready through the in-cluster kto,
#      the Pods as the chart runs them, one leader and the hand-over when it goes, the PDB, a `helm upgrade` to a
#      rebuilt image, metrics through the chart's Service, `helm uninstall` leaving the topics
#   3. hack/kind/down.sh (`make kind-down`): the cluster deleted, the dockerd kind-up started stopped
#      (KEEP_CLUSTER=1 keeps both; `make kind-down` removes them later)
# KIND_IMAGES=official uses Docker Hub's and registry.k8s.io's images instead of building them (hack/kind/up.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
started=$(date +%s)

cleanup() {
  local rc=$?
  if ((rc != 0)) && [[ -f .kto/kind-env.sh ]]; then
    say "failed ($rc): kto's and Kafka's logs follow"
    (
      # shellcheck disable=SC1091
      source .kto/kind-env.sh
      kubectl -n kto logs -l app.kubernetes.io/name=kto --prefix --tail=100 || true
      kubectl -n kafka logs deployment/kafka --tail=50 || true
      kubectl get pods -A -o wide || true
      kubectl get events -A --sort-by=.lastTimestamp | tail -30 || true
    ) >&2
  fi
  if [[ ${KEEP_CLUSTER:-} == 1 ]]; then
    say "keeping the cluster: source .kto/kind-env.sh to use it, make kind-down to remove it"
  else
    bash hack/kind/down.sh || true
  fi
  say "done in $(( $(date +%s) - started ))s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT

bash hack/kind/up.sh
say "kind-up took $(( $(date +%s) - started ))s; running the e2e tier"
# shellcheck disable=SC1091
source .kto/kind-env.sh
tests_started=$(date +%s)
.venv/bin/python -m pytest -m e2e tests/e2e -v ${PYTEST_ARGS:-}
say "the e2e tier passed in $(( $(date +%s) - tests_started ))s"
