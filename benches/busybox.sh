# Sourced by the bench scripts: the busybox test image, hoist-test/busybox:latest, on
# both sides, from Debian's static busybox (/bin/busybox, apt-get install busybox-static).

# docker_busybox_image IMAGE [LINES]: builds IMAGE in the Docker engine unless it exists;
# LINES (printf-escaped, e.g. 'RUN mkdir -p /tmp\n') are appended to its Dockerfile.
docker_busybox_image() {
    docker image inspect "$1" >/dev/null 2>&1 && return
    local ctx
    ctx=$(mktemp -d)
    cp /bin/busybox "$ctx/busybox"
    printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'"${2:-}" >"$ctx/Dockerfile"
    docker build -q -t "$1" "$ctx" >/dev/null
    rm -rf "$ctx"
}

# native_busybox_image HOIST IMAGE TARBALL [--change ...]: writes a busybox rootfs tarball
# to TARBALL and imports it as IMAGE into the native store under $HOIST_ROOT.
native_busybox_image() {
    local hoist=$1 image=$2 tarball=$3 rootfs applet
    shift 3
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
    echo 'root:x:0:' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$tarball" .
    rm -rf "$rootfs"
    "$hoist" image import "$tarball" "$image" "$@" >/dev/null
}
