#!/usr/bin/env bash
# The cgroup v2 guest: QEMU, busybox-static and Debian's kernel, downloaded (not installed).
exec bash "$(dirname "$0")/../qemu/prepare.sh"
