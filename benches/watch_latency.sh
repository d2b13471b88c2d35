#!/usr/bin/env bash
# Watch latency on the docker and the native backend, in one run:
#   sync          a file written on the host until its new content is readable at its target
#                 inside the container;
#   sync+restart  a file written on the host until the restarted process has read it.
# p50 and p95 over EDITS edits (default 100) each. The container's side is read through its
# root file system as mounted on the host (docker: the storage driver's GraphDriver MergedDir;
# native: the overlay on $HOIST_ROOT/containers/<id>/merged), which is exactly what the
# container sees, polled every 0.5 ms: no exec round trip in the measurement.
#
# Usage: benches/watch_latency.sh [path/to/hoist]   (default: target/release/hoist; build it first)
#        BACKENDS="native" benches/watch_latency.sh  (default: "docker native")
# Needs: docker engine with an overlay-style storage driver (for docker), root (for native),
# python3, busybox-static.
set -euo pipefail
# shellcheck source=benches/busybox.sh
. "$(dirname "$0")/busybox.sh"

HOIST=$(realpath "${1:-target/release/hoist}")
IMAGE=hoist-test/busybox:latest
EDITS=${EDITS:-100}
OUT=${OUT:-/tmp/hoist-bench-watch}
BACKENDS=${BACKENDS:-docker native}
[ -x "$HOIST" ] || { echo "no hoist binary at $HOIST (cargo build --release)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

case " $BACKENDS " in *" docker "*) docker_busybox_image "$IMAGE" 'RUN mkdir -p /tmp\n' ;; esac

run_case() {
    local backend=$1 action=$2 project=$3
    local dir="$OUT/$project"
    rm -rf "$dir"
    mkdir -p "$dir/src"
    echo start >"$dir/src/probe.txt"
    # The process records what it read when it started: that is "restarted and running".
    cat >"$dir/compose.yaml" <<EOF
services:
  app:
    image: $IMAGE
    command: ["sh", "-c", "cat /app/probe.txt > /tmp/started 2>/dev/null; trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]
    develop:
      watch:
        - {action: $action, path: ./src, target: /app, initial_sync: true}
EOF
    cd "$dir"
    local H="$HOIST --backend $backend --progress quiet -p $project"
    $H down -t 0 >/dev/null 2>&1 || true
    $H watch >"$dir/watch.log" 2>&1 &
    local pid=$!
    # Wait for the watch and for the initial sync to land.
    for _ in $(seq 1 600); do
        grep -q "Watch enabled" "$dir/watch.log" 2>/dev/null && break
        sleep 0.1
    done
    local merged
    if [ "$backend" = docker ]; then
        merged=$(docker inspect --format '{{.GraphDriver.Data.MergedDir}}' "$project-app-1")
    else
        merged="$HOIST_ROOT/containers/$($H ps -q --no-trunc app)/merged"
    fi
    [ -d "$merged" ] || { echo "no MergedDir for $project-app-1" >&2; kill "$pid"; exit 1; }
    local watched=/app/probe.txt
    [ "$action" = "sync+restart" ] && watched=/tmp/started
    python3 - "$dir/src/probe.txt" "$merged$watched" "$EDITS" "$action" "$backend" <<'PY'
import os, sys, time
src, seen, edits, action, backend = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def read(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return None
# Let the initial sync and first start settle.
deadline = time.monotonic() + 30
while read(seen) is None and time.monotonic() < deadline:
    time.sleep(0.01)
lat = []
for i in range(edits):
    value = f"edit-{i}-{time.time_ns()}\n"
    t0 = time.perf_counter()
    with open(src, "w") as f:
        f.write(value)
    deadline = t0 + 30
    while read(seen) != value:
        if time.perf_counter() > deadline:
            sys.exit(f"{action}: edit {i} not visible after 30 s")
        time.sleep(0.0005)
    lat.append((time.perf_counter() - t0) * 1000)
    # Edits are separate changes, not one burst.
    time.sleep(0.25 if action == "sync" else 0.5)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(round(p / 100 * len(lat) + 0.5)) - 1)]
print(f"{backend:7} {action:13} edits={len(lat)} p50={pct(50):.1f} ms p95={pct(95):.1f} ms "
      f"min={lat[0]:.1f} ms max={lat[-1]:.1f} ms")
PY
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    $H down -t 0 >/dev/null 2>&1 || true
    cd - >/dev/null
}

for backend in $BACKENDS; do
    if [ "$backend" = native ]; then
        # A data root of its own, with the same busybox image imported.
        export HOIST_ROOT="$OUT/native-root"
        rm -rf "$HOIST_ROOT" && mkdir -p "$HOIST_ROOT"
        native_busybox_image "$HOIST" "$IMAGE" "$OUT/busybox-rootfs.tar" \
            --change "ENV PATH=/bin" --change 'CMD ["/bin/sh"]'
    fi
    run_case "$backend" sync "hw-$backend-sync"
    run_case "$backend" sync+restart "hw-$backend-restart"
done
