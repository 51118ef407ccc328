#!/bin/sh
# One-time setup of the benchmark's tools: the bench package's npm dependencies, and OPA built from source
# with the Go toolchain into bench/.bin (a few minutes; skipped when the pinned version is already there).
# wrk comes from the distribution: apt-get install -y wrk
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
command -v wrk >/dev/null 2>&1 || echo "wrk is not installed: apt-get install -y wrk" >&2
