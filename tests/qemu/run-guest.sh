#!/usr/bin/env bash
# Boot a throwaway Linux guest (Debian's kernel, under QEMU/TCG) whose init runs one script,
# so that hako can be tested on a real cgroup v2 host from a cgroup v1 one.
#
#   tests/qemu/run-guest.sh HAKO_BINARY GUEST_SCRIPT [EXTRA_FILES...]
#
# The initramfs holds: a static busybox with its applets linked in /bin, HAKO_BINARY at
# /usr/bin/hako with the shared libraries that ldd names (and its ELF interpreter),
# GUEST_SCRIPT at /guest.sh and each EXTRA_FILE in /extra/. Its /init mounts proc, sysfs,
# devtmpfs, devpts, tmpfs on /tmp and /run and cgroup2 on /sys/fs/cgroup (controllers are
# *not* enabled there: that is hako's job), sets the hostname `guest`, then prints
#   HAKO-GUEST-START
#   ...whatever `/bin/sh /guest.sh` prints...
#   HAKO-GUEST-EXIT=<its status>
#   HAKO-GUEST-END
# and powers off. QEMU exits 0 whatever the guest did, so only these markers tell.
#
# Environment:
#   HAKO_QEMU_DIR      where prepare.sh put the kernel (default <repo>/target/qemu)
#   HAKO_GUEST_LOG     write the serial log to this file instead of stdout
#   HAKO_GUEST_TIMEOUT seconds before a hung guest is killed (default 240)
#   HAKO_GUEST_MEM     guest memory in MiB (default 512)
#   HAKO_GUEST_MODULES kernel modules /init loads, with their dependencies (from the
#                      modules.dep prepare.sh made), in order (default: overlay veth bridge
#                      crc32c_generic nf_tables nft_chain_nat nft_masq: modules in Debian's
#                      6.1 kernel, which
#                      the overlay and net lessons need); a failure prints HAKO-GUEST-NOMOD=NAME
#   HAKO_GUEST_TMPFS_ROOT=1  /init first copies itself to a tmpfs and switch_root(8)s into it,
#                      as a real initramfs does: pivot_root(2) (hako --harden) refuses to work
#                      when the root is the initramfs itself
# Exit status: 0 when the end marker was seen (whatever the guest script returned: read
# HAKO-GUEST-EXIT for that); 1 on a setup error; 3 when the guest never reached the end marker.
# The serial log has its carriage returns removed. Timings go to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
qdir=${HAKO_QEMU_DIR:-$repo/target/qemu}
timeout_s=${HAKO_GUEST_TIMEOUT:-240}
mem=${HAKO_GUEST_MEM:-512}

say() { printf 'run-guest.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_ms() { date +%s%3N; }

[ $# -ge 2 ] || { echo "usage: $0 HAKO_BINARY GUEST_SCRIPT [EXTRA_FILES...]" >&2; exit 2; }
hako_bin=$1; guest_script=$2; shift 2
if [ ! -f "$hako_bin" ] || [ ! -x "$hako_bin" ]; then
  die "HAKO_BINARY $hako_bin is not an executable file"
fi
[ -f "$guest_script" ] || die "GUEST_SCRIPT $guest_script is not a file"
for f in "$@"; do [ -e "$f" ] || die "extra file $f does not exist"; done

kernel=$(readlink -f "$qdir/vmlinuz" 2>/dev/null || true)
if [ -z "$kernel" ] || [ ! -f "$kernel" ]; then
  die "no guest kernel in $qdir: run tests/qemu/prepare.sh first (as root)"
fi
command -v qemu-system-x86_64 >/dev/null 2>&1 \
  || die "qemu-system-x86_64 not found: run tests/qemu/prepare.sh first (as root)"
command -v cpio >/dev/null 2>&1 || die "cpio not found: run tests/qemu/prepare.sh first (as root)"
busybox=$(command -v busybox 2>/dev/null || true)
[ -n "$busybox" ] || die "busybox not found: run tests/qemu/prepare.sh first (as root)"
busybox=$(readlink -f "$busybox")
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked: install busybox-static (tests/qemu/prepare.sh does)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hako-guest.XXXXXX")
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$(now_ms)
root=$work/root
mkdir -p "$root"/{bin,usr/bin,etc,proc,sys,dev,tmp,run,root,extra,lib64,lib/x86_64-linux-gnu}
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/sbin"
chmod 1777 "$root/tmp"

# busybox and its applets. hako's busybox rootfs source finds it on PATH as /bin/busybox.
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# hako and what the dynamic loader needs for it, as ldd resolves it on this host:
# "libX.so => /path (0x…)" lines are libraries, a lone "/path (0x…)" is the ELF interpreter.
# Each goes to the same path in the guest (the guest's loader has no ld.so.cache, but
# /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu are in its built-in search path).
cp "$hako_bin" "$root/usr/bin/hako"
if ldd_out=$(ldd "$hako_bin" 2>/dev/null); then
  while read -r a b c _; do
    path=
    if [ "$b" = "=>" ]; then
      case "$c" in /*) path=$c;; not) die "ldd: $a of $hako_bin not found on this host";; esac
    else
      case "$a" in /*) path=$a;; esac
    fi
    [ -n "$path" ] || continue
    mkdir -p "$root$(dirname "$path")"
    cp -L "$path" "$root$path"
  done <<<"$ldd_out"
fi

# The kernel modules, each after what it depends on (modules.dep, depmod's, from
# prepare.sh), as plain .ko files /init loads with insmod in the order of /modules.load.
kver=$(cat "$qdir/kernel-version" 2>/dev/null || true)
mdir=$qdir/kernel-$kver/lib/modules/$kver
# crc32c_generic first: libcrc32c (nf_tables needs it) names it only as a soft
# dependency (modules.softdep: `pre: crc32c`), which modules.dep does not list.
modules=${HAKO_GUEST_MODULES-overlay veth bridge crc32c_generic nf_tables nft_chain_nat nft_masq}
: > "$root/modules.load"
if [ -n "$modules" ]; then
  [ -f "$mdir/modules.dep" ] || die "no $mdir/modules.dep: run tests/qemu/prepare.sh again (as root)"
  mkdir -p "$root/lib/modules"
  declare -A loaded=()
  dep_of() { # the modules.dep line of module $1 (a name, '-' and '_' alike)
    local n=${1//-/_}
    awk -v n="$n" -F: '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b)
      if (b == n) { print; exit } }' "$mdir/modules.dep"
  }
  add_module() { # $1 = a path in modules.dep; its dependencies first
    local path=$1 line d
    [ -z "${loaded[$path]:-}" ] || return 0
    loaded[$path]=1
    line=$(awk -v p="$path" -F: '$1 == p { print $2; exit }' "$mdir/modules.dep")
    for d in $line; do add_module "$d"; done
    case "$path" in
      *.ko) cp "$mdir/$path" "$root/lib/modules/" ;;
      *.ko.xz) xz -dc "$mdir/$path" > "$root/lib/modules/$(basename "${path%.xz}")" ;;
      *.ko.zst) zstd -qdc "$mdir/$path" > "$root/lib/modules/$(basename "${path%.zst}")" ;;
      *) die "module $path: not a .ko file" ;;
    esac
    basename "${path%.*}" | sed 's/\.ko$//' >> "$root/modules.load"
  }
  for m in $modules; do
    line=$(dep_of "$m")
    [ -n "$line" ] || die "module $m is not in $mdir/modules.dep"
    add_module "${line%%:*}"
  done
fi

cp "$guest_script" "$root/guest.sh"
[ "${HAKO_GUEST_TMPFS_ROOT:-}" != 1 ] || : > "$root/tmpfs-root"
for f in "$@"; do cp -rL "$f" "$root/extra/"; done

printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' > "$root/etc/group"
# The kernel opens /dev/console for init's stdio before /init runs.
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3

cat > "$root/init" <<'INIT'
#!/bin/sh
# PID 1 of the test guest: prepare a plain cgroup v2 host, run /guest.sh, power off.
export PATH=/usr/bin:/bin HOME=/root TERM=dumb
if [ -e /tmpfs-root ]; then
  mkdir /newroot && mount -t tmpfs -o mode=0755 tmpfs /newroot
  for e in /*; do [ "$e" = /newroot ] || [ "$e" = /tmpfs-root ] || cp -a "$e" /newroot/; done
  exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname guest
# Only emergencies from the kernel on the console from now on: its messages would
# otherwise cut into the lines the test reads.
echo 1 > /proc/sys/kernel/printk
for m in $(cat /modules.load); do
  insmod "/lib/modules/$m.ko" || echo "HAKO-GUEST-NOMOD=$m"
done
cd /
echo HAKO-GUEST-START
/bin/sh /guest.sh </dev/null
echo "HAKO-GUEST-EXIT=$?"
echo HAKO-GUEST-END
# Let the UART drain before the power goes.
sleep 0.3
poweroff -f
INIT
chmod 755 "$root/init" "$root/guest.sh"

initrd=$work/initramfs.cpio
(cd "$root" && find . -print0 | cpio --quiet --null -o -H newc -R 0:0 > "$initrd")
t1=$(now_ms)
say "initramfs: $(du -m "$initrd" | cut -f1) MiB, built in $((t1 - t0)) ms (uncompressed: gzip costs a second here and saves nothing at boot)"

raw=$work/serial.raw
log=$work/serial.log
say "booting $(basename "$kernel") under qemu-system-x86_64 -accel tcg (timeout ${timeout_s}s)"
# -serial stdio: the guest's console is QEMU's stdout; QEMU's stdin is /dev/null so nothing
# reaches the guest's console input. `timeout` kills a guest that never powers off; the EXIT
# trap kills it (by its pid) if this script is interrupted.
: >"$raw"
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -m "$mem" -nodefaults -display none \
  -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1" </dev/null >>"$raw" 2>"$work/qemu.err" &
qemu_pid=$!
if [ -z "${HAKO_GUEST_LOG:-}" ]; then
  # Follow the console live; tail ends once QEMU is gone. In the background, so that
  # `wait` (which a signal interrupts) is where this script sits.
  tail -n +1 -f --pid="$qemu_pid" "$raw" | tr -d '\r' &
  wait $! || true
fi
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
t2=$(now_ms)
tr -d '\r' <"$raw" >"$log"
[ -s "$work/qemu.err" ] && sed 's/^/qemu: /' "$work/qemu.err" >&2
[ -n "${HAKO_GUEST_LOG:-}" ] && cp "$log" "$HAKO_GUEST_LOG"
say "guest ran $((t2 - t1)) ms (boot to power-off); qemu exit $qemu_rc"

if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
  say "error: the guest did not power off within ${timeout_s}s; killed"
  exit 3
fi
if ! grep -qx 'HAKO-GUEST-END' "$log"; then
  if grep -qx 'HAKO-GUEST-START' "$log"; then
    say "error: the guest started /guest.sh but never printed HAKO-GUEST-END (crash or panic?)"
  else
    say "error: the guest never printed HAKO-GUEST-START (kernel or /init failed)"
  fi
  exit 3
fi
say "$(grep -x 'HAKO-GUEST-EXIT=[0-9]*' "$log" | tail -n1)"
