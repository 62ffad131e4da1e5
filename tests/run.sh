#!/usr/bin/env bash
# hako's whole test suite, from a fresh Debian 12 machine, as root:
#   sudo bash tests/run.sh
# It installs what the tests need (Debian packages, the QEMU guest kernel, mdbook),
# checks formatting and lints, then runs every test: unit tests, the root tests on
# the real kernel, and the cgroup v2 walk in a QEMU guest.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "tests/run.sh: the tests build containers on the real kernel and need root: run it with sudo." >&2
  exit 1
fi

# Every Debian package a test layer needs, installed once when missing: busybox for the
# host rootfs, QEMU and cpio for the cgroup v2 guest, tmux for the terminal tests, a real
# Docker engine, registry and skopeo (plus the compressors and openssl) for the rootfs
# sources, man-db for the man page test, gcc and libc6-dev for the hostile static programs,
# iproute2 for the network namespaces of the registry and net tests, nftables for the
# net lesson's masquerade rule, attr (getfattr, setfattr) for the overlay tests' opaque
# directories, cgroup-tools and libcap2-bin (cgcreate, cgset, cgexec, capsh) for the
# practice tasks typed by hand. The tests start and stop the services themselves.
need_pkgs=()
for p in busybox-static qemu-system-x86 cpio tmux docker.io docker-registry skopeo zstd xz-utils openssl man-db gcc libc6-dev iproute2 nftables attr cgroup-tools libcap2-bin; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing: ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Every setup script of a test layer (the QEMU kernel, services) runs here.
for s in tests/setup/*.sh; do
  [ -e "$s" ] || continue
  echo "== setup: $s"
  bash "$s"
done

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
# Tests that need root carry #[ignore = "needs root"], so that a normal user's `cargo test`
# runs the pure ones; here, as root, every test runs (--include-ignored) and a root test
# fails, never skips. Tests that assert "nothing left on this machine" must not overlap:
# one thread.
cargo test -- --include-ignored --test-threads=1
