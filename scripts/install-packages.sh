#!/usr/bin/env bash
# Installs the Debian packages skiff builds and tests with, when missing (run as root):
#   build:  gcc libc6-dev (bundled SQLite), protobuf-compiler libprotobuf-dev (CRI and etcd bindings)
#   agent:  containerd runc containernetworking-plugins, nftables (the service proxy's `nft`)
#   tests:  umoci skopeo docker-registry (test images and their local registry), curl
#           (agent_streams.rs knocks on the agent server without the apiserver's certificate)
#           etcd-server etcd-client (the etcd backend's tests start their own members on
#           loopback; the package's own service is stopped and disabled when this script installs it)
#   bench:  wrk (`skiff bench ingress`'s load generator)
set -euo pipefail

packages=(gcc libc6-dev protobuf-compiler libprotobuf-dev etcd-server etcd-client containerd runc containernetworking-plugins nftables
    umoci skopeo docker-registry curl wrk)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "install-packages.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a system etcd on 127.0.0.1:2379 when the package is installed; skiff only
    # needs the binaries, so a service this script brought in is not left running.
    if [[ " ${missing[*]} " == *" etcd-server "* ]] && command -v systemctl >/dev/null &&
        [ -d /run/systemd/system ]; then
        systemctl disable --now etcd >/dev/null 2>&1 || true
    fi
fi
