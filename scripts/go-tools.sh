#!/usr/bin/env bash
# Builds the real peers and test oracles from the Go module proxy, once, and caches them.
#
#   bash scripts/go-tools.sh [TOOL...]     # default: every tool the test suite uses
#
# Each tool lands in $SIGWARD_GO_TOOLS/<tool>-<version>/<tool> (default ~/.cache/sigward/go-tools), keyed by
# version, so a rebuild happens only when a version below changes. Go's module and build caches are Go's own
# (~/go/pkg/mod, ~/.cache/go-build). Versions and workarounds: ../shared/reference/go-oracles.md.
# tests/fixtures/gotools.py finds the binaries (same layout); a tool that is not built makes its tests fail,
# never skip, in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${SIGWARD_GO_TOOLS:-$HOME/.cache/sigward/go-tools}"
export GOFLAGS="${GOFLAGS:-} -trimpath"
mkdir -p "$CACHE"

COSIGN_VERSION=v3.1.2
GGCR_VERSION=v0.22.1
CUE_VERSION=v0.17.1
LIFECYCLE_VERSION=v0.21.17
# local-kms publishes tags without a "v", so the module proxy knows it only by pseudo-version.
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6

command -v go >/dev/null 2>&1 || { echo "go-tools: Go is not installed (apt-get install golang-go, or the machine's Go)" >&2; exit 1; }

# install_module TOOL VERSION PACKAGE: `go install PACKAGE@VERSION` into $CACHE/TOOL-VERSION/.
install_module() {
  local tool=$1 version=$2 pkg=$3 dir="$CACHE/$1-$2"
  [ -x "$dir/$tool" ] && return 0
  echo "go-tools: building $tool $version (first time only; cached in $dir)" >&2
  local t0=$SECONDS
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install "$pkg@$version"
  [ "$(basename "$pkg")" = "$tool" ] || mv "$dir.tmp/$(basename "$pkg")" "$dir.tmp/$tool"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "go-tools: $tool built in $((SECONDS - t0)) s" >&2
}

build_cosign() { install_module cosign "$COSIGN_VERSION" github.com/sigstore/cosign/v3/cmd/cosign; }
build_crane()  { install_module crane "$GGCR_VERSION" github.com/google/go-containerregistry/cmd/crane; }
build_cue()    { install_module cue "$CUE_VERSION" cuelang.org/go/cmd/cue; }
# The AWS KMS API (asymmetric keys, Sign/Verify with MessageType=DIGEST) for the awskms:// tests.
build_local_kms() { install_module local-kms "$LOCAL_KMS_VERSION" github.com/nsmithuk/local-kms; }

# go-containerregistry's pkg/registry with the OCI 1.1 referrers API (`crane registry serve` lacks it):
# a throwaway main module. Usage of the binary: ggcr-registry HOST:PORT
build_ggcr_registry() {
  local tool=ggcr-registry dir="$CACHE/ggcr-registry-$GGCR_VERSION"
  [ -x "$dir/$tool" ] && return 0
  echo "go-tools: building $tool $GGCR_VERSION (first time only; cached in $dir)" >&2
  local src
  src=$(mktemp -d)
  cat >"$src/main.go" <<'GO'
// A go-containerregistry registry with the OCI 1.1 referrers API, for sigward's tests.
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: ggcr-registry HOST:PORT")
	}
	log.Fatal(http.ListenAndServe(os.Args[1], registry.New(registry.WithReferrersSupport(true))))
}
GO
  (cd "$src" && go mod init sigward.test/ggcr-registry >/dev/null 2>&1 \
     && go get "github.com/google/go-containerregistry@$GGCR_VERSION" >/dev/null 2>&1 \
     && go build -o "$dir.tmp/$tool" .)
  rm -rf "$src" "$dir" && mv "$dir.tmp" "$dir"
}

# The Cloud Native Buildpacks lifecycle (its `exporter` writes what `sigward signer` reads). `go install` fails:
# internal/extend/kaniko imports github.com/osscontainertools/kaniko, which the Go module proxy does not serve,
# and only the extender uses it. So: a writable copy of the module with the kaniko applier reduced to its
# non-Linux no-op (go-oracles.md); the exporter is untouched. The binary dispatches on its name (symlink it).
build_lifecycle() {
  local tool=lifecycle dir="$CACHE/lifecycle-$LIFECYCLE_VERSION"
  [ -x "$dir/$tool" ] && return 0
  echo "go-tools: building $tool $LIFECYCLE_VERSION (first time only; cached in $dir)" >&2
  local t0=$SECONDS src mod
  mod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/buildpacks/lifecycle@$LIFECYCLE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  src=$(mktemp -d)
  cp -r "$mod/." "$src" && chmod -R u+w "$src"
  local k="$src/internal/extend/kaniko"
  rm -f "$k/dockerfile_applier_linux.go" "$k/dockerfile_applier_test.go"
  sed -i 's|^//go:build unix && !linux$|//go:build unix|' "$k/dockerfile_applier_unix.go"
  # drop createOptions (the only user of kaniko's config and containerd's platforms) and those imports
  awk '/^func createOptions\(/{skip=1} skip&&/^}/{skip=0; next} !skip' "$k/dockerfile_applier.go" \
    | grep -v -e '"github.com/osscontainertools/kaniko/pkg/config"' -e '"github.com/containerd/containerd/platforms"' \
    >"$k/dockerfile_applier.go.new" && mv "$k/dockerfile_applier.go.new" "$k/dockerfile_applier.go"
  (cd "$src" && go mod edit -droprequire github.com/osscontainertools/kaniko \
     && GOFLAGS="$GOFLAGS -mod=mod" go build -o "$dir.tmp/" ./cmd/lifecycle ./cmd/launcher)
  rm -rf "$src" "$dir" && mv "$dir.tmp" "$dir"
  echo "go-tools: $tool built in $((SECONDS - t0)) s" >&2
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(cosign crane cue ggcr_registry local_kms)
for t in "${tools[@]}"; do
  "build_${t//-/_}"
done
