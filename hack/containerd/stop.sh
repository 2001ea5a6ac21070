#!/bin/bash
# Stop the private containerd started by start.sh DIR, by the PID in DIR/containerd.pid.
# Shims are separate processes that outlive containerd (that is how a containerd restart keeps
# tasks running): remove tasks first, or let cleanup.sh kill the leftovers of DIR.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") DIR [--force]
  Sends SIGTERM to the containerd recorded in DIR/containerd.pid and waits up to 10 s;
  --force sends SIGKILL if it is still alive then. Lists shims of DIR that still run.
EOF
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
DIR=${1%/}
FORCE=0
case "${2:-}" in "") ;; --force) FORCE=1 ;; *) usage ;; esac
case "$DIR" in /*) ;; *) echo "DIR must be an absolute path" >&2; usage ;; esac
[ -d "$DIR" ] || { echo "no such directory: $DIR" >&2; exit 1; }

# alive PID: exists and is not a zombie (an unreaped containerd must not look alive)
alive() {
  local s
  s=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null) || return 1
  case "$s" in " Z"* | " X"* | "") return 1 ;; esac
}

PIDF=$DIR/containerd.pid
if [ -f "$PIDF" ]; then
  P=$(cat "$PIDF")
  # guard against PID reuse: only signal the containerd started with our config
  if tr '\0' ' ' <"/proc/$P/cmdline" 2>/dev/null | grep -qF -- "--config $DIR/config.toml"; then
    kill -TERM "$P" && echo "sent SIGTERM to containerd $P"
    for _ in $(seq 100); do alive "$P" || break; sleep 0.1; done
    if alive "$P"; then
      if [ $FORCE = 1 ]; then
        kill -KILL "$P" && echo "sent SIGKILL to containerd $P"
        for _ in $(seq 50); do alive "$P" || break; sleep 0.1; done
      else
        echo "containerd $P still alive (use --force)" >&2
        exit 1
      fi
    fi
  else
    echo "pid $P is not our containerd (already gone)"
  fi
  rm -f "$PIDF"
else
  echo "no $PIDF: nothing to stop"
fi

# shims of this DIR carry "-address DIR/containerd.sock" on their command line
for d in /proc/[0-9]*; do
  c=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
  case "$c" in *"-address $DIR/containerd.sock "*) echo "shim still running: ${d#/proc/}: $c" ;; esac
done
exit 0
