#!/usr/bin/env bash
# Install Debian's Chromium if /usr/bin/chromium is missing: the admin page's
# browser test (cmd/aspstated/admin, TestAdminPageInChromium) drives a
# headless one over the DevTools protocol. Idempotent; silent when present.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
echo "chromium: installing from Debian (needed by the admin page's browser test)"
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
start=$(date +%s)
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
echo "chromium: installed in $(( $(date +%s) - start ))s"
