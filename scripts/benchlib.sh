# Shared by the load scripts (source it from the repository root): a scratch
# directory with fresh aspstated and aspstate builds, the processes started
# for the run killed on exit, and loopback port helpers.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/" ./cmd/aspstated ./cmd/aspstate

. "$(dirname "${BASH_SOURCE[0]}")/portlib.sh"
