#!/bin/bash
# The escape and fault battery of issue 7 (tests/battery.rs): builds pinhole, the shim and the
# test rootfs (with tests/programs/probe.c), runs the battery and prints one table: attempts
# refused / total per handler and entry point, the image and spec sets, faults survived and
# leaks. Exits non-zero when a test failed or anything leaked.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [TEST-NAME-FILTER]
  runs: cargo test -p pinhole-tests --test battery -- --test-threads=1 --nocapture [FILTER]
  FILTER: attempts_through_the_cli, attempts_through_the_shim, malicious_images,
          malicious_specs, faults (default: all)
  env: BATTERY_LOG  where the full test output goes (default: \$TARGET_DIR/battery.log)
  columns: refused = the exact refusal expected, of all attempts; allowed = allowed by design
           (expected "ok"); known = known failures (KNOWN_FAILURES in tests/battery.rs:
           reported, not counted as refused)
EOF
  exit 2
}
case "${1:-}" in -*) usage ;; esac
[ $# -le 1 ] || usage

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root
ensure_cargo
cd "$REPO"

LOG=${BATTERY_LOG:-$TARGET_DIR/battery.log}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

log "cargo build -p pinhole-sandbox -p containerd-shim-pinhole"
cargo build -q -p pinhole-sandbox -p containerd-shim-pinhole || die "build failed"
build_rootfs || die "hack/build-rootfs.sh failed"

log "cargo test -p pinhole-tests --test battery (log: $LOG)"
rc=0
START=$SECONDS
PINHOLE_BATTERY_OUT=$OUT cargo test -q -p pinhole-tests --test battery -- \
  --test-threads=1 --nocapture ${1:+"$1"} >"$LOG" 2>&1 || rc=$?

echo
printf '%-16s %-6s %9s %8s %6s\n' handler entry refused allowed known
awk '$1 == "attempts" { printf "%-16s %-6s %5d/%-3d %8d %6d\n", $2, $3, $4, $7, $5, $6 }' "$OUT"
awk '$1 == "set" { printf "%-16s %-6s %5d/%-3d  (%s set: refused naming the field, or harmless)\n", $3, $4, $5, $6, $2 }' "$OUT"
if grep -q '^faults ' "$OUT"; then
  awk '$1 == "faults" { printf "faults survived  %d/%d\nleaks            %d\n", $2, $3, $5 }' "$OUT"
else
  echo "faults           not run"
fi
grep -h '^  known failure: ' "$LOG" || true
echo
if [ $rc -ne 0 ]; then
  grep -E '^test .* FAILED$|panicked at' "$LOG" >&2 || true
  die "battery failed (rc=$rc) after $((SECONDS - START))s; see $LOG"
fi
LEAKS=$(awk '$1 == "faults" { print $5 }' "$OUT")
[ "${LEAKS:-0}" -eq 0 ] || die "$LEAKS leaks"
log "battery passed in $((SECONDS - START))s"
