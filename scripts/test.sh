#!/usr/bin/env bash
# Quick start, step 2: the whole test suite (unit, integration, end-to-end with real kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."

# kubectl 1.37/1.36 and Helm 4 for the end-to-end tests, cached outside the clone.
scripts/install-tools.sh >/dev/null
# protoc for the CRI bindings; containerd, runc, CNI plugins, umoci, skopeo and
# docker-registry for the tests that run real containers.
scripts/install-packages.sh
cargo test --workspace --locked "$@"
