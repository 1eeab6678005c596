#!/usr/bin/env bash
# Quick start, step 1: build skiff, install what is missing, start a single-node cluster.
# Run as root on Debian 12. Afterwards: export KUBECONFIG=/var/lib/skiff/admin.kubeconfig
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR="${SKIFF_DATA_DIR:-/var/lib/skiff}"
PORT="${SKIFF_PORT:-6443}"
LOG="${SKIFF_LOG_FILE:-/var/log/skiff.log}"

die() { printf 'up.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and writes $DATA_DIR)"
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup) first"

# Debian packages the build, the node agent and the tests need.
scripts/install-packages.sh

cargo build --release --locked -p skiff
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
install -m 0755 "$target_dir/release/skiff" /usr/local/bin/skiff

# The pause (sandbox) image and our test image, built here without network and served by a
# local registry on 127.0.0.1:5055 (the agent's default sandbox image lives there).
scripts/build-test-images.sh >/dev/null

# Stop a skiff this script started earlier (it stops its containerd too), then start the
# new one: the control plane and this machine's node agent.
pidfile="$DATA_DIR/skiff.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    old="$(cat "$pidfile")"
    kill "$old"
    for _ in $(seq 1 100); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
fi
mkdir -p "$DATA_DIR"
nohup /usr/local/bin/skiff server --data-dir "$DATA_DIR" --https-listen-port "$PORT" \
    >"$DATA_DIR/skiff.out" 2>>"$LOG" &
echo $! >"$pidfile"

for _ in $(seq 1 300); do
    if grep -q '^export KUBECONFIG=' "$DATA_DIR/skiff.out" 2>/dev/null; then
        grep '^export KUBECONFIG=' "$DATA_DIR/skiff.out"
        exit 0
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || die "skiff exited: $(tail -n 3 "$LOG")"
    sleep 0.1
done
die "skiff did not become ready in 30 s; see $LOG"
