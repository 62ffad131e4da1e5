#!/usr/bin/env bash
# Prepare this machine to boot hako's cgroup-v2 test guest under QEMU.
#
# Idempotent, for a fresh Debian 12 machine (run as root):
#   - installs qemu-system-x86, busybox-static and cpio with apt, only if one is missing;
#   - downloads Debian's guest kernel (the linux-image-6.1.0-NN-amd64 that the
#     linux-image-amd64 metapackage names) and extracts its /boot and /lib/modules into a
#     cache dir, then writes modules.dep there with depmod -b (kmod): that kernel builds
#     overlay, veth, bridge and nf_tables as modules, which run-guest.sh puts in the
#     initramfs with their dependencies.
#     The package is never installed on the host: installing it would add a boot kernel.
# The cache dir is $HAKO_QEMU_DIR, default <repo>/target/qemu. When everything is already
# there it does no apt work at all and finishes at once.
# Prints the kernel's path on its last line (stdout); progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
qdir=${HAKO_QEMU_DIR:-$repo/target/qemu}

say() { printf 'prepare.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages with apt-get)"

apt_updated=
apt_update_once() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

# 1. Host tools. busybox-static (not busybox): the guest needs a static busybox, since
#    the initramfs carries no libraries for it.
missing=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
command -v depmod >/dev/null 2>&1 || [ -x /sbin/depmod ] || missing+=(kmod)
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  missing+=(busybox-static)
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt_update_once
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
fi

# 2. The guest kernel. $qdir/vmlinuz is a symlink to the extracted image; its presence
#    means the work is done.
mkdir -p "$qdir"
# A kernel extracted before the modules were needed (only /boot): fetch it again.
if [ -e "$qdir/vmlinuz" ] && [ -f "$qdir/kernel-version" ]; then
  v=$(cat "$qdir/kernel-version")
  [ -f "$qdir/kernel-$v/lib/modules/$v/modules.dep" ] || rm -rf "$qdir/vmlinuz" "$qdir/kernel-$v"
fi
if [ ! -e "$qdir/vmlinuz" ]; then
  apt_update_once
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
  [ -n "$pkg" ] || die "apt-cache depends linux-image-amd64 names no linux-image-*-amd64 package"
  ver=${pkg#linux-image-}
  kdir=$qdir/kernel-$ver
  if [ ! -f "$kdir/boot/vmlinuz-$ver" ]; then
    dl=$(mktemp -d "$qdir/download.XXXXXX")
    trap 'rm -rf "$dl"' EXIT
    say "apt-get download $pkg"
    # _apt cannot write into a root-only temp dir; let it (otherwise apt downloads
    # unsandboxed and warns).
    chmod 0777 "$dl"
    (cd "$dl" && apt-get download -qq "$pkg" >&2) || die "apt-get download $pkg failed"
    deb=$(find "$dl" -maxdepth 1 -name '*.deb' | head -n1)
    [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $dl"
    # /boot, and /lib/modules for the modules the guest loads (overlay, veth, bridge,
    # nf_tables: modules in this kernel); modules.dep is depmod's, made here.
    rm -rf "$kdir.partial"
    mkdir -p "$kdir.partial"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir.partial" ./boot ./lib/modules
    [ -f "$kdir.partial/boot/vmlinuz-$ver" ] || die "$deb has no boot/vmlinuz-$ver"
    depmod=$(command -v depmod || echo /sbin/depmod)
    "$depmod" -b "$kdir.partial" "$ver" || die "depmod -b $kdir.partial $ver failed"
    [ -f "$kdir.partial/lib/modules/$ver/modules.dep" ] || die "depmod wrote no modules.dep"
    rm -rf "$kdir"
    mv "$kdir.partial" "$kdir"
    rm -rf "$dl"
    trap - EXIT
  fi
  ln -sfn "kernel-$ver/boot/vmlinuz-$ver" "$qdir/vmlinuz"
  printf '%s\n' "$ver" > "$qdir/kernel-version"
fi

kernel=$(readlink -f "$qdir/vmlinuz")
[ -f "$kernel" ] || die "$qdir/vmlinuz points to nothing; remove it and run again"
say "guest kernel: $kernel"
printf '%s\n' "$kernel"
