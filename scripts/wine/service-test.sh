#!/usr/bin/env bash
# The Windows service against a service manager: Wine's (services.exe, the
# same StartServiceCtrlDispatcher pipe protocol, sc.exe and net.exe), run by
# `make test-windows` after scripts/wine/setup.sh. In a throw-away copy of the
# prepared prefix (the service is registered to start automatically, which
# must not leak into the shared prefix), with aspstated.exe built here:
#
#   aspstated service install --config F --log-file L   registered, with its arguments
#   sc start aspstated                                  RUNNING; the port answers the protocol
#                                                       (aspstate ping, put from Linux)
#   sc stop aspstated                                   STOPPED, exit code 0, "stopped" logged
#   net start aspstated                                 the bbolt store (at its default path, the
#                                                       ProgramData folder) kept the session
#   aspstated service stop                              STOPPED, exit code 0
#   aspstated service uninstall                         gone from the service manager
#
# About 25 s (most of it copying and booting the prefix). Fails, and prints
# the service's log and sc's view, on any step.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
base="${WINEPREFIX:-$HOME/.wine-aspstate}"
[ -d "$base/drive_c/windows/system32" ] || { echo "service-test: no Wine prefix at $base (run scripts/wine/setup.sh)"; exit 1; }
command -v wine >/dev/null || { echo "service-test: wine not installed (run scripts/wine/setup.sh)"; exit 1; }

t0=$(date +%s)
work="$(mktemp -d /tmp/aspstated-svc.XXXXXX)"
export WINEPREFIX="$work/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
exe="$work/aspstated.exe"; winexe="Z:${exe//\//\\}"
cli="$work/aspstate"
log="$work/svc.log"; winlog="Z:${log//\//\\}"
conf="$work/svc.yaml"; winconf="Z:${conf//\//\\}"

cleanup() {
  if [ -d "$WINEPREFIX" ]; then
    wine sc stop aspstated >/dev/null 2>&1 || true
    wine "$exe" service uninstall >/dev/null 2>&1 || true
    wineserver -k >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "service-test FAILED: $*"
  echo "--- sc query aspstated"; wine sc query aspstated 2>&1 || true
  echo "--- service log ($log)"; cat "$log" 2>/dev/null || true
  exit 1
}

(cd "$repo" && GOOS=windows GOARCH=amd64 go build -o "$exe" ./cmd/aspstated && go build -o "$cli" ./cmd/aspstate)
t1=$(date +%s)
cp -a "$base" "$WINEPREFIX"
wineserver -p60 # one Wine session for the whole test: services.exe stays up between commands
wine cmd /c exit </dev/null >/dev/null 2>&1

# A free port: nothing answers there before the service starts.
port=""
for _ in $(seq 20); do
  p=$(shuf -i 20000-60000 -n 1)
  if ! "$cli" ping --server "127.0.0.1:$p" --network-timeout 1s >/dev/null 2>&1; then port=$p; break; fi
done
[ -n "$port" ] || fail "no free port"
printf 'listen: 127.0.0.1:%s\nbackend:\n  type: bbolt\n' "$port" >"$conf"
echo "service-test: built in $(( t1 - t0 ))s, prefix copied and booted in $(( $(date +%s) - t1 ))s; port $port"

state() { wine sc query aspstated 2>/dev/null | awk '/STATE/ {print $4}' | tr -d '\r'; }
exit_code() { wine sc query aspstated 2>/dev/null | awk '/WIN32_EXIT_CODE/ {print $3}' | tr -d '\r'; }
wait_state() { # STATE [seconds]
  local s=""
  for _ in $(seq $(( ${2:-30} * 4 ))); do
    s=$(state); [ "$s" = "$1" ] && return 0
    sleep 0.25
  done
  fail "state $s, not $1, after ${2:-30}s"
}
answers() {
  for _ in $(seq 40); do
    "$cli" ping --server "127.0.0.1:$port" --network-timeout 1s >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  fail "nothing answers on 127.0.0.1:$port"
}
stopped_cleanly() { # after a stop: STOPPED, exit code 0, port closed, the log's N-th "stopped"
  wait_state STOPPED
  [ "$(exit_code)" = 0 ] || fail "exit code $(exit_code) after stop"
  ! "$cli" ping --server "127.0.0.1:$port" --network-timeout 1s >/dev/null 2>&1 || fail "still answering after stop"
  [ "$(grep -c 'msg=stopped' "$log")" = "$1" ] || fail "no clean stop logged"
}

out=$(wine "$exe" service install --config "$winconf" --log-file "$winlog" 2>&1) || fail "install: $out"
echo "service-test: $out"

wine sc start aspstated >/dev/null 2>&1 || fail "sc start aspstated: exit $?"
wait_state RUNNING
answers
sid="servicetestsessionabcdef"
echo "kept across service restarts" | "$cli" put --server "127.0.0.1:$port" "$sid" >/dev/null || fail "put"
echo "service-test: sc start: RUNNING, 127.0.0.1:$port answers, session stored"

wine sc stop aspstated >/dev/null 2>&1 || fail "sc stop aspstated: exit $?"
stopped_cleanly 1
echo "service-test: sc stop: STOPPED, exit code 0, \"stopped\" logged"

wine net start aspstated >/dev/null 2>&1 || fail "net start aspstated: exit $?"
wait_state RUNNING
answers
got=$("$cli" get --raw --server "127.0.0.1:$port" "$sid" 2>/dev/null) || fail "get after restart"
[ "$got" = "kept across service restarts" ] || fail "session after restart: \"$got\""
echo "service-test: net start: RUNNING, the session came back from the bbolt store at its default path"

wine "$exe" service stop >/dev/null 2>&1 || fail "aspstated service stop"
stopped_cleanly 2
echo "service-test: aspstated service stop: STOPPED, exit code 0"

out=$(wine "$exe" service uninstall 2>&1) || fail "uninstall: $out"
[ -z "$(state)" ] || fail "still registered after uninstall"
echo "service-test: $out"
echo "service-test: the service log:"; sed 's/^/  /' "$log"
echo "service-test: passed in $(( $(date +%s) - t0 ))s"
