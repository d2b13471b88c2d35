#!/usr/bin/env bash
# The native runtime against the docker backend and plain docker, in one run (hyperfine):
# `run --rm <svc> true`, and `up -d` / `down -v` of a 10-service stack. The native side uses
# its own data root (HOIST_ROOT) with a busybox image imported from Debian's static busybox;
# the docker side uses the same busybox as a local image.
#
# Usage: benches/native.sh [path/to/hoist]   (default: target/release/hoist; build it first)
# Needs: root, a Docker engine, hyperfine, busybox-static.
set -euo pipefail
# shellcheck source=benches/busybox.sh
. "$(dirname "$0")/busybox.sh"

HOIST=$(realpath "${1:-target/release/hoist}")
IMAGE=hoist-test/busybox:latest
RUNS=${RUNS:-10}
OUT=${OUT:-/tmp/hoist-bench-native}
export HOIST_ROOT=${HOIST_ROOT:-$OUT/root}
command -v hyperfine >/dev/null || { echo "hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$HOIST" ] || { echo "no hoist binary at $HOIST (cargo build --release)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "/bin/busybox is required (apt-get install busybox-static)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "the native runtime needs root" >&2; exit 1; }

mkdir -p "$OUT"
# The native image: a rootfs tarball imported into the native store.
native_busybox_image "$HOIST" "$IMAGE" "$OUT/busybox-rootfs.tar" -c 'CMD ["/bin/sh"]'

# The docker image, as benches/updown.sh builds it.
docker_busybox_image "$IMAGE"

for n in 1 10; do
    dir="$OUT/stack-$n"
    mkdir -p "$dir"
    {
        echo "services:"
        for i in $(seq 1 "$n"); do
            printf '  svc%s:\n    image: %s\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n' "$i" "$IMAGE"
        done
    } >"$dir/compose.yaml"
done

N="$HOIST --backend native --progress quiet"
D="$HOIST --backend docker --progress quiet"

cd "$OUT/stack-1"
echo "## run --rm svc1 true"
hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-markdown "$OUT/run.md" \
    -n "native: hoist run --rm svc1 true" "$N -p nb1 run --rm -T svc1 true" \
    -n "docker backend: hoist run --rm svc1 true" "$D -p db1 run --rm -T svc1 true" \
    -n "docker run --rm $IMAGE true" "docker run --rm $IMAGE true"

cd "$OUT/stack-10"
$N -p nb10 down -v -t 0 >/dev/null 2>&1 || true
$D -p db10 down -v -t 0 >/dev/null 2>&1 || true
echo "## up -d, 10 services"
hyperfine --runs "$RUNS" --style basic --export-markdown "$OUT/up.md" \
    --prepare "$N -p nb10 down -v -t 0 >/dev/null 2>&1; $D -p db10 down -v -t 0 >/dev/null 2>&1" \
    -n "native: hoist up -d (10)" "$N -p nb10 up -d" \
    -n "docker backend: hoist up -d (10)" "$D -p db10 up -d"
echo "## down -v, 10 services"
hyperfine --runs "$RUNS" --style basic --export-markdown "$OUT/down.md" \
    --prepare "$N -p nb10 up -d >/dev/null 2>&1; $D -p db10 up -d >/dev/null 2>&1" \
    -n "native: hoist down -v (10)" "$N -p nb10 down -v -t 0" \
    -n "docker backend: hoist down -v (10)" "$D -p db10 down -v -t 0"
$N -p nb10 down -v -t 0 >/dev/null 2>&1 || true
$D -p db10 down -v -t 0 >/dev/null 2>&1 || true
# The run --rm stacks' networks (a bridge and its iptables rules on the native side).
(cd "$OUT/stack-1" && $N -p nb1 down -v -t 0 >/dev/null 2>&1 || true)
(cd "$OUT/stack-1" && $D -p db1 down -v -t 0 >/dev/null 2>&1 || true)
cat "$OUT/run.md" "$OUT/up.md" "$OUT/down.md"
