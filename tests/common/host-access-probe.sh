# Attempts at host access from inside a container; one "name=0" (it worked) or "name=1"
# (refused) line each. Writes are only opens for writing: nothing on the host changes even
# where the attempt succeeds. Used by tests/escapes.rs and tests/shim_escapes.rs.
try() { n=$1; shift; if sh -c "$*" >/dev/null 2>&1; then echo $n=0; else echo $n=1; fi; }
try core_pattern 'exec 3>>/proc/sys/kernel/core_pattern'
try drop_caches 'exec 3>>/proc/sys/vm/drop_caches'
try power_state 'exec 3>>/sys/power/state'
try kcore 'test -s /proc/kcore'
try timer_list 'test -n "$(head -c1 /proc/timer_list)"'
try kvm 'exec 3</dev/kvm'
try vsock 'exec 3</dev/vsock'
try fuse 'exec 3</dev/fuse'
try tty0 'exec 3</dev/tty0'
try pids_max 'for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do [ -e $f ] && exec 3>>$f; done; exit 1'
try mem_limit 'for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; do [ -e $f ] && exec 3>>$f; done; exit 1'
try sysfs_remount 'mount -o remount,rw /sys'
