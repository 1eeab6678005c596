#!/usr/bin/env bash
# Access-control figures (issue 7) on one core: token-authenticated, RBAC-authorized GETs
# with upstream's default policy, then with 1,000 Roles and 2,000 RoleBindings added, and
# new TLS handshakes per second. The server (release build) is pinned to core 0, wrk and
# openssl to core 1.
#   scripts/bench-auth.sh [SKIFF_BINARY]   (default: target/release/skiff via cargo metadata)
set -euo pipefail

die() { echo "bench-auth.sh: $*" >&2; exit 1; }
for tool in wrk openssl taskset kubectl; do command -v "$tool" >/dev/null || die "missing $tool"; done
target=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}
skiff=${1:-$target/release/skiff}
[ -x "$skiff" ] || die "no $skiff: cargo build --release -p skiff"

dir=$(mktemp -d /var/tmp/skiff-bench-auth.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SKIFF_LOG=warn taskset -c 0 "$skiff" server --disable-agent --bind-address 127.0.0.1 \
    --https-listen-port "$port" --data-dir "$dir" >"$dir/stdout" 2>"$dir/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 300); do grep -q '^export KUBECONFIG=' "$dir/stdout" 2>/dev/null && break; sleep 0.1; done
grep -q '^export KUBECONFIG=' "$dir/stdout" || die "server did not start: $(tail -5 "$dir/server.log")"
export KUBECONFIG=$dir/admin.kubeconfig
url=https://127.0.0.1:$port

kubectl create serviceaccount bench >/dev/null
kubectl create rolebinding bench-view --clusterrole=view --serviceaccount=default:bench >/dev/null
token=$(kubectl create token bench --duration=1h)
path=/api/v1/namespaces/default/configmaps/kube-root-ca.crt
curl -sfk -H "Authorization: Bearer $token" "$url$path" >/dev/null || die "the token cannot read $path"

run() {
    local label=$1
    for i in 1 2; do
        out=$(taskset -c 1 wrk -t1 -c16 -d8s --latency -H "Authorization: Bearer $token" "$url$path")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1=="50%" {print $2}' <<<"$out")
        p99=$(awk '$1=="99%" {print $2}' <<<"$out")
        echo "| $label (run $i) | $rps | $p50 | $p99 |"
    done
}

echo "## scripts/bench-auth.sh"
echo
echo "| RBAC objects | requests/s (server on one core) | p50 | p99 |"
echo "|---|---|---|---|"
run "upstream's defaults + 1 RoleBinding"

gen() { # kind count namespace-pattern
    python3 - "$@" <<'EOF'
import json, sys
kind, n = sys.argv[1], int(sys.argv[2])
items = []
for i in range(n):
    ns = f"bench-{i % 10}"
    if kind == "ns":
        if i < 10:
            items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    elif kind == "roles":
        items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": f"role-{i}", "namespace": ns},
                      "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    elif kind == "bindings":
        items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": f"rb-{i}", "namespace": ns},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"role-{i}"},
                      "subjects": [{"kind": "User", "name": f"user-{i}"}]})
    elif kind == "local":
        items.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": f"local-{i}", "namespace": "default"},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                      "subjects": [{"kind": "User", "name": f"someone-{i}"}]})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
}
gen ns 10 | kubectl apply -f - >/dev/null
gen roles 1000 | kubectl apply -f - >/dev/null
run "+ 1,000 Roles (10 other namespaces)"
gen bindings 1000 | kubectl apply -f - >/dev/null
gen local 1000 | kubectl apply -f - >/dev/null
run "+ 1,000 RoleBindings there and 1,000 in \`default\` (the request's namespace)"

echo
handshakes=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -time 10 2>/dev/null |
    awk '/connections in/ {print $1; exit}')
echo "New TLS handshakes in 10 s (openssl s_time -new, server on one core): $handshakes"
