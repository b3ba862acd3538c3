# Loopback port helpers for the load scripts (source it after setting
# $work, a scratch directory of the run).
# free_port prints a loopback port free now and never printed before in this
# run (the kernel may hand a just-closed port out again before its server has
# started: internal/freeport does the same for the Go tests).
free_port() {
  local p
  while :; do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    grep -qx "$p" "$work/ports.given" 2>/dev/null || break
  done
  echo "$p" >>"$work/ports.given"
  echo "$p"
}
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
