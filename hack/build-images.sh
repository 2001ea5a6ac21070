#!/bin/bash
# Build the offline OCI image archives the containerd tests (tests/shim.rs) import:
#   pinhole.test/busybox:1  the test rootfs of hack/build-rootfs.sh (busybox applets + every
#                           tests/programs/*.c as /bin/<name>), Cmd ["/bin/sh"]
#   pinhole.test/pause:1    just /pause (tests/programs/pause.c), Entrypoint ["/pause"]; the CRI
#                           sandbox image
# Offline, with tar/gzip/coreutils only (hack/mkoci.sh); reproducible: same rootfs, same digest.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HERE/lib.sh"

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [OUTDIR]
  runs hack/build-rootfs.sh (idempotent) into $TARGET_DIR/pinhole-test, then writes
  OUTDIR/busybox.tar and OUTDIR/pause.tar (default OUTDIR: $TARGET_DIR/pinhole-test/images)
  import: ctr -a SOCK -n NS images import OUTDIR/busybox.tar   (NS k8s.io too for CRI)
EOF
  exit 2
}
case "${1:-}" in -*) usage ;; esac
[ $# -le 1 ] || usage
OUT=${1:-$TARGET_DIR/pinhole-test/images}
case "$OUT" in /*) ;; *) OUT=$PWD/$OUT ;; esac

bash "$HERE/build-rootfs.sh" "$TARGET_DIR/pinhole-test" >/dev/null
ROOTFS=$TARGET_DIR/pinhole-test/rootfs
for f in bin/busybox bin/sh bin/pause bin/alloc; do
  [ -e "$ROOTFS/$f" ] || die "$ROOTFS/$f missing after hack/build-rootfs.sh"
done

mkdir -p "$OUT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# write next to the final name, then rename: concurrent readers never see half an archive
"$HERE/mkoci.sh" "$ROOTFS" pinhole.test/busybox:1 "$W/busybox.tar" null '["/bin/sh"]'
mkdir -p "$W/pause"
install -m 0755 "$ROOTFS/bin/pause" "$W/pause/pause"
"$HERE/mkoci.sh" "$W/pause" pinhole.test/pause:1 "$W/pause.tar" '["/pause"]' null
for i in busybox pause; do
  install -m 0644 "$W/$i.tar" "$OUT/.$i.tar.$$"
  mv -f "$OUT/.$i.tar.$$" "$OUT/$i.tar"
done
ls -l "$OUT"/busybox.tar "$OUT"/pause.tar
