#!/usr/bin/env bash
# Installs what sigward and its test suite need on a fresh machine (Debian + Python >= 3.11).
# Idempotent: skips what is already there. Set SIGWARD_SKIP_INSTALL=1 to skip entirely.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SIGWARD_SKIP_INSTALL:-}" = 1 ] && exit 0

apt_pkgs=()
command -v docker-registry >/dev/null 2>&1 || apt_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || apt_pkgs+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || apt_pkgs+=(openssl)
# SoftHSM2: the real PKCS#11 token behind the pkcs11: key tests.
command -v softhsm2-util >/dev/null 2>&1 || apt_pkgs+=(softhsm2)
# Node runs the local Sigstore stack (tests/fixtures/sigstore_stack); the machine image normally has it.
command -v node >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
# The admission webhook's shared verdict cache (tests/webhook) and its load generator (bench/bench_admission.py).
command -v redis-server >/dev/null 2>&1 || apt_pkgs+=(redis-server)
command -v wrk >/dev/null 2>&1 || apt_pkgs+=(wrk)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing Debian packages: ${apt_pkgs[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# The Sigstore stack's npm packages (@sigstore/mock, sigstore-js): `npm ci` only when node_modules was not
# installed from the current package-lock.json (tests/fixtures/sigstore_stack.py checks the same stamp).
stack=tests/fixtures/sigstore_stack
stamp=$stack/node_modules/.sigward-lock-sha256
lock_sum=$(sha256sum "$stack/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "installing the local Sigstore stack's Node packages (npm ci in $stack) ..." >&2
  (cd "$stack" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) \
    || { echo "npm ci in $stack failed" >&2; exit 1; }
  echo "$lock_sum" >"$stamp"
fi

# The Go-built peers the interop tests run (cosign, crane, cue, go-containerregistry's referrers-API
# registry): built once from the Go module proxy and cached by version; one line per tool it builds.
command -v go >/dev/null 2>&1 || apt_go=1
if [ "${apt_go:-}" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing Debian packages: golang-go" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go >/dev/null
fi
bash scripts/go-tools.sh

# compat editable mode puts the checkout on sys.path through a .pth file; the default mode installs an
# import hook that costs every `sigward` process ~12 ms of start-up.
# Say what the next ~20 s are (a fresh machine downloads the wheels); silent when nothing changes would be
# nicer, but pip cannot tell in advance.
echo "installing sigward and its Python dependencies (pip install -e '.[test]') ..." >&2
python3 -m pip install -q --disable-pip-version-check -e '.[test]' --config-settings editable_mode=compat 2>&1 | grep -v -E "^WARNING: (Running pip as|Location)" || true
python3 -c 'import sigward, httpx, nacl, cryptography' || { echo "python dependencies failed to install" >&2; exit 1; }
