#!/bin/bash
# Benchmark (not a test): pinhole's shim next to runc's through containerd 1.6's CRI plugin, the
# way kubelet drives it (tests/cri_bench.rs, on the private CRI containerd of tests/common/cri.rs,
# handlers `pinhole` and `runc`).
#   1. pod lifecycle, host network: RunPodSandbox -> CreateContainer -> StartContainer ->
#      ExecSync `true` -> StopContainer -> RemoveContainer -> StopPodSandbox -> RemovePodSandbox,
#      wall time, N times per handler, the handlers interleaved
#   2. shim memory: 20 pods (pause + one `sleep` container each) started in a row per handler,
#      RSS and PSS summed over that handler's shim processes
# Targets (issue 9, on every containerd): lifecycle median pinhole/runc <= 0.5; total shim RSS
# pinhole/runc <= 0.3.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0")
  No arguments. Builds the release shim (a static PIE, see build_shim_release in hack/lib.sh;
  cargo skips it when fresh), builds the offline images when missing, then runs
  'cargo test --release -p pinhole-tests --test cri_bench -- --ignored' (which starts and purges a
  private CRI containerd in /tmp/phc-XXXXXX) and prints a table.
  env: N=timed lifecycles per handler (default 10), PODS=pods per handler for memory (default 20),
       SETTLE=seconds between starting the pods and reading memory (default 2),
       SHIM=/path/to/containerd-shim-pinhole-v2 skips the shim build,
       LOG_OUT=file for the raw test output (default target/bench-cri.log),
       CONTAINERD_VERSION=V runs on containerd V (one of PINHOLE_CONTAINERD_VERSIONS in hack/lib.sh; default 1.6, the
       system's), runc's shim being that version's.
  Exit status: 0 when everything ran (targets only print MET / NOT MET), 1 when something failed.
EOF
  exit 2
}
[ $# -eq 0 ] || usage
N=${N:-10}
PODS=${PODS:-20}
SETTLE=${SETTLE:-2}
case "$N" in '' | *[!0-9]* | 0) echo "N must be a positive number" >&2; usage ;; esac
case "$PODS" in '' | *[!0-9]* | 0) echo "PODS must be a positive number" >&2; usage ;; esac
case "$SETTLE" in '' | *[!0-9]*) echo "SETTLE must be a whole number of seconds" >&2; usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/lib.sh
. "$HERE/lib.sh"
require_root
ensure_packages containerd runc containernetworking-plugins
ensure_cargo
LOG_OUT=${LOG_OUT:-$TARGET_DIR/bench-cri.log}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-1.6}
ensure_containerd "$CONTAINERD_VERSION" || die "containerd $CONTAINERD_VERSION unavailable"

# --- shim binary and images --------------------------------------------------------------------
bench_shim_and_images

# --- run ---------------------------------------------------------------------------------------
FAILED=()
fail() { FAILED+=("$*"); echo "FAILED: $*" >&2; }
OUT=$(mktemp /tmp/phcb-XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  rm -f "$OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "containerd $CONTAINERD_VERSION; load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); N=$N lifecycles per handler, $PODS pods per handler"
# stdout (RESULT lines, libtest; a RESULT line may follow libtest's progress dot) to $OUT; progress and failures on stderr
rc=0
(cd "$REPO" && PINHOLE_CONTAINERD=$CONTAINERD_VERSION PINHOLE_SHIM=$SHIM_BIN BENCH_N=$N BENCH_PODS=$PODS BENCH_SETTLE_MS=$((SETTLE * 1000)) \
  cargo test --release -q -p pinhole-tests --test cri_bench -- --ignored --nocapture --test-threads 1) \
  >"$OUT" || rc=$?
mkdir -p "$(dirname "$LOG_OUT")"
cp "$OUT" "$LOG_OUT"
[ $rc -eq 0 ] || fail "cargo test --test cri_bench: exit status $rc (output in $LOG_OUT)"

declare -A R=()
while IFS='=' read -r k v; do R[$k]=$v; done < <(sed -n 's/^.*RESULT \([a-z0-9_]*=[^ ]*\)$/\1/p' "$OUT")

# --- report ------------------------------------------------------------------------------------
val() { echo "${R[$1]:--}"; }
div() {
  [ "$1" = - ] || [ "$2" = - ] && { echo -; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}
mib() {
  if [ "$1" = - ]; then echo -; else awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; fi
}
verdict() { # verdict VALUE LIMIT
  case "$1" in -) echo "n/a" ;; *) awk -v v="$1" -v l="$2" 'BEGIN { if (v <= l) print "MET"; else print "NOT MET" }' ;; esac
}

echo
echo "Pod lifecycle through CRI (containerd $CONTAINERD_VERSION), host network: median ms per phase (N=$(val lifecycle_n))"
printf '%-12s %8s %8s %8s %8s %9s %10s %8s %8s %8s\n' handler runp create start exec "stop+rm" "stopp+rmp" total min max
printf '%-12s %8s %8s %8s %8s %9s %10s %8s %8s %8s\n' ------- ---- ------ ----- ---- ------- --------- ----- --- ---
for h in pinhole runc; do
  printf '%-12s %8s %8s %8s %8s %9s %10s %8s %8s %8s\n' "$h" "$(val "lifecycle_${h}_runp_ms")" \
    "$(val "lifecycle_${h}_create_ms")" "$(val "lifecycle_${h}_start_ms")" "$(val "lifecycle_${h}_exec_ms")" \
    "$(val "lifecycle_${h}_stop_rm_ms")" "$(val "lifecycle_${h}_stopp_rmp_ms")" "$(val "lifecycle_${h}_total_ms")" \
    "$(val "lifecycle_${h}_min_ms")" "$(val "lifecycle_${h}_max_ms")"
done
printf '%-12s'  pinhole/runc
for p in runp create start exec stop_rm stopp_rmp total; do
  w=8; [ $p = stop_rm ] && w=9; [ $p = stopp_rmp ] && w=10
  printf " %${w}s" "$(div "$(val "lifecycle_pinhole_${p}_ms")" "$(val "lifecycle_runc_${p}_ms")")"
done
echo

echo
echo "Shim memory: $PODS pods (pause + sleep) per handler, sums over the handler's shims (read ${SETTLE}s after start)"
printf '%-12s %5s %6s %11s %11s %9s %9s\n' handler pods shims "RSS MiB" "PSS MiB" RSS/pod PSS/pod
printf '%-12s %5s %6s %11s %11s %9s %9s\n' ------- ---- ----- ------- ------- ------- -------
for h in pinhole runc; do
  p=$(val "mem_${h}_pods")
  printf '%-12s %5s %6s %11s %11s %9s %9s\n' "$h" "$p" "$(val "mem_${h}_shims")" \
    "$(mib "$(val "mem_${h}_rss_kb")")" "$(mib "$(val "mem_${h}_pss_kb")")" \
    "$(mib "$(div "$(val "mem_${h}_rss_kb")" "$p")")" "$(mib "$(div "$(val "mem_${h}_pss_kb")" "$p")")"
done
MEM_RSS=$(div "$(val mem_pinhole_rss_kb)" "$(val mem_runc_rss_kb)")
MEM_PSS=$(div "$(val mem_pinhole_pss_kb)" "$(val mem_runc_pss_kb)")
printf '%-12s %5s %6s %11s %11s\n' pinhole/runc "" "" "$MEM_RSS" "$MEM_PSS"
echo "(runc PSS also depends on other containerd-shim-runc-v2 processes on this host sharing its file pages: $(pgrep -cf '(^|/)containerd-shim-runc-v2 ' || true) now)"

LAT=$(div "$(val lifecycle_pinhole_total_ms)" "$(val lifecycle_runc_total_ms)")
echo
echo "target: pod lifecycle median pinhole/runc <= 0.5 .. $(verdict "$LAT" 0.5) ($LAT: $(val lifecycle_pinhole_total_ms) vs $(val lifecycle_runc_total_ms) ms)"
echo "target: shim RSS pinhole/runc <= 0.3 ($PODS pods) .. $(verdict "$MEM_RSS" 0.3) ($MEM_RSS: $(mib "$(val mem_pinhole_rss_kb)") vs $(mib "$(val mem_runc_rss_kb)") MiB; PSS $MEM_PSS)"
echo "(one run on a possibly busy box, load average now $(cut -d' ' -f1-3 /proc/loadavg): compare handlers within a run)"

for k in lifecycle_pinhole_total_ms lifecycle_runc_total_ms mem_pinhole_rss_kb mem_runc_rss_kb; do
  [ -n "${R[$k]:-}" ] || fail "no result $k"
done
if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  for f in "${FAILED[@]}"; do echo "FAILED $f"; done
  exit 1
fi
exit 0
