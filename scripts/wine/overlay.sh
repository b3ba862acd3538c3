#!/usr/bin/env bash
# Print the path of a `go build -overlay` file that lets Go's os.RemoveAll
# (and so testing's t.TempDir cleanup) work under Wine 8 (test-only).
#
# Why: Go deletes files with NtSetInformationFile(FileDispositionInformationEx)
# and falls back to the older FileDispositionInformation only when Windows
# answers "invalid info class", "invalid parameter" or "not supported". Wine 8
# does not implement that class and answers STATUS_NOT_IMPLEMENTED, which Go
# passes on as "Invalid function", so every t.TempDir cleanup fails. The
# overlay is a copy of the installed Go's internal/syscall/windows/at_windows.go
# with STATUS_NOT_IMPLEMENTED added to the fallback cases; it is regenerated
# from the Go in use, so it follows Go upgrades, and it is only ever used for
# the test binaries run under Wine (make test-windows).
set -euo pipefail
out="${WINE_OVERLAY_DIR:-${TMPDIR:-/tmp}/aspstate-wine-overlay}"
src="$(go env GOROOT)/src/internal/syscall/windows/at_windows.go"
mkdir -p "$out"
if grep -q 'STATUS_NOT_SUPPORTED:     // the file system' "$src"; then
  sed 's|^\t\tSTATUS_NOT_SUPPORTED:     // the file system|\t\tNTStatus(0xC0000002), // STATUS_NOT_IMPLEMENTED: Wine 8 (test-only overlay)\n\t\tSTATUS_NOT_SUPPORTED: // the file system|' \
    "$src" >"$out/at_windows.go"
  grep -q 0xC0000002 "$out/at_windows.go"
  printf '{"Replace":{"%s":"%s"}}\n' "$src" "$out/at_windows.go" >"$out/overlay.json"
else
  # A Go whose Deleteat changed: run without the overlay and let the
  # cleanup failures show, rather than patch blindly.
  echo '{"Replace":{}}' >"$out/overlay.json"
  echo "wine overlay: $src changed; no overlay (t.TempDir cleanups may fail under Wine 8)" >&2
fi
echo "$out/overlay.json"
