#!/bin/bash
# Build the offline test rootfs used by the integration tests (tests/*.rs):
#   OUTDIR/rootfs/bin/busybox          a copy of the host's static busybox
#   OUTDIR/rootfs/bin/<applet>         symlinks -> busybox, one per applet
#   OUTDIR/rootfs/bin/<prog>           static test programs built from tests/programs/<prog>.c
#   OUTDIR/rootfs/bin/probe-{suid,fcap} set-uid-root and file-capability copies of bin/probe
#   OUTDIR/rootfs/etc/{passwd,group,hosts}
#   OUTDIR/rootfs/{tmp(1777),proc,sys,dev,root,mnt}
# Offline, installs nothing (hack/test.sh installs busybox-static and gcc first).
# Idempotent: files are rewritten and programs recompiled only when their sources changed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [OUTDIR]
  builds OUTDIR/rootfs (default OUTDIR: $REPO/target/pinhole-test)
  env: BUSYBOX  static busybox binary to copy (default: /bin/busybox, else busybox on PATH)
       CC       C compiler for tests/programs/*.c (default: gcc; must support -static)
  the tests find the rootfs via PINHOLE_TEST_ROOTFS (default $REPO/target/pinhole-test/rootfs)
EOF
  exit 2
}

case "${1:-}" in -h|--help) usage ;; -*) echo "unknown option: $1" >&2; usage ;; esac
[ $# -le 1 ] || usage
OUT=${1:-$REPO/target/pinhole-test}
ROOTFS=$OUT/rootfs
PROGS=$REPO/tests/programs
CC=${CC:-gcc}
umask 022   # the rootfs must be readable by unprivileged (user-namespaced) containers

die() { echo "build-rootfs: $*" >&2; exit 1; }

# --- busybox -----------------------------------------------------------------------------------
if [ -z "${BUSYBOX:-}" ]; then
  if [ -x /bin/busybox ]; then BUSYBOX=/bin/busybox; else BUSYBOX=$(command -v busybox || true); fi
fi
[ -n "$BUSYBOX" ] && [ -x "$BUSYBOX" ] ||
  die "busybox not found (install it: apt-get install -y busybox-static)"
# A static binary has no program interpreter: ldd fails on it.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  die "$BUSYBOX is dynamically linked; the rootfs needs a static one (apt-get install -y busybox-static)"
fi
"$BUSYBOX" --list >/dev/null 2>&1 || die "$BUSYBOX --list failed: not a usable busybox"

mkdir -p "$ROOTFS"/{bin,etc,tmp,proc,sys,dev,root,mnt}
chmod 0755 "$ROOTFS" "$ROOTFS"/{bin,etc,proc,sys,dev,root,mnt}
chmod 1777 "$ROOTFS/tmp"

# install_if_changed SRC DST MODE: atomic replace only when contents differ
install_if_changed() {
  if ! cmp -s "$1" "$2"; then
    install -m "$3" "$1" "$2.new.$$"
    mv -f "$2.new.$$" "$2"
    echo "build-rootfs: updated ${2#"$ROOTFS"}"
  fi
}

install_if_changed "$BUSYBOX" "$ROOTFS/bin/busybox" 0755
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] && continue
  link=$ROOTFS/bin/$applet
  # keep test programs that happen to share an applet's name
  [ -e "$PROGS/$applet.c" ] && continue
  [ "$(readlink "$link" 2>/dev/null || true)" = busybox ] || ln -sfn busybox "$link"
done

# --- /etc ----------------------------------------------------------------------------------------
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
EOF
cat > "$TMP/group" <<'EOF'
root:x:0:
tty:x:5:
tester:x:1000:
nogroup:x:65534:
EOF
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$TMP/hosts"
for f in passwd group hosts; do install_if_changed "$TMP/$f" "$ROOTFS/etc/$f" 0644; done

# --- static test programs ------------------------------------------------------------------------
command -v "$CC" >/dev/null || die "$CC not found (install it: apt-get install -y gcc libc6-dev)"
shopt -s nullglob
for src in "$PROGS"/*.c; do
  name=$(basename "$src" .c)
  dst=$ROOTFS/bin/$name
  if [ -f "$dst" ] && [ ! -L "$dst" ] && [ "$dst" -nt "$src" ] && [ "$dst" -nt "$0" ]; then
    continue
  fi
  "$CC" -static -Os -s -Wall -o "$TMP/$name" "$src" ||
    die "compiling $src failed (static libc needed: apt-get install -y libc6-dev)"
  rm -f "$dst"   # may be a busybox symlink from an older build
  install -m 0755 "$TMP/$name" "$dst"
  echo "build-rootfs: built /bin/$name"
done

# --- set-id copies of the probe (tests/battery.rs: set-id binaries under no_new_privs) -----------
# probe-suid: mode 4755, owner root; probe-fcap: file capabilities cap_net_raw,cap_dac_override+ep
# (needs setcap from libcap2-bin; without it the copy has no capabilities and the battery says so).
if [ -f "$ROOTFS/bin/probe" ]; then
  for v in suid fcap; do
    dst=$ROOTFS/bin/probe-$v
    if cmp -s "$ROOTFS/bin/probe" "$dst"; then
      case $v in
        suid) [ -u "$dst" ] && continue ;;
        fcap) { ! command -v getcap >/dev/null || [ -n "$(getcap "$dst")" ]; } && continue ;;
      esac
    fi
    install -m 0755 -o 0 -g 0 "$ROOTFS/bin/probe" "$dst.new.$$"
    case $v in
      suid) chmod 4755 "$dst.new.$$" ;;
      fcap) if command -v setcap >/dev/null; then setcap cap_net_raw,cap_dac_override+ep "$dst.new.$$"
            else echo "build-rootfs: setcap not found: /bin/probe-fcap has no file capabilities" >&2; fi ;;
    esac
    mv -f "$dst.new.$$" "$dst"
    echo "build-rootfs: built /bin/probe-$v"
  done
fi

echo "$ROOTFS"
