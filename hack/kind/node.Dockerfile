# The base of kto's offline kind node image (hack/kind/node-image.sh): kind's own base image
# (sigs.k8s.io/kind images/base, whose files/ the script copies from the kind Go module into the build context),
# rebuilt on Debian's packages: Debian's containerd 1.6, runc and CNI plugins instead of kind's own builds.
# Differences from kind's base, each needed here:
#   - containerd runs containers through runc-nosysresource (drops CAP_SYS_RESOURCE, which the VM withholds) and
#     with restrict_oom_score_adj = true (no Pod may lower its OOM score without that capability);
#   - a ptp CNI config (one node, Pod subnet 10.244.0.0/24) instead of kindnetd, which no reachable registry has:
#     kind-config.yaml sets networking.disableDefaultCNI.
ARG BASE_IMAGE=kto-kind/debian:bookworm
FROM ${BASE_IMAGE}
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
RUN chmod 0755 /usr/local/bin/* /kind /kind/bin /kind/bin/* \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 pigz \
      bash ca-certificates jq procps \
      containerd runc containernetworking-plugins \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* \
 && rm -f /etc/systemd/system/*.wants/* \
 && rm -f /lib/systemd/system/local-fs.target.wants/* \
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
 && rm -f /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests /opt/cni/bin /etc/cni/net.d \
 && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && for p in /usr/lib/cni/*; do ln -sf "$p" /opt/cni/bin/; done \
 && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
COPY containerd-config.toml /etc/containerd/config.toml
COPY 10-kto-ptp.conflist /etc/cni/net.d/10-kto-ptp.conflist
COPY bin/ /usr/local/bin/
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
