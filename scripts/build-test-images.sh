#!/usr/bin/env bash
# Builds skiff's test images without network: our static `skiff-testimage` binary (crate
# crates/testimage) packed with umoci into an OCI layout under IMAGES_DIR, then pushed with
# skopeo to a local registry:
#   <registry>/skiff/pause:1       /pause (the same binary, invoked as pause)
#   <registry>/skiff/testimage:1   /skiff-testimage
#
#   scripts/build-test-images.sh [--push HOST:PORT]     (REGISTRY_CREDS=user:pass for auth)
# Without --push it starts the shared registry (scripts/registry.sh start) and pushes there.
# Prints the registry address on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

images="${IMAGES_DIR:-/var/cache/skiff/images}"
die() { printf 'build-test-images.sh: error: %s\n' "$*" >&2; exit 1; }

push=""
case "${1:-}" in
--push) push="${2:?--push wants HOST:PORT}" ;;
"") ;;
*) die "usage: build-test-images.sh [--push HOST:PORT]" ;;
esac

missing=()
for cmd in umoci:umoci skopeo:skopeo; do
    command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
done
[ "${#missing[@]}" -eq 0 ] || die "missing tools: apt-get install ${missing[*]}"

mkdir -p "$images"
# Static, so the image needs no libc. The musl target is not available here; glibc's static
# libc works for what the binary does (no NSS lookups). Its own target dir: the crate has
# no dependencies, and a test that runs this under `cargo test` would otherwise wait forever
# on the lock cargo holds on the workspace's target dir.
if [ -z "$push" ]; then
    # Before the lock: the registry started here must not inherit (and hold) it.
    push="$(scripts/registry.sh start)"
fi

# One builder at a time, from build to push: tests (and other checkouts, whose test image
# may differ) run this concurrently, and the binary, layout and push must be one checkout's.
exec 9>"$images/.lock"
flock 9

target=x86_64-unknown-linux-gnu
# A target dir per checkout: cargo does not re-copy a fresh binary to its final path, so a
# shared one could hand out another checkout's build.
tdir="$images/target/$(pwd | sha256sum | cut -c1-12)"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --locked -p testimage \
    --target "$target" --target-dir "$tdir" >&2
bin="$tdir/$target/debug/skiff-testimage"
[ -x "$bin" ] || die "$bin was not built"

layout="$images/oci"
sum="$(sha256sum "$bin" | cut -d' ' -f1)"
if [ "$(cat "$images/built-from" 2>/dev/null)" != "$sum" ]; then
    rm -rf "$layout" "$images/bundle"
    umoci init --layout "$layout"
    # name:tag in the layout, entrypoint, file name inside the image
    for spec in "pause-1:/pause:pause" "testimage-1:/skiff-testimage:skiff-testimage"; do
        IFS=: read -r tag entry file <<<"$spec"
        umoci new --image "$layout:$tag"
        umoci unpack --image "$layout:$tag" "$images/bundle" >/dev/null
        install -m 0755 "$bin" "$images/bundle/rootfs/$file"
        umoci repack --image "$layout:$tag" "$images/bundle"
        rm -rf "$images/bundle"
        umoci config --image "$layout:$tag" --config.entrypoint "$entry" \
            --author skiff --config.workingdir /
    done
    umoci gc --layout "$layout"
    echo "$sum" >"$images/built-from"
fi

# REGISTRY_CREDS=user:password pushes to a registry that demands basic auth.
creds=()
[ -z "${REGISTRY_CREDS:-}" ] || creds=(--dest-creds "$REGISTRY_CREDS")
for name in pause testimage; do
    skopeo copy --quiet --dest-tls-verify=false "${creds[@]}" "oci:$layout:$name-1" "docker://$push/skiff/$name:1" >&2
done
exec 9>&-
echo "$push"
