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
TMP=${TMPDIR:-/tmp}

# What the machine holds that a hako run could leave (this run's, and nobody else's).
snapshot() {
  for h in /sys/fs/cgroup/memory /sys/fs/cgroup/cpu /sys/fs/cgroup; do
    ls "$h" 2>/dev/null | grep -E '^[0-9a-f]{8}-[0-9a-f]{4}-' | sed "s|^|cgroup $h/|"
  done
  ls -d "$TMP"/hako.* 2>/dev/null | sed 's/^/tempdir /'
  grep -E " $TMP/hako\." /proc/self/mountinfo | awk '{print "mount " $5}'
  ls /run/hako 2>/dev/null | sed 's/^/journal /'
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in "$TMP"/hako.*|*/hako) echo "process ${p#/proc/} $exe";; esac
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
zombies=$(ps -eo stat=,args= | awk '$1 ~ /^Z/ && /hako|sleep|true/' | wc -l)
[ "$zombies" = 0 ] || fail "$zombies zombie processes of hako's"
after=$(snapshot)
if [ "$before" != "$after" ]; then
  fail "left behind: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -10 | tr '\n' ' ')"
fi
rm -f /tmp/soak.err.$$
echo "soak: $passed passed, $failed failed"
[ "$failed" = 0 ]
