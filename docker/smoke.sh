#!/usr/bin/env bash
# Build the models and production stages of Dockerfile.cpu and Dockerfile.gpu
# with a real BuildKit engine, on a machine with no Docker daemon and no
# registry access beyond Go modules and Debian's packages.
#
#   docker/smoke.sh
#
# It builds buildkitd and buildctl from the Go module proxy at a pinned
# version, starts buildkitd on a unix socket for the length of the run (host
# network, so builds reach the loopback stand-in server and the Debian mirror)
# and stops it by PID at the end, even on failure. The Dockerfiles are used
# unchanged; what cannot be pulled comes in as BuildKit named contexts: the Go
# base (a folder holding this machine's Go toolchain), the Python base (Debian
# bookworm with its Python 3.11, made once by debootstrap and used for both
# images; with MODELFETCH_PYBASE=DIR it is made there once and kept), the builder stage's wheels and the
# application (both made by the test). The built-in Dockerfile frontend is used
# instead of pulling the one the syntax line names. The checks themselves are
# TestBuildKit in docker/. Needs runc, busybox-static and debootstrap, which it
# installs with apt when missing (as .ci/run does).
set -euo pipefail
BUILDKIT_VERSION=v0.34.2
here=$(cd "$(dirname "$0")" && pwd)
start=$SECONDS
step() { echo "--- $* ($((SECONDS - start)) s)" >&2; }
work=$(mktemp -d /tmp/modelfetch-smoke.XXXXXX)
pid=
debpid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$debpid" ]; then kill "$debpid" 2>/dev/null || true; wait "$debpid" 2>/dev/null || true; fi
  # BuildKit's state holds read-only and bind-mounted leftovers; best effort.
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

need=()
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] || need+=(busybox-static)
pybase=${MODELFETCH_PYBASE:-$work/pybase}
command -v debootstrap >/dev/null || [ -x "$pybase/usr/local/bin/python" ] || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  step "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Python base, made while buildkitd compiles: what python:3.11-slim-bookworm
# is (Debian bookworm, Python 3.11, pip, python and pip on PATH, no "externally
# managed" marker, no apt translations), from the Debian mirror apt uses here.
# The production stages' apt-get packages are in it already, so each build's
# apt-get install finds them and only its apt-get update touches the network.
if [ -x "$pybase/usr/local/bin/python" ]; then
  step "the Python base: reusing $pybase"
else
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\/\{0,1\}\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) .*bookworm.*main.*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  step "the Python base: debootstrap bookworm from $mirror, in the background (lines start with pybase:)"
  rm -rf "$pybase"
  (
    set -o pipefail
    # Every line as it comes, but for the per-package "Validating" ones.
    debootstrap --variant=minbase --include=python3,python3-pip,libgl1,libglib2.0-0,libgomp1 \
      bookworm "$pybase" "$mirror" 2>&1 | grep --line-buffered -v '^I: Validating' | sed -u 's/^/pybase: /' >&2
    rm -f "$pybase"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -s /usr/bin/python3 "$pybase/usr/local/bin/python"
    ln -s /usr/bin/pip3 "$pybase/usr/local/bin/pip"
    echo 'Acquire::Languages "none";' > "$pybase/etc/apt/apt.conf.d/docker-no-languages"
    # The engine brings /dev and /proc; no package cache or lists in a base image.
    rm -rf "${pybase:?}"/dev/* "$pybase"/var/cache/apt/archives/*.deb "$pybase"/var/lib/apt/lists/*
    echo "pybase: done in $((SECONDS - start)) s" >&2
  ) &
  debpid=$!
fi

step "building buildkitd and buildctl $BUILDKIT_VERSION"
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

step "the Go base image, from this machine's toolchain"
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

step "waiting for the Python base"
if [ -n "$debpid" ]; then
  wait "$debpid" || { echo "smoke: debootstrap of the Python base failed" >&2; exit 1; }
  debpid=
fi

step "starting buildkitd"
"$work/bin/buildkitd" --root "$work/state" --addr "unix://$work/buildkitd.sock" \
  --oci-worker-net=host --oci-worker-snapshotter=auto --containerd-worker=false \
  > "$work/buildkitd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  "$work/bin/buildctl" --addr "unix://$work/buildkitd.sock" debug workers >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/buildkitd.log" >&2; exit 1; }
  sleep 0.2
done

step "building the models and production stages (the engine's log follows as it goes)"
cd "$here"
status=0
BUILDKIT_HOST="unix://$work/buildkitd.sock" BUILDCTL="$work/bin/buildctl" MODELFETCH_GOBASE="$gobase" MODELFETCH_PYBASE="$pybase" \
  go test -count=1 -timeout 20m -run TestBuildKit -v . || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- buildkitd log" >&2
  tail -30 "$work/buildkitd.log" >&2
fi
step "smoke build done, status $status"
exit "$status"
