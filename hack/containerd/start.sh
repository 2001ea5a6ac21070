#!/bin/bash
# Start a private containerd (1.6, 1.7 or 2.1) whose root, state, sockets and runc roots all live in DIR, next to
# (and independent of) any system containerd. PID -> DIR/containerd.pid, log -> DIR/containerd.log.
# Used by hand and by the integration tests (tests/common/containerd.rs).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HERE/../lib.sh"

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [DIR]
  Renders $HERE/config.toml.in into DIR/config.toml and starts containerd with
  PATH=DIR/bin:\$PATH, so DIR/bin/containerd-shim-pinhole-v2 is the shim of runtime
  io.containerd.pinhole.v2. DIR defaults to a new \$(mktemp -d /tmp/phc-XXXXXX); keep it short
  (unix socket paths are capped at 108 bytes). Prints the ctr command line to use.
  Stop with: $HERE/stop.sh DIR; clean up with: $HERE/cleanup.sh DIR [--purge]
  env: SHIM_BIN   shim to install (with install(1): new inode) as DIR/bin/containerd-shim-pinhole-v2,
                  with the pinhole binary next to it (PINHOLE_BIN, default: SHIM_BIN's directory)
                  (default: $TARGET_DIR/<host triple>/debug/containerd-shim-pinhole-v2 if it exists;
                  SHIM_BIN=none installs nothing)
       CRI=1      enable the CRI plugin (default 0: disabled); handlers runc, pinhole, pinhole-strict.
                  Also links the CNI plugins of /usr/lib/cni (containernetworking-plugins) into
                  DIR/cni/bin and renders $HERE/cni-bridge.conflist into DIR/cni/net.d: a bridge
                  without gateway, masquerade or host address, IPAM state in DIR/cni/ipam.
       CNI_BRIDGE bridge interface for CRI=1 (default ph-<suffix of DIR>, at most 15 chars;
                  recorded in DIR/cni/bridge, cleanup.sh deletes it)
       CNI_SUBNET pod subnet for CRI=1 (default 10.213.7.0/24)
       LOG_LEVEL  containerd log level (default info; debug shows every shim call)
       CONTAINERD_VERSION  one of ${PINHOLE_CONTAINERD_VERSIONS[*]} (default 1.6, the system's):
                  1.7 and 2.1 are fetched from Debian trixie/forky into $TARGET_DIR/containerd
                  (extracted, never installed); 2.x gets config.v3.toml.in (config version 3)
EOF
  exit 2
}
case "${1:-}" in -*) usage ;; esac
[ $# -le 1 ] || usage
require_root
CONTAINERD_VERSION=${CONTAINERD_VERSION:-1.6}
ensure_containerd "$CONTAINERD_VERSION" || die "cannot fetch containerd $CONTAINERD_VERSION"
BIN=$(containerd_bin_dir "$CONTAINERD_VERSION")
[ -x "$BIN/containerd" ] || die "containerd not found in $BIN (apt-get install containerd)"
[ -x "$BIN/ctr" ] || die "ctr not found in $BIN (apt-get install containerd)"
CTR=$BIN/ctr
TEMPLATE=$HERE/config.toml.in
case $CONTAINERD_VERSION in 2.*) TEMPLATE=$HERE/config.v3.toml.in ;; esac

if [ $# -eq 1 ]; then
  DIR=$1
  case "$DIR" in /*) ;; *) DIR=$PWD/$DIR ;; esac
  DIR=${DIR%/}
  [ -n "$DIR" ] || usage
  mkdir -p "$DIR"
else
  DIR=$(mktemp -d /tmp/phc-XXXXXX)
fi
SOCK=$DIR/containerd.sock
# unix socket paths are limited to 108 bytes ("containerd.sock.ttrpc" is the longest of ours)
[ ${#SOCK} -lt 100 ] || die "DIR is too long for a unix socket path: $SOCK"
CRI=${CRI:-0}
case "$CRI" in 0 | 1) ;; *) echo "CRI must be 0 or 1" >&2; usage ;; esac
LOG_LEVEL=${LOG_LEVEL:-info}
SHIM_BIN=${SHIM_BIN:-$(profile_dir debug)/containerd-shim-pinhole-v2}

PIDF=$DIR/containerd.pid
if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then
  echo "containerd already running: pid $(cat "$PIDF")"
  echo "use: $CTR -a $SOCK -n pinhole-test ..."
  exit 0
fi

# marker: cleanup.sh --purge only removes directories that start.sh set up
touch "$DIR/.pinhole-containerd"
mkdir -p "$DIR"/{bin,fifo,runc-root,cni/bin,cni/net.d}
# mktemp -d gives 0700; let container processes running as non-root users traverse it
chmod go+x "$DIR"
EXTRA_DISABLED='"io.containerd.grpc.v1.cri",'
EXTRA_DISABLED_V3='"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime",'
[ "$CRI" = 1 ] && EXTRA_DISABLED='' && EXTRA_DISABLED_V3=''
sed -e "s|@DIR@|$DIR|g" -e "s|@REPO@|$REPO|g" -e "s|@LOG_LEVEL@|$LOG_LEVEL|g" \
  -e "s|@EXTRA_DISABLED@|$EXTRA_DISABLED|g" -e "s|@EXTRA_DISABLED_V3@|$EXTRA_DISABLED_V3|g" \
  "$TEMPLATE" >"$DIR/config.toml"
echo "$CONTAINERD_VERSION" >"$DIR/containerd.version"
# handler pinhole-record: the shipped pinhole policy plus recording into $DIR/profiles
{
  sed -e 's/^name = .*/name = "pinhole-record"/' -e '/^\[seccomp\]/a recording = true\nrecord_dir = "'"$DIR"'/profiles"' \
    "$REPO/runtimeclass/policies/pinhole.toml"
} >"$DIR/policy-record.toml"

# the matching ctr, for the test harness and by hand
ln -sf "$CTR" "$DIR/bin/ctr"
if [ "$SHIM_BIN" != none ]; then
  if [ -f "$SHIM_BIN" ]; then
    # install(1) replaces the file (new inode): no ETXTBSY while an old shim still runs
    install -m 755 "$SHIM_BIN" "$DIR/bin/containerd-shim-pinhole-v2"
    # the shim has containers built by the pinhole binary installed next to it
    PINHOLE_BIN=${PINHOLE_BIN:-$(dirname "$SHIM_BIN")/pinhole}
    [ -f "$PINHOLE_BIN" ] || die "no pinhole binary at $PINHOLE_BIN (the shim needs it next to itself)"
    install -m 755 "$PINHOLE_BIN" "$DIR/bin/pinhole"
  else
    warn "no shim at $SHIM_BIN (cargo build -p containerd-shim-pinhole): runtime io.containerd.pinhole.v2 will not work"
  fi
fi
if [ "$CRI" = 1 ]; then
  for p in bridge host-local loopback portmap; do
    if [ -e "/usr/lib/cni/$p" ]; then ln -sf "/usr/lib/cni/$p" "$DIR/cni/bin/$p"; fi
  done
  if [ -e /usr/lib/cni/bridge ] && [ -e /usr/lib/cni/host-local ]; then
    BASE=$(basename "$DIR")
    CNI_BRIDGE=${CNI_BRIDGE:-ph-$(printf '%s' "${BASE##*-}" | tr -cd 'A-Za-z0-9' | tail -c 12)}
    CNI_SUBNET=${CNI_SUBNET:-10.213.7.0/24}
    [ ${#CNI_BRIDGE} -le 15 ] || die "CNI_BRIDGE longer than 15 characters: $CNI_BRIDGE"
    echo "$CNI_BRIDGE" >"$DIR/cni/bridge"
    # written in place (containerd picks up conf_dir changes by fsnotify; renames were missed)
    sed -e "s|@DIR@|$DIR|g" -e "s|@BRIDGE@|$CNI_BRIDGE|g" -e "s|@SUBNET@|$CNI_SUBNET|g" \
      -e "s|@NETWORK@|pinhole-$CNI_BRIDGE|g" "$HERE/cni-bridge.conflist" >"$DIR/cni/net.d/10-pinhole-bridge.conflist"
  else
    warn "no CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins): only host-network pods will work"
  fi
fi

PATH=$DIR/bin:$BIN:$PATH "$BIN/containerd" --config "$DIR/config.toml" >>"$DIR/containerd.log" 2>&1 </dev/null &
CPID=$!
echo "$CPID" >"$PIDF"
for _ in $(seq 150); do
  "$CTR" -a "$SOCK" version >/dev/null 2>&1 && break
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.1
done
if ! "$CTR" -a "$SOCK" version >/dev/null 2>&1; then
  echo "containerd did not come up; last log lines of $DIR/containerd.log:" >&2
  tail -20 "$DIR/containerd.log" >&2
  kill "$CPID" 2>/dev/null || true
  rm -f "$PIDF"
  exit 1
fi
echo "containerd pid $CPID, dir $DIR"
echo "use: $CTR -a $SOCK -n pinhole-test ..."
echo "     (ctr run also needs --fifo-dir $DIR/fifo; runc: --runc-root $DIR/runc-root;"
echo "      pinhole: --runtime io.containerd.pinhole.v2 [--runtime-config-path POLICY])"
echo "images: $REPO/hack/build-images.sh && for i in busybox pause; do"
echo "          ctr -a $SOCK -n pinhole-test images import $TARGET_DIR/pinhole-test/images/\$i.tar; done"
echo "stop:   $HERE/stop.sh $DIR && $HERE/cleanup.sh $DIR --purge"
