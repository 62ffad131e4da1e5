#!/bin/sh
# The --harden walk, run inside the QEMU guest as /guest.sh (tests/v2_harden_guest.rs boots it
# through tests/qemu/run-guest.sh with HAKO_GUEST_TMPFS_ROOT=1, so that / is a tmpfs and not the
# initramfs, which pivot_root refuses). busybox sh. Markers as in guest-walk.sh.
w=/run/walk
mkdir -p "$w"
section() {
  echo "$1-BEGIN"
  cat "$2"
  [ -n "$(tail -c1 "$2")" ] && echo
  echo "$1-END"
}
echo "GUEST-KERNEL=$(uname -r)"
echo "ROOT-FS=$(grep ' / ' /proc/mounts | head -n1)"
cat >"$w/inner.sh" <<'INNER'
while read -r k v; do case $k in CapBnd:|NoNewPrivs:|Seccomp:) echo "IN-${k%:}=$v";; esac; done < /proc/self/status
read -r a b c < /proc/self/uid_map; echo "IN-UIDMAP=$a $b $c"
while read -r id parent dev root mp rest; do [ "$mp" = / ] && echo "IN-ROOTMNT=$root"; done < /proc/self/mountinfo
echo "IN-CGROUP=$(cut -d: -f3 /proc/self/cgroup | sort -u | tr '\n' ' ')"
echo "IN-TIMER_LIST=$(wc -c < /proc/timer_list)"
mount -t tmpfs none /tmp 2>/dev/null; echo "IN-MOUNT=$?"
unshare -U true 2>/dev/null; echo "IN-UNSHARE=$?"
exit 7
INNER
NO_COLOR=1 timeout 150 hako --auto --harden --lang en <"$w/inner.sh" >"$w/hako.out" 2>"$w/hako.err"
status=$?
section HAKO-STDERR "$w/hako.err"
section HAKO-STDOUT "$w/hako.out"
echo "HAKO-EXIT=$status"
# --overlay --harden on this 6.1 kernel, whose tmpfs cannot be idmapped (tmpfs takes idmapped
# mounts from 6.3): the cached layer is on tmpfs (/run), so hako must say so in one sentence and
# stop, leaving nothing (never chown the layer instead).
NO_COLOR=1 HAKO_CACHE_DIR=/run/hako-cache timeout 150 hako --auto --overlay --harden --lang en -- /bin/true >"$w/ovl.out" 2>"$w/ovl.err"
echo "OVL-HARDEN-EXIT=$?"
section OVL-HARDEN-STDERR "$w/ovl.err"
grep -w overlay /proc/mounts >"$w/ovl.mounts"
grep ' /tmp/hako' /proc/mounts >>"$w/ovl.mounts"
section OVL-HARDEN-MOUNTS "$w/ovl.mounts"
echo "OVL-LAYER-OWNER=$(stat -c %u /run/hako-cache/layers/sha256-*/bin/busybox 2>/dev/null | head -n1)"
ls -1A /sys/fs/cgroup >"$w/cgroup.ls"
section CGROUP-LS-AFTER "$w/cgroup.ls"
ls -1A /tmp >"$w/tmp.ls"
section TMP-AFTER "$w/tmp.ls"
exit 0
