#!/usr/bin/env bash
# A local image registry (Debian `docker-registry`) for skiff's tests, never the system one:
# its own config, storage and PID file under REGISTRY_DIR, listening on 127.0.0.1 only.
#
#   scripts/registry.sh start   start it (no-op when already running); prints HOST:PORT
#   scripts/registry.sh stop    stop the one started from REGISTRY_DIR
#
# REGISTRY_DIR (default /var/cache/skiff/registry) and REGISTRY_PORT (default 5055) choose
# the instance, so a test can run its own beside the shared one. REGISTRY_HTPASSWD (a file
# of user:bcrypt-hash lines) makes it demand basic auth, for tests of image pull secrets.
set -euo pipefail

dir="${REGISTRY_DIR:-/var/cache/skiff/registry}"
port="${REGISTRY_PORT:-5055}"
# The address to listen on: loopback unless a test serves a network namespace of its own.
addr="${REGISTRY_ADDR:-127.0.0.1}"
pidfile="$dir/registry.pid"

die() { printf 'registry.sh: error: %s\n' "$*" >&2; exit 1; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
start)
    command -v docker-registry >/dev/null ||
        die "docker-registry not found: apt-get install docker-registry"
    if running; then
        echo "$addr:$(cat "$dir/port")"
        exit 0
    fi
    mkdir -p "$dir/storage"
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr:$port
YAML
    if [ -n "${REGISTRY_HTPASSWD:-}" ]; then
        cat >>"$dir/config.yml" <<YAML
auth:
  htpasswd:
    realm: skiff-test
    path: $REGISTRY_HTPASSWD
YAML
    fi
    echo "$port" >"$dir/port"
    nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
        code="$(curl -sS -o /dev/null -w '%{http_code}' "http://$addr:$port/v2/" 2>/dev/null || true)"
        if [ "$code" = 200 ] || [ "$code" = 401 ]; then
            echo "$addr:$port"
            exit 0
        fi
        running || die "docker-registry exited: $(tail -n 3 "$dir/registry.log")"
        sleep 0.1
    done
    die "docker-registry did not answer on $addr:$port within 10 s; see $dir/registry.log"
    ;;
stop)
    if running; then
        pid="$(cat "$pidfile")"
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
    ;;
*)
    die "usage: registry.sh start|stop (REGISTRY_DIR, REGISTRY_PORT from the environment)"
    ;;
esac
