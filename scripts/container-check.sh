#!/usr/bin/env bash
# Build deploy/Dockerfile's image for real and start it (CI's container step).
#
#   scripts/container-check.sh install   install Debian's Docker engine (docker.io) if dockerd is missing
#   scripts/container-check.sh           the check: an engine (the running one, or a dockerd this script
#                                        starts and stops), docker build of the staged context
#                                        (make image-context: FROM scratch, nothing is pulled), then a
#                                        container started from it, which must
#                                          - turn healthy by the image's own HEALTHCHECK (aspstate ping),
#                                          - run as uid/gid 65532, not root (read from /proc of its process),
#                                          - have the image's VOLUME at /var/lib/aspstate, writable by that
#                                            user: a bbolt store there keeps a session across a clean stop
#                                            (exit 0, "stopped" logged) and a second container on the volume.
#
# The dockerd started here has no iptables rules, no bridge and no pulls: the
# containers run with --network none and are reached with docker exec, so
# nothing on the machine's network is touched. As root (CI); with sudo
# otherwise. Install about 35 s, the check about 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

install_engine() {
  command -v dockerd >/dev/null 2>&1 && return 0
  echo "docker: installing docker.io from Debian"
  local start; start=$(date +%s)
  $sudo apt-get update -qq
  # policy-rc.d may refuse to start the service: this script starts dockerd itself.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  echo "docker: installed in $(( $(date +%s) - start ))s"
}

if [ "${1:-}" = install ]; then
  install_engine
  exit 0
fi

install_engine
tag="aspstated:ci-check"
log="$(mktemp -d)"
started=""
c1="aspstated-check-1-$$"; c2="aspstated-check-2-$$"

cleanup() {
  docker rm -f -v "$c1" "$c2" >/dev/null 2>&1 || true
  docker rmi "$tag" >/dev/null 2>&1 || true
  if [ -n "$started" ]; then
    $sudo kill "$started" 2>/dev/null || true
    for _ in $(seq 50); do $sudo kill -0 "$started" 2>/dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT

fail() {
  echo "container check FAILED: $*"
  for c in "$c1" "$c2"; do
    docker inspect "$c" >/dev/null 2>&1 || continue
    echo "--- docker logs $c"; docker logs "$c" 2>&1 | tail -20
    echo "--- health of $c"; docker inspect -f '{{json .State.Health}}' "$c" 2>&1 || true
  done
  [ -f "$log/dockerd.log" ] && { echo "--- dockerd log"; tail -20 "$log/dockerd.log"; }
  exit 1
}

t0=$(date +%s)
if docker info >/dev/null 2>&1; then
  echo "docker: using the running engine ($(docker version -f '{{.Server.Version}}'))"
else
  # overlay2 where the kernel allows it (it did on this machine kind); vfs,
  # slower but needing nothing from the kernel, if it does not start.
  for driver in overlay2 vfs; do
    echo "docker: starting dockerd (no iptables, no bridge, $driver)"
    $sudo dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver=$driver \
      --pidfile "$log/dockerd.pid" >"$log/dockerd.log" 2>&1 &
    started=$!
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
    docker info >/dev/null 2>&1 && break
    echo "docker: dockerd with $driver did not answer:"; tail -5 "$log/dockerd.log"
    $sudo kill "$started" 2>/dev/null || true; wait "$started" 2>/dev/null || true
  done
  docker info >/dev/null 2>&1 || fail "dockerd did not answer within 30 s with overlay2 or vfs"
  echo "docker: engine $(docker version -f '{{.Server.Version}}') up in $(( $(date +%s) - t0 ))s"
fi

t1=$(date +%s)
make -s image-context
# The legacy builder (the engine's own; the client has no buildx here): FROM
# scratch needs no pull.
DOCKER_BUILDKIT=0 docker build -q -f deploy/Dockerfile -t "$tag" . >/dev/null 2>"$log/build.err" ||
  { cat "$log/build.err"; fail "docker build"; }
echo "docker: image built in $(( $(date +%s) - t1 ))s: $(docker image inspect -f '{{.Size}}' "$tag") bytes"

# 1. Start with the image's defaults but a durable store, on the image's own
#    anonymous volume; wait for the HEALTHCHECK (interval 10s) to pass.
t2=$(date +%s)
docker run -d --name "$c1" --network none -e ASPSTATE_BACKEND__TYPE=bbolt "$tag" >/dev/null || fail "docker run"
health=""
for _ in $(seq 120); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$c1")
  [ "$health" = healthy ] && break
  [ "$health" = unhealthy ] && fail "health check: unhealthy"
  [ "$(docker inspect -f '{{.State.Running}}' "$c1")" = true ] || fail "the container exited"
  sleep 0.5
done
[ "$health" = healthy ] || fail "not healthy after 60 s (status $health)"
probe=$(docker inspect -f '{{with (index .State.Health.Log 0)}}exit {{.ExitCode}}: {{.Output}}{{end}}' "$c1")
echo "health: healthy after $(( $(date +%s) - t2 ))s (first probe: ${probe%$'\n'})"

# 2. Not root: the server process's real and effective ids, as the kernel sees them.
pid=$(docker inspect -f '{{.State.Pid}}' "$c1")
uid=$(awk '/^Uid:/ {print $2, $3}' "/proc/$pid/status")
gid=$(awk '/^Gid:/ {print $2, $3}' "/proc/$pid/status")
[ "$uid" = "65532 65532" ] && [ "$gid" = "65532 65532" ] || fail "process $pid runs as uid $uid gid $gid, not 65532"
echo "user: process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) uid $uid gid $gid"

# 3. The volume: declared by the image, mounted, writable by 65532, kept
#    across a clean stop and a new container.
mount=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/var/lib/aspstate"}}{{.Type}} {{.Name}}{{end}}{{end}}' "$c1")
[ "${mount%% *}" = volume ] || fail "no volume at /var/lib/aspstate (mounts: $mount)"
sid="containercheckvolumeabcd"
echo "kept by the volume" | docker exec -i "$c1" /usr/local/bin/aspstate put "$sid" >/dev/null || fail "put"
docker stop -t 20 "$c1" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$c1")
[ "$code" = 0 ] || fail "exit code $code after docker stop (SIGTERM)"
docker logs "$c1" 2>&1 | grep -q 'msg=stopped' || fail "no clean stop logged"
echo "volume: ${mount#* } at /var/lib/aspstate; stopped cleanly (exit 0, \"stopped\" logged)"
docker run -d --name "$c2" --network none -e ASPSTATE_BACKEND__TYPE=bbolt --volumes-from "$c1" "$tag" >/dev/null ||
  fail "docker run (second container)"
got=""
for _ in $(seq 40); do
  got=$(docker exec "$c2" /usr/local/bin/aspstate get --raw "$sid" 2>/dev/null) && break
  sleep 0.25
done
[ "$got" = "kept by the volume" ] || fail "the session did not survive on the volume (got \"$got\")"
owner=$(docker exec "$c2" /usr/local/bin/aspstate ping >/dev/null && stat -c '%u:%g %n' \
  "$(docker volume inspect -f '{{.Mountpoint}}' "${mount#* }")"/aspstate.db)
echo "volume: the session came back in a second container; store file $owner"
echo "container check passed in $(( $(date +%s) - t0 ))s"
