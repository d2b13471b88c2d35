#!/usr/bin/env bash
# The native builder against `docker build` (classic builder, DOCKER_BUILDKIT=0), in one
# run (hyperfine), on the same context: a 10-instruction Dockerfile (3 RUN, 2 COPY,
# WORKDIR, ENV, LABEL, CMD) FROM hoist-test/busybox:latest, a name both sides have (the
# native side imports Debian's static busybox into its own data root, the docker side
# builds the same busybox as a local image). Three cases: a full build (--no-cache), a
# no-change rebuild (every step cached), and a rebuild after a source edit (the last
# COPY and the RUN after it re-run). The steps' commands (cp, echo, cat) take about a
# millisecond each, so full build / 9 steps is the per-step overhead.
#
# Usage: benches/build.sh [path/to/hoist]   (default: target/release/hoist; build it first)
# Needs: root, a Docker engine, busybox-static; installs hyperfine with apt-get if missing.
set -euo pipefail
# shellcheck source=benches/busybox.sh
. "$(dirname "$0")/busybox.sh"

HOIST=$(realpath "${1:-target/release/hoist}")
IMAGE=hoist-test/busybox:latest
TAG=hoist-bench/build:latest
RUNS=${RUNS:-10}
OUT=${OUT:-/tmp/hoist-bench-build}
export HOIST_ROOT=${HOIST_ROOT:-$OUT/root}
export DOCKER_BUILDKIT=0
[ -x "$HOIST" ] || { echo "no hoist binary at $HOIST (cargo build --release)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "/bin/busybox is required (apt-get install busybox-static)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "the native builder needs root" >&2; exit 1; }
if ! command -v hyperfine >/dev/null; then
    apt-get install -y hyperfine >/dev/null || { echo "cannot install hyperfine" >&2; exit 1; }
fi

rm -rf "$OUT"
mkdir -p "$OUT"
# The native base image: a rootfs tarball imported into the bench's data root.
native_busybox_image "$HOIST" "$IMAGE" "$OUT/busybox-rootfs.tar" -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]'

# The docker base image, as benches/native.sh builds it.
docker_busybox_image "$IMAGE"

# The context: one Dockerfile, a compose file naming it for hoist, 20 source files.
ctx="$OUT/context"
mkdir -p "$ctx/src"
cat >"$ctx/Dockerfile" <<EOF
FROM $IMAGE
ENV APP=/app
WORKDIR /app
COPY deps.txt .
RUN cp deps.txt installed.txt
RUN echo built > stamp
COPY src/ ./src/
RUN cat src/*.txt > all.txt
LABEL bench=build
CMD ["cat", "/app/all.txt"]
EOF
printf 'compose.yaml\n' >"$ctx/.dockerignore"
printf 'services:\n  app:\n    build: .\n    image: %s\n' "$TAG" >"$ctx/compose.yaml"
echo "dep-1" >"$ctx/deps.txt"
for i in $(seq 1 20); do echo "source file $i" >"$ctx/src/f$i.txt"; done
cd "$ctx"

# Images the classic builder leaves dangling (each --no-cache run retags) are removed
# at the end; only those this run made.
dangling_before=$(docker images -q --filter dangling=true | sort -u)
N="$HOIST --backend native -p hoistbench --progress quiet build"
D="docker build -q -t $TAG ."
# Both caches warm for the rebuild cases.
$N >/dev/null
$D >/dev/null

echo "## full build (--no-cache)"
hyperfine -N --warmup 1 --runs "$RUNS" --style basic --export-markdown "$OUT/full.md" \
    -n "native: hoist build --no-cache" "$N --no-cache" \
    -n "docker build --no-cache (classic)" "$D --no-cache"
echo "## no-change rebuild"
hyperfine -N --warmup 2 --runs "$RUNS" --style basic --export-markdown "$OUT/nochange.md" \
    -n "native: hoist build" "$N" \
    -n "docker build (classic)" "$D"
echo "## rebuild after a source edit"
hyperfine -N --warmup 1 --runs "$RUNS" --style basic --export-markdown "$OUT/edit.md" \
    --prepare "sh -c 'date +%s%N > $ctx/src/f1.txt'" \
    -n "native: hoist build (src/f1.txt edited)" "$N" \
    -n "docker build (classic, src/f1.txt edited)" "$D"

# Per-step overhead (native only): FROM alone, then 10 × `RUN true`, then 10 × COPY of a
# small file, all --no-cache; (mean - FROM-only mean) / 10 is one step's overhead.
for kind in from run copy; do
    dir="$OUT/steps-$kind"
    mkdir -p "$dir"
    echo "FROM $IMAGE" >"$dir/Dockerfile"
    for i in $(seq 1 10); do
        echo "f$i" >"$dir/f$i.txt"
        case $kind in
        run) echo "RUN true" >>"$dir/Dockerfile" ;;
        copy) echo "COPY f$i.txt /f$i.txt" >>"$dir/Dockerfile" ;;
        esac
    done
    printf 'services:\n  app:\n    build: .\n    image: hoist-bench/steps-%s:latest\n' "$kind" >"$dir/compose.yaml"
done
echo "## per-step overhead (native, --no-cache)"
S="$HOIST --backend native -p hoistbench --progress quiet"
hyperfine -N --warmup 1 --runs "$RUNS" --style basic --export-markdown "$OUT/steps.md" \
    -n "FROM only" "$S -f $OUT/steps-from/compose.yaml build --no-cache" \
    -n "FROM + 10 × RUN true" "$S -f $OUT/steps-run/compose.yaml build --no-cache" \
    -n "FROM + 10 × COPY" "$S -f $OUT/steps-copy/compose.yaml build --no-cache"

docker image rm -f "$TAG" >/dev/null 2>&1 || true
comm -13 <(echo "$dangling_before") <(docker images -q --filter dangling=true | sort -u) |
    xargs -r docker image rm -f >/dev/null 2>&1 || true
cat "$OUT/full.md" "$OUT/nochange.md" "$OUT/edit.md" "$OUT/steps.md"
