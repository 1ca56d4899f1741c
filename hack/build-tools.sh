#!/usr/bin/env bash
# Build (or reuse from the cache) the pieces of the local environment:
#   kube-apiserver and kubectl, etcd, helm, promtool (Go module proxy) and the Kafka broker (Maven Central).
# Usage: hack/build-tools.sh [all|kubernetes|etcd|helm|promtool|kafka] [KAFKA_VERSION]
# Results live in ${KTO_CACHE:-~/.cache/kto}/<component>-<version>/ and are reused by every checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${KTO_CACHE:-$HOME/.cache/kto}
mkdir -p "$cache"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

say() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_kubernetes() {
  local v=$KUBERNETES_VERSION out=$cache/kubernetes-$KUBERNETES_VERSION
  [[ -x $out/bin/kube-apiserver && -x $out/bin/kubectl ]] && return 0
  say "kube-apiserver and kubectl v$v: building from the Go module proxy (first time: about 10-20 minutes on 2 cores)"
  local src=$cache/src/kubernetes-$v
  rm -rf "$src" && mkdir -p "$src" "$out/bin"
  cd "$src"
  cat > go.mod <<GOMOD
module kto.dev/build/kubernetes

go 1.24
GOMOD
  # k8s.io/kubernetes replaces its staging modules with ./staging/...; those replaces are ignored
  # for a dependency, so replace each one here with its published v0.<minor>.<patch> version.
  local gomod staging minor=${v#*.}
  gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  [[ -n $staging ]] || { say "no staging replaces found in $gomod"; exit 1; }
  say "replacing $(wc -w <<<"$staging") staging modules with v0.$minor"
  for m in $staging; do go mod edit -replace "$m=$m@v0.$minor"; done
  go mod edit -require "k8s.io/kubernetes@v$v"
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$v" "k8s.io/kubernetes/cmd/kubectl@v$v" 2>&1 | grep -v "^go: downloading" >&2 || true
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=${v%%.*} -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=v$v"
  go build -trimpath -ldflags "$ld" -o "$out/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags "$ld" -o "$out/bin/kubectl" k8s.io/kubernetes/cmd/kubectl
  say "kubernetes v$v ready in $out/bin"
}

build_etcd() {
  local v=$ETCD_VERSION out=$cache/etcd-$ETCD_VERSION
  [[ -x $out/bin/etcd ]] && return 0
  say "etcd v$v: building from the Go module proxy (first time: about 2-4 minutes)"
  local src=$cache/src/etcd-$v
  rm -rf "$src" && mkdir -p "$src" "$out/bin"
  cd "$src"
  cat > go.mod <<GOMOD
module kto.dev/build/etcd

go 1.24
GOMOD
  cat > main.go <<'GOSRC'
// Command etcd is upstream etcd's server main, built as a dependency so its replace directives do not apply.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOSRC
  go get "go.etcd.io/etcd/server/v3@v$v" >/dev/null
  go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" .
  say "etcd v$v ready in $out/bin"
}

build_helm() {
  local v=$HELM_VERSION out=$cache/helm-$HELM_VERSION
  [[ -x $out/bin/helm ]] && return 0
  say "helm v$v: go install (first time: about 2-4 minutes)"
  mkdir -p "$out/bin"
  GOBIN=$out/bin go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$v" "helm.sh/helm/v3/cmd/helm@v$v"
  say "helm v$v ready in $out/bin"
}

build_promtool() {
  local v=$PROMETHEUS_VERSION out=$cache/prometheus-$PROMETHEUS_VERSION
  [[ -x $out/bin/promtool ]] && return 0
  say "promtool v$v: go install (first time: about 3-6 minutes)"
  mkdir -p "$out/bin"
  GOBIN=$out/bin go install -trimpath -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@v$v"
  say "promtool v$v ready in $out/bin"
}

build_kafka() {
  local v=${1:-$KAFKA_VERSION} out
  out=$cache/kafka-$v
  [[ -f $out/.complete ]] && return 0
  say "Apache Kafka $v broker jars: fetching from Maven Central (first time: about 1-2 minutes)"
  local slf4j_binding
  if [[ $v == 3.* ]]; then slf4j_binding="<groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J1_VERSION</version>"
  else slf4j_binding="<groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J2_VERSION</version>"; fi
  local src=$cache/src/kafka-$v
  rm -rf "$src" "$out" && mkdir -p "$src" "$out/libs"
  cat > "$src/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.kto.build</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$v</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency>$slf4j_binding</dependency>
  </dependencies>
</project>
POM
  mvn -q -B -f "$src/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$out/libs" >&2
  touch "$out/.complete"
  say "kafka $v ready in $out/libs ($(ls "$out/libs" | wc -l) jars)"
}

what=${1:-all}
case $what in
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  helm) build_helm ;;
  promtool) build_promtool ;;
  kafka) build_kafka "${2:-}" ;;
  all) build_etcd; build_kafka "${2:-}"; build_helm; build_promtool; build_kubernetes ;;
  *) echo "usage: $0 [all|kubernetes|etcd|helm|promtool|kafka [VERSION]]" >&2; exit 2 ;;
esac
