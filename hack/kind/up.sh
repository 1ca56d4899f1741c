#!/usr/bin/env bash
# `make kind-up`: a kind cluster running kto as users run it, left running.
#   1. Docker (hack/kind/docker.sh: the one that answers, else Debian's dockerd started here) and the tools
#      (kind, helm, and for KIND_IMAGES=local the Kubernetes node binaries: all from the Go module proxy)
#   2. the node image: kindest/node (KIND_IMAGES=official) or kto-kind/node, assembled here (hack/kind/node-image.sh)
#   3. the cluster (kind-config.yaml), its kubeconfig in .kto/kind-kubeconfig
#   4. kto's image built from ./Dockerfile (on python:3.11-slim, or on kto-kind/python, Debian's Python 3.11)
#      and loaded into the node with `kind load docker-image`
#   5. Kafka (manifests/kafka-kind.yaml: KRaft, SASL/SCRAM, StandardAuthorizer) on apache/kafka or kto-kind/kafka
#      (Debian's JRE and the Maven Central jars), its admin password in the Secret kafka/kafka-admin
#   6. kto from helm/kto: 2 replicas, the metrics Service on
#   7. .kto/kind-env.sh: KUBECONFIG, DOCKER_HOST, PATH (kind, kubectl, helm, docker) and the KTO_E2E_* variables
#      pytest -m e2e reads (the Kafka bootstrap from the host: 127.0.0.1:30092)
# KIND_IMAGES=local (the default) needs only the package registries: Debian's mirror, the Go module proxy, Maven
# Central and PyPI; KIND_IMAGES=official uses the images of Docker Hub and registry.k8s.io and a running Docker.
# Every build is cached under ${KTO_CACHE:-~/.cache/kto} by version; a second run takes a few minutes.
# Stop everything with `make kind-down` (hack/kind/down.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
# shellcheck source=../versions.env
source hack/versions.env
cache=${KTO_CACHE:-$HOME/.cache/kto}
state=$repo/.kto
CLUSTER=${CLUSTER:-kto-e2e}
KIND_IMAGES=${KIND_IMAGES:-local}
IMAGE=${IMAGE:-kto:e2e}
started=$(date +%s)
say() { printf '[kind-up %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
[[ $KIND_IMAGES == local || $KIND_IMAGES == official ]] || { say "KIND_IMAGES is local or official"; exit 2; }
mkdir -p "$state/kind-bin"

# 1. tools and Docker
bash hack/build-tools.sh helm
bash hack/kind/build-binaries.sh kind
bin=$state/kind-bin
ln -sf "$cache/kind-$KIND_VERSION/bin/kind" "$bin/kind"
ln -sf "$cache/helm-$HELM_VERSION/bin/helm" "$bin/helm"
if [[ $KIND_IMAGES == local ]]; then
  bash hack/build-tools.sh etcd
  bash hack/build-tools.sh kubernetes
  bash hack/build-tools.sh kafka "$KAFKA_VERSION"
  bash hack/kind/build-binaries.sh all
  ln -sf "$cache/kubernetes-$KUBERNETES_VERSION/bin/kubectl" "$bin/kubectl"
  # Debian's docker client: it builds the Dockerfile's RUN --mount with BuildKit without the buildx plugin.
  [[ -x /usr/bin/docker ]] && ln -sf /usr/bin/docker "$bin/docker"
else
  command -v kubectl >/dev/null || { say "kubectl is required (KIND_IMAGES=official)"; exit 1; }
fi
export PATH=$bin:$PATH
DOCKER_HOST=$(bash hack/kind/docker.sh up)
export DOCKER_HOST DOCKER=docker
say "Docker: $DOCKER_HOST ($(docker version --format '{{.Server.Version}}'))"

# 2. images
if [[ $KIND_IMAGES == local ]]; then
  base=$(bash hack/kind/base-image.sh)
  node=$(bash hack/kind/node-image.sh)
  key=$(cat hack/kind/python.Dockerfile | sha256sum | cut -c1-12)
  python_image=kto-kind/python:3.11-$key
  if ! docker image inspect "$python_image" >/dev/null 2>&1; then
    say "building $python_image (Debian's Python 3.11)"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" -t "$python_image" - < hack/kind/python.Dockerfile >/dev/null
  fi
  key=$(cat hack/kind/kafka.Dockerfile hack/kind/kafka-run-class.sh | sha256sum | cut -c1-12)
  kafka_image=kto-kind/kafka:$KAFKA_VERSION-$key
  if ! docker image inspect "$kafka_image" >/dev/null 2>&1; then
    say "building $kafka_image (Debian's JRE, the Kafka $KAFKA_VERSION jars from Maven Central)"
    ctx=$(mktemp -d)
    cp -r "$cache/kafka-$KAFKA_VERSION/libs" "$ctx/libs"
    cp hack/kind/kafka.Dockerfile "$ctx/Dockerfile"
    cp hack/kind/kafka-run-class.sh "$ctx/"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE_IMAGE=$base" -t "$kafka_image" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
else
  node=$KIND_NODE_IMAGE
  python_image=python:3.11-slim
  kafka_image=apache/kafka:$KAFKA_VERSION
fi

# 3. the cluster
# kind mounts the host's /lib/modules into the node; some machines (this project's VMs) have none.
[[ -d /lib/modules ]] || mkdir -p /lib/modules
kubeconfig=$state/kind-kubeconfig
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "cluster $CLUSTER exists: reusing it"
  kind export kubeconfig --name "$CLUSTER" --kubeconfig "$kubeconfig" >/dev/null 2>&1
else
  say "creating kind cluster $CLUSTER ($node)"
  config=kind-config.yaml
  if [[ $KIND_IMAGES == official ]]; then  # kindest/node brings kindnetd: keep kind's default CNI
    config=$state/kind-config.yaml
    grep -v 'disableDefaultCNI' kind-config.yaml > "$config"
  fi
  kind create cluster --name "$CLUSTER" --config "$config" --image "$node" --kubeconfig "$kubeconfig" --wait 180s
fi
export KUBECONFIG=$kubeconfig
cat > "$state/kind-state" <<STATE
CLUSTER=$CLUSTER
KIND_IMAGES=$KIND_IMAGES
DOCKER_HOST=$DOCKER_HOST
STATE

# 4. kto's image
say "building $IMAGE from ./Dockerfile (PYTHON_IMAGE=$python_image) and loading it into the node"
DOCKER_BUILDKIT=1 docker build -q --build-arg "PYTHON_IMAGE=$python_image" -t "$IMAGE" . >/dev/null
# Installed under a tag naming its content, so that a kind-up after a change rolls the Pods to the new image.
short_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" | cut -d: -f2 | cut -c1-12)
docker tag "$IMAGE" "$IMAGE-$short_id"
IMAGE=$IMAGE-$short_id   # e.g. kto:e2e-0123456789ab
kind load docker-image "$IMAGE" --name "$CLUSTER" >/dev/null

# 5. Kafka
password_file=$state/kind-kafka-password
[[ -s $password_file ]] || head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$password_file"
password=$(cat "$password_file")
if [[ $KIND_IMAGES == local ]]; then kind load docker-image "$kafka_image" --name "$CLUSTER" >/dev/null; fi
say "starting Kafka $KAFKA_VERSION ($kafka_image) in namespace kafka"
kubectl apply -f - >/dev/null <<NS
apiVersion: v1
kind: Namespace
metadata:
  name: kafka
NS
kubectl -n kafka create secret generic kafka-admin --from-literal=username=admin --from-literal="password=$password" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sed "s|image: apache/kafka:.*|image: $kafka_image|" manifests/kafka-kind.yaml | kubectl apply -f - >/dev/null
kubectl -n kafka rollout status deployment/kafka --timeout=300s

# 6. kto, from the chart
say "installing kto from helm/kto ($IMAGE, 2 replicas)"
helm upgrade --install kto helm/kto --namespace kto --create-namespace --wait --timeout 300s \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set replicaCount=2 --set metrics.service.enabled=true >/dev/null
kubectl -n kto rollout status deployment/kto --timeout=180s

# 7. the environment for the tests and for people
cat > "$state/kind-env.sh" <<ENV
# Written by hack/kind/up.sh (make kind-up); removed by make kind-down.
export KUBECONFIG=$kubeconfig
export DOCKER_HOST=$DOCKER_HOST
export DOCKER_BUILDKIT=1
export PATH=$bin:\$PATH
export KTO_KIND_CLUSTER=$CLUSTER
export KTO_KIND_IMAGES=$KIND_IMAGES
export KTO_KIND_IMAGE=$IMAGE
export KTO_KIND_PYTHON_IMAGE=$python_image
export KTO_E2E_KUBECONFIG=$kubeconfig
export KTO_E2E_NAMESPACE=kto
export KTO_E2E_KAFKA_BOOTSTRAP=kafka.kafka.svc.cluster.local:9092
export KTO_E2E_KAFKA_HOST_BOOTSTRAP=127.0.0.1:30092
export KTO_E2E_KAFKA_USERNAME=admin
export KTO_E2E_KAFKA_PASSWORD=$password
ENV
say "ready in $(( $(date +%s) - started ))s: source $state/kind-env.sh; kubectl get pods -A; make kind-down to remove it"
