#!/bin/bash
# Demo: run one container with `pinhole run` and show its confinement next to the host.
# Installs what it needs, builds pinhole (release) and the test rootfs, writes a bundle in a temp
# dir, runs the same probe on the host and inside the container, prints both side by side and
# removes everything it created.
set -euo pipefail

usage() {
  cat >&2 <<EOF
usage: $(basename "$0")
  Builds the release pinhole (target/<host triple>/release/pinhole) and the test rootfs, then
  runs a probe (capabilities, no_new_privs, seccomp, id, hostname, mount, mkdir under a seccomp
  errno rule, write to the read-only rootfs)
  on the host and inside a pinhole container, side by side. Needs root.
  env: KEEP=1 keeps the temp dir (bundle, outputs) for inspection.
       PINHOLE=/path/to/pinhole skips the release build; ROOTFS=DIR skips hack/build-rootfs.sh
       (any runc-compatible binary works, e.g. PINHOLE=/usr/sbin/runc to compare).
EOF
  exit 2
}
[ $# -eq 0 ] || usage

# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_root

ensure_packages
if [ -n "${PINHOLE:-}" ]; then
  PINHOLE_BIN=$(command -v "$PINHOLE") || die "PINHOLE=$PINHOLE not found"
else
  ensure_cargo
  build_pinhole_release
fi
if [ -z "${ROOTFS:-}" ]; then build_rootfs; fi
[ -x "$ROOTFS/bin/busybox" ] || die "$ROOTFS/bin/busybox missing: the demo runs its probe with busybox"
command -v busybox >/dev/null || die "host busybox missing (package busybox-static)"

T=$(mktemp -d /tmp/pinhole-demo.XXXXXX)
ID=pinhole-demo-$$
HOSTROOT=$T/host
cleanup() {
  local rc=$?
  "$PINHOLE_BIN" --root "$T/state" delete --force "$ID" >/dev/null 2>&1 || true
  mountpoint -q "$HOSTROOT/dev/shm" 2>/dev/null && umount "$HOSTROOT/dev/shm"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The probe: one output line per check, "label: value", so host and container lines pair up.
# $1 = prefix for the paths it touches ("" in the container, a scratch dir on the host).
# shellcheck disable=SC2016
PROBE='
R=$1
bb() { busybox "$@"; }
bb grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status | bb tr -s "\t " "  "
echo "id: $(bb id 2>&1)"
echo "hostname: $(bb hostname 2>&1)"
echo "pid of the shell: $$"
echo "network interfaces: $(bb tail -n +3 /proc/net/dev | bb cut -d: -f1 | bb tr -d " " | bb tr "\n" " ")"
try() {
  label=$1; shift
  if out=$("$@" 2>&1); then echo "$label: ok"; else echo "$label: DENIED: ${out##*: }"; fi
}
try "mount -t tmpfs" bb mount -t tmpfs pinhole-demo "$R/dev/shm"
bb umount "$R/dev/shm" 2>/dev/null
try "mkdir (seccomp errno rule)" bb mkdir "$R/dev/shm/pinhole-demo-dir"
try "write to /" bb touch "$R/pinhole-demo-file"
try "chown (needs CAP_CHOWN)" bb sh -c "echo x > \"$R/dev/shm/f\" && busybox chown 1:1 \"$R/dev/shm/f\""
'

# Seccomp for the demo: the Docker-default allowlist, except that mkdir/mkdirat fail with EACCES.
PROFILE=$REPO/hack/profiles/docker-default-allowlist.json
jq '.syscalls[0].names -= ["mkdir", "mkdirat"]
    | .syscalls += [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13}]' \
  "$PROFILE" >"$T/seccomp.json"

B=$T/bundle
write_bundle "$B" "$ROOTFS" '
  .root.readonly = true | .hostname = "pinhole-demo"
  | .process.args = ["/bin/busybox", "sh", "-c", $probe, "probe", ""]
  | .linux.seccomp = $sc
  | .annotations["run.pinhole.seccomp.optional"] = "recv,send"' \
  --arg probe "$PROBE" --argjson sc "$(cat "$T/seccomp.json")"

log "host: busybox sh -c PROBE"
mkdir -p "$HOSTROOT/dev/shm"
busybox sh -c "$PROBE" probe "$HOSTROOT" >"$T/host.txt" 2>&1 || true

log "container: pinhole --root $T/state run --bundle $B $ID"
rc=0
"$PINHOLE_BIN" --root "$T/state" run --bundle "$B" "$ID" >"$T/container.txt" 2>"$T/container.err" || rc=$?

# capnames HEXMASK: comma-separated capability names of a /proc/PID/status Cap* mask.
CAPS=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
  NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
  SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
  AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
  PERFMON BPF CHECKPOINT_RESTORE)
capnames() {
  local m=$((16#${1:-0})) i out="" n=0
  for i in "${!CAPS[@]}"; do (((m >> i) & 1)) && { out+="${CAPS[$i]},"; n=$((n + 1)); }; done
  if [ $n -eq 0 ]; then echo "(none)"; elif [ $n -gt 6 ]; then echo "($n capabilities)"; else echo "${out%,}"; fi
}
for f in host container; do
  eff=$(sed -n 's/^CapEff: *//p' "$T/$f.txt")
  [ -n "$eff" ] && sed -i "/^CapEff:/a CapEff names: $(capnames "$eff")" "$T/$f.txt"
done

echo
printf '%-28s %-34s %s\n' "" "HOST" "PINHOLE CONTAINER"
printf '%-28s %-34s %s\n' "" "----" "-----------------"
# Pair lines by label (text before the first ':'), host order first.
awk '
  function label(l) { return substr(l, 1, index(l, ":") - 1) }
  function value(l) { v = substr(l, index(l, ":") + 1); sub(/^[ \t]+/, "", v); return v }
  FNR == NR { if (index($0, ":")) { n++; order[n] = label($0); h[label($0)] = value($0) } next }
  index($0, ":") { c[label($0)] = value($0); if (!(label($0) in h)) { n++; order[n] = label($0) } }
  END { for (i = 1; i <= n; i++) { k = order[i]; printf "%-28s %-34s %s\n", k, (k in h ? h[k] : "-"), (k in c ? c[k] : "-") } }
' "$T/host.txt" "$T/container.txt"
echo

if [ $rc -ne 0 ]; then
  echo "pinhole run failed with exit status $rc; its stderr:" >&2
  sed 's/^/  /' "$T/container.err" >&2
  exit $rc
fi
[ -s "$T/container.err" ] && { echo "pinhole stderr:"; sed 's/^/  /' "$T/container.err"; }
cat <<'EOF'
Cap*: capability sets as hex masks. The container's uid 0 keeps only what the spec asks for within
pinhole's capability ceiling (all five sets); NoNewPrivs 1, Seccomp 2 = filter mode.
mount: no CAP_SYS_ADMIN and not in the allowlist; mkdir: the profile's errno rule (EACCES);
write to /: the rootfs is read-only; chown: no CAP_CHOWN.
EOF
