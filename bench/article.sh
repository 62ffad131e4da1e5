#!/bin/sh
# The article's script (「仮想環境とコンテナを絶対に理解したい」), adapted to this host: the
# benchmark's baseline. Same stages, same tools, nothing checked:
#   the rootfs hako builds by default, made the way its rootfs lesson shows (instead of
#   `docker export | tar -x`): a fresh temp dir, the static busybox, one hard link per
#   applet (`busybox --install`, run chrooted so that the links are made inside);
#   cgcreate + the limits (the v2 files with cgset, or the v1 ones with echo, by detection);
#   cgexec … unshare -muinpf, the mounts, hostname, capsh --chroot --drop=cap_sys_chroot
#   (--shell=/bin/sh: busybox has no /bin/bash), with the devpts recipe that works (the
#   article binds the host's ptmx; see the devpts lesson);
#   then the clean-up the article leaves out (rootfs and cgroup removed).
# Usage: sudo sh bench/article.sh [CMD]   (default: /bin/true)
set -e
CMD=${1:-/bin/true}
BUSYBOX=${BUSYBOX:-$(command -v busybox)}

ROOTFS=$(mktemp -d)
mkdir -p "$ROOTFS/bin"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
chroot "$ROOTFS" /bin/busybox --install /bin

UUID=$(cat /proc/sys/kernel/random/uuid)
cgcreate -g cpu,memory:"$UUID"
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  cgset -r memory.max="10000000" "$UUID"
  cgset -r cpu.max="300000 1000000" "$UUID"
  DIRS="/sys/fs/cgroup/$UUID"
else
  echo 10000000 > "/sys/fs/cgroup/memory/$UUID/memory.limit_in_bytes"
  echo 1000000 > "/sys/fs/cgroup/cpu/$UUID/cpu.cfs_period_us"
  echo 300000 > "/sys/fs/cgroup/cpu/$UUID/cpu.cfs_quota_us"
  DIRS="/sys/fs/cgroup/memory/$UUID /sys/fs/cgroup/cpu/$UUID"
fi

status=0
cgexec -g cpu,memory:"$UUID" \
unshare -muinpf /bin/sh -c "
set -e
mkdir -p $ROOTFS/proc
mount -t proc proc $ROOTFS/proc
mkdir -p $ROOTFS/dev/pts
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts $ROOTFS/dev/pts
ln -sf pts/ptmx $ROOTFS/dev/ptmx
touch $ROOTFS/dev/null
mount --bind /dev/null $ROOTFS/dev/null
hostname $UUID
exec capsh --chroot=$ROOTFS --drop=cap_sys_chroot --shell=/bin/sh -- -c 'exec $CMD'
" || status=$?

# The article stops here; a benchmark must not leave anything behind.
rm -rf "$ROOTFS"
rmdir $DIRS
exit $status
