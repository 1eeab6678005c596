#!/usr/bin/env bash
# Installs the Debian packages skiff builds and tests with, when missing (run as root):
#   build:  gcc libc6-dev (bundled SQLite), protobuf-compiler (CRI bindings)
#   agent:  containerd runc containernetworking-plugins, nftables (the service proxy's `nft`)
#   tests:  umoci skopeo docker-registry (test images and their local registry), curl
#           (agent_streams.rs knocks on the agent server without the apiserver's certificate)
#   bench:  wrk (`skiff bench ingress`'s load generator)
set -euo pipefail

packages=(gcc libc6-dev protobuf-compiler containerd runc containernetworking-plugins nftables
    umoci skopeo docker-registry curl wrk)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "install-packages.sh: run as root to install: ${missing[*]}" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
