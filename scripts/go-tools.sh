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
POLICY_CONTROLLER_VERSION=v0.13.1
KUBERNETES_VERSION=v1.37.2
ETCD_VERSION=v3.6.13
HELM_VERSION=v3.21.4

declare -A VERSION=([cosign]=$COSIGN_VERSION [crane]=$GGCR_VERSION [cue]=$CUE_VERSION
                    [ggcr-registry]=$GGCR_VERSION [lifecycle]=$LIFECYCLE_VERSION [local-kms]=$LOCAL_KMS_VERSION
                    [policy-tester]=$POLICY_CONTROLLER_VERSION [kube-apiserver]=$KUBERNETES_VERSION
                    [kubectl]=$KUBERNETES_VERSION [etcd]=$ETCD_VERSION [helm]=$HELM_VERSION)
declare -A COLD=([cosign]="about 3 min" [crane]="about 30 s" [cue]="about 1 min" [ggcr-registry]="about 10 s"
                 [lifecycle]="about 40 s" [local-kms]="about 30 s" [policy-tester]="about 3 min"
                 [kube-apiserver]="about 5 min" [kubectl]="about 1 min" [etcd]="about 30 s" [helm]="about 2 min")

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(cosign crane cue ggcr-registry lifecycle local-kms helm policy-tester etcd
                                 kube-apiserver kubectl)
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

# module_dir MODULE@VERSION: download a module and print its (read-only) directory in the module cache.
module_dir() {
  (cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$1" \
     | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

# policy-controller's policy-tester (the admission oracle): its go.mod has `replace` lines, so `go install`
# refuses it; build ./cmd/tester in a writable copy of the module instead.
build_policy_tester() {
  local dir=$1 src mod
  mod=$(module_dir "github.com/sigstore/policy-controller@$POLICY_CONTROLLER_VERSION") && [ -n "$mod" ] || return 1
  src=$(mktemp -d)
  cp -r "$mod/." "$src" && chmod -R u+w "$src"
  (cd "$src" && GOFLAGS="$GOFLAGS -mod=mod" go build -o "$dir.tmp/policy-tester" ./cmd/tester)
  local rc=$?
  rm -rf "$src"
  return $rc
}

# kube-apiserver and kubectl: k8s.io/kubernetes points its 30-odd staging modules at ./staging/src/k8s.io/X,
# which a module consumer cannot follow; a throwaway module requires k8s.io/kubernetes and repeats those
# replace lines with the matching published versions (v1.N.M -> v0.N.M), generated from its go.mod.
# The version Kubernetes' own build stamps in (without it both report v0.0.0-master+$Format:%H$, which
# `kubectl version` refuses to parse).
kube_version_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  local pkg flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

build_kube() {
  local tool=$1 dir=$2 src gomod staging
  src=$(mktemp -d)
  staging=v0.${KUBERNETES_VERSION#v1.}
  (cd "$src" && go mod init sigward.test/kube >/dev/null 2>&1 \
     && gomod=$(GOFLAGS=-mod=mod go list -m -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
                | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') && [ -n "$gomod" ] \
     && go mod edit -require "k8s.io/kubernetes@$KUBERNETES_VERSION" \
     && sed -n 's|^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/src/k8s\.io/.*$|\1|p' "$gomod" \
        | while read -r m; do go mod edit -replace "$m=$m@$staging"; done \
     && grep -q '^replace\|=> k8s.io' go.mod \
     && GOFLAGS="$GOFLAGS -mod=mod" go get "k8s.io/kubernetes/cmd/$tool@$KUBERNETES_VERSION" \
     && GOFLAGS="$GOFLAGS -mod=mod" go build -ldflags "$(kube_version_ldflags)" -o "$dir.tmp/$tool" \
          "k8s.io/kubernetes/cmd/$tool")
  local rc=$?
  rm -rf "$src"
  return $rc
}

# etcd 3.6 (Debian's 3.4 is too old for kube-apiserver 1.37): the server module replaces its sibling modules
# by relative path too, so a throwaway module repeats those with versions.
build_etcd() {
  local dir=$1 src
  src=$(mktemp -d)
  (cd "$src" && go mod init sigward.test/etcd >/dev/null 2>&1 \
     && for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
          go mod edit -replace "go.etcd.io/etcd/$m=go.etcd.io/etcd/$m@$ETCD_VERSION"; done \
     && GOFLAGS="$GOFLAGS -mod=mod" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
     && GOFLAGS="$GOFLAGS -mod=mod" go build -o "$dir.tmp/etcd" go.etcd.io/etcd/server/v3)
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
    policy-tester) build_policy_tester "$dir" ;;
    kube-apiserver | kubectl) build_kube "$tool" "$dir" ;;
    etcd) build_etcd "$dir" ;;
    # `helm lint` / `helm template` for the admission chart (deploy/helm).
    helm) install_module helm helm.sh/helm/v3/cmd/helm "$dir" ;;
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
