#!/usr/bin/env bash
# hoist vs docker-compose on the same Docker engine: `up -d` and `down` of stacks of 1, 10 and
# 30 services (images present, nothing pulled or built), measured with hyperfine in one run.
#
# Usage: benches/updown.sh [path/to/hoist]   (default: target/release/hoist; build it first)
# Needs: docker engine, docker-compose, hyperfine, busybox-static (for the local test image).
set -euo pipefail
# shellcheck source=benches/busybox.sh
. "$(dirname "$0")/busybox.sh"

HOIST=$(realpath "${1:-target/release/hoist}")
IMAGE=hoist-test/busybox:latest
RUNS=${RUNS:-5}
SIZES=${SIZES:-1 10 30}
OUT=${OUT:-/tmp/hoist-bench-updown}
command -v hyperfine >/dev/null || { echo "hyperfine is required (apt-get install hyperfine)" >&2; exit 1; }
command -v docker-compose >/dev/null || { echo "docker-compose is required" >&2; exit 1; }
[ -x "$HOIST" ] || { echo "no hoist binary at $HOIST (cargo build --release)" >&2; exit 1; }

docker_busybox_image "$IMAGE"

mkdir -p "$OUT"
for n in $SIZES; do
    dir="$OUT/stack-$n"
    mkdir -p "$dir"
    {
        echo "services:"
        for i in $(seq 1 "$n"); do
            printf '  svc%s:\n    image: %s\n    command: ["sleep", "3600"]\n    stop_signal: SIGKILL\n' "$i" "$IMAGE"
        done
    } >"$dir/compose.yaml"
    cd "$dir"
    H="$HOIST --backend docker --progress quiet -p hb$n"
    D="docker-compose -p db$n"
    $H down -t 0 >/dev/null 2>&1 || true
    $D down -t 0 >/dev/null 2>&1 || true
    echo "## $n service(s)"
    hyperfine --runs "$RUNS" --style basic --export-markdown "$OUT/up-$n.md" \
        --prepare "$H down -t 0 >/dev/null 2>&1; $D down -t 0 >/dev/null 2>&1" \
        -n "hoist up -d ($n)" "$H up -d" \
        -n "docker-compose up -d ($n)" "$D up -d >/dev/null 2>&1"
    hyperfine --runs "$RUNS" --style basic --export-markdown "$OUT/down-$n.md" \
        --prepare "$H up -d >/dev/null 2>&1; $D up -d >/dev/null 2>&1" \
        -n "hoist down ($n)" "$H down -t 0" \
        -n "docker-compose down ($n)" "$D down -t 0 >/dev/null 2>&1"
    $H down -t 0 >/dev/null 2>&1 || true
    $D down -t 0 >/dev/null 2>&1 || true
    cd - >/dev/null
done
cat "$OUT"/up-*.md "$OUT"/down-*.md
