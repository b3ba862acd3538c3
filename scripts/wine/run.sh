#!/usr/bin/env bash
# go test -exec target: run one Windows test binary under Wine, in the prefix
# that scripts/wine/setup.sh prepared, with the ProcessPrng stand-in.
export WINEPREFIX="${WINEPREFIX:-$HOME/.wine-aspstate}"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
exec wine "$@"
