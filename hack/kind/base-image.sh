#!/usr/bin/env bash
# The Debian base image every offline image of kto's kind cluster is built on: `debootstrap --variant=minbase`
# of $KIND_DEBIAN_SUITE from the Debian mirror apt uses here, `docker import`ed as kto-kind/debian:<suite>.
# The root filesystem is cached as ${KTO_CACHE:-~/.cache/kto}/kind-debian-<suite>/rootfs.tar.
# The host's own certificate authorities (/usr/local/share/ca-certificates/*.crt, e.g. a proxy's that re-signs TLS)
# are trusted in the image as on the host, so that pip in `docker build` reaches PyPI where the host does.
# Needs DOCKER_HOST (hack/kind/docker.sh up) and debootstrap. Prints the image name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../versions.env
source "$here/../versions.env"
cache=${KTO_CACHE:-$HOME/.cache/kto}
suite=$KIND_DEBIAN_SUITE
image=kto-kind/debian:$suite
docker=${DOCKER:-docker}
say() { printf '[kind-base %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if "$docker" image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
out=$cache/kind-debian-$suite
if [[ ! -f $out/rootfs.tar ]]; then
  command -v debootstrap >/dev/null || { say "debootstrap is required: apt-get install debootstrap"; exit 1; }
  # The mirror apt uses on this machine (deb822 sources first, then sources.list), else Debian's default.
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [[ -n $mirror ]] || mirror=$(awk '$1=="deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  say "debootstrap --variant=minbase $suite from $mirror (about a minute)"
  rm -rf "$out" && mkdir -p "$out/rootfs"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$out/rootfs" "$mirror" \
    >"$out/debootstrap.log" 2>&1 || { tail -20 "$out/debootstrap.log" >&2; exit 1; }
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$out/rootfs/usr/local/share/ca-certificates/"
    chroot "$out/rootfs" update-ca-certificates >/dev/null
  fi
  # Smaller, and apt works offline-friendly: no package lists, no docs, no caches in the image.
  chroot "$out/rootfs" apt-get clean
  rm -rf "$out/rootfs"/var/lib/apt/lists/* "$out/rootfs"/usr/share/doc/* "$out/rootfs"/usr/share/man/*
  tar -C "$out/rootfs" -cf "$out/rootfs.tar.tmp" . && mv "$out/rootfs.tar.tmp" "$out/rootfs.tar"
  rm -rf "$out/rootfs"
fi
say "importing $out/rootfs.tar as $image"
"$docker" import --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$out/rootfs.tar" "$image" >/dev/null
echo "$image"
