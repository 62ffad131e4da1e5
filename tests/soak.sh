#!/usr/bin/env bash
# The soak: many walks, more of them interrupted at random points (SIGINT, SIGTERM,
# SIGKILL followed by `hako cleanup`); afterwards nothing may be left: no cgroups,
# mounts, temp dirs, processes, zombies, journal entries, or extra fds in hako.
#   sudo bash tests/soak.sh [RUNS] [INTERRUPTED]      (default 200 and 30)
# HAKO selects the binary (default: target/release/hako).
set -u
cd "$(dirname "$0")/.."
HAKO=${HAKO:-target/release/hako}
RUNS=${1:-200}
INTR=${2:-30}
[ "$(id -u)" = 0 ] || { echo "soak: needs root (it builds containers): sudo bash tests/soak.sh" >&2; exit 1; }
[ -x "$HAKO" ] || { echo "soak: no $HAKO: cargo build --release first, or set HAKO" >&2; exit 1; }
# The soak's runs keep their temp dirs and journals apart from any other hako on this
# machine (another learner's run is not this soak's leftover).
SOAK=$(mktemp -d /tmp/hako-soak.XXXXXX)
mkdir -p "$SOAK/tmp"
export TMPDIR=$SOAK/tmp HAKO_JOURNAL_DIR=$SOAK/journal
TMP=$TMPDIR
HAKO_REAL=$(readlink -f "$HAKO")

# UUID-named cgroups that hold no process (a live run's cgroup holds its container).
empty_cgroups() {
  for h in /sys/fs/cgroup/memory /sys/fs/cgroup/cpu /sys/fs/cgroup; do
    for d in "$h"/*-*-*-*-*; do
      [ -d "$d" ] || continue
      [ -s "$d/cgroup.procs" ] && continue
      # Named in another run's journal (not this soak's): that run's, alive.
      grep -qs "$(basename "$d")" /run/hako/*.json && continue
      echo "cgroup $d"
    done
  done
}

# What the machine holds that a run of this soak could leave.
snapshot() {
  empty_cgroups
  ls -d "$TMP"/hako.* 2>/dev/null | sed 's/^/tempdir /'
  grep -F " $TMP/" /proc/self/mountinfo | awk '{print "mount " $5}'
  ls "$HAKO_JOURNAL_DIR" 2>/dev/null | sed 's/^/journal /'
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in "$TMP"/*|"$HAKO_REAL") echo "process ${p#/proc/} $exe";; esac
  done
}

before=$(snapshot)
failed=0
passed=0
fail() { echo "soak: $*" >&2; failed=$((failed + 1)); }

for i in $(seq "$RUNS"); do
  if "$HAKO" --auto --quiet -- /bin/true </dev/null >/dev/null 2>/tmp/soak.err.$$; then
    passed=$((passed + 1))
  else
    fail "run $i exited $?: $(head -c 400 /tmp/soak.err.$$)"
  fi
done

sigs=(INT TERM KILL)
for i in $(seq "$INTR"); do
  sig=${sigs[$((i % 3))]}
  "$HAKO" --auto --quiet -- /bin/sleep 1 </dev/null >/dev/null 2>&1 &
  pid=$!
  # A random point of the walk: from its first microseconds to the shell.
  sleep "0.$(printf '%03d' $((RANDOM % 400)))"
  kill -"$sig" "$pid" 2>/dev/null
  wait "$pid"
  code=$?
  case "$sig:$code" in
    INT:130|INT:0|TERM:143|TERM:0|KILL:137) passed=$((passed + 1));;
    *) fail "interrupted run $i ($sig) exited $code";;
  esac
  if [ "$sig" = KILL ]; then
    sleep 0.05
    "$HAKO" cleanup >/dev/null 2>&1 || fail "hako cleanup failed after SIGKILL of run $i"
  fi
done

# hako's own descriptors while a command runs: stdio, the socket, nothing leaked.
"$HAKO" --auto --quiet -- /bin/sleep 1 </dev/null >/dev/null 2>&1 &
pid=$!
sleep 0.6
nfd=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
wait "$pid"
[ "$nfd" -le 8 ] || fail "hako held $nfd file descriptors while the command ran (ls -l /proc/PID/fd)"

sleep 0.2
# Zombies hako failed to reap: the soak's own children, or a hako process's children
# (after SIGKILL the orphans belong to init, which reaps them in its own time).
zombies=$(ps -eo stat=,ppid=,comm= | awk -v me=$$ '$1 ~ /^Z/ && ($2 == me || (($3 == "hako" || $3 == "exe") && $2 != 1))' | wc -l)
[ "$zombies" = 0 ] || fail "$zombies zombie processes of hako's"
after=$(snapshot)
if [ "$before" != "$after" ]; then
  # A cgroup that appeared empty may be another run's, a moment before its container
  # joins: look again before calling it a leftover.
  sleep 1
  after=$(snapshot)
fi
if [ "$before" != "$after" ]; then
  fail "left behind: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -10 | tr '\n' ' ')"
fi
rm -f /tmp/soak.err.$$
rmdir "$SOAK/tmp" 2>/dev/null
rmdir "$SOAK/journal" 2>/dev/null
rmdir "$SOAK" 2>/dev/null || fail "$SOAK is not empty: $(ls -R "$SOAK" | head -5 | tr '\n' ' ')"
echo "soak: $passed passed, $failed failed"
[ "$failed" = 0 ]
