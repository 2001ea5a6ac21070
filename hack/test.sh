#!/bin/bash
# THE test command: install prerequisites, build everything, build the test rootfs, run the tests,
# check formatting and clippy. Runnable from any directory; exits non-zero if any stage fails.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [CARGO-TEST-ARGS...]
  Stages: install (apt-get, only what is missing) -> build (cargo build --workspace --all-targets)
          -> rootfs (hack/build-rootfs.sh) -> test (cargo test --workspace CARGO-TEST-ARGS...)
          -> fmt (cargo fmt --all --check) -> clippy (cargo clippy --workspace --all-targets -D warnings)
          -> fuzz (hack/fuzz.sh FUZZ_SECONDS: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS)
  install, build and rootfs stop the run when they fail; test, fmt, clippy and fuzz always all
  run. fuzz is skipped, with a message, when cargo-fuzz cannot be installed or built here.
  example: $(basename "$0") -- --nocapture
  env: SKIP_INSTALL=1 skips the apt stage; SKIP_FUZZ=1 skips the fuzz stage;
       FUZZ_SECONDS (default 10) bounds each fuzz target's run.
EOF
  exit 2
}
case "${1:-}" in -h | --help) usage ;; esac

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

declare -a STAGES=() RESULTS=()
FAILED=()
START=$SECONDS

summary() {
  local i line=""
  for i in "${!STAGES[@]}"; do line+="${STAGES[$i]} ${RESULTS[$i]}, "; done
  echo
  if [ ${#FAILED[@]} -eq 0 ]; then
    echo "hack/test.sh: PASS (${line%, }) in $((SECONDS - START))s"
  else
    echo "hack/test.sh: FAIL [${FAILED[*]}] (${line%, }) in $((SECONDS - START))s"
  fi
}

# A stage command exits with this status when it cannot run here (recorded as skipped).
SKIPPED=75

# stage NAME CMD...: run CMD, record the result. Returns CMD's status (0 when skipped).
stage() {
  local name=$1 t0=$SECONDS rc=0
  shift
  echo
  log "[$name] $*"
  "$@" || rc=$?
  STAGES+=("$name")
  if [ $rc -eq 0 ]; then
    RESULTS+=("ok($((SECONDS - t0))s)")
  elif [ $rc -eq "$SKIPPED" ]; then
    RESULTS+=("skipped")
    rc=0
  else
    RESULTS+=("FAILED(rc=$rc)")
    FAILED+=("$name")
    log "[$name] FAILED with status $rc"
  fi
  return $rc
}

# A prerequisite stage failing ends the run.
prereq() { stage "$@" || { summary; exit 1; }; }

install_stage() {
  if [ "${SKIP_INSTALL:-0}" = 1 ]; then echo "SKIP_INSTALL=1: not installing packages"; return 0; fi
  ensure_packages
}
fuzz_stage() {
  if [ "${SKIP_FUZZ:-0}" = 1 ]; then echo "SKIP_FUZZ=1: not fuzzing"; return "$SKIPPED"; fi
  local rc=0
  bash "$REPO/hack/fuzz.sh" "${FUZZ_SECONDS:-10}" || rc=$?
  # hack/fuzz.sh exits 3 when cargo-fuzz cannot be installed or libFuzzer cannot be built.
  if [ $rc -eq 3 ]; then
    echo "fuzz: SKIPPED: cargo-fuzz cannot work on this machine (see the warnings above)"
    return "$SKIPPED"
  fi
  return $rc
}
rootfs_stage() { build_rootfs && export PINHOLE_TEST_ROOTFS=$ROOTFS && echo "rootfs: $ROOTFS"; }

prereq install install_stage
WITH_LINT=1 prereq toolchain ensure_cargo
prereq build cargo build --workspace --all-targets
prereq rootfs rootfs_stage
stage test cargo test --workspace "$@" || true
stage fmt cargo fmt --all --check || true
stage clippy cargo clippy --workspace --all-targets -- -D warnings || true
stage fuzz fuzz_stage || true

summary
[ ${#FAILED[@]} -eq 0 ]
