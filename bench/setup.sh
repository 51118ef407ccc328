#!/bin/sh
# One-time setup of the benchmark's tools: the bench package's npm dependencies, OPA built from source
# with the Go toolchain into bench/.bin (a few minutes; skipped when the pinned version is already there),
# and the latency generator bench/loadgen into bench/.bin/tollgate-loadgen (seconds; the harness also
# rebuilds it when its sources change). wrk comes from the distribution: apt-get install -y wrk
set -eu
cd "$(dirname "$0")"
OPA_VERSION=v1.22.4
npm ci --no-audit --no-fund
if [ -x .bin/opa ] && .bin/opa version | grep -q "^Version: ${OPA_VERSION#v}$"; then
  echo "opa ${OPA_VERSION} already in bench/.bin"
elif command -v go >/dev/null 2>&1; then
  echo "building opa ${OPA_VERSION} into bench/.bin (a few minutes) ..."
  GOBIN="$(pwd)/.bin" go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
else
  echo "go is not installed: the opa contestant will be reported as unavailable" >&2
fi
if command -v go >/dev/null 2>&1; then
  echo "building bench/.bin/tollgate-loadgen ..."
  (cd loadgen && CGO_ENABLED=0 go build -trimpath -o ../.bin/tollgate-loadgen .)
else
  echo "go is not installed: latency will be measured with the Node generator (lib/open-loop.ts)" >&2
fi
command -v wrk >/dev/null 2>&1 || echo "wrk is not installed: apt-get install -y wrk" >&2
