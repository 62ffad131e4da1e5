#!/usr/bin/env bash
# The rootfs sources' tests run a real Docker engine, a real registry and skopeo.
# This installs them (Debian packages) when missing; the tests start and stop the
# services themselves (a private dockerd socket, a registry on a free loopback port).
set -euo pipefail
need=()
for p in docker.io docker-registry skopeo busybox-static zstd xz-utils openssl; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
