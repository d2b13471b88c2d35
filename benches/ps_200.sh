#!/usr/bin/env bash
# `hoist ps` on a 200-service project: the whole process, measured with hyperfine.
#
# Creates (does not start) 200 busybox containers with `hoist create`, times `hoist ps`
# (compose file loaded), `hoist -p NAME ps` (labels only), `ps -a` and `ps --format json`,
# against `docker ps -a` on the same label (and `docker compose ps` when installed); then
# removes the project.
#
# Usage: benches/ps_200.sh [path/to/hoist]   (default: target/release/hoist)
# Needs: a Docker engine, hyperfine, and the test image hoist-test/busybox:latest
# (built by `cargo test --test observe`).
set -euo pipefail

HOIST=$(realpath "${1:-target/release/hoist}")
IMAGE=${IMAGE:-hoist-test/busybox:latest}
SERVICES=${SERVICES:-200}
NAME=hoist-bench-ps-$$
DIR=$(mktemp -d)
trap 'cd "$DIR" && "$HOIST" --progress quiet down -t 0 >/dev/null 2>&1; rm -rf "$DIR"' EXIT

{
  echo "name: $NAME"
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do
    echo "  svc$i:"
    echo "    image: $IMAGE"
    echo "    command: [\"sleep\", \"300\"]"
  done
} > "$DIR/compose.yaml"

cd "$DIR"
"$HOIST" --progress quiet create >/dev/null
echo "created $("$HOIST" ps -a -q | wc -l) containers in project $NAME"

# `docker ps -a` on the same label is the floor: the engine's own list time.
commands=("$HOIST ps" "$HOIST -p $NAME ps" "$HOIST ps -a" "$HOIST ps -a --format json"
  "docker ps -a --filter label=com.docker.compose.project=$NAME")
if docker compose version >/dev/null 2>&1; then
  commands+=("docker compose ps -a")
fi
hyperfine --warmup 3 --min-runs 20 -N "${commands[@]}"
