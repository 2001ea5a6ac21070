#!/bin/bash
# shellcheck disable=SC2016 # jq programs ($vars are jq's) are single-quoted on purpose
# Benchmark (not a test), issue 8: per-call cost of (a) getppid and (b) a mixed file op (open +
# read 4 KiB + close + stat + 64-byte write per iteration) natively and inside containers, all
# configurations side by side in ONE run:
#   native     the static benchmark on the host (no container, no seccomp)
#   default    pinhole run --policy runtimeclass/policies/pinhole.toml
#   strict     pinhole run --policy runtimeclass/policies/pinhole-strict.toml
#   recorded   pinhole run --policy pinhole.toml with the workload's own recorded profile
#              (`pinhole profile record` of the same workload first) as the spec's linux.seccomp
#   runc       runc run with Docker's default profile (hack/bench/docker-default.json, moby's
#              profiles/seccomp/default.json resolved for x86_64 and Docker's default capabilities)
# plus the getppid benchmark under `pinhole profile record` (every syscall a seccomp user
# notification round trip): the recording overhead per syscall, next to the bare round trip
# measured in the same rounds by hack/bench/seccomp_probe (a minimal CONTINUE supervisor).
# The benchmark programs (hack/bench/*.c, static) time themselves, so container start-up is left
# out; R rounds run every configuration once each, interleaved (each round starts one
# configuration later), and the median is reported.
# Targets: getppid <= 1.10 x native and mixed <= 1.05 x native under every pinhole profile.
#
# hack/bench/docker-default.json: moby/profiles seccomp/default.json (Apache-2.0), commit
# 02e898b137aed1024e232d59bcb05e6179b72177, content unchanged (re-indented by jq --tab).
set -euo pipefail

ALL_CONFIGS=(native default strict recorded runc record)
usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [-n GETPPID_N] [-m MIXED_N] [-r ROUNDS] [CONFIG...]
  CONFIG  native | default | strict | recorded | runc | record
          (default: all; native is always run, the ratios need it)
          record = the getppid benchmark under \`pinhole profile record\` (recording overhead),
                   with \`seccomp_probe notif\` on the host as the bare round-trip reference
  -n N    getppid calls per run (env GETPPID_N, default 2000000)
  -m N    mixed-op iterations per run (env MIXED_N, default 200000)
  -r R    rounds; each configuration runs once per round, median reported (env ROUNDS, default 3)
  env: REPS=timed repetitions inside each run, the run reports their median (default 3),
       RECORD_N=getppid calls per run under recording (default GETPPID_N/10: each is a ~2 us
         user-notification round trip; seccomp_probe makes RECORD_N/4 x 5 reps x 3 variants),
       CLOCK=cpu|wall: the clock the ratios and targets use (default cpu, the benchmark thread's
         CPU time, which preemption by other tenants of a busy box does not inflate; the table
         shows both; the recording overhead always uses wall time, the waits for the
         supervisor are not CPU time of the workload),
       PINHOLE=/path/to/pinhole skips the release build, TIMEOUT=seconds per run (default 300),
       KEEP=1 keeps the temp dir.
  Exit status: 0 when every requested configuration was measured (a missing
  \`pinhole profile record\` only prints n/a), 1 otherwise; the targets only print.
EOF
  exit 2
}
GETPPID_N=${GETPPID_N:-2000000}
MIXED_N=${MIXED_N:-200000}
ROUNDS=${ROUNDS:-3}
REPS=${REPS:-3}
while getopts :n:m:r:h opt; do
  case $opt in
    n) GETPPID_N=$OPTARG ;;
    m) MIXED_N=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
RECORD_N=${RECORD_N:-$((GETPPID_N / 10 > 0 ? GETPPID_N / 10 : 1))}
CLOCK=${CLOCK:-cpu}
TIMEOUT=${TIMEOUT:-300}
for v in GETPPID_N MIXED_N ROUNDS REPS RECORD_N TIMEOUT; do
  case ${!v} in '' | *[!0-9]* | 0) echo "$v must be a positive number" >&2; usage ;; esac
done
[ "$ROUNDS" -le 99 ] || { echo "ROUNDS must be at most 99" >&2; usage; }
[ "$REPS" -le 256 ] || { echo "REPS must be at most 256" >&2; usage; }
case $CLOCK in cpu | wall) ;; *) echo "CLOCK must be cpu or wall" >&2; usage ;; esac
[ $# -gt 0 ] || set -- "${ALL_CONFIGS[@]}"
CONFIGS=(native)
for c in "$@"; do
  case " ${ALL_CONFIGS[*]} " in *" $c "*) ;; *) echo "unknown configuration: $c" >&2; usage ;; esac
  case " ${CONFIGS[*]} " in *" $c "*) ;; *) CONFIGS+=("$c") ;; esac
done
has_cfg() { case " ${CONFIGS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
ensure_packages runc jq gcc libc6-dev make
BENCH_SRC=$REPO/hack/bench
POLICY_DEFAULT=$REPO/runtimeclass/policies/pinhole.toml
POLICY_STRICT=$REPO/runtimeclass/policies/pinhole-strict.toml
DOCKER_PROFILE=$BENCH_SRC/docker-default.json
for f in "$POLICY_DEFAULT" "$POLICY_STRICT" "$DOCKER_PROFILE"; do [ -f "$f" ] || die "$f missing"; done

declare -A FAILED=() # configuration -> reason
declare -A NA=()     # configuration -> why it is not available (not a failure)
fail() { FAILED[$1]=$2; echo "FAILED $1: $2" >&2; }

PINHOLE_BIN=
NEED_PINHOLE=0
for c in default strict recorded record; do has_cfg "$c" && NEED_PINHOLE=1; done
if [ $NEED_PINHOLE = 1 ]; then
  if [ -n "${PINHOLE:-}" ]; then
    PINHOLE_BIN=$(command -v "$PINHOLE") || die "PINHOLE=$PINHOLE not found"
  else
    ensure_cargo
    build_pinhole_release || PINHOLE_BIN=
  fi
  if [ -z "$PINHOLE_BIN" ]; then
    for c in default strict recorded record; do has_cfg "$c" && fail "$c" "release build failed"; done
  fi
fi
# `pinhole profile record` (issue 8); n/a for a pinhole binary without it.
REC_VERB=()
if [ -n "$PINHOLE_BIN" ] && "$PINHOLE_BIN" profile record --help >/dev/null 2>&1; then
  REC_VERB=(profile record)
fi
if [ -n "$PINHOLE_BIN" ] && [ ${#REC_VERB[@]} -eq 0 ]; then
  for c in recorded record; do has_cfg "$c" && NA[$c]="pinhole profile record not available"; done
fi

# --- temp dir, cleanup ------------------------------------------------------------------------
T=$(mktemp -d /tmp/pinhole-bsys.XXXXXX)
chmod 755 "$T" # strict runs in a user namespace (container root = host uid 100000)
TAG=phsys-$$   # container ids and cgroup names start with it
PROOT=$T/root-pinhole
RROOT=$T/root-runc

# leftovers: what this run may have left behind, one line each (empty: nothing)
leftovers() {
  local id d
  if [ -n "$PINHOLE_BIN" ] && [ -d "$PROOT" ]; then
    for id in $("$PINHOLE_BIN" --root "$PROOT" list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
      echo "pinhole container $id"
    done
  fi
  if [ -d "$RROOT" ]; then
    for id in $(runc --root "$RROOT" list -q 2>/dev/null); do echo "runc container $id"; done
  fi
  awk -v t="$T" 'index($5, t) == 1 { print "mount " $5 }' /proc/self/mountinfo
  for d in /sys/fs/cgroup/*/"$TAG"-* /sys/fs/cgroup/*/pinhole/"$TAG"-*; do
    [ -d "$d" ] && echo "cgroup $d"
  done
  return 0
}
# delete_all: force-delete the containers in our pinhole and runc roots
delete_all() {
  local id
  if [ -n "$PINHOLE_BIN" ] && [ -d "$PROOT" ]; then
    for id in $("$PINHOLE_BIN" --root "$PROOT" list 2>/dev/null | awk 'NR > 1 { print $1 }'); do
      "$PINHOLE_BIN" --root "$PROOT" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  if [ -d "$RROOT" ]; then
    for id in $(runc --root "$RROOT" list -q 2>/dev/null); do
      runc --root "$RROOT" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
}
# teardown: force-delete containers (and wait for an interrupted run to end), unmount, remove
# the empty cgroups of this run
teardown() {
  local d
  delete_all
  if [ -n "${CHILD:-}" ]; then
    wait "$CHILD" 2>/dev/null || true
    CHILD=
    delete_all
  fi
  awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  for d in /sys/fs/cgroup/*/"$TAG"-* /sys/fs/cgroup/*/pinhole/"$TAG"-*; do
    if [ -d "$d" ]; then rmdir "$d" 2>/dev/null || true; fi
  done
  return 0
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  teardown
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit $rc
}
on_signal() { # the run gets SIGTERM; a container's init (pid 1) ignores it: teardown kills it
  trap - INT TERM
  if [ -n "${CHILD:-}" ]; then kill -TERM "$CHILD" 2>/dev/null || true; fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

# --- benchmark binaries, rootfs, bundles --------------------------------------------------------
log "building the static benchmarks (hack/bench)"
make -s -C "$BENCH_SRC" OUT="$T/bin" >/dev/null || die "make -C hack/bench failed"
R=$T/rootfs
mkdir -p "$R"/{bin,data,dev,proc,sys,tmp,etc}
chmod 1777 "$R/tmp"
install -m 755 "$T/bin/getppid_bench" "$T/bin/mixed_bench" "$R/bin/"
head -c 8192 /dev/zero | tr '\0' x >"$R/data/file.txt"
chmod -R go+rX "$R"

# Docker's default profile as dockerd hands it to runc on x86_64: the archMap entry of
# SCMP_ARCH_X86_64, rules kept when their includes/excludes (arches, caps, minKernel) match
# amd64, Docker's default capabilities and this kernel; includes/excludes/comment dropped.
DOCKER_CAPS='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW",
  "CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT",
  "CAP_KILL","CAP_AUDIT_WRITE"]'
KVER=$(uname -r | sed 's/[^0-9.].*//')
jq --argjson caps "$DOCKER_CAPS" --arg kver "$KVER" '
  def ver: split(".") | map(select(. != "") | tonumber);
  ($kver | ver) as $k |
  def has_all($xs): all($xs[]; . as $x | $caps | index($x) != null);
  def has_any($xs): any($xs[]; . as $x | $caps | index($x) != null);
  {
    defaultAction, defaultErrnoRet,
    architectures: [.archMap[] | select(.architecture == "SCMP_ARCH_X86_64")
      | .architecture, (.subArchitectures // [])[]],
    syscalls: [.syscalls[]
      | select(((.includes.arches // []) | length == 0) or ((.includes.arches // []) | index("amd64") != null))
      | select(has_all(.includes.caps // []))
      | select((.includes.minKernel // null) == null or ((.includes.minKernel | ver) <= $k))
      | select(((.excludes.arches // []) | index("amd64")) == null)
      | select(has_any(.excludes.caps // []) | not)
      | del(.includes, .excludes, .comment)]
  }' "$DOCKER_PROFILE" >"$T/docker-default-oci.json" || die "cannot resolve $DOCKER_PROFILE"
jq -e '(.architectures | length) == 3 and (.syscalls | length) > 10' "$T/docker-default-oci.json" \
  >/dev/null || die "resolved Docker profile looks wrong: $T/docker-default-oci.json"

# args WORKLOAD [N]: the workload's argv inside the container
args() {
  case $1 in
    getppid) printf '["/bin/getppid_bench","%s","%s"]' "${2:-$GETPPID_N}" "$REPS" ;;
    mixed) printf '["/bin/mixed_bench","%s","%s","/data/file.txt"]' "${2:-$MIXED_N}" "$REPS" ;;
  esac
}
# bundle NAME WORKLOAD [JQ-FILTER [JQ-ARGS...]]: $T/bundles/NAME-WORKLOAD on the shared rootfs
bundle() {
  local name=$1 wl=$2 filter=${3:-.}
  shift $(($# < 3 ? $# : 3))
  write_bundle "$T/bundles/$name-$wl" "$R" '.process.args = $args | del(.linux.seccomp)
    | .linux.cgroupsPath = $cg | '"$filter" \
    --argjson args "$(args "$wl")" --arg cg "/$TAG-$name-$wl" "$@" >/dev/null
}
WORKLOADS=(getppid mixed)
for wl in "${WORKLOADS[@]}"; do
  for c in default strict recorded; do has_cfg "$c" && bundle "$c" "$wl"; done
  has_cfg runc && bundle runc "$wl" '.linux.seccomp = $sc | .process.capabilities = {
      bounding: $caps, effective: $caps, permitted: $caps}' \
    --argjson sc "$(cat "$T/docker-default-oci.json")" --argjson caps "$DOCKER_CAPS"
done
if has_cfg record; then
  bundle record getppid '.process.args = $a' --argjson a "$(args getppid "$RECORD_N")"
fi

# --- running -----------------------------------------------------------------------------------
# run CFG WORKLOAD ID: the workload once under CFG; its output in $T/out, errors in $T/err.
# In the background, so that a signal to this script is handled at once: on_signal passes it
# on to the run (timeout forwards it; pinhole and runc pass it to the container).
CHILD=
run() {
  local rc=0
  run_one "$@" >"$T/out" 2>"$T/err" </dev/null &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=
  return $rc
}
run_one() { # in a subshell: exec's the command
  local cfg=$1 wl=$2 id=$3 b=$T/bundles/$1-$2 policy
  case $cfg in
    native)
      cd "$R" || return
      exec timeout "$TIMEOUT" "$R/bin/${wl}_bench" \
        "$(if [ "$wl" = getppid ]; then echo "$GETPPID_N"; else echo "$MIXED_N"; fi)" "$REPS" data/file.txt ;;
    default | recorded) policy=$POLICY_DEFAULT ;;&
    strict) policy=$POLICY_STRICT ;;&
    default | strict | recorded)
      exec timeout "$TIMEOUT" "$PINHOLE_BIN" --root "$PROOT" run --policy "$policy" --bundle "$b" "$id" ;;
    profile-src)
      exec timeout "$TIMEOUT" "$PINHOLE_BIN" --root "$PROOT" "${REC_VERB[@]}" --policy "$POLICY_DEFAULT" \
        --bundle "$b" -o "$T/profiles" "$id" ;;
    record)
      exec timeout "$TIMEOUT" "$PINHOLE_BIN" --root "$PROOT" "${REC_VERB[@]}" --policy "$POLICY_DEFAULT" \
        --bundle "$b" -o "$T/record-out" "$id" ;;
    runc) exec timeout "$TIMEOUT" runc --root "$RROOT" run -b "$b" "$id" ;;
    probe) exec timeout "$TIMEOUT" "$T/bin/seccomp_probe" notif $((RECORD_N / 4 > 0 ? RECORD_N / 4 : 1)) ;;
  esac
}
# result NAME: median_ns of the RESULT line NAME in $T/out
result() { awk -v n="$1" '$1 == "RESULT" && $2 == n { sub(/^median_ns=/, "", $3); print $3 }' "$T/out"; }
# filters: the seccomp filter count the run reported (INFO line)
filters() { awk '$1 == "INFO" { sub(/^filters=/, "", $3); print $3 }' "$T/out"; }
errmsg() { head -c 300 "$T/err" | tr '\n' ' ' | sed 's/ *$//'; }

# The recorded profiles: `profile record` of each workload (short runs: the syscalls a run
# makes do not depend on N), then enforced as the spec's linux.seccomp under pinhole.toml.
if has_cfg recorded && [ -z "${FAILED[recorded]:-}" ] && [ -z "${NA[recorded]:-}" ]; then
  for wl in "${WORKLOADS[@]}"; do
    id=$TAG-rec-$wl
    bundle profile-src "$wl" '.process.args = $a' --argjson a "$(args "$wl" 1000)"
    rc=0
    run profile-src "$wl" "$id" || rc=$?
    if [ $rc -ne 0 ] || ! jq -e '.defaultAction and (.syscalls | length > 0)' "$T/profiles/$id.json" >/dev/null 2>&1; then
      fail recorded "recording $wl: exit status $rc: $(errmsg)"
      break
    fi
    log "recorded $wl: $(jq '[.syscalls[].names[]] | length' "$T/profiles/$id.json") syscalls ($(jq -r '[.syscalls[].names[]] | join(" ")' "$T/profiles/$id.json"))"
    jq --slurpfile sc "$T/profiles/$id.json" '.linux.seccomp = $sc[0]' "$T/bundles/recorded-$wl/config.json" \
      >"$T/config.new" && mv "$T/config.new" "$T/bundles/recorded-$wl/config.json"
  done
fi

# VAL[cfg/workload/clock] = space-separated ns/op of the rounds
declare -A VAL=()
declare -A FILT=() # cfg/workload -> seccomp filters in effect
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $ROUNDS rounds," \
  "getppid N=$GETPPID_N, mixed N=$MIXED_N, recording N=$RECORD_N, $REPS reps per run"
for round in $(seq "$ROUNDS"); do
  # each round starts one configuration later: no configuration always follows the same one
  for i in "${!CONFIGS[@]}"; do
    cfg=${CONFIGS[$(((i + round - 1) % ${#CONFIGS[@]}))]}
    if [ -n "${FAILED[$cfg]:-}" ] || [ -n "${NA[$cfg]:-}" ]; then continue; fi
    wls=("${WORKLOADS[@]}")
    [ "$cfg" = record ] && wls=(getppid)
    for wl in "${wls[@]}"; do
      id=$TAG-$cfg-$wl-$round rc=0
      run "$cfg" "$wl" "$id" || rc=$?
      if [ "$wl" = getppid ]; then wall=$(result getppid) cpu=$(result getppid_cpu)
      else wall=$(result mixed_op) cpu=$(result mixed_op_cpu); fi
      if [ $rc -ne 0 ] || [ -z "$wall" ] || [ -z "$cpu" ]; then
        fail "$cfg" "$wl, round $round: exit status $rc: $(errmsg)"
        teardown
        break
      fi
      VAL[$cfg/$wl/wall]+="$wall " VAL[$cfg/$wl/cpu]+="$cpu "
      FILT[$cfg/$wl]=$(filters)
      printf '  round %s %-9s %-8s %10s ns/op cpu %10s ns/op wall\n' "$round" "$cfg" "$wl" "$cpu" "$wall" >&2
      # the bare user-notification round trip, right after the recorder's run
      if [ "$cfg" = record ]; then
        if run probe getppid - && p=$(result user_notif_continue_roundtrip) && [ -n "$p" ]; then
          VAL[probe/getppid/wall]+="$p "
          printf '  round %s %-9s %-8s %10s ns/op cpu %10s ns/op wall\n' "$round" probe getppid - "$p" >&2
        else
          warn "seccomp_probe notif failed: $(errmsg)"
        fi
      fi
    done
  done
done

# --- report ------------------------------------------------------------------------------------
# med KEY: median of VAL[KEY] (empty when not measured); spread KEY: min-max
med() {
  [ -n "${VAL[$1]:-}" ] || return 0
  tr ' ' '\n' <<<"${VAL[$1]}" | grep . | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() {
  [ -n "${VAL[$1]:-}" ] || { echo "-"; return 0; }
  tr ' ' '\n' <<<"${VAL[$1]}" | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'
}
ratio() { # ratio A B: A / B to 3 decimals, or "-"
  [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }' || echo "-"
}
verdict() { # verdict RATIO LIMIT
  [ "$1" != - ] || { echo "n/a"; return; }
  awk -v r="$1" -v l="$2" 'BEGIN { print (r <= l ? "MET" : "MISSED") }'
}
cell() { # cell CFG WL: "cpu [wall]" medians, or why there is none
  local c w
  c=$(med "$1/$2/cpu") w=$(med "$1/$2/wall")
  if [ -n "$c" ]; then printf '%s [%s]' "$c" "$w"
  elif [ -n "${NA[$1]:-}" ]; then echo "n/a"
  else echo "FAILED"; fi
}
declare -A LIMIT=([getppid]=1.10 [mixed]=1.05)
echo
echo "Per-call cost inside containers, median of $ROUNDS rounds x median of $REPS reps (ns/op: thread CPU time [wall clock])"
echo "getppid: raw syscall, N=$GETPPID_N; mixed: open+read 4 KiB+close+stat+write 64 B per op, N=$MIXED_N"
echo "ratios vs native use the $CLOCK clock; targets: getppid <= ${LIMIT[getppid]}, mixed <= ${LIMIT[mixed]} under every pinhole profile"
printf '%-9s %-7s %20s %6s %-6s %22s %6s %-6s %s\n' config filters "getppid" ratio target "mixed op" ratio target "rounds ($CLOCK, min-max)"
printf '%-9s %-7s %20s %6s %-6s %22s %6s %-6s %s\n' ------ ------- ------- ----- ------ -------- ----- ------ ----------
for cfg in "${CONFIGS[@]}"; do
  [ "$cfg" = record ] && continue
  line=$(printf '%-9s %-7s' "$cfg" "${FILT[$cfg/getppid]:--}/${FILT[$cfg/mixed]:--}")
  sp=
  for wl in "${WORKLOADS[@]}"; do
    r=$(ratio "$(med "$cfg/$wl/$CLOCK")" "$(med "native/$wl/$CLOCK")")
    case $cfg in
      native) t=- ;;
      default | strict | recorded) t=$(verdict "$r" "${LIMIT[$wl]}") ;;
      *) t=- ;;
    esac
    if [ "$wl" = getppid ]; then w=20; else w=22; fi
    line+=$(printf ' %*s %6s %-6s' "$w" "$(cell "$cfg" "$wl")" "$r" "$t")
    sp+="${sp:+, }$wl $(spread "$cfg/$wl/$CLOCK")"
  done
  echo "$line $sp"
done
echo "(filters: seccomp filters in effect, getppid/mixed; native: the same static binaries on the host,"
echo " cwd = the rootfs so the paths have the same depth; recorded: pinhole.toml ceiling + the workload's"
echo " recorded profile as linux.seccomp; runc: Docker's default profile, moby's current default.json)"
if has_cfg recorded && [ -n "${NA[recorded]:-}" ]; then
  echo "recorded: n/a (${NA[recorded]})"
fi

if has_cfg record; then
  echo
  if [ -n "${NA[record]:-}" ]; then
    echo "recording: n/a (${NA[record]})"
  elif [ -n "$(med record/getppid/wall)" ]; then
    rw=$(med record/getppid/wall) rc_=$(med record/getppid/cpu)
    base=default
    [ -n "$(med default/getppid/wall)" ] || base=native
    bw=$(med "$base/getppid/wall")
    echo "recording overhead per syscall (getppid under \`pinhole ${REC_VERB[*]}\`, N=$RECORD_N, ${FILT[record/getppid]:-?} filters, median of $ROUNDS):"
    pw=$(med probe/getppid/wall) nw=$(med native/getppid/wall)
    awk -v r="$rw" -v c="$rc_" -v b="$bw" -v base="$base" -v p="$pw" -v n="$nw" 'BEGIN {
      printf "  %.1f ns/op wall (%.1f ns/op thread CPU), %.1f ns/op without recording (%s, wall)\n", r, c, b, base
      printf "  => %.2f us per recorded syscall", (r - b) / 1000
      if (p != "" && n != "") {
        printf "; bare round trip now %.2f us (seccomp_probe CONTINUE, %.1f ns/op - native %.1f)", (p - n) / 1000, p, n
        if (p - n > 0) printf ", x%.2f", (r - b) / (p - n)
      }
      printf "\n  (lab, lighter load: 2.1-2.3 us per round trip)\n" }'
  else
    echo "recording: FAILED (${FAILED[record]:-no result})"
  fi
fi

# Leftovers check: everything this run started must be gone (the EXIT trap removes $T).
teardown
left=$(leftovers)
echo
if [ -n "$left" ]; then
  echo "LEFTOVERS after teardown:"
  while read -r l; do echo "  $l"; done <<<"$left"
  FAILED[cleanup]="leftovers: $(paste -sd ';' <<<"$left")"
else
  echo "cleanup: no containers in the pinhole/runc roots, no mounts under $T, no $TAG-* cgroups"
fi
echo "(one run on a possibly busy box, load average $(cut -d' ' -f1-3 /proc/loadavg): compare configurations"
echo " within a run; when the rounds' spread is wider than the differences, rerun with more rounds (-r 9))"

if [ ${#FAILED[@]} -gt 0 ]; then
  echo
  for name in "${!FAILED[@]}"; do echo "FAILED $name: ${FAILED[$name]}"; done | sort
  exit 1
fi
