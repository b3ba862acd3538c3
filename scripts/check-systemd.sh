#!/usr/bin/env bash
# Check a systemd unit offline (make deploy-check, CI): `systemd-analyze
# verify` must print nothing, and `systemd-analyze security` must rate its
# exposure 2.0 or lower. Needs systemd-analyze (Debian's systemd package,
# installed if missing; nothing is started). The unit's ExecStart binary must
# exist for verify, so a copy of the unit points at the staged binary
# (make image-context) instead of /usr/local/bin.
set -euo pipefail
unit="$1"
max_exposure="${MAX_EXPOSURE:-20}" # tenths: 20 = 2.0
if ! command -v systemd-analyze >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
bin="$(cd "$(dirname "$0")/.." && pwd)/bin/image/aspstated"
[ -x "$bin" ] || { echo "check-systemd: $bin missing (make image-context)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/aspstated|$bin|g" "$unit" >"$tmp/$(basename "$unit")"

out="$(systemd-analyze verify "$tmp/$(basename "$unit")" 2>&1 || true)"
if [ -n "$out" ]; then
  echo "systemd-analyze verify $unit:"; echo "$out"; exit 1
fi
echo "systemd-analyze verify $unit: ok"
systemd-analyze security --offline=yes --threshold="$max_exposure" "$tmp/$(basename "$unit")" >"$tmp/security" 2>&1 || {
  cat "$tmp/security"; echo "systemd-analyze security $unit: exposure above $max_exposure/10"; exit 1; }
grep "Overall exposure" "$tmp/security"
