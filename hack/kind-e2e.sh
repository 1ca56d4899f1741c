#!/usr/bin/env bash
# kto's end-to-end tier on kind (`make kind-e2e`; CI: .github/workflows/kind-e2e.yaml). Needs Docker, kubectl, Go
# (kind is installed from the Go module proxy when missing) and the project's .venv (`make venv`).
#   1. a kind cluster (kind-config.yaml, node image pinned in hack/versions.env)
#   2. the kto image built from ./Dockerfile and loaded into the node (`kind load docker-image`)
#   3. a one-broker Kafka (manifests/kafka-kind.yaml) and its SCRAM admin user
#   4. the chart (helm/kto) installed with its defaults, except the image tag and pull policy
#   5. `pytest -m e2e tests/e2e`: kto Ready as deployed, the Media Gateway example applied (bootstrapServers
#      rendered for the in-cluster Kafka) and Ready, a full topic and user lifecycle
#   6. the cluster deleted (KEEP_CLUSTER=1 keeps it; its kubeconfig is in $WORK)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
source hack/versions.env

CLUSTER=${CLUSTER:-kto-e2e}
IMAGE=${IMAGE:-kto:e2e}
WORK=${WORK:-$(mktemp -d)}
KUBECONFIG_FILE=$WORK/kubeconfig
KAFKA_PASSWORD=${KAFKA_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')}
say() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for tool in docker kubectl; do
  command -v "$tool" >/dev/null || { say "$tool is required"; exit 1; }
done
if ! command -v kind >/dev/null || [[ $(kind version) != *"v$KIND_VERSION "* ]]; then
  say "installing kind v$KIND_VERSION from the Go module proxy"
  GOBIN=$WORK/bin go install "sigs.k8s.io/kind@v$KIND_VERSION"
  export PATH=$WORK/bin:$PATH
fi
bash hack/build-tools.sh helm
HELM=${KTO_CACHE:-$HOME/.cache/kto}/helm-$HELM_VERSION/bin/helm
export KUBECONFIG=$KUBECONFIG_FILE

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    say "failed ($rc): kto's and Kafka's logs follow"
    kubectl -n kto logs -l app.kubernetes.io/name=kto --prefix --tail=200 || true
    kubectl -n kafka logs deployment/kafka --tail=100 || true
    kubectl get pods -A -o wide || true
  fi
  if [[ ${KEEP_CLUSTER:-} == 1 ]]; then
    say "keeping cluster $CLUSTER (KUBECONFIG=$KUBECONFIG_FILE); delete it with: kind delete cluster --name $CLUSTER"
  else
    kind delete cluster --name "$CLUSTER" || true
  fi
  exit "$rc"
}
trap cleanup EXIT

say "creating kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
kind create cluster --name "$CLUSTER" --config kind-config.yaml --image "$KIND_NODE_IMAGE" \
  --kubeconfig "$KUBECONFIG_FILE" --wait 120s

say "building $IMAGE and loading it into the node"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

say "starting Kafka $KAFKA_VERSION (apache/kafka) in namespace kafka"
sed "s|image: apache/kafka:.*|image: apache/kafka:$KAFKA_VERSION|" manifests/kafka-kind.yaml | kubectl apply -f -
kubectl -n kafka rollout status deployment/kafka --timeout=300s
say "creating Kafka's SCRAM-SHA-512 admin user"
for attempt in $(seq 1 30); do
  if kubectl -n kafka exec deployment/kafka -- /opt/kafka/bin/kafka-configs.sh --bootstrap-server localhost:9094 \
      --alter --entity-type users --entity-name admin \
      --add-config "SCRAM-SHA-512=[password=$KAFKA_PASSWORD]"; then
    break
  fi
  ((attempt < 30)) || { say "could not create the SCRAM user"; exit 1; }
  sleep 2
done

say "installing the chart"
"$HELM" install kto helm/kto --namespace kto --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never
kubectl -n kto rollout status deployment/kto --timeout=180s

say "running the e2e tier"
KTO_E2E_KUBECONFIG=$KUBECONFIG_FILE \
KTO_E2E_KAFKA_BOOTSTRAP=kafka.kafka.svc.cluster.local:9092 \
KTO_E2E_KAFKA_HOST_BOOTSTRAP=127.0.0.1:30092 \
KTO_E2E_KAFKA_USERNAME=admin \
KTO_E2E_KAFKA_PASSWORD=$KAFKA_PASSWORD \
  .venv/bin/python -m pytest -m e2e tests/e2e -v ${PYTEST_ARGS:-}
say "passed"
