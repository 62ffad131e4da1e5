#!/bin/sh
# The cgroup v2 walk, run inside the QEMU guest as /guest.sh (tests/qemu/run-guest.sh puts it
# there; tests/v2_guest.rs boots it and reads the markers). busybox sh, as PID 1's child.
#
# The guest is a plain cgroup v2 host: cgroup2 on /sys/fs/cgroup, its root subtree_control
# empty, so hako has to enable +memory +cpu itself.
# Markers: KEY=value lines, and NAME-BEGIN … NAME-END around captured output.
# The harness keeps its own files in /run/walk so that /tmp holds only what hako makes.
w=/run/walk
mkdir -p "$w"

# Print a file between NAME-BEGIN and NAME-END, on lines of their own.
section() {
  echo "$1-BEGIN"
  cat "$2"
  [ -n "$(tail -c1 "$2")" ] && echo
  echo "$1-END"
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

echo "GUEST-KERNEL=$(uname -r)"
echo "CGROUP-MOUNT=$(grep ' /sys/fs/cgroup ' /proc/mounts)"
echo "CONTROLLERS-BEFORE=[$(cat /sys/fs/cgroup/cgroup.controllers)]"
echo "SUBTREE-BEFORE=[$(cat /sys/fs/cgroup/cgroup.subtree_control)]"
echo "TMP-BEFORE=[$(ls -A /tmp)]"

# 1. hako list: no root, no cgroup needed; proves the binary runs in the guest.
hako list --lang en >"$w/list.out" 2>"$w/list.err"
echo "HAKO-LIST-EXIT=$?"
section HAKO-LIST-STDOUT "$w/list.out"
section HAKO-LIST-STDERR "$w/list.err"

# 2. The whole walk, no prompts; the container's shell reads this script on stdin.
#    /dev/zero may be absent from the container's /dev (the article binds only /dev/null):
#    then make one, so that dd fails for want of memory and not for want of a device.
cat >"$w/inner.sh" <<'INNER'
echo "IN-CGROUP=$(cat /proc/self/cgroup)"
echo "IN-PID=$$"
echo "IN-HOSTNAME=$(hostname)"
zero=/dev/zero
if [ -c /dev/zero ]; then
  echo "IN-DEVZERO=present"
else
  zero=/.hako-test-zero
  if mknod "$zero" c 1 5; then echo "IN-DEVZERO=made"; else echo "IN-DEVZERO=mknod-failed"; fi
fi
dd if="$zero" of=/dev/null bs=50M count=1
echo "IN-ALLOC=$?"
exit 7
INNER
echo "HAKO-WALK-START=$(uptime_s)"
# busybox timeout: a walk that hangs is stopped with SIGTERM (hako cleans up, exits 143)
# and the guest still reports what was left behind.
NO_COLOR=1 timeout 150 hako --auto --lang en <"$w/inner.sh" >"$w/hako.out" 2>"$w/hako.err"
status=$?
echo "HAKO-WALK-END=$(uptime_s)"
section HAKO-STDERR "$w/hako.err"
section HAKO-STDOUT "$w/hako.out"
echo "HAKO-EXIT=$status"

# 3. What hako left behind.
ls -1A /sys/fs/cgroup >"$w/cgroup.ls"
section CGROUP-LS-AFTER "$w/cgroup.ls"
echo "SUBTREE-AFTER=[$(cat /sys/fs/cgroup/cgroup.subtree_control)]"
ls -1A /tmp >"$w/tmp.ls"
section TMP-AFTER "$w/tmp.ls"
grep -E ' /tmp/| /run/hako' /proc/mounts >"$w/mounts" || true
section MOUNTS-AFTER "$w/mounts"
: >"$w/procs"
for p in /proc/[0-9]*; do
  case "$(readlink "$p/exe" 2>/dev/null)" in
    /usr/bin/hako*) echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline")" >>"$w/procs";;
  esac
done
section HAKO-PROCS-AFTER "$w/procs"
exit 0
