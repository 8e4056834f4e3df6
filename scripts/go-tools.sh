#!/usr/bin/env bash
# Builds the real peers and test oracles from the Go module proxy, once, and caches them.
#
#   bash scripts/go-tools.sh [TOOL...]     # default: every tool the test suite uses
#
# Each tool lands in $SIGWARD_GO_TOOLS/<tool>-<version>/<tool> (default ~/.cache/sigward/go-tools), keyed by
# version, so a rebuild happens only when a version below changes. Go's module and build caches are Go's own
# (~/go/pkg/mod, ~/.cache/go-build). Versions and workarounds: ../shared/reference/go-oracles.md.
# tests/fixtures/gotools.py finds the binaries (same layout); a tool that is not built makes its tests fail,
# never skip, in CI. Quiet: one line per tool it has to build; the go output goes to <tool>-<version>.log
# in the cache and is shown only when the build fails. Concurrent runs wait for each other (flock).
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

declare -A VERSION=([cosign]=$COSIGN_VERSION [crane]=$GGCR_VERSION [cue]=$CUE_VERSION
                    [ggcr-registry]=$GGCR_VERSION [lifecycle]=$LIFECYCLE_VERSION [local-kms]=$LOCAL_KMS_VERSION)
declare -A COLD=([cosign]="about 3 min" [crane]="about 30 s" [cue]="about 1 min" [ggcr-registry]="about 10 s"
                 [lifecycle]="about 40 s" [local-kms]="about 30 s")

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(cosign crane cue ggcr-registry lifecycle local-kms)
for i in "${!tools[@]}"; do tools[$i]=${tools[$i]//_/-}; done

missing=()
for t in "${tools[@]}"; do
  [ -n "${VERSION[$t]:-}" ] || { echo "go-tools: unknown tool $t (known: ${!VERSION[*]})" >&2; exit 2; }
  [ -x "$CACHE/$t-${VERSION[$t]}/$t" ] || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] && exit 0

command -v go >/dev/null 2>&1 || {
  echo "go-tools: Go is not installed (apt-get install golang-go, or the machine's Go); needed for: ${missing[*]}" >&2
  exit 1
}

# One build at a time per cache (two test runs, or install.sh and a test, may ask together).
exec 9>"$CACHE/.lock"
flock 9

# install_module TOOL PACKAGE: `go install PACKAGE@VERSION` into $dir.tmp.
install_module() {
  local tool=$1 pkg=$2 dir=$3
  GOBIN="$dir.tmp" go install "$pkg@${VERSION[$tool]}" || return 1
  [ "$(basename "$pkg")" = "$tool" ] || mv "$dir.tmp/$(basename "$pkg")" "$dir.tmp/$tool"
}

# go-containerregistry's pkg/registry with the OCI 1.1 referrers API (`crane registry serve` lacks it):
# a throwaway main module. Usage of the binary: ggcr-registry HOST:PORT
build_ggcr_registry() {
  local dir=$1 src
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
  (cd "$src" && go mod init sigward.test/ggcr-registry \
     && go get "github.com/google/go-containerregistry@$GGCR_VERSION" \
     && go build -o "$dir.tmp/ggcr-registry" .)
  local rc=$?
  rm -rf "$src"
  return $rc
}

# The Cloud Native Buildpacks lifecycle (its `exporter` writes what `sigward signer` reads). `go install` fails:
# internal/extend/kaniko imports github.com/osscontainertools/kaniko, which the Go module proxy does not serve,
# and only the extender uses it. So: a writable copy of the module with the kaniko applier reduced to its
# non-Linux no-op (go-oracles.md); the exporter is untouched. The binary dispatches on its name (symlink it).
build_lifecycle() {
  local dir=$1 src mod
  mod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/buildpacks/lifecycle@$LIFECYCLE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || return 1
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
  local rc=$?
  rm -rf "$src"
  return $rc
}

build() {
  local tool=$1 dir=$2
  case $tool in
    cosign) install_module cosign github.com/sigstore/cosign/v3/cmd/cosign "$dir" ;;
    crane) install_module crane github.com/google/go-containerregistry/cmd/crane "$dir" ;;
    cue) install_module cue cuelang.org/go/cmd/cue "$dir" ;;
    ggcr-registry) build_ggcr_registry "$dir" ;;
    lifecycle) build_lifecycle "$dir" ;;
    # The AWS KMS API (asymmetric keys, Sign/Verify with MessageType=DIGEST) for the awskms:// tests.
    local-kms) install_module local-kms github.com/nsmithuk/local-kms "$dir" ;;
  esac
}

for t in "${missing[@]}"; do
  dir="$CACHE/$t-${VERSION[$t]}"
  [ -x "$dir/$t" ] && continue  # built by the run we waited for
  log="$dir.log"
  echo "go-tools: building $t ${VERSION[$t]} (first time only, ${COLD[$t]} cold; cached in $CACHE)" >&2
  t0=$SECONDS
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  if ! build "$t" "$dir" >"$log" 2>&1; then
    echo "go-tools: building $t failed; the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    rm -rf "$dir.tmp"
    exit 1
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "go-tools: $t built in $((SECONDS - t0)) s" >&2
done
