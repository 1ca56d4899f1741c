#!/usr/bin/env bash
# kto's offline kind node image, assembled by hand: `kind build node-image` cannot work without a registry
# (it always fetches pause, etcd, CoreDNS, kindnetd and the local-path images).
#   1. kto-kind/node-base:<key>  hack/kind/node.Dockerfile on the debootstrap base (hack/kind/base-image.sh),
#                                with kind's base files from the kind Go module
#   2. the control-plane images, tagged exactly as `kubeadm config images list` prints them: kube-apiserver,
#      kube-controller-manager, kube-scheduler, kube-proxy and etcd on the Debian base (they are linked against glibc;
#      kube-proxy needs iptables too), CoreDNS and pause FROM scratch (static)
#   3. a container of node-base with kubeadm, kubelet, kubectl and /kind/version copied in and the images imported
#      with `ctr -n k8s.io images import` (as kind's own node-image builder does), committed as
#      kto-kind/node:v<KUBERNETES_VERSION>-<key>
# <key> hashes what goes into it (these scripts, hack/kind's node files, hack/versions.env): change one and the next
# run builds a new image; an existing one
# is reused (it lives in the Docker data root, under ~/.cache/kto/kind-docker with the daemon hack/kind/docker.sh
# starts). Needs DOCKER_HOST and the binaries of hack/kind/build-binaries.sh and hack/build-tools.sh etcd kubernetes.
# Prints the node image's name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../versions.env
source "$repo/hack/versions.env"
cache=${KTO_CACHE:-$HOME/.cache/kto}
docker=${DOCKER:-docker}
export DOCKER_BUILDKIT=0   # plain `docker build`: nothing here needs BuildKit, and it fetches nothing
say() { printf '[kind-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

key=$(cd "$repo" && cat hack/versions.env hack/kind/node-image.sh hack/kind/base-image.sh hack/kind/build-binaries.sh \
  hack/kind/node.Dockerfile hack/kind/containerd-config.toml hack/kind/10-kto-ptp.conflist hack/kind/pause.go \
  hack/kind/runc-nosysresource/main.go | sha256sum | cut -c1-12)
k8s=v$KUBERNETES_VERSION
node=kto-kind/node:$k8s-$key
if "$docker" image inspect "$node" >/dev/null 2>&1; then echo "$node"; exit 0; fi

bin=$cache/kind-kubernetes-$KUBERNETES_VERSION/bin
k8s_bin=$cache/kubernetes-$KUBERNETES_VERSION/bin   # kube-apiserver, kubectl: hack/build-tools.sh kubernetes
etcd_bin=$cache/etcd-$ETCD_VERSION/bin/etcd
coredns_bin=$cache/coredns-$COREDNS_VERSION/bin/coredns
pause_bin=$cache/kind-pause-$PAUSE_VERSION/bin/pause
crictl_bin=$cache/crictl-$CRICTL_VERSION/bin/crictl
wrapper=$(bash "$here/build-binaries.sh" wrapper-path)
for f in "$bin/kubeadm" "$bin/kubelet" "$k8s_bin/kubectl" "$k8s_bin/kube-apiserver" "$bin/kube-controller-manager" \
         "$bin/kube-scheduler" "$bin/kube-proxy" "$etcd_bin" "$coredns_bin" "$pause_bin" "$crictl_bin" "$wrapper"; do
  [[ -x $f ]] || { say "missing $f: run hack/kind/build-binaries.sh and hack/build-tools.sh etcd kubernetes"; exit 1; }
done
base=$(bash "$here/base-image.sh")

work=$(mktemp -d)
container=""
cleanup() {
  [[ -n $container ]] && "$docker" rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. node-base
kind_dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@v$KIND_VERSION" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
ctx=$work/node-base
mkdir -p "$ctx/bin"
cp -r "$kind_dir/images/base/files" "$ctx/files"
chmod -R u+w "$ctx/files"
rm -f "$ctx/files/etc/containerd/config.toml" "$ctx/files/etc/systemd/system/containerd-fuse-overlayfs.service"
cp "$here/node.Dockerfile" "$ctx/Dockerfile"
sed "s/@PAUSE_VERSION@/$PAUSE_VERSION/" "$here/containerd-config.toml" > "$ctx/containerd-config.toml"
cp "$here/10-kto-ptp.conflist" "$ctx/"
cp "$crictl_bin" "$wrapper" "$ctx/bin/"
say "building kto-kind/node-base:$key (Debian packages: a few minutes the first time)"
"$docker" build -q --build-arg "BASE_IMAGE=$base" -t "kto-kind/node-base:$key" "$ctx" >/dev/null

# 2. the control-plane images, named as kubeadm names them
mapfile -t wanted < <("$bin/kubeadm" config images list --kubernetes-version "$k8s" 2>/dev/null)
((${#wanted[@]} >= 7)) || { say "kubeadm config images list printed: ${wanted[*]}"; exit 1; }
say "control-plane images: ${wanted[*]}"
build_image() {  # build_image NAME DOCKERFILE FILE...
  local name=$1 dockerfile=$2; shift 2
  local c=$work/img-$RANDOM
  mkdir -p "$c"
  cp "$@" "$c/"
  printf '%s\n' "$dockerfile" > "$c/Dockerfile"
  "$docker" build -q -t "$name" "$c" >/dev/null
}
for image in "${wanted[@]}"; do
  component=${image##*/}; component=${component%%:*}
  tag=${image##*:}
  case $component in
    kube-apiserver|kube-controller-manager|kube-scheduler)
      src=$bin/$component; [[ $component == kube-apiserver ]] && src=$k8s_bin/$component
      build_image "$image" "FROM $base
COPY $component /usr/local/bin/$component
LABEL org.opencontainers.image.version=$k8s
ENTRYPOINT [\"/usr/local/bin/$component\"]" "$src" ;;
    kube-proxy)
      build_image "$image" "FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      iptables nftables conntrack ipset kmod && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
LABEL org.opencontainers.image.version=$k8s
ENTRYPOINT [\"/usr/local/bin/kube-proxy\"]" "$bin/kube-proxy" ;;
    etcd)
      # kubeadm names the etcd it was released with; hack/build-tools.sh builds ETCD_VERSION of the same minor.
      build_image "$image" "FROM $base
COPY etcd /usr/local/bin/etcd
LABEL org.opencontainers.image.version=v$ETCD_VERSION
ENTRYPOINT [\"/usr/local/bin/etcd\"]" "$etcd_bin" ;;
    coredns)
      [[ $tag == "v$COREDNS_VERSION" ]] || { say "kubeadm wants CoreDNS $tag: set COREDNS_VERSION in hack/versions.env"; exit 1; }
      build_image "$image" "FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT [\"/coredns\"]" "$coredns_bin" ;;
    pause)
      [[ $tag == "$PAUSE_VERSION" ]] || { say "kubeadm wants pause $tag: set PAUSE_VERSION in hack/versions.env"; exit 1; }
      build_image "$image" "FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT [\"/pause\"]" "$pause_bin" ;;
    *) say "unexpected image in kubeadm's list: $image"; exit 1 ;;
  esac
done

# 3. assemble: node-base + Kubernetes binaries + the images in containerd's store, committed
say "assembling $node"
container=$("$docker" run -d --privileged --entrypoint sleep "kto-kind/node-base:$key" infinity)
for b in kubeadm kubelet; do "$docker" cp "$bin/$b" "$container:/usr/bin/$b"; done
"$docker" cp "$k8s_bin/kubectl" "$container:/usr/bin/kubectl"
"$docker" exec "$container" bash -c "echo $k8s > /kind/version && chmod 0755 /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl"
"$docker" exec "$container" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &
for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done
cat /tmp/containerd.log; exit 1'
"$docker" save "${wanted[@]}" | "$docker" exec -i "$container" \
  ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests -
"$docker" exec "$container" ctr --namespace=k8s.io images list -q | grep -v '^sha256:' >&2
"$docker" exec "$container" bash -c 'pkill containerd; for i in $(seq 1 20); do pgrep containerd >/dev/null || break; sleep 0.5; done; rm -rf /tmp/* /run/containerd'
# (STOPSIGNAL SIGRTMIN+3, for systemd, is node-base's and stays: docker 20.10's commit cannot set it.)
"$docker" commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
  --change 'ENV container=docker' \
  "$container" "$node" >/dev/null
say "node image $node ready"
echo "$node"
