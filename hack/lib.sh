# Shared helpers for the hack/ scripts. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Helpers return non-zero on failure even when called where `set -e` is off (cmd || ...).
# Sets REPO (absolute repo root) and TARGET_DIR (cargo's target dir).
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$REPO/$TARGET_DIR ;; esac

# Debian packages the scripts rely on (Debian 12 names). podman (4.3.1, with conmon) drives the
# CLI in tests/podman.rs; bsdutils has script(1), the pty its `run -it`/`exec -it` need.
PINHOLE_APT_PACKAGES=(containerd runc crun busybox-static hyperfine jq protobuf-compiler
  libseccomp-dev pkg-config libc6-dev curl util-linux bsdutils containernetworking-plugins podman)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly when we are root, else through sudo -n).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root to run: $*"
  fi
}

require_root() {
  [ "$(id -u)" -eq 0 ] || die "$(basename "$0") must run as root (containers need it)"
}

# ensure_packages PKG...: install the Debian packages that are missing. Runs apt-get update only
# when something is missing. Default: all of PINHOLE_APT_PACKAGES.
ensure_packages() {
  [ $# -gt 0 ] || set -- "${PINHOLE_APT_PACKAGES[@]}"
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
}

# ensure_cargo: make sure cargo (and rustfmt/clippy when WITH_LINT=1) is usable.
ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install the Rust toolchain with rustup)"
  if [ "${WITH_LINT:-0}" = 1 ]; then
    local comp
    for comp in rustfmt clippy; do
      if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo $comp missing and no rustup to add it"
        log "adding rust component $comp"
        rustup component add "$comp"
      fi
    done
  fi
}

# host_triple: rustc's host target ("x86_64-unknown-linux-gnu").
host_triple() { rustc -vV | sed -n 's/^host: //p'; }

# profile_dir PROFILE: where cargo puts PROFILE's binaries. .cargo/config.toml names the
# target (build.target = "host-tuple"), so that is target/<host triple>/<profile>.
profile_dir() { printf '%s/%s/%s' "$TARGET_DIR" "$(host_triple)" "$1"; }

# build_pinhole_release: cargo build --release -p pinhole-sandbox; sets PINHOLE_BIN.
build_pinhole_release() {
  log "cargo build --release -p pinhole-sandbox"
  (cd "$REPO" && cargo build --release -p pinhole-sandbox) || return
  PINHOLE_BIN=$(profile_dir release)/pinhole
  [ -x "$PINHOLE_BIN" ] || die "build succeeded but $PINHOLE_BIN is missing"
}

# build_shim_release: the shim as shipped, with the pinhole binary (its setup helper) next to
# it; sets SHIM_BIN. This is the plain `cargo build --release` of the README: the workspace's
# .cargo/config.toml links both statically (one shim runs per pod: no libc.so/ld.so mappings
# of its own) and Cargo.toml's profile optimises the shim for size. Both are static PIEs
# (full ASLR).
build_shim_release() {
  log "cargo build --release -p pinhole-sandbox -p containerd-shim-pinhole"
  (cd "$REPO" && cargo build --release -p pinhole-sandbox -p containerd-shim-pinhole) || return
  SHIM_BIN=$(profile_dir release)/containerd-shim-pinhole-v2
  [ -x "$SHIM_BIN" ] || die "build succeeded but $SHIM_BIN is missing"
}

# bench_shim_and_images: the shim a benchmark runs ($SHIM, else a release build) and the
# offline images; sets SHIM_BIN and IMAGES.
bench_shim_and_images() {
  if [ -n "${SHIM:-}" ]; then
    SHIM_BIN=$SHIM
  else
    ensure_cargo
    build_shim_release || die "release build failed"
  fi
  [ -x "$SHIM_BIN" ] || die "no shim at $SHIM_BIN"
  IMAGES=$TARGET_DIR/pinhole-test/images
  if [ ! -f "$IMAGES/busybox.tar" ] || [ ! -f "$IMAGES/pause.tar" ]; then
    log "hack/build-images.sh"
    mkdir -p "$IMAGES"
    # same lock as the test harness (tests/common/containerd.rs)
    flock "$IMAGES/.lock" bash "$REPO/hack/build-images.sh" >/dev/null || die "hack/build-images.sh failed"
  fi
}

# build_rootfs: run hack/build-rootfs.sh into its default location; sets ROOTFS.
build_rootfs() {
  local script=$REPO/hack/build-rootfs.sh
  [ -f "$script" ] || die "$script does not exist yet"
  log "hack/build-rootfs.sh $TARGET_DIR/pinhole-test"
  bash "$script" "$TARGET_DIR/pinhole-test" || return
  ROOTFS=$TARGET_DIR/pinhole-test/rootfs
  [ -x "$ROOTFS/bin/busybox" ] || [ -x "$ROOTFS/bin/sh" ] || die "no usable rootfs at $ROOTFS"
}

# write_bundle DIR ROOTFS [JQ-FILTER [JQ-ARGS...]]: an OCI bundle (config.json from `runc spec`,
# rootless bits removed) whose root is ROOTFS (absolute), then JQ-FILTER applied to the spec.
write_bundle() {
  local dir=$1 rootfs=$2 filter=${3:-.}
  shift $(($# < 3 ? $# : 3))
  command -v runc >/dev/null 2>&1 || die "runc not found (needed for 'runc spec')"
  mkdir -p "$dir"
  (cd "$dir" && rm -f config.json && runc spec) || return
  jq --arg root "$rootfs" "$@" '
    .root.path = $root | .process.terminal = false | '"$filter" "$dir/config.json" >"$dir/config.json.new" || return
  mv "$dir/config.json.new" "$dir/config.json"
}

# --- containerd versions ------------------------------------------------------------------
# The tests run against the system's containerd (bookworm's 1.6) and two newer ones taken
# from Debian's later suites: downloaded and extracted into $TARGET_DIR/containerd/VERSION,
# never installed. The suites are added in their own sources file pinned low (priority
# 100/90), so nothing on the machine upgrades to them.
PINHOLE_CONTAINERD_VERSIONS=(1.6 1.7 2.1)
PINHOLE_NEWER_SOURCES=/etc/apt/sources.list.d/pinhole-newer-suites.sources
PINHOLE_NEWER_PIN=/etc/apt/preferences.d/pinhole-newer-suites

# containerd_suite VERSION: the Debian suite that carries containerd VERSION ("" = system).
containerd_suite() {
  case $1 in
    1.6) echo "" ;;
    1.7) echo trixie ;;
    2.1) echo forky ;;
    *) return 1 ;;
  esac
}

# ensure_newer_suites: the trixie and forky sources, pinned so that nothing upgrades.
ensure_newer_suites() {
  [ -f "$PINHOLE_NEWER_SOURCES" ] && [ -f "$PINHOLE_NEWER_PIN" ] && return 0
  log "adding Debian trixie and forky (pinned low: download only) to apt's sources"
  as_root tee "$PINHOLE_NEWER_SOURCES" >/dev/null <<'SRC' || return
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie forky
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  as_root tee "$PINHOLE_NEWER_PIN" >/dev/null <<'PIN' || return
# pinhole's tests download containerd/docker.io from these suites; never install from them
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=forky
Pin-Priority: 90
PIN
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
}

# containerd_bin_dir VERSION: where containerd VERSION's binaries are (after ensure_containerd).
containerd_bin_dir() {
  local suite
  suite=$(containerd_suite "$1") || die "unknown containerd version $1 (one of ${PINHOLE_CONTAINERD_VERSIONS[*]})"
  if [ -z "$suite" ]; then dirname "$(command -v containerd)"; else echo "$TARGET_DIR/containerd/$1/usr/bin"; fi
}

# Engines' default seccomp profiles as the engines ship them, from Debian's source packages
# (downloaded and extracted, never installed): Docker 26.1's (trixie), containers-common's of
# podman 4.3 (bookworm) and of today's podman (forky). NAME.json in $TARGET_DIR/engine-profiles.
ENGINE_PROFILES=(
  "docker-26.1|golang-github-docker-docker-dev/trixie|profiles/seccomp/default.json"
  "containers-common-0.50|golang-github-containers-common-dev/bookworm|pkg/seccomp/seccomp.json"
  "containers-common-0.67|golang-github-containers-common-dev/forky|pkg/seccomp/seccomp.json"
)
ensure_engine_profiles() {
  local dir=$TARGET_DIR/engine-profiles entry name pkg file tmp found
  mkdir -p "$dir" || return
  for entry in "${ENGINE_PROFILES[@]}"; do
    IFS='|' read -r name pkg file <<<"$entry"
    [ -s "$dir/$name.json" ] && continue
    ensure_newer_suites || return
    log "fetching $pkg's $file into $dir/$name.json (extracted, not installed)"
    tmp=$(mktemp -d) || return
    (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null && dpkg-deb -x ./*.deb x) || { rm -rf "$tmp"; return 1; }
    found=$(find "$tmp/x" -path "*/$file" | head -n1)
    [ -n "$found" ] || { rm -rf "$tmp"; die "$pkg has no $file"; }
    cp "$found" "$dir/$name.json" && rm -rf "$tmp" || return
  done
}

# ensure_containerd VERSION: containerd VERSION runnable from containerd_bin_dir VERSION.
ensure_containerd() {
  mkdir -p "$TARGET_DIR" || return
  # test binaries start containerds in parallel: one fetch at a time
  (flock 9 && ensure_containerd_locked "$1") 9>"$TARGET_DIR/.containerd.lock"
}
ensure_containerd_locked() {
  local v=$1 suite dir tmp
  suite=$(containerd_suite "$v") || die "unknown containerd version $v (one of ${PINHOLE_CONTAINERD_VERSIONS[*]})"
  [ -n "$suite" ] && { dir=$TARGET_DIR/containerd/$v; true; } || return 0
  if "$dir/usr/bin/containerd" --version 2>/dev/null | grep -q " v\?$v\."; then return 0; fi
  ensure_newer_suites || return
  log "fetching containerd/$suite into $dir (extracted, not installed)"
  tmp=$(mktemp -d) || return
  (cd "$tmp" && apt-get download -qq "containerd/$suite" 2>/dev/null) || { rm -rf "$tmp"; return 1; }
  rm -rf "$dir" && mkdir -p "$dir" && dpkg-deb -x "$tmp"/containerd_*.deb "$dir" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  "$dir/usr/bin/containerd" --version | grep -q " v\?$v\." ||
    die "containerd/$suite is not $v: $("$dir/usr/bin/containerd" --version)"
}

# Docker engines the tests run beside the private containerds (tests/docker.rs): docker.io
# (dockerd) and docker-cli of Debian trixie (26.1) and forky (28.5), extracted into
# $TARGET_DIR/docker/VERSION, never installed.
PINHOLE_DOCKER_VERSIONS=(26.1 28.5)

# docker_suite VERSION: the Debian suite that carries docker.io VERSION.
docker_suite() {
  case $1 in
    26.1) echo trixie ;;
    28.5) echo forky ;;
    *) return 1 ;;
  esac
}

# ensure_docker VERSION: dockerd and docker of VERSION in $TARGET_DIR/docker/VERSION/usr/{sbin,bin}.
ensure_docker() {
  mkdir -p "$TARGET_DIR" || return
  # test binaries may ask at the same time: one fetch at a time
  (flock 9 && ensure_docker_locked "$1") 9>"$TARGET_DIR/.docker.lock"
}
ensure_docker_locked() {
  local v=$1 suite dir tmp
  suite=$(docker_suite "$v") || die "unknown docker version $v (one of ${PINHOLE_DOCKER_VERSIONS[*]})"
  dir=$TARGET_DIR/docker/$v
  if "$dir/usr/sbin/dockerd" --version 2>/dev/null | grep -q "version $v\." &&
    "$dir/usr/bin/docker" --version 2>/dev/null | grep -q "version $v\."; then return 0; fi
  ensure_newer_suites || return
  log "fetching docker.io/$suite and docker-cli/$suite into $dir (extracted, not installed)"
  tmp=$(mktemp -d) || return
  (cd "$tmp" && apt-get download -qq "docker.io/$suite" "docker-cli/$suite" 2>/dev/null) || { rm -rf "$tmp"; return 1; }
  rm -rf "$dir" && mkdir -p "$dir" || { rm -rf "$tmp"; return 1; }
  local deb
  for deb in "$tmp"/docker.io_*.deb "$tmp"/docker-cli_*.deb; do
    dpkg-deb -x "$deb" "$dir" || { rm -rf "$tmp"; return 1; }
  done
  rm -rf "$tmp"
  "$dir/usr/sbin/dockerd" --version | grep -q "version $v\." ||
    die "docker.io/$suite is not $v: $("$dir/usr/sbin/dockerd" --version)"
}
