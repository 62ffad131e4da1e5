#!/bin/sh
# The cgroup v2 walk, run inside the QEMU guest as /guest.sh (tests/qemu/run-guest.sh puts it
# there; tests/v2_guest.rs boots it and reads the markers). busybox sh, as PID 1's child.
#
# The guest is a plain cgroup v2 host: cgroup2 on /sys/fs/cgroup, its root subtree_control
# empty, so hako has to enable +memory +cpu itself. One boot runs: the walk with a script on
# the shell's stdin; the walk with --demos; the walk with --pids 20 --demos; the walk with
# --overlay --demos; hako inside two containers' cgroup namespaces
# (controllers not delegated, and a root with processes: EBUSY); then a look at what is left.
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
(echo 1000 > /proc/self/oom_score_adj; exec dd if="$zero" of=/dev/null bs=50M count=1)
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

# 4. The walk again with the demonstrations (--demos): the limits lesson's OOM kill and CPU
#    throttling, read back from memory.events and cpu.stat. Same boot: no second guest.
echo "HAKO-DEMOS-START=$(uptime_s)"
NO_COLOR=1 timeout 150 hako --auto --demos --lang en -- /bin/true >"$w/demos.out" 2>"$w/demos.err"
status=$?
echo "HAKO-DEMOS-END=$(uptime_s)"
section HAKO-DEMOS-STDERR "$w/demos.err"
echo "HAKO-DEMOS-EXIT=$status"
ls -1A /sys/fs/cgroup >"$w/cgroup.ls"
section DEMOS-CGROUP-LS-AFTER "$w/cgroup.ls"

# 4b. --pids: the pids lesson on v2 (+pids enabled by hako, pids.max in the same cgroup), its
#     fork-loop demonstration, then a shell inside that starts background sleeps until a fork
#     fails (busybox sh ends that child shell; PID 1 counts with builtins only). --from pids:
#     the lessons before it run silently, without their demonstrations.
cat >"$w/pids-inner.sh" <<'PIDS'
sh -c 'i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); echo started; done' >/tmp/pids.log 2>/tmp/pids.err
echo "PIDS-INNER=$?"
n=0; while read -r l; do n=$((n+1)); done </tmp/pids.log
echo "PIDS-STARTED=$n"
read -r e </tmp/pids.err; echo "PIDS-ERR=$e"
PIDS
echo "SUBTREE-BEFORE-PIDS=[$(cat /sys/fs/cgroup/cgroup.subtree_control)]"
NO_COLOR=1 timeout 150 hako --auto --pids 20 --demos --from pids --lang en -- /bin/sh -c "$(cat "$w/pids-inner.sh")" >"$w/pids.out" 2>"$w/pids.err"
status=$?
section HAKO-PIDS-STDERR "$w/pids.err"
section HAKO-PIDS-STDOUT "$w/pids.out"
echo "HAKO-PIDS-EXIT=$status"
echo "SUBTREE-AFTER-PIDS=[$(cat /sys/fs/cgroup/cgroup.subtree_control)]"
ls -1A /sys/fs/cgroup >"$w/cgroup.ls"
section PIDS-CGROUP-LS-AFTER "$w/cgroup.ls"

# 4c. --overlay: the rootfs as an overlay of its cached layer (the overlay module, which
#     Debian's 6.1 kernel builds as a module, loaded by /init), with its demonstration (two
#     overlays of the same layer at once). The cache is in /run, so that /tmp holds only
#     what hako makes (and removes). --from overlay: preflight and rootfs run silently.
echo "OVERLAY-FS=$(grep -cw overlay /proc/filesystems)"
NO_COLOR=1 HAKO_CACHE_DIR=/run/hako-cache timeout 150 hako --auto --overlay --demos --from overlay --lang en -- /bin/sh -c 'echo inside > /ovl-written && echo "OVL-READ=$(cat /ovl-written)"' >"$w/ovl.out" 2>"$w/ovl.err"
status=$?
section HAKO-OVERLAY-STDERR "$w/ovl.err"
section HAKO-OVERLAY-STDOUT "$w/ovl.out"
echo "HAKO-OVERLAY-EXIT=$status"
grep -w overlay /proc/mounts >"$w/ovl.mounts" || true
section OVL-MOUNTS-LEFT "$w/ovl.mounts"
ls -1A /run/hako-cache/layers >"$w/ovl.cache" 2>&1 || true
section OVERLAY-CACHE-AFTER "$w/ovl.cache"

# 5. hako inside a container's cgroup namespace, two ways (util-linux unshare, passed in
#    /extra: busybox's has no -C). A shell is moved into a cgroup, then `unshare -Cm`
#    makes that cgroup the namespace's root and cgroup2 is mounted again, as a container
#    runtime does. ND: the cgroup's parent delegates nothing (nd/inner under an nd with an
#    empty subtree_control). BOX: controllers are offered, but the cgroup holds processes,
#    so "no internal processes" makes enabling them fail with EBUSY.
cat >"$w/ns.sh" <<'NS'
# $1: the case's name; runs as the root of a new cgroup and mount namespace.
w=/run/walk
if umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup; then
  echo "$1-REMOUNT=ok"
else
  echo "$1-REMOUNT=failed"
fi
echo "$1-MOUNTINFO=$(grep ' /sys/fs/cgroup ' /proc/self/mountinfo)"
echo "$1-OWN=$(cat /proc/self/cgroup)"
echo "$1-NESTED=$([ -e /sys/fs/cgroup/cgroup.type ] && echo yes || echo no)"
echo "$1-CONTROLLERS=[$(cat /sys/fs/cgroup/cgroup.controllers)]"
if [ "$1" = BOX ]; then
  # What the kernel says, with no hako involved.
  if echo "+memory +cpu" >/sys/fs/cgroup/cgroup.subtree_control 2>"$w/raw.err"; then
    echo "BOX-RAW-ENABLE=ok"
  else
    echo "BOX-RAW-ENABLE=$(cat "$w/raw.err")"
  fi
fi
NO_COLOR=1 timeout 60 hako --auto --lang en -- /bin/true >"$w/$1.out" 2>"$w/$1.err"
echo "$1-HAKO-EXIT=$?"
NS
ns_case() { # NAME CGROUP
  mkdir -p "/sys/fs/cgroup/$2"
  /bin/sh -c 'echo $$ >"$1/cgroup.procs" && exec /extra/unshare -Cm /bin/sh "$2" "$3"' \
    sh "/sys/fs/cgroup/$2" "$w/ns.sh" "$1"
  section "$1-STDERR" "$w/$1.err"
}
if [ -x /extra/unshare ]; then
  ns_case ND nd/inner
  ns_case BOX box
  # busybox timeout leaves a watcher that polls for up to a second after the command.
  for d in nd/inner nd box; do
    i=0
    until rmdir "/sys/fs/cgroup/$d" 2>/dev/null || [ $i -ge 30 ]; do sleep 0.1; i=$((i + 1)); done
  done
else
  echo "LAYOUTS=no /extra/unshare"
fi

# 6. What is left once every run is over.
ls -1A /sys/fs/cgroup >"$w/cgroup.ls"
section FINAL-CGROUP-LS "$w/cgroup.ls"
ls -1A /tmp >"$w/tmp.ls"
section FINAL-TMP "$w/tmp.ls"
exit 0
