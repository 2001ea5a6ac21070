#!/bin/bash
# Install pinhole on a node (or remove it again with --uninstall): the shim and the CLI, the
# handler policies, and the pinhole handlers merged into the existing containerd config.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") [--prefix DIR] [--config FILE] [--policy-dir DIR] [--bin-dir DIR]
                  [--containerd BIN] [--config-version 2|3] [--restart] [--uninstall] [--dry-run]
  Builds the release shim (static PIE) and the release pinhole CLI, unless --bin-dir names a
  directory holding prebuilt containerd-shim-pinhole-v2 and pinhole; installs both into
  PREFIX/bin with install(1) (a new inode: running shims keep their code); installs
  runtimeclass/policies/* into the policy dir, and pinhole.toml once more as policy.toml, the
  pinhole CLI's default ceiling (read from /etc/pinhole/policy.toml; a locally modified
  policy is kept as NAME.bak);
  merges runtimeclass/containerd/config-v{2,3}.toml (matching the config's version; a new
  config gets the version the node's containerd reads natively: 2 for 1.x, 3 for 2.x) into the
  containerd config between the lines
    $BEGIN_MARK
    $END_MARK
  (re-running replaces that block), keeping FILE.pinhole-bak.<date>, and validates the result
  with that containerd's 'config dump' when it is installed (restoring FILE if it fails).
  Nodes are not labelled; the kubectl commands to run are printed.
  --prefix DIR      binaries go to DIR/bin (default /usr/local)
  --config FILE     containerd config (default /etc/containerd/config.toml; created as a
                    minimal config when missing)
  --policy-dir DIR  handler policies, named by the handlers' ConfigPath (default /etc/pinhole)
  --bin-dir DIR     install prebuilt binaries from DIR instead of building
  --containerd BIN  the node's containerd binary, whose version decides the fragment and which
                    validates the result (default: containerd on PATH)
  --config-version N  write a new config as version N (2 or 3) whatever containerd's version;
                    an existing config keeps its own version
  --restart         restart containerd afterwards (systemctl)
  --uninstall       remove the config block, the binaries and the policies again
  --dry-run         print the config diff and the actions; change nothing
EOF
  exit 2
}

BEGIN_MARK='# BEGIN pinhole (managed by hack/install.sh)'
END_MARK='# END pinhole'
# Notes inside the block, so that --uninstall can restore the file exactly.
NOTE_CREATED='# (hack/install.sh created this file; --uninstall deletes it again)'
NOTE_NONL='# (the file did not end with a newline before hack/install.sh added this block)'
SHIM_NAME=containerd-shim-pinhole-v2
CLI_NAME=pinhole

PREFIX=/usr/local
CONFIG=/etc/containerd/config.toml
POLICY_DIR=/etc/pinhole
BIN_DIR=
CONTAINERD_BIN=containerd
FORCED_VERSION=
RESTART=0
UNINSTALL=0
DRY_RUN=0

while [ $# -gt 0 ]; do
  case $1 in
    --prefix | --config | --policy-dir | --bin-dir | --containerd | --config-version)
      if [ $# -lt 2 ] || [ -z "$2" ]; then echo "error: $1 needs an argument" >&2; usage; fi
      case $1 in
        --prefix) PREFIX=$2 ;;
        --config) CONFIG=$2 ;;
        --policy-dir) POLICY_DIR=$2 ;;
        --bin-dir) BIN_DIR=$2 ;;
        --containerd) CONTAINERD_BIN=$2 ;;
        --config-version)
          case $2 in 2 | 3) FORCED_VERSION=$2 ;; *) echo "error: --config-version $2: must be 2 or 3" >&2; usage ;; esac ;;
      esac
      shift 2
      ;;
    --restart) RESTART=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage ;;
    *) echo "error: unknown argument: $1" >&2; usage ;;
  esac
done

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# abs PATH: PATH made absolute (not resolved), without trailing slashes.
abs() {
  local p=$1
  case $p in /*) ;; *) p=$PWD/$p ;; esac
  while [ "${#p}" -gt 1 ] && [ "${p%/}" != "$p" ]; do p=${p%/}; done
  printf '%s' "$p"
}
PREFIX=$(abs "$PREFIX")
CONFIG=$(abs "$CONFIG")
POLICY_DIR=$(abs "$POLICY_DIR")
[ -z "$BIN_DIR" ] || BIN_DIR=$(abs "$BIN_DIR")
BIN_DEST=${PREFIX%/}/bin
# The policy dir ends up in a TOML string; keep that trivially safe.
case $POLICY_DIR in *[\"\\\'$'\n']*) die "--policy-dir must not contain quotes, backslashes or newlines: $POLICY_DIR" ;; esac
[ ! -d "$CONFIG" ] || die "--config $CONFIG is a directory"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAMP=$(date +%Y%m%d-%H%M%S)
DONE=() # what was done (or, with --dry-run, would be done), printed at the end

say() { DONE+=("$*"); }
dry() { [ "$DRY_RUN" = 1 ]; }

# unused_name BASE: BASE, or BASE.1, BASE.2, ... whichever does not exist yet.
unused_name() {
  local n=0 p=$1
  while [ -e "$p" ] || [ -L "$p" ]; do n=$((n + 1)); p=$1.$n; done
  printf '%s' "$p"
}

# The node's containerd version ("2.1.9+unknown" -> 2.1.9), empty when it is not installed.
CONTAINERD_VERSION=
if command -v "$CONTAINERD_BIN" >/dev/null 2>&1; then
  CONTAINERD_VERSION=$("$CONTAINERD_BIN" --version 2>/dev/null | awk '{print $3}')
  CONTAINERD_VERSION=${CONTAINERD_VERSION#v}
  [ -n "$CONTAINERD_VERSION" ] || die "$CONTAINERD_BIN --version names no version"
elif [ "$CONTAINERD_BIN" != containerd ]; then
  die "--containerd $CONTAINERD_BIN: not an executable"
fi
CONTAINERD_MAJOR=${CONTAINERD_VERSION%%.*}
# Config version for a new file: what that containerd reads natively (2.x: 3), else 2.
if [ -n "$CONTAINERD_MAJOR" ] && [ "$CONTAINERD_MAJOR" -ge 2 ] 2>/dev/null; then NATIVE_VERSION=3; else NATIVE_VERSION=2; fi
DEFAULT_VERSION=$NATIVE_VERSION
if [ -n "$FORCED_VERSION" ]; then
  if [ "$FORCED_VERSION" = 3 ] && [ "$NATIVE_VERSION" = 2 ] && [ -n "$CONTAINERD_VERSION" ]; then
    die "--config-version 3: containerd $CONTAINERD_VERSION reads config version 2 only (version 3 needs containerd 2.x)"
  fi
  DEFAULT_VERSION=$FORCED_VERSION
fi

# ---------------------------------------------------------------------------------------------
# containerd config: split into head / block / tail, compute the new file in $WORK/new.

# The current file (empty when missing) in $WORK/cur; CFG_EXISTS=0|1.
CFG_EXISTS=0
: >"$WORK/cur"
if [ -e "$CONFIG" ]; then
  [ -f "$CONFIG" ] || die "$CONFIG is not a regular file"
  [ -r "$CONFIG" ] || die "cannot read $CONFIG"
  cat "$CONFIG" >"$WORK/cur"
  CFG_EXISTS=1
fi

# Marker lines -> HEAD/BLOCK/TAIL files; HAS_BLOCK=0|1.
nb=$(grep -cxF -- "$BEGIN_MARK" "$WORK/cur" || true)
ne=$(grep -cxF -- "$END_MARK" "$WORK/cur" || true)
HAS_BLOCK=0
if [ "$nb" = 0 ] && [ "$ne" = 0 ]; then
  cp "$WORK/cur" "$WORK/head"
  : >"$WORK/block"
  : >"$WORK/tail"
else
  if [ "$nb" != 1 ] || [ "$ne" != 1 ]; then
    die "$CONFIG has $nb '$BEGIN_MARK' and $ne '$END_MARK' lines (expected one each); fix it by hand"
  fi
  b=$(grep -nxF -- "$BEGIN_MARK" "$WORK/cur" | cut -d: -f1)
  e=$(grep -nxF -- "$END_MARK" "$WORK/cur" | cut -d: -f1)
  [ "$b" -lt "$e" ] || die "$CONFIG: '$END_MARK' (line $e) comes before '$BEGIN_MARK' (line $b); fix it by hand"
  head -n $((b - 1)) "$WORK/cur" >"$WORK/head"
  sed -n "${b},${e}p" "$WORK/cur" >"$WORK/block"
  tail -n +$((e + 1)) "$WORK/cur" >"$WORK/tail"
  HAS_BLOCK=1
fi
cat "$WORK/head" "$WORK/tail" >"$WORK/rest"

# Flags carried by an existing block, or derived from the file for a new one.
if [ "$HAS_BLOCK" = 1 ]; then
  CREATED=0; NONL=0
  grep -qxF -- "$NOTE_CREATED" "$WORK/block" && CREATED=1
  grep -qxF -- "$NOTE_NONL" "$WORK/block" && NONL=1
else
  CREATED=$((1 - CFG_EXISTS))
  NONL=0
  [ ! -s "$WORK/cur" ] || [ -z "$(tail -c1 "$WORK/cur")" ] || NONL=1
fi

# Non-comment lines of the rest (outside the markers), with line numbers of the whole file
# (approximate when a block sits before them: good enough for error messages).
code_lines() { grep -nvE '^[[:space:]]*(#|$)' "$WORK/rest" || true; }

# `version = N` before the first table of the rest.
CFG_VERSION=$(awk '
  /^[ \t]*(#|$)/ { next }
  /^[ \t]*\[/ { exit }
  /^[ \t]*version[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]*(#.*)?$/, "", v); print v; exit }
' "$WORK/rest")
HAS_TABLES=0
grep -qE '^[[:space:]]*\[' "$WORK/rest" && HAS_TABLES=1

install_config_block() {
  local conflict frag version_in_block=0 prefix_table default_rt
  conflict=$(code_lines | grep -E "runtimes[[:space:]]*\.[[:space:]]*(pinhole(-strict)?|\"pinhole(-strict)?\"|'pinhole(-strict)?')[[:space:]]*(\.|\]|=)" | head -n1 || true)
  if [ -n "$conflict" ]; then
    local line=${conflict%%:*} text=${conflict#*:}
    text=$(printf '%s' "$text" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    die "$CONFIG already defines $text (line $line) outside the '$BEGIN_MARK' block; remove it (or move it into the block) and re-run"
  fi

  if [ -z "$CFG_VERSION" ]; then
    # containerd reads a file without `version` as version 1 (plugin names without the
    # io.containerd.* prefix): our tables would be ignored. Only a file without tables can
    # simply gain a version line (at the top of the block: still before any table).
    [ "$HAS_TABLES" = 0 ] ||
      die "$CONFIG has no 'version = 2' line, so containerd reads it as a version 1 config, which pinhole does not support; add 'version = 2' at its top (containerd 1.6/1.7) or run 'containerd config migrate' (2.x) first"
    if [ "$CREATED" = 1 ]; then
      printf 'version = %s\n' "$DEFAULT_VERSION" >"$WORK/head"
      cat "$WORK/head" "$WORK/tail" >"$WORK/rest"
      CFG_VERSION=$DEFAULT_VERSION
    else
      version_in_block=1
      CFG_VERSION=$DEFAULT_VERSION
    fi
  fi
  case $CFG_VERSION in
    2) prefix_table='plugins."io.containerd.grpc.v1.cri".containerd' ;;
    3) prefix_table='plugins."io.containerd.cri.v1.runtime".containerd' ;;
    1) die "$CONFIG is a version 1 containerd config, which pinhole does not support; migrate it to version 2 first" ;;
    *) die "$CONFIG has an unsupported config version '$CFG_VERSION' (pinhole supports 2 and 3)" ;;
  esac
  if [ "$CFG_VERSION" = 3 ] && [ -n "$CONTAINERD_MAJOR" ] && [ "$NATIVE_VERSION" = 2 ]; then
    die "$CONFIG is a version 3 config, which containerd $CONTAINERD_VERSION cannot read (it reads version 2 only; version 3 needs containerd 2.x): nothing changed"
  fi
  frag=$REPO/runtimeclass/containerd/config-v$CFG_VERSION.toml
  [ -f "$frag" ] || die "missing fragment $frag"
  grep -q 'io\.containerd\.pinhole\.v2' "$frag" || die "$frag does not configure runtime type io.containerd.pinhole.v2"

  # containerd (1.6 at least) replaces its built-in runtimes map, and with it the default
  # handler runc, as soon as a config defines any runtime: CRI then fails to load ("no
  # corresponding runtime configured ... default_runtime_name"). So when the rest of the file
  # defines no runtime and keeps the default runc, the block restates runc as containerd has it.
  default_rt=$(code_lines | sed -n 's/^[0-9]*:[[:space:]]*default_runtime_name[[:space:]]*=[[:space:]]*["'\'']\([^"'\'']*\)["'\''].*/\1/p' | head -n1)
  local restate_runc=0
  if [ "${default_rt:-runc}" = runc ] && ! code_lines | grep -qE 'runtimes[[:space:]]*\.'; then restate_runc=1; fi

  {
    printf '%s\n' "$BEGIN_MARK"
    [ "$CREATED" = 0 ] || printf '%s\n' "$NOTE_CREATED"
    [ "$NONL" = 0 ] || printf '%s\n' "$NOTE_NONL"
    [ "$version_in_block" = 0 ] || printf 'version = %s\n' "$CFG_VERSION"
    printf '# from runtimeclass/containerd/config-v%s.toml (policies in %s)\n' "$CFG_VERSION" "$POLICY_DIR"
    # The fragment minus its leading comment header, its `version` line and leading blank
    # lines, with the policy paths under the policy dir.
    awk -v dir="$POLICY_DIR" '
      function repl(s, from, to,   i, out) {
        out = ""
        while ((i = index(s, from)) > 0) { out = out substr(s, 1, i - 1) to; s = substr(s, i + length(from)) }
        return out s
      }
      !started && /^[ \t]*(#|$)/ { next }
      !intable && /^[ \t]*version[ \t]*=/ { next }
      /^[ \t]*\[/ { intable = 1 }
      { started = 1; print repl($0, "\"/etc/pinhole/", "\"" dir "/") }
    ' "$frag" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
    if [ "$restate_runc" = 1 ]; then
      printf '\n# containerd 1.x replaces its built-in runtimes (runc) once the config defines one, and\n'
      printf '# this file defines none besides pinhole: keep runc, the default handler.\n'
      printf '[%s.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n' "$prefix_table"
    fi
    printf '%s\n' "$END_MARK"
  } >"$WORK/newblock"

  {
    cat "$WORK/head"
    [ "$HAS_BLOCK" = 1 ] || [ "$NONL" = 0 ] || printf '\n'
    cat "$WORK/newblock" "$WORK/tail"
  } >"$WORK/new"
}

uninstall_config_block() {
  if [ "$HAS_BLOCK" = 0 ]; then
    cp "$WORK/cur" "$WORK/new"
    return
  fi
  if [ "$NONL" = 1 ] && [ ! -s "$WORK/tail" ] && [ -s "$WORK/head" ]; then
    head -c -1 "$WORK/head" >"$WORK/new"
  else
    cat "$WORK/head" "$WORK/tail" >"$WORK/new"
  fi
}

# check_config FILE MODE: containerd must load FILE (MODE install: and see the pinhole runtime
# type and a runtime for its default_runtime_name). Prints the reason and fails otherwise.
# Without containerd it only warns.
check_config() {
  local file=$1 mode=$2 name
  if [ -z "$CONTAINERD_VERSION" ]; then
    warn "containerd is not installed: $CONFIG not validated"
    return 0
  fi
  if ! "$CONTAINERD_BIN" --config "$file" config dump >"$WORK/dump" 2>"$WORK/dump.err"; then
    echo "containerd cannot load it: $(grep -v '^[[:space:]]*$' "$WORK/dump.err" | tail -n1)"
    return 1
  fi
  [ "$mode" = install ] || return 0
  grep -q 'io\.containerd\.pinhole\.v2' "$WORK/dump" || {
    echo "containerd loads it but configures no io.containerd.pinhole.v2 runtime"
    return 1
  }
  name=$(sed -n 's/^[[:space:]]*default_runtime_name = ["'\'']\(.*\)["'\'']$/\1/p' "$WORK/dump" | head -n1)
  if [ -n "$name" ] && ! grep -qF -e "runtimes.$name]" -e "runtimes.\"$name\"]" -e "runtimes.'$name']" "$WORK/dump"; then
    echo "containerd's CRI plugin would fail: no runtime for default_runtime_name \"$name\""
    return 1
  fi
}

# precheck_config MODE: validate the new config in a scratch copy before anything is changed
# (skipped when the config has `imports`: relative ones resolve against the config's directory;
# write_config validates the real file anyway).
precheck_config() {
  local reason
  [ -n "$CONTAINERD_VERSION" ] && [ -s "$WORK/new" ] || return 0
  ! cmp -s "$WORK/cur" "$WORK/new" || return 0
  if grep -qE '^[[:space:]]*imports[[:space:]]*=' "$WORK/new"; then return 0; fi
  mkdir -p "$WORK/check"
  cp "$WORK/new" "$WORK/check/config.toml"
  reason=$(check_config "$WORK/check/config.toml" "$1") ||
    die "the new $CONFIG would not validate, nothing changed: $reason"
}

# write_config: put $WORK/new in place (or delete the file), keeping a backup; validate and roll
# back on failure. With --dry-run: show the diff and validate a copy.
write_config() {
  local mode=$1 delete=0 backup reason
  if [ "$mode" = uninstall ] && [ "$HAS_BLOCK" = 0 ]; then
    say "$CONFIG: unchanged (no pinhole block)"
    return 0
  fi
  if [ "$mode" = uninstall ] && [ "$CREATED" = 1 ] && grep -qxE 'version = [0-9]+' "$WORK/new" &&
    [ "$(wc -l <"$WORK/new")" = 1 ]; then
    delete=1
  fi
  if [ "$delete" = 0 ] && [ "$CFG_EXISTS" = 1 ] && cmp -s "$WORK/cur" "$WORK/new"; then
    say "$CONFIG: unchanged (pinhole block up to date)"
    return 0
  fi
  if dry; then
    echo "--- config diff ($CONFIG) ---"
    if [ "$delete" = 1 ]; then
      echo "(would delete $CONFIG: hack/install.sh created it)"
    else
      diff -u --label "$CONFIG" --label "$CONFIG (new)" "$WORK/cur" "$WORK/new" || true
    fi
    echo "--- end of config diff ---"
    if [ "$CFG_EXISTS" = 0 ]; then say "would create $CONFIG"; else say "would update $CONFIG (backup $CONFIG.pinhole-bak.$STAMP)"; fi
    return 0
  fi
  backup=
  if [ "$CFG_EXISTS" = 1 ]; then
    backup=$(unused_name "$CONFIG.pinhole-bak.$STAMP")
    cp -p "$CONFIG" "$backup" || die "cannot write the backup $backup"
  fi
  if [ "$delete" = 1 ]; then
    rm -f "$CONFIG"
    say "deleted $CONFIG (hack/install.sh had created it; backup $backup)"
    return 0
  fi
  if [ "$CFG_EXISTS" = 0 ]; then
    mkdir -p "$(dirname "$CONFIG")" || die "cannot create $(dirname "$CONFIG")"
    (umask 022 && cat "$WORK/new" >"$CONFIG") || die "cannot write $CONFIG"
  else
    # In place (keeps owner, mode and a symlinked config's target).
    cat "$WORK/new" >"$CONFIG" || { cat "$backup" >"$CONFIG"; die "cannot write $CONFIG (restored it from $backup)"; }
  fi
  if ! reason=$(check_config "$CONFIG" "$mode"); then
    if [ -n "$backup" ]; then cat "$backup" >"$CONFIG"; else rm -f "$CONFIG"; fi
    die "$CONFIG does not validate after the change, rolled back$([ -n "$backup" ] && echo " from $backup" || echo " (removed)"): $reason"
  fi
  if [ "$mode" = install ]; then
    say "merged the pinhole handlers (config version $CFG_VERSION) into $CONFIG${backup:+ (backup $backup)}"
  else
    say "removed the pinhole block from $CONFIG${backup:+ (backup $backup)}"
  fi
  [ -z "$CONTAINERD_VERSION" ] || say "validated $CONFIG with containerd $CONTAINERD_VERSION (config dump)"
  CONFIG_CHANGED=1
}
CONFIG_CHANGED=0

# ---------------------------------------------------------------------------------------------
# Binaries and policies.

install_binaries() {
  local shim cli f
  if [ -n "$BIN_DIR" ]; then
    shim=$BIN_DIR/$SHIM_NAME
    cli=$BIN_DIR/$CLI_NAME
    for f in "$shim" "$cli"; do
      if [ ! -f "$f" ] || [ ! -x "$f" ]; then die "--bin-dir $BIN_DIR has no executable $(basename "$f")"; fi
    done
  elif dry; then
    say "would build the release shim and the pinhole binary it uses (hack/lib.sh build_shim_release)"
    shim="(built) $SHIM_NAME"
    cli="(built) $CLI_NAME"
  else
    ensure_cargo
    build_shim_release || die "building the shim failed"
    shim=$SHIM_BIN
    cli=$(dirname "$SHIM_BIN")/pinhole
  fi
  if dry; then
    say "would install $shim and $cli into $BIN_DEST"
    return 0
  fi
  mkdir -p "$BIN_DEST" || die "cannot create $BIN_DEST"
  # install(1) unlinks the old file first: a running shim keeps executing its own inode.
  install -m 0755 "$shim" "$BIN_DEST/$SHIM_NAME" || die "cannot install $BIN_DEST/$SHIM_NAME"
  install -m 0755 "$cli" "$BIN_DEST/$CLI_NAME" || die "cannot install $BIN_DEST/$CLI_NAME"
  say "installed $BIN_DEST/$SHIM_NAME and $BIN_DEST/$CLI_NAME"
  local systemd_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  case ":$systemd_path:" in
    *":$BIN_DEST:"*) ;;
    *) warn "$BIN_DEST is not on systemd's default PATH: make sure containerd finds $SHIM_NAME there" ;;
  esac
}

uninstall_binaries() {
  local f
  for f in "$BIN_DEST/$SHIM_NAME" "$BIN_DEST/$CLI_NAME"; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    if dry; then say "would remove $f"; else rm -f "$f" || die "cannot remove $f"; say "removed $f"; fi
  done
}

POLICY_SRC=$REPO/runtimeclass/policies

# keep_modified DST: move DST aside as DST.bak (or DST.bak.N) and print where.
keep_modified() {
  local bak
  bak=$(unused_name "$1.bak")
  if dry; then say "would keep the locally modified $1 as $bak"; return 0; fi
  mv "$1" "$bak" || die "cannot move $1 to $bak"
  warn "$1 was modified locally: kept it as $bak"
  say "kept the locally modified $1 as $bak"
}

# The pinhole CLI's default policy (what `pinhole create/run` apply without --policy or
# PINHOLE_POLICY: podman, Docker's --add-runtime): a copy of the pinhole handler's, in the
# policy dir as policy.toml. The CLI reads only /etc/pinhole/policy.toml.
CLI_POLICY_SRC=$POLICY_SRC/pinhole.toml
CLI_POLICY_NAME=policy.toml
CLI_POLICY_PATH=/etc/pinhole/policy.toml

# policy_files: "SRC<TAB>NAME" lines, the shipped policies and the CLI's default.
policy_files() {
  local src
  for src in "$POLICY_SRC"/*; do
    [ -f "$src" ] && printf '%s\t%s\n' "$src" "$(basename "$src")"
  done
  printf '%s\t%s\n' "$CLI_POLICY_SRC" "$CLI_POLICY_NAME"
}

install_policies() {
  local src name dst n=0 total=0
  dry || mkdir -p "$POLICY_DIR" || die "cannot create $POLICY_DIR"
  while IFS=$'\t' read -r src name; do
    total=$((total + 1))
    dst=$POLICY_DIR/$name
    if [ -e "$dst" ] && cmp -s "$src" "$dst"; then continue; fi
    [ ! -e "$dst" ] || keep_modified "$dst"
    if dry; then say "would install $dst"; continue; fi
    install -m 0644 "$src" "$dst" || die "cannot install $dst"
    n=$((n + 1))
  done < <(policy_files)
  dry || say "installed $n policy file(s) into $POLICY_DIR ($total shipped, $CLI_POLICY_NAME = the CLI's default, a copy of $(basename "$CLI_POLICY_SRC"))"
  [ "$POLICY_DIR/$CLI_POLICY_NAME" = "$CLI_POLICY_PATH" ] ||
    warn "the pinhole CLI reads $CLI_POLICY_PATH, not $POLICY_DIR/$CLI_POLICY_NAME: without it, or PINHOLE_POLICY=$POLICY_DIR/$CLI_POLICY_NAME, it applies its built-in pinhole policy"
}

uninstall_policies() {
  local src name dst
  while IFS=$'\t' read -r src name; do
    dst=$POLICY_DIR/$name
    [ -e "$dst" ] || continue
    if cmp -s "$src" "$dst"; then
      if dry; then say "would remove $dst"; else rm -f "$dst" || die "cannot remove $dst"; say "removed $dst"; fi
    else
      keep_modified "$dst"
    fi
  done < <(policy_files)
  dry || rmdir "$POLICY_DIR" 2>/dev/null || true
}

restart_containerd() {
  if [ "$RESTART" = 0 ]; then
    [ "$CONFIG_CHANGED" = 0 ] ||
      echo "containerd was not restarted: run 'systemctl restart containerd' (or pass --restart) to load the new config"
    return 0
  fi
  if dry; then echo "would restart containerd (systemctl restart containerd)"; return 0; fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl restart containerd || die "systemctl restart containerd failed"
    echo "restarted containerd (systemctl restart containerd)"
  else
    echo "no systemd here: restart containerd yourself to load $CONFIG"
  fi
}

# ---------------------------------------------------------------------------------------------

if [ "$UNINSTALL" = 0 ]; then
  install_config_block # first: refuses before anything is changed
  precheck_config install
  install_binaries
  install_policies
  write_config install
else
  uninstall_config_block
  precheck_config uninstall
  write_config uninstall
  uninstall_binaries
  uninstall_policies
fi

echo
if dry; then echo "hack/install.sh: dry run, nothing changed:"; else echo "hack/install.sh: done:"; fi
for d in "${DONE[@]}"; do echo "  - $d"; done
restart_containerd
if [ "$UNINSTALL" = 0 ]; then
  cat <<EOF

Next (not done here): label the nodes that run pinhole and create the RuntimeClasses:
  kubectl label node <node> pinhole.dev/runtime=true     # this node is probably '$(hostname)'
  kubectl apply -f $REPO/runtimeclass/kubernetes/
EOF
else
  cat <<EOF

Next (not done here): unlabel the node (and delete the RuntimeClasses once no node has pinhole):
  kubectl label node <node> pinhole.dev/runtime-
  kubectl delete -f $REPO/runtimeclass/kubernetes/
EOF
fi
