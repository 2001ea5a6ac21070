#!/bin/bash
# Build a single-layer OCI image archive (oci-layout + index.json + blobs/sha256/*) from a
# directory, offline, with nothing but tar, gzip and coreutils. The layer is reproducible
# (sorted entries, mtime 0, uid/gid 0), so the same rootfs always gives the same digest.
# index.json carries the io.containerd.image.name annotation, which is what makes
# `ctr images import` name the image exactly IMAGE_NAME.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") ROOTFS_DIR IMAGE_NAME OUT_TAR [ENTRYPOINT_JSON] [CMD_JSON]
  ROOTFS_DIR       directory that becomes the image's only layer
  IMAGE_NAME       full reference, e.g. pinhole.test/busybox:1
  OUT_TAR          archive to write; import with: ctr -a SOCK -n NS images import OUT_TAR
  ENTRYPOINT_JSON  JSON array or null (default null)
  CMD_JSON         JSON array or null (default ["/bin/sh"])
example: $(basename "$0") rootfs pinhole.test/busybox:1 busybox.tar null '["/bin/sh"]'
EOF
  exit 2
}
[ $# -ge 3 ] && [ $# -le 5 ] || usage
ROOTFS=$1; NAME=$2; OUT=$3; EP=${4:-null}; CMD=${5:-'["/bin/sh"]'}
[ -d "$ROOTFS" ] || { echo "not a directory: $ROOTFS" >&2; usage; }
case "$NAME" in *:*) ;; *) echo "IMAGE_NAME needs a tag (name:tag)" >&2; usage ;; esac
for j in "$EP" "$CMD"; do
  case "$j" in null|\[*\]) ;; *) echo "not a JSON array or null: $j" >&2; usage ;; esac
done
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;;
esac

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/blobs/sha256"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$ROOTFS" -cf "$W/layer.tar" .
DIFFID=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
gzip -n -9 "$W/layer.tar"
LDIG=$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1); LSIZE=$(stat -c %s "$W/layer.tar.gz")
mv "$W/layer.tar.gz" "$W/blobs/sha256/$LDIG"
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"mkoci.sh"}]}' \
  "$ARCH" "$EP" "$CMD" "$DIFFID" > "$W/config.json"
CDIG=$(sha256sum "$W/config.json" | cut -d' ' -f1); CSIZE=$(stat -c %s "$W/config.json")
mv "$W/config.json" "$W/blobs/sha256/$CDIG"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$CDIG" "$CSIZE" "$LDIG" "$LSIZE" > "$W/manifest.json"
MDIG=$(sha256sum "$W/manifest.json" | cut -d' ' -f1); MSIZE=$(stat -c %s "$W/manifest.json")
mv "$W/manifest.json" "$W/blobs/sha256/$MDIG"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$MDIG" "$MSIZE" "$ARCH" "$NAME" "${NAME##*:}" > "$W/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$W/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$W" -cf "$OUT" oci-layout index.json blobs
echo "$OUT: $NAME manifest sha256:$MDIG"
