#!/usr/bin/env bash
# Prepare a Wine prefix that can run Go's Windows test binaries (test-only):
#   - installs Wine from Debian (wine, wine64) and mingw-w64 if missing;
#   - creates the prefix ($WINEPREFIX, default ~/.wine-aspstate);
#   - builds bcryptprimitives.dll from bcryptprimitives.c (ProcessPrng, which
#     Wine 8 lacks and Go 1.22+ needs, forwarded to RtlGenRandom) and puts it
#     in the prefix's system32, preferred to Wine's builtin by
#     WINEDLLOVERRIDES=bcryptprimitives=n,b (set by scripts/wine/run.sh).
# Idempotent; prints nothing on success but the steps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export WINEPREFIX="${WINEPREFIX:-$HOME/.wine-aspstate}"
export WINEDEBUG="${WINEDEBUG:--all}"

need=()
command -v wine >/dev/null 2>&1 || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64-win32)
if [ ${#need[@]} -gt 0 ]; then
  echo "wine: installing ${need[*]} from Debian"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

sys32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -d "$sys32" ]; then
  echo "wine: creating prefix $WINEPREFIX"
  # No Mono or Gecko installers (not needed, not reachable).
  WINEDLLOVERRIDES="mscoree,mshtml=" wineboot --init >/dev/null 2>&1
  wineserver --wait
fi

dll="$WINEPREFIX/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$here/bcryptprimitives.c" -nt "$dll" ]; then
  echo "wine: building bcryptprimitives.dll (ProcessPrng -> RtlGenRandom)"
  x86_64-w64-mingw32-gcc -shared -O2 -s -o "$dll" \
    "$here/bcryptprimitives.c" "$here/bcryptprimitives.def" -ladvapi32
fi
cp "$dll" "$sys32/bcryptprimitives.dll"

# Start the wineserver and Wine's own background processes now, detached
# from the test run's pipes: started by the first test binary, they would
# inherit its stdout and go test would wait for them ("Test I/O incomplete
# 1m0s after exiting"). The server stays up until 10 minutes after the last
# Wine process ends.
wineserver -p600 </dev/null >/dev/null 2>&1 || true  # already running: fine
WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml=" wine cmd /c exit </dev/null >/dev/null 2>&1 || true
