#!/bin/bash
# THE test command: install prerequisites, build everything, build the test rootfs, run the tests,
# check formatting and clippy. Runnable from any directory; exits non-zero if any stage fails.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [CARGO-TEST-ARGS...]
  Stages: install (apt-get, only what is missing) -> build (cargo build --workspace --all-targets)
          -> rootfs (hack/build-rootfs.sh) -> test (cargo test --workspace --no-fail-fast CARGO-TEST-ARGS...)
          -> containerd-1.7, containerd-2.1 (the containerd test binaries again, PINHOLE_CONTAINERD=V)
          -> fmt (cargo fmt --all --check) -> clippy (cargo clippy --workspace --all-targets -D warnings)
          -> fuzz (hack/fuzz.sh FUZZ_SECONDS: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS)
  install, build and rootfs stop the run when they fail; test, fmt, clippy and fuzz always all
  run. fuzz is skipped, with a message, when cargo-fuzz cannot be installed or built here.
  example: $(basename "$0") -- --nocapture
  The test stage runs on the system's containerd (1.6); the containerd-V stages run the same
  test bodies on containerd V, fetched from Debian trixie/forky into target/containerd
  (extracted, never installed). PINHOLE_CONTAINERD=V picks one version for a quick local run
  (cargo test with that variable set).
  env: SKIP_INSTALL=1 skips the apt stage; SKIP_MATRIX=1 skips the containerd-V stages; SKIP_FUZZ=1 skips the fuzz stage;
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
  # the Docker tests (tests/docker.rs) run docker.io 26.1 on a private containerd 1.7
  ensure_packages && ensure_engine_profiles && ensure_containerd 1.7 && ensure_docker 26.1
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
# Test binaries that drive a private containerd (tests/common/containerd.rs and cri.rs) or
# validate with the version's containerd (install.rs). docker runs on 1.7 in the test stage
# (Docker 26 needs 1.7+), so here only on the other versions.
CONTAINERD_TESTS=(shim shim_api shim_escapes shim_record shim_storm cri install)
matrix_stage() {
  local v=$1 args=() t
  if [ "${SKIP_MATRIX:-0}" = 1 ]; then echo "SKIP_MATRIX=1: not testing containerd $v"; return "$SKIPPED"; fi
  ensure_containerd "$v" || return
  for t in "${CONTAINERD_TESTS[@]}"; do args+=(--test "$t"); done
  [ "$v" = 1.7 ] || args+=(--test docker)
  PINHOLE_CONTAINERD=$v cargo test --no-fail-fast -p pinhole-tests "${args[@]}"
}
rootfs_stage() { build_rootfs && export PINHOLE_TEST_ROOTFS=$ROOTFS && echo "rootfs: $ROOTFS"; }

prereq install install_stage
WITH_LINT=1 prereq toolchain ensure_cargo
prereq build cargo build --workspace --all-targets
prereq rootfs rootfs_stage
stage test cargo test --workspace --no-fail-fast "$@" || true
for v in "${PINHOLE_CONTAINERD_VERSIONS[@]}"; do
  [ "$v" = 1.6 ] || stage "containerd-$v" matrix_stage "$v" || true
done
stage fmt cargo fmt --all --check || true
stage clippy cargo clippy --workspace --all-targets -- -D warnings || true
stage fuzz fuzz_stage || true

summary
[ ${#FAILED[@]} -eq 0 ]
