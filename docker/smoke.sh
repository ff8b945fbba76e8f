#!/usr/bin/env bash
# Build the model stages of Dockerfile.cpu and Dockerfile.gpu with a real
# BuildKit engine, on a machine with no Docker daemon and no registry access.
#
#   docker/smoke.sh
#
# It builds buildkitd and buildctl from the Go module proxy at a pinned
# version, installs runc from Debian, starts buildkitd on a unix socket for the
# length of the run (host network, so builds reach the loopback stand-in
# server) and stops it by PID at the end, even on failure. The Dockerfiles are
# used unchanged: the Go base image of the modelfetch stage comes in as a
# BuildKit named context (a local folder holding this machine's Go toolchain),
# and the built-in Dockerfile frontend is used instead of pulling the one the
# syntax line names. The checks themselves are TestBuildKit in docker/.
set -euo pipefail
BUILDKIT_VERSION=v0.34.2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/modelfetch-smoke.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  # BuildKit's state holds read-only and bind-mounted leftovers; best effort.
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

need=()
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "--- building buildkitd and buildctl $BUILDKIT_VERSION" >&2
mkdir -p "$work/tools" "$work/bin"
(
  cd "$work/tools"
  go mod init smoke-tools >/dev/null 2>&1
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/moby/buildkit/cmd/buildctl"\n\t_ "github.com/moby/buildkit/cmd/buildkitd"\n)\n' > tools.go
  go get "github.com/moby/buildkit@$BUILDKIT_VERSION" >/dev/null 2>&1
  go mod tidy >/dev/null 2>&1
  CGO_ENABLED=0 go build -o "$work/bin/buildkitd" github.com/moby/buildkit/cmd/buildkitd
  CGO_ENABLED=0 go build -o "$work/bin/buildctl" github.com/moby/buildkit/cmd/buildctl
)

echo "--- the Go base image, from this machine's toolchain" >&2
gobase=$work/gobase
mkdir -p "$gobase"/{bin,usr/local/bin,etc/ssl/certs,tmp,root}
cp /bin/busybox "$gobase/bin/busybox"
for c in sh cat env ls mkdir rm; do ln -s busybox "$gobase/bin/$c"; done
goroot=$(go env GOROOT)
cp -al "$goroot" "$gobase/usr/local/go" 2>/dev/null || cp -a "$goroot" "$gobase/usr/local/go"
cp /etc/ssl/certs/ca-certificates.crt "$gobase/etc/ssl/certs/"
cat > "$gobase/usr/local/bin/go" <<SH
#!/bin/sh
# What the golang image's config would set.
export GOPATH=/go HOME=/root PATH=/usr/local/go/bin:\$PATH GOPROXY=$(go env GOPROXY) GOSUMDB=$(go env GOSUMDB) GOFLAGS=-buildvcs=false
exec /usr/local/go/bin/go "\$@"
SH
chmod +x "$gobase/usr/local/bin/go"

echo "--- starting buildkitd" >&2
"$work/bin/buildkitd" --root "$work/state" --addr "unix://$work/buildkitd.sock" \
  --oci-worker-net=host --oci-worker-snapshotter=native --containerd-worker=false \
  > "$work/buildkitd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  "$work/bin/buildctl" --addr "unix://$work/buildkitd.sock" debug workers >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/buildkitd.log" >&2; exit 1; }
  sleep 0.2
done

echo "--- building the model stages" >&2
cd "$here"
BUILDKIT_HOST="unix://$work/buildkitd.sock" BUILDCTL="$work/bin/buildctl" MODELFETCH_GOBASE="$gobase" \
  go test -count=1 -timeout 20m -run TestBuildKit -v . 2>&1 | grep -v '^#[0-9]' \
  || { echo "--- buildkitd log" >&2; tail -30 "$work/buildkitd.log" >&2; exit 1; }
