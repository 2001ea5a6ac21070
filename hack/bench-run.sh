#!/bin/bash
# Benchmark (not a test): start latency of `<runtime> run` (create + start + wait + delete) of
# /bin/true on one bundle built from the test rootfs (root.readonly), without and with the
# Docker-default seccomp allowlist, all runtimes side by side in ONE hyperfine run.
# Targets: pinhole <= crun without seccomp; seccomp adds < 1 ms for pinhole.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [RUNTIME...]
  RUNTIME  pinhole | runc | crun | host   (default: pinhole runc crun host)
           host = fork+exec of the rootfs's /bin/true, the floor; crun runs via hack/crun-hybridfix
  env: N=runs per command (default 30), WARMUP=warmup runs (default 3),
       PINHOLE=/path/to/pinhole skips the release build, ROOTFS=DIR skips hack/build-rootfs.sh,
       JSON_OUT=file for hyperfine's JSON (default target/bench-run.json), KEEP=1 keeps the temp dir.
  Runtimes that fail a first trial run are reported as FAILED (with their error) and left out
  of the timing; a command with failed timed runs is FAILED with the errors it printed.
  Exit status: 0 when every requested runtime was measured, 1 otherwise (the targets only print).
EOF
  exit 2
}
case "${1:-}" in -h | --help) usage ;; esac
N=${N:-30}
WARMUP=${WARMUP:-3}
case "$N" in '' | *[!0-9]* | 0) echo "N must be a positive number" >&2; usage ;; esac
case "$WARMUP" in '' | *[!0-9]*) echo "WARMUP must be a number" >&2; usage ;; esac
[ $# -gt 0 ] || set -- pinhole runc crun host
for rt in "$@"; do
  case $rt in pinhole | runc | crun | host) ;; *) echo "unknown runtime: $rt" >&2; usage ;; esac
done
RUNTIMES=("$@")
has_rt() { case " ${RUNTIMES[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

ensure_packages hyperfine jq runc crun busybox-static
JSON_OUT=${JSON_OUT:-$TARGET_DIR/bench-run.json}
declare -A FAILED=() # runtime or runtime+seccomp -> reason

PINHOLE_BIN=
if has_rt pinhole; then
  if [ -n "${PINHOLE:-}" ]; then
    PINHOLE_BIN=$(command -v "$PINHOLE") || die "PINHOLE=$PINHOLE not found"
  else
    ensure_cargo
    if ! build_pinhole_release; then
      FAILED[pinhole]="release build failed"
      FAILED[pinhole+seccomp]="release build failed"
    fi
  fi
fi
if [ -z "${ROOTFS:-}" ]; then build_rootfs; fi
[ -x "$ROOTFS/bin/true" ] || die "$ROOTFS/bin/true missing"

T=$(mktemp -d /tmp/pinhole-bench.XXXXXX)
declare -A CMD=() # name -> command line (hyperfine -N splits it like a shell would, no spaces in paths)
NAMES=()
cleanup() {
  local rc=$? name
  for name in "${NAMES[@]}"; do
    [ -n "${DEL[$name]:-}" ] && ${DEL[$name]} >/dev/null 2>&1 || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit $rc
}
declare -A DEL=() # name -> force-delete command for leftovers
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bundles: same rootfs, read-only root, /bin/true; one without, one with the Docker-default profile.
# Names that exist in no architecture pinhole knows (recv, send: only on other arches) must be
# declared optional for pinhole; runc and crun ignore unknown names (and the annotation).
PROFILE=$REPO/hack/profiles/docker-default-allowlist.json
jq -e '.defaultAction and (.syscalls | length > 0)' "$PROFILE" >/dev/null || die "bad profile $PROFILE"
SPEC_COMMON='.root.readonly = true | .process.args = ["/bin/true"] | del(.linux.seccomp)'
write_bundle "$T/bundle" "$ROOTFS" "$SPEC_COMMON"
write_bundle "$T/bundle-seccomp" "$ROOTFS" "$SPEC_COMMON"' | .linux.seccomp = $sc
  | .annotations["run.pinhole.seccomp.optional"] = "recv,send"' \
  --argjson sc "$(jq -c . "$PROFILE")"

add() { # add NAME CMD DELETE-CMD
  NAMES+=("$1")
  CMD[$1]=$2
  DEL[$1]=$3
}
for rt in "${RUNTIMES[@]}"; do
  for variant in "" +seccomp; do
    name=$rt$variant id=bench-$rt${variant:+-seccomp}-$$ b=$T/bundle${variant:+-seccomp}
    case $rt in
      host) [ -z "$variant" ] && add host "$ROOTFS/bin/true" "" ;;
      # unconfined: the bundle's own seccomp (or none), as runc and crun run it, not the CLI's
      # default ceiling (/etc/pinhole/policy.toml or the built-in pinhole policy)
      pinhole) add "$name" "${PINHOLE_BIN:-pinhole} --root $T/root-pinhole --policy unconfined run --bundle $b $id" \
        "${PINHOLE_BIN:-pinhole} --root $T/root-pinhole delete --force $id" ;;
      runc) add "$name" "runc --root $T/root-runc run --bundle $b $id" \
        "runc --root $T/root-runc delete --force $id" ;;
      crun) add "$name" "$REPO/hack/crun-hybridfix --root $T/root-crun run --bundle $b $id" \
        "$REPO/hack/crun-hybridfix --root $T/root-crun delete --force $id" ;;
    esac
  done
done

# Trial run of every command: a failing runtime is reported and left out of the timing.
HF=(hyperfine -N -i --style basic -w "$WARMUP" -r "$N" --export-json "$T/bench.json")
MEASURED=0
for name in "${NAMES[@]}"; do
  [ -n "${FAILED[$name]:-}" ] && continue
  rc=0
  # shellcheck disable=SC2086 # CMD is a word list by construction
  timeout 60 ${CMD[$name]} >"$T/trial.out" 2>"$T/trial.err" </dev/null || rc=$?
  if [ $rc -ne 0 ]; then
    msg=$(head -c 300 "$T/trial.err" | tr '\n' ' ' | sed 's/ *$//')
    FAILED[$name]="exit status $rc${msg:+: $msg}"
    echo "FAILED trial run of $name: ${FAILED[$name]}" >&2
    # shellcheck disable=SC2086
    [ -n "${DEL[$name]}" ] && ${DEL[$name]} >/dev/null 2>&1 || true
    continue
  fi
  HF+=(-n "$name" "${CMD[$name]}")
  MEASURED=$((MEASURED + 1))
done

if [ "$MEASURED" -gt 0 ]; then
  log "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $MEASURED commands x $N runs"
  # Every command's output goes into hyperfine's own (after its "Benchmark N: NAME" line),
  # so the error of a failed timed run can be reported with the failure below.
  "${HF[@]}" --output inherit </dev/null 2>&1 | tee "$T/hyperfine.log"
  mkdir -p "$(dirname "$JSON_OUT")"
  cp "$T/bench.json" "$JSON_OUT"
else
  echo '{"results": []}' >"$T/bench.json"
fi

# The distinct lines (most frequent first, with counts) that command NAME printed during
# hyperfine's warmup and timed runs, on one line; hyperfine's own lines are indented.
run_errors() {
  [ -f "$T/hyperfine.log" ] || return 0
  awk -v want="$1" '/^Benchmark [0-9]+: / { cur = substr($0, index($0, ": ") + 2); next }
    /^Summary/ { cur = "" }
    cur == want && !/^ / && !/^$/' "$T/hyperfine.log" |
    sort | uniq -c | sort -rn | head -n 3 | sed 's/^ *\([0-9]*\) /\1x /' | paste -sd ';' - | sed 's/;/; /g'
}

# name -> median in ms (or FAILED), from hyperfine's JSON; a command with failed runs is FAILED.
declare -A MED=()
while read -r name med bad; do
  if [ "$bad" -gt 0 ]; then
    errs=$(run_errors "$name")
    FAILED[$name]="$bad of $N timed runs failed${errs:+: $errs}"
  else
    MED[$name]=$med
  fi
done < <(jq -r '.results[] | "\(.command) \(.median * 1000) \([.exit_codes[]? | select(. != 0)] | length)"' "$T/bench.json")

ms() { [ -n "${MED[$1]:-}" ] && awk -v v="${MED[$1]}" 'BEGIN { printf "%.2f", v }' || echo "FAILED"; }
diff_ms() { [ -n "${MED[$1]:-}" ] && [ -n "${MED[$2]:-}" ] && awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN { printf "%+.2f", a - b }' || echo "-"; }
ratio() { [ -n "${MED[$1]:-}" ] && [ -n "${MED[$2]:-}" ] && awk -v a="${MED[$1]}" -v b="${MED[$2]}" 'BEGIN { printf "%.2f", a / b }' || echo "-"; }

echo
echo "Median start latency, '<runtime> run' of /bin/true (ms; N=$N, warmup $WARMUP)"
printf '%-10s %14s %16s %18s\n' runtime "no seccomp" "docker-default" "seccomp overhead"
printf '%-10s %14s %16s %18s\n' ------- ---------- -------------- ----------------
for rt in "${RUNTIMES[@]}"; do
  if [ "$rt" = host ]; then
    printf '%-10s %14s %16s %18s\n' "host" "$(ms host)" "-" "-"
  else
    printf '%-10s %14s %16s %18s\n' "$rt" "$(ms "$rt")" "$(ms "$rt+seccomp")" "$(diff_ms "$rt+seccomp" "$rt")"
  fi
done
if has_rt pinhole; then
  echo
  printf '%-14s %14s %16s\n' ratio "no seccomp" "docker-default"
  for other in runc crun; do
    has_rt "$other" || continue
    printf '%-14s %14s %16s\n' "pinhole/$other" "$(ratio pinhole "$other")" "$(ratio pinhole+seccomp "$other+seccomp")"
  done
  echo
  verdict() { # verdict CONDITION-AWK-EXPR A B
    [ -n "${MED[$2]:-}" ] && [ -n "${MED[$3]:-}" ] || { echo "n/a"; return; }
    awk -v a="${MED[$2]}" -v b="${MED[$3]}" "BEGIN { if ($1) print \"MET\"; else print \"MISSED\" }"
  }
  has_rt crun && echo "target: pinhole <= crun without seccomp ......... $(verdict 'a <= b' pinhole crun) ($(ms pinhole) vs $(ms crun) ms)"
  echo "target: seccomp adds < 1 ms for pinhole .......... $(verdict 'a - b < 1' pinhole+seccomp pinhole) ($(diff_ms pinhole+seccomp pinhole) ms)"
fi
echo "(medians from one run on a possibly busy box: compare runtimes within a run, not across runs)"

if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  for name in "${!FAILED[@]}"; do echo "FAILED $name: ${FAILED[$name]}"; done | sort
  exit 1
fi
