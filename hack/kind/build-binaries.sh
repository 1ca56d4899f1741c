#!/usr/bin/env bash
# Build (or reuse from the cache) the binaries of kto's offline kind cluster, all from the Go module proxy:
#   kind                         sigs.k8s.io/kind@v$KIND_VERSION                      -> kind-$KIND_VERSION/bin
#   kubelet kubeadm kube-controller-manager kube-scheduler kube-proxy
#                                k8s.io/kubernetes@v$KUBERNETES_VERSION (staging modules replaced by their
#                                published versions, exactly as hack/build-tools.sh builds kube-apiserver and
#                                kubectl, with the same flags: Go's build cache shares the packages they have in
#                                common, most of them)                               -> kind-kubernetes-$KUBERNETES_VERSION/bin
#   crictl                       sigs.k8s.io/cri-tools@v$CRICTL_VERSION              -> crictl-$CRICTL_VERSION/bin
#   coredns                      github.com/coredns/coredns@v$COREDNS_VERSION        -> coredns-$COREDNS_VERSION/bin
#   pause                        hack/kind/pause.go (static)                          -> kind-pause-$PAUSE_VERSION/bin
#   runc-nosysresource           hack/kind/runc-nosysresource (static)                -> kind-runc-nosysresource/<hash>/bin
# kube-apiserver and kubectl come from hack/build-tools.sh kubernetes, etcd from hack/build-tools.sh etcd. Usage: hack/kind/build-binaries.sh [all|kind|kubernetes|crictl|coredns|pause]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${KTO_CACHE:-$HOME/.cache/kto}
mkdir -p "$cache"
# Two cores: compile two packages at a time. The small programs are static (they run in FROM-scratch images);
# Kubernetes is built as hack/build-tools.sh builds it (cgo as Go defaults), to share its build cache.
export GOFLAGS="-mod=mod -p=2" GOTOOLCHAIN=local
say() { printf '[kind-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build_kind() {
  local out=$cache/kind-$KIND_VERSION
  [[ -x $out/bin/kind ]] && return 0
  say "kind v$KIND_VERSION: go install (about 1 minute)"
  mkdir -p "$out/bin"
  CGO_ENABLED=0 GOBIN=$out/bin go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@v$KIND_VERSION"
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION out=$cache/kind-kubernetes-$KUBERNETES_VERSION
  local cmds="kubelet kubeadm kube-controller-manager kube-scheduler kube-proxy" c missing=0
  for c in $cmds; do [[ -x $out/bin/$c ]] || missing=1; done
  ((missing)) || return 0
  say "kubernetes v$v ($cmds): building from the Go module proxy (first time: about 10-20 minutes on 2 cores)"
  local src=$cache/src/kind-kubernetes-$v
  rm -rf "$src" && mkdir -p "$src" "$out/bin"
  cd "$src"
  printf 'module kto.dev/build/kindkubernetes\n\ngo 1.24\n' > go.mod
  local gomod staging minor=${v#*.}
  gomod=$(go mod download -json "k8s.io/kubernetes@v$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u)
  [[ -n $staging ]] || { say "no staging replaces found in $gomod"; exit 1; }
  for m in $staging; do go mod edit -replace "$m=$m@v0.$minor"; done
  go mod edit -require "k8s.io/kubernetes@v$v"
  local pkgs=() tools=()
  for c in $cmds; do pkgs+=("k8s.io/kubernetes/cmd/$c"); tools+=("k8s.io/kubernetes/cmd/$c@v$v"); done
  go get -tool "${tools[@]}" 2>&1 | grep -v "^go: downloading" >&2 || true
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=${v%%.*}"
  ld="$ld -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/client-go/pkg/version.gitVersion=v$v"
  go build -trimpath -ldflags "$ld" -o "$out/bin/" "${pkgs[@]}"
  say "kubernetes v$v node binaries ready in $out/bin"
}

build_crictl() {
  local out=$cache/crictl-$CRICTL_VERSION
  [[ -x $out/bin/crictl ]] && return 0
  say "crictl v$CRICTL_VERSION: go install"
  mkdir -p "$out/bin"
  CGO_ENABLED=0 GOBIN=$out/bin go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION"
}

build_coredns() {
  local out=$cache/coredns-$COREDNS_VERSION
  [[ -x $out/bin/coredns ]] && return 0
  say "CoreDNS v$COREDNS_VERSION: go install"
  mkdir -p "$out/bin"
  CGO_ENABLED=0 GOBIN=$out/bin go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION"
}

build_pause() {
  local out=$cache/kind-pause-$PAUSE_VERSION
  [[ -x $out/bin/pause ]] && cmp -s "$here/pause.go" "$out/pause.go" && return 0
  say "pause: building hack/kind/pause.go"
  mkdir -p "$out/bin"
  local src; src=$(mktemp -d)
  cp "$here/pause.go" "$src/main.go"
  printf 'module kto.dev/build/pause\n\ngo 1.24\n' > "$src/go.mod"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/bin/pause" .)
  cp "$here/pause.go" "$out/pause.go"
  rm -rf "$src"
}

# The OCI runtime wrapper that drops CAP_SYS_RESOURCE (see its main.go); keyed by the hash of its source.
wrapper_path() {
  local h; h=$(sha256sum "$here/runc-nosysresource/main.go" | cut -c1-12)
  echo "$cache/kind-runc-nosysresource/$h/bin/runc-nosysresource"
}
build_wrapper() {
  local out; out=$(wrapper_path)
  [[ -x $out ]] && return 0
  say "runc-nosysresource: building hack/kind/runc-nosysresource"
  mkdir -p "$(dirname "$out")"
  local src; src=$(mktemp -d)
  cp "$here/runc-nosysresource/main.go" "$src/main.go"
  printf 'module kto.dev/build/runcnosysresource\n\ngo 1.24\n' > "$src/go.mod"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out" .)
  rm -rf "$src"
}

what=${1:-all}
case $what in
  kind) build_kind ;;
  kubernetes) build_kubernetes ;;
  crictl) build_crictl ;;
  coredns) build_coredns ;;
  pause) build_pause ;;
  wrapper) build_wrapper ;;
  wrapper-path) wrapper_path ;;
  all) build_wrapper; build_kind; build_pause; build_crictl; build_coredns; build_kubernetes ;;
  *) echo "usage: $0 [all|kind|kubernetes|crictl|coredns|pause|wrapper|wrapper-path]" >&2; exit 2 ;;
esac
