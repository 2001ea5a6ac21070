#!/bin/bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for a bounded time; exits non-zero when
# a target crashes (panic, differential mismatch, sanitizer report) or cannot be built.
set -euo pipefail

usage() {
  cat >&2 <<EOF2
usage: $(basename "$0") [SECONDS [TARGET...]]
  Runs each fuzz target (default: all of fuzz/fuzz_targets/*.rs) for SECONDS (default 20),
  seeded from fuzz/corpus/TARGET (committed, read-only) and the sandbox's seccomp corpus; new
  inputs go to \$TARGET_DIR/fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET/.
  cargo-fuzz is installed into \$TARGET_DIR/tools when missing (about 2 minutes, once).
  Stable toolchain: cargo-fuzz passes -Z flags, so RUSTC_BOOTSTRAP=1 is set for it.
  exit: 0 all ran clean, 1 a target crashed or failed to build, 3 cargo-fuzz cannot work here.
EOF2
  exit 2
}
case "${1:-}" in -h | --help) usage ;; esac
SECONDS_EACH=${1:-20}
shift $(($# > 0 ? 1 : 0))
case $SECONDS_EACH in '' | *[!0-9]*) usage ;; esac

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_cargo

TOOLS=$TARGET_DIR/tools
FUZZ_TARGET_DIR=$TARGET_DIR/fuzz
CARGO_FUZZ=$TOOLS/bin/cargo-fuzz
CARGO_FUZZ_VERSION=0.13.2

ensure_cargo_fuzz() {
  if [ -x "$CARGO_FUZZ" ] && "$CARGO_FUZZ" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    return 0
  fi
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION --locked --root $TOOLS"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOLS" --quiet
}

if ! ensure_cargo_fuzz; then
  warn "cargo-fuzz could not be installed"
  exit 3
fi
command -v c++ >/dev/null 2>&1 || { warn "no C++ compiler (libfuzzer-sys builds libFuzzer)"; exit 3; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$REPO"/fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

fuzz() { (cd "$REPO/fuzz" && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$FUZZ_TARGET_DIR "$CARGO_FUZZ" "$@"); }

log "cargo fuzz build (${targets[*]})"
fuzz build || { warn "cargo fuzz build failed"; exit 1; }

failed=()
for t in "${targets[@]}"; do
  corpus=$FUZZ_TARGET_DIR/corpus/$t
  mkdir -p "$corpus" "$REPO/fuzz/artifacts/$t"
  seeds=()
  [ -d "$REPO/fuzz/corpus/$t" ] && seeds+=("$REPO/fuzz/corpus/$t")
  [ "$t" = seccomp_compile ] && seeds+=("$REPO/sandbox/src/seccomp/corpus")
  log "fuzz $t for ${SECONDS_EACH}s"
  log_file=$FUZZ_TARGET_DIR/$t.log
  # -max_total_time bounds the run; -rss_limit_mb and -timeout turn hangs and blow-ups into
  # findings. The first corpus dir receives new inputs; the seed dirs are only read.
  if fuzz run "$t" "$corpus" "${seeds[@]}" -- -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 >"$log_file" 2>&1; then
    stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec):' "$log_file" |
      sed 's/^stat:://' | tr '\n' ' ')
    echo "$t: ok ($stats)"
  else
    # The panic or sanitizer report and how to reproduce, without libFuzzer's byte dumps.
    grep -E -A4 "panicked at|^==[0-9]+==ERROR|^SUMMARY|deadly signal|Test unit written" "$log_file" |
      grep -v -E "^\s*(\[|0x|[0-9]+: )" | head -30 >&2 || tail -20 "$log_file" >&2
    warn "$t: crashed (full log: $log_file; artifacts: fuzz/artifacts/$t/)"
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { warn "fuzz targets with findings: ${failed[*]}"; exit 1; }
