#!/bin/bash
# Remove what a private containerd (start.sh DIR) leaves behind, after stop.sh DIR. Only touches
# things that provably belong to DIR: shims whose command line names DIR/containerd.sock, the
# processes and cgroups of the containers whose bundles are in DIR/state, mounts below DIR, and
# the shim sockets in /run/containerd/s whose names are recomputed from DIR/state.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") DIR [--purge]
  1. SIGKILL shims still serving DIR/containerd.sock (refuses while DIR's containerd runs)
  2. for every bundle DIR/state/io.containerd.runtime.v2.task/NS/ID: SIGKILL the processes in
     its cgroup (linux.cgroupsPath of its config.json, every v1 hierarchy; thaws the freezer
     first), and runc delete --force ID through DIR/runc-root
  3. unmount everything mounted below DIR (rootfs overlays, shm, netns)
  4. delete the /run/containerd/s/<sha256> sockets of those bundles:
     sha256("DIR/containerd.sock/NS/KEY") for KEY = ID and the values of the grouping annotations
     io.containerd.pinhole.v2.group, io.containerd.runc.v2.group, io.kubernetes.cri.sandbox-id,
     and the socket named in the bundle's address file
  5. rmdir the (empty) cgroup directories of those bundles (never the namespace's parent dir,
     which other containerds or tests may share)
  6. delete the CNI bridge that start.sh (CRI=1) recorded in DIR/cni/bridge, if it is a bridge,
     and libcni's cached results of its network (/var/lib/cni/results/pinhole-<bridge>-*)
  --purge: finally rm -rf DIR (only when start.sh created it and nothing is mounted below it)
EOF
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
DIR=${1%/}
PURGE=0
case "${2:-}" in "") ;; --purge) PURGE=1 ;; *) usage ;; esac
case "$DIR" in /?*) ;; *) echo "DIR must be an absolute path other than /" >&2; usage ;; esac
[ -d "$DIR" ] || { echo "no such directory: $DIR" >&2; exit 1; }
SOCK=$DIR/containerd.sock
TASKS=$DIR/state/io.containerd.runtime.v2.task

if [ -f "$DIR/containerd.pid" ] && kill -0 "$(cat "$DIR/containerd.pid")" 2>/dev/null &&
  tr '\0' ' ' <"/proc/$(cat "$DIR/containerd.pid")/cmdline" 2>/dev/null | grep -qF -- "--config $DIR/config.toml"; then
  echo "containerd $(cat "$DIR/containerd.pid") is still running: run stop.sh $DIR first" >&2
  exit 1
fi

# cgroups_path BUNDLE: the bundle's linux.cgroupsPath if it is a plain cgroupfs path
cgroups_path() {
  local p
  p=$(grep -o '"cgroupsPath": *"[^"]*"' "$1/config.json" 2>/dev/null | head -1 | cut -d'"' -f4) || true
  case "$p" in "" | *:* | *..*) ;; /*) echo "$p" ;; esac
}
# annotation BUNDLE KEY: value of an annotation in the bundle's config.json
annotation() {
  grep -o "\"$2\": *\"[^\"]*\"" "$1/config.json" 2>/dev/null | head -1 | cut -d'"' -f4 || true
}
bundles() {
  local b
  for b in "$TASKS"/*/*; do [ -d "$b" ] && echo "$b"; done
  return 0
}

# 1. shims of DIR (a shim's death does not kill its containers: step 2 does)
for d in /proc/[0-9]*; do
  c=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
  case "$c" in *"-address $SOCK "*)
    p=${d#/proc/}
    kill -KILL "$p" 2>/dev/null && echo "kill shim $p"
    ;;
  esac
done

# 2. container processes, by cgroup; runc's own state
for b in $(bundles); do
  ns=$(basename "$(dirname "$b")")
  id=$(basename "$b")
  cg=$(cgroups_path "$b")
  if [ -n "$cg" ]; then
    f=/sys/fs/cgroup/freezer$cg/freezer.state
    if [ -f "$f" ]; then echo THAWED >"$f" 2>/dev/null || true; fi
    for p in $(cat /sys/fs/cgroup/*"$cg"/cgroup.procs 2>/dev/null | sort -u); do
      kill -KILL "$p" 2>/dev/null && echo "kill $p (cgroup $cg)"
    done
  fi
  if [ -d "$DIR/runc-root/$ns/$id" ] && command -v runc >/dev/null; then
    runc --root "$DIR/runc-root/$ns" delete --force "$id" >/dev/null 2>&1 && echo "runc delete -f $id"
  fi
done
sleep 0.3

# 3. mounts below DIR, deepest first
findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1' | sort -r | while read -r m; do
  m=$(printf '%b' "$m") # findmnt -r escapes spaces as \x20
  if umount "$m" 2>/dev/null || umount -l "$m"; then echo "umount $m"; fi
done

# 4. shim sockets
rm_sock() {
  case "$1" in /run/containerd/s/*) ;; *) return 0 ;; esac
  [[ "${1#/run/containerd/s/}" =~ ^[0-9a-f]{64}$ ]] || return 0
  if [ -S "$1" ]; then rm -f "$1" && echo "rm $1"; fi
  return 0
}
for b in $(bundles); do
  ns=$(basename "$(dirname "$b")")
  keys=$(basename "$b")
  for a in io.containerd.pinhole.v2.group io.containerd.runc.v2.group io.kubernetes.cri.sandbox-id; do
    v=$(annotation "$b" "$a")
    if [ -n "$v" ]; then keys="$keys $v"; fi
  done
  for k in $keys; do
    rm_sock "/run/containerd/s/$(printf '%s' "$SOCK/$ns/$k" | sha256sum | cut -d' ' -f1)"
  done
  if [ -f "$b/address" ]; then rm_sock "$(sed -e 's|^unix://||' "$b/address")"; fi
done

# 5. container cgroup directories
for b in $(bundles); do
  cg=$(cgroups_path "$b")
  [ -n "$cg" ] || continue
  for h in /sys/fs/cgroup/*/; do
    d=${h%/}$cg
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    if [ -d "$d" ]; then echo "cgroup $d not empty, left alone"; else echo "rmdir $d"; fi
  done
done

# 6. the CNI bridge of this instance (the bridge plugin never deletes it)
if [ -f "$DIR/cni/bridge" ]; then
  br=$(cat "$DIR/cni/bridge")
  if [ -n "$br" ] && [ -d "/sys/class/net/$br/bridge" ]; then
    ip link delete "$br" type bridge && echo "ip link delete $br"
  fi
  # network name = pinhole-<bridge> (start.sh); only left behind when a pod was never torn down
  if [ -n "$br" ]; then
    for f in /var/lib/cni/results/"pinhole-$br"-*; do
      if [ -f "$f" ]; then rm -f "$f" && echo "rm $f"; fi
    done
  fi
fi

if [ $PURGE = 1 ]; then
  if findmnt -rn -o TARGET | awk -v d="$DIR/" 'index($0, d) == 1' | grep -q .; then
    echo "something is still mounted below $DIR: not purging" >&2
    exit 1
  fi
  if [ ! -f "$DIR/.pinhole-containerd" ]; then
    echo "$DIR was not set up by start.sh (no .pinhole-containerd): not purging" >&2
    exit 1
  fi
  rm -rf --one-file-system "$DIR" && echo "removed $DIR"
fi
exit 0
