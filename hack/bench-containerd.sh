#!/bin/bash
# Benchmark (not a test): pinhole's containerd shim next to containerd-shim-runc-v2, in ONE go
# against ONE private containerd this script starts (hack/containerd/start.sh) and removes on exit.
#   1. start latency: `ctr run --rm IMAGE ID /bin/true` with io.containerd.pinhole.v2, runc (runc
#      shim) and crun (runc shim + hack/crun-hybridfix), side by side in one hyperfine run
#   2. shim memory: VmRSS, RssAnon, RssFile (/proc/PID/status) and Pss (/proc/PID/smaps_rollup) of
#      the shim processes serving 1 and 10 detached pause containers, pinhole vs runc, plus 10
#      pinhole containers in ONE group (one shim)
# Targets (issue 9, on every containerd): ctr run median pinhole/runc <= 0.6; shim RSS pinhole/runc <= 0.3.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0")
  No arguments. Builds the release shim (a static PIE, see build_shim_release in
  hack/lib.sh; cargo skips it when fresh), builds the offline images when missing, starts a private containerd in a
  new /tmp/phb-XXXXXX, runs both parts, prints a table, stops and purges the containerd.
  env: N=timed runs per runtime (default 20), WARMUP=warmup runs (default 3),
       SETTLE=seconds between starting containers and reading memory (default 2),
       SHIM=/path/to/containerd-shim-pinhole-v2 skips the build,
       JSON_OUT=file for hyperfine's JSON (default target/bench-containerd.json),
       KEEP=1 leaves the containerd and its directory in place,
       CONTAINERD_VERSION=V runs on containerd V (one of PINHOLE_CONTAINERD_VERSIONS in hack/lib.sh; default 1.6, the
       system's; 1.7 and 2.1 are fetched like the tests do), runc's shim being that version's.
  Exit status: 0 when everything ran (targets only print MET / NOT MET), 1 when something failed.
EOF
  exit 2
}
[ $# -eq 0 ] || usage
N=${N:-20}
WARMUP=${WARMUP:-3}
SETTLE=${SETTLE:-2}
case "$N" in '' | *[!0-9]* | 0) echo "N must be a positive number" >&2; usage ;; esac
case "$WARMUP" in '' | *[!0-9]*) echo "WARMUP must be a number" >&2; usage ;; esac
case "$SETTLE" in '' | *[!0-9.]*) echo "SETTLE must be a number of seconds" >&2; usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HERE/lib.sh"
require_root
ensure_packages containerd runc crun hyperfine jq
JSON_OUT=${JSON_OUT:-$TARGET_DIR/bench-containerd.json}
CRUN_WRAPPER=$REPO/hack/crun-hybridfix
[ -x "$CRUN_WRAPPER" ] || die "$CRUN_WRAPPER missing or not executable"

# --- shim binary and images --------------------------------------------------------------------
bench_shim_and_images
BUSYBOX=pinhole.test/busybox:1
PAUSE=pinhole.test/pause:1

# --- private containerd ------------------------------------------------------------------------
DIR=$(mktemp -d /tmp/phb-XXXXXX)
SOCK=$DIR/containerd.sock
NS=pinhole-bench
CONTAINERD_VERSION=${CONTAINERD_VERSION:-1.6}
ensure_containerd "$CONTAINERD_VERSION" || die "containerd $CONTAINERD_VERSION unavailable"
export CONTAINERD_VERSION
A=("$(containerd_bin_dir "$CONTAINERD_VERSION")/ctr" -a "$SOCK" -n "$NS")
RUN=("${A[@]}" run --fifo-dir "$DIR/fifo")
declare -A OPTS=(
  [pinhole]="--runtime io.containerd.pinhole.v2"
  [runc]="--runc-root $DIR/runc-root"
  [crun]="--runc-binary $CRUN_WRAPPER --runc-root $DIR/crun-root"
)
FAILED=()
fail() { FAILED+=("$*"); echo "FAILED: $*" >&2; }

# shims of our containerd: pid and binary name, one per line (not the transient start/delete)
shims() {
  local d c
  for d in /proc/[0-9]*; do
    c=$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null) || continue
    case "$c" in *" start " | *" delete ") continue ;; esac
    case "$c" in *containerd-shim-*"-address $SOCK "*)
      c=${c%% *}
      echo "${d#/proc/} ${c##*/}"
      ;;
    esac
  done
  return 0
}
# wait_no_shims [SECONDS]: until no shim of our containerd runs (returns 1 on timeout)
wait_no_shims() {
  local i
  for i in $(seq $((${1:-10} * 20))); do
    [ -z "$(shims)" ] && return 0
    sleep 0.05
  done
  return 1
}
# remove_all: every container of our namespace, task first
remove_all() {
  local id
  for id in $("${A[@]}" containers ls -q 2>/dev/null); do
    "${A[@]}" tasks rm -f "$id" >/dev/null 2>&1 || true
    "${A[@]}" containers rm "$id" >/dev/null 2>&1 || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept containerd in $DIR (stop: $HERE/containerd/stop.sh $DIR && $HERE/containerd/cleanup.sh $DIR --purge)" >&2
    exit $rc
  fi
  if [ -f "$DIR/containerd.pid" ]; then
    remove_all
    wait_no_shims 5 || true
    "$HERE/containerd/stop.sh" "$DIR" --force >/dev/null || rc=1
  fi
  if [ -f "$DIR/.pinhole-containerd" ]; then
    "$HERE/containerd/cleanup.sh" "$DIR" --purge >/dev/null || { echo "cleanup.sh $DIR failed" >&2; rc=1; }
  else
    rmdir "$DIR" 2>/dev/null || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "private containerd in $DIR"
SHIM_BIN=$SHIM_BIN "$HERE/containerd/start.sh" "$DIR" >/dev/null || die "hack/containerd/start.sh failed"
for i in busybox pause; do
  "${A[@]}" images import "$IMAGES/$i.tar" >/dev/null || die "ctr images import $IMAGES/$i.tar failed"
done

# --- 1. start latency --------------------------------------------------------------------------
# Fixed ids with --rm; the prepare step waits until the previous run's shim is gone, so a new
# `start` never meets a dying shim on the same socket and teardown stays out of the timing.
cat >"$DIR/wait-shims.sh" <<EOF
#!/bin/bash
for i in \$(seq 200); do
  pgrep -f -- "-address $SOCK( |\$)" >/dev/null || exit 0
  sleep 0.025
done
exit 0
EOF
HF=(hyperfine -N -i --style basic -w "$WARMUP" -r "$N" --prepare "bash $DIR/wait-shims.sh"
  --export-json "$DIR/bench.json")
LAT_RTS=()
# crun 1.8.1 (bookworm) accepts only ociVersion 1.0.x ("unknown version specified"):
# containerd 1.7 writes 1.1.0 specs and 2.x 1.2.x, so crun runs beside pinhole and runc on 1.6.
LAT_PEERS=(pinhole runc crun)
SKIPPED_PEER=
case $CONTAINERD_VERSION in 1.6) ;; *)
  LAT_PEERS=(pinhole runc)
  SKIPPED_PEER="crun skipped: crun $(crun --version 2>/dev/null | awk 'NR == 1 { print $3 }') accepts only ociVersion 1.0 specs, containerd $CONTAINERD_VERSION writes newer ones"
  ;;
esac
for rt in "${LAT_PEERS[@]}"; do
  # shellcheck disable=SC2206 # OPTS are word lists by construction
  cmd=("${RUN[@]}" --rm ${OPTS[$rt]} "$BUSYBOX" "bench-$rt" /bin/true)
  rc=0
  timeout 60 "${cmd[@]}" >"$DIR/trial.out" 2>"$DIR/trial.err" </dev/null || rc=$?
  if [ $rc -ne 0 ]; then
    fail "trial ctr run of $rt: exit status $rc: $(head -c 300 "$DIR/trial.err" | tr '\n\0' '  ')"
    remove_all
    continue
  fi
  HF+=(-n "$rt" "${cmd[*]}")
  LAT_RTS+=("$rt")
done
declare -A MED=()
if [ ${#LAT_RTS[@]} -gt 0 ]; then
  log "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); ${#LAT_RTS[@]} runtimes x $N runs"
  "${HF[@]}" >&2 || fail "hyperfine"
  mkdir -p "$(dirname "$JSON_OUT")"
  [ -f "$DIR/bench.json" ] && cp "$DIR/bench.json" "$JSON_OUT"
  while read -r name med bad; do
    if [ "$bad" -gt 0 ]; then fail "$name: $bad of $N timed ctr runs failed"; else MED[$name]=$med; fi
  done < <(jq -r '.results[] | "\(.command) \(.median * 1000) \([.exit_codes[]? | select(. != 0)] | length)"' "$DIR/bench.json" 2>/dev/null)
fi
remove_all
wait_no_shims 10 || fail "shims still running after the latency runs"

# --- 2. shim memory ----------------------------------------------------------------------------
# mem PID: "rss anon file pss" in kB, then the thread count
mem() {
  local rss anon file pss thr
  read -r rss anon file thr < <(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
    /^Threads:/ { t = $2 } END { print r + 0, a + 0, f + 0, t + 0 }' "/proc/$1/status" 2>/dev/null) || return 1
  pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null) || return 1
  echo "$rss $anon $file ${pss:-0} $thr"
}
declare -A MEM=() # case -> "containers shims rss anon file pss threads" (kB sums over the shims)
CASES=()
# measure CASE RUNTIME COUNT [GROUP]: start COUNT pause containers, read their shims, remove them
measure() {
  local case=$1 rt=$2 count=$3 group=${4:-} i id ok=1 bin pid b s=0 r=0 an=0 fl=0 p=0 t=0 m a1 a2 a3 a4 a5
  local extra=()
  [ -n "$group" ] && extra=(--annotation "io.containerd.pinhole.v2.group=$group")
  CASES+=("$case")
  for i in $(seq "$count"); do
    id=mem-$rt-${group:+g-}$i
    # shellcheck disable=SC2086
    if ! timeout 60 "${RUN[@]}" -d ${OPTS[$rt]} "${extra[@]}" "$PAUSE" "$id" >/dev/null 2>"$DIR/run.err" </dev/null; then
      fail "$case: ctr run -d $id: $(head -c 300 "$DIR/run.err" | tr '\n\0' '  ')"
      ok=0
      break
    fi
  done
  if [ $ok = 1 ]; then
    sleep "$SETTLE"
    [ "$rt" = pinhole ] && bin=containerd-shim-pinhole-v2 || bin=containerd-shim-runc-v2
    while read -r pid b; do
      [ "$b" = "$bin" ] || continue
      m=$(mem "$pid") || continue
      read -r a1 a2 a3 a4 a5 <<<"$m"
      s=$((s + 1)) r=$((r + a1)) an=$((an + a2)) fl=$((fl + a3)) p=$((p + a4)) t=$((t + a5))
    done < <(shims)
    if [ $s -eq 0 ]; then fail "$case: no $bin process found"; else MEM[$case]="$count $s $r $an $fl $p $t"; fi
  fi
  remove_all
  wait_no_shims 10 || fail "$case: shims still running 10 s after removing the containers"
}
log "shim memory: 1 and 10 pause containers per runtime, 10 in one pinhole group (settle ${SETTLE}s)"
measure "pinhole 1" pinhole 1
measure "runc 1" runc 1
measure "pinhole 10" pinhole 10
measure "runc 10" runc 10
measure "pinhole group" pinhole 10 bench
FOREIGN_RUNC=$(pgrep -cf '(^|/)containerd-shim-runc-v2 ' || true)

# --- report ------------------------------------------------------------------------------------
ms() { [ -n "${MED[$1]:-}" ] && awk -v v="${MED[$1]}" 'BEGIN { printf "%.1f", v }' || echo "FAILED"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# field CASE INDEX(1=containers 2=shims 3=rss 4=anon 5=file 6=pss 7=threads)
field() { [ -n "${MEM[$1]:-}" ] && echo "${MEM[$1]}" | cut -d' ' -f"$2"; }
mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
# per CASE INDEX: average per shim in MiB; tot CASE INDEX: sum in MiB
per() { [ -n "${MEM[$1]:-}" ] && mib "$(awk -v a="$(field "$1" "$2")" -v n="$(field "$1" 2)" 'BEGIN { print a / n }')" || echo "-"; }
tot() { [ -n "${MEM[$1]:-}" ] && mib "$(field "$1" "$2")" || echo "-"; }
mratio() { # mratio CASE-A CASE-B INDEX: ratio of the per-shim averages
  [ -n "${MEM[$1]:-}" ] && [ -n "${MEM[$2]:-}" ] || { echo "-"; return; }
  awk -v a="$(field "$1" "$3")" -v na="$(field "$1" 2)" -v b="$(field "$2" "$3")" -v nb="$(field "$2" 2)" \
    'BEGIN { printf "%.2f", (a / na) / (b / nb) }'
}
tratio() { # tratio CASE-A CASE-B INDEX: ratio of the totals
  [ -n "${MEM[$1]:-}" ] && [ -n "${MEM[$2]:-}" ] && div "$(field "$1" "$3")" "$(field "$2" "$3")" || echo "-"
}
verdict() { # verdict VALUE LIMIT
  case "$1" in -) echo "n/a" ;; *) awk -v v="$1" -v l="$2" 'BEGIN { if (v <= l) print "MET"; else print "NOT MET" }' ;; esac
}

echo
echo "Start latency through containerd $CONTAINERD_VERSION ($("$(containerd_bin_dir "$CONTAINERD_VERSION")/containerd" --version | awk '{print $3}')): median of 'ctr run --rm $BUSYBOX ID /bin/true' (ms; N=$N, warmup $WARMUP)"
printf '%-10s %10s\n' runtime median
printf '%-10s %10s\n' ------- ------
for rt in pinhole runc crun; do
  v=$(ms "$rt")
  [[ " ${LAT_PEERS[*]} " == *" $rt "* ]] || v=skipped
  printf '%-10s %10s\n' "$rt" "$v"
done
LAT_RUNC=-
LAT_CRUN=-
[ -n "${MED[pinhole]:-}" ] && [ -n "${MED[runc]:-}" ] && LAT_RUNC=$(div "${MED[pinhole]}" "${MED[runc]}")
[ -n "${MED[pinhole]:-}" ] && [ -n "${MED[crun]:-}" ] && LAT_CRUN=$(div "${MED[pinhole]}" "${MED[crun]}")
printf '%-10s %10s\n' pinhole/runc "$LAT_RUNC" pinhole/crun "$LAT_CRUN"
[ -z "$SKIPPED_PEER" ] || echo "($SKIPPED_PEER)"

echo
echo "Shim memory, pause containers (MiB; per shim = average over the shims; read ${SETTLE}s after start)"
printf '%-14s %5s %5s %9s %9s %9s %9s %10s %10s %8s\n' case ctrs shims RSS/shim Anon/shim File/shim PSS/shim "RSS total" "PSS total" threads
printf '%-14s %5s %5s %9s %9s %9s %9s %10s %10s %8s\n' ---- ---- ----- -------- --------- --------- -------- --------- --------- -------
for c in "${CASES[@]}"; do
  if [ -z "${MEM[$c]:-}" ]; then printf '%-14s %5s\n' "$c" FAILED; continue; fi
  printf '%-14s %5s %5s %9s %9s %9s %9s %10s %10s %8s\n' "$c" "$(field "$c" 1)" "$(field "$c" 2)" \
    "$(per "$c" 3)" "$(per "$c" 4)" "$(per "$c" 5)" "$(per "$c" 6)" "$(tot "$c" 3)" "$(tot "$c" 6)" "$(field "$c" 7)"
done
echo
printf '%-34s %6s %6s\n' "ratio pinhole/runc" RSS PSS
printf '%-34s %6s %6s\n' "1 container, per shim" "$(mratio "pinhole 1" "runc 1" 3)" "$(mratio "pinhole 1" "runc 1" 6)"
printf '%-34s %6s %6s\n' "10 containers, per shim" "$(mratio "pinhole 10" "runc 10" 3)" "$(mratio "pinhole 10" "runc 10" 6)"
printf '%-34s %6s %6s\n' "10 containers, pinhole group: total" "$(tratio "pinhole group" "runc 10" 3)" "$(tratio "pinhole group" "runc 10" 6)"
echo "threads: one pinhole shim for 10 containers (group) $(field "pinhole group" 7) vs runc's 10 shims $(field "runc 10" 7) (issue 10: a few per shim plus one IO thread and one ttrpc connection per container)"
echo "(runc PSS/shim also depends on other containerd-shim-runc-v2 processes on this host sharing its file pages: $FOREIGN_RUNC now)"

MEM_RATIO=$(mratio "pinhole 10" "runc 10" 3)
echo
echo "target: ctr run median pinhole/runc <= 0.6 ............ $(verdict "$LAT_RUNC" 0.6) ($LAT_RUNC: $(ms pinhole) vs $(ms runc) ms)"
echo "target: shim RSS pinhole/runc <= 0.3 (10 ctrs, per shim) $(verdict "$MEM_RATIO" 0.3) ($MEM_RATIO: $(per "pinhole 10" 3) vs $(per "runc 10" 3) MiB)"
echo "(one run on a possibly busy box, load average now $(cut -d' ' -f1-3 /proc/loadavg): compare runtimes within a run)"

if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  for f in "${FAILED[@]}"; do echo "FAILED $f"; done
  exit 1
fi
exit 0
