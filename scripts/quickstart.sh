#!/usr/bin/env bash
# `make demo`: the README quickstart, offline, no registry needed. Everything happens in ./demo/: build a
# small image into an OCI layout, generate a key pair, sign the image by digest, copy it (signature
# included) to a second layout, verify the copy, and show a tampered copy failing verification.
# Each command is printed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Install sigward and its dependencies unless this checkout's sigward is already installed with them. The
# check runs outside the checkout: from its root, `import sigward` would succeed through the current
# directory even when nothing is installed (and then fail on the first dependency). Only Python is needed:
# the demo uses no server, so this is a plain `pip install` (scripts/install.sh, for `make test`, also
# installs the registry and the Sigstore stack). Inside a virtualenv pip installs there; a system Python
# that refuses pip (PEP 668, Debian's "externally managed" interpreter) gets a ./.venv instead.
PY=python3
here=$(pwd -P)
installed() {
  (cd / && "$1" -c 'import os, sys, sigward, cryptography, httpx, nacl
sys.exit(os.path.dirname(os.path.dirname(os.path.realpath(sigward.__file__))) != sys.argv[1])' "$here") \
    >/dev/null 2>&1
}
if ! installed "$PY"; then
  if [ -x .venv/bin/python ] && installed .venv/bin/python; then
    PY=.venv/bin/python
  else
    echo "installing sigward and its Python dependencies (pip install -e .) ..." >&2
    pip_install() { "$1" -m pip install -q --disable-pip-version-check -e . --config-settings editable_mode=compat; }
    if ! "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null \
        && [ -n "$(ls "$("$PY" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"/EXTERNALLY-MANAGED 2>/dev/null)" ]; then
      echo "this Python is externally managed (PEP 668): using a virtualenv in ./.venv" >&2
      "$PY" -m venv .venv
      PY=.venv/bin/python
    fi
    pip_install "$PY"
    installed "$PY" || { echo "Error: sigward did not install into $PY" >&2; exit 1; }
  fi
fi
SIGWARD=("$PY" -m sigward)

# Where the layouts go; DEMO_DIR overrides it (the test suite runs this script in a temp directory).
D="${DEMO_DIR:-demo}"

# Print a command (as a user would type it, bold on a terminal) and run it.
if [ -t 2 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
run() {
  printf '\n%s$ sigward %s%s\n' "$BOLD" "$*" "$PLAIN" >&2
  "${SIGWARD[@]}" "$@"
}

# Fresh layouts every run (only what this script owns is removed).
rm -rf "$D/layout" "$D/copy" "$D/tampered" "$D/cosign.key" "$D/cosign.pub"
mkdir -p "$D"
# A demo password for the demo key (cosign reads the same variable); never do this with a real key.
export COSIGN_PASSWORD=demo-password

# 1. A reproducible example image (two files in one layer) in an on-disk OCI layout. It prints the
#    image's digest reference: from here on the image is named by digest, never by tag.
IMAGE=$(run demo-image "oci:$D/layout:hello")
echo "$IMAGE"

# 2. A key pair in cosign's format (cosign.key is encrypted with COSIGN_PASSWORD).
run generate-key-pair --output-key-prefix "$D/cosign"

# 3. Sign by digest, with an annotation a verifier can require. There is no transparency log offline.
run sign --key "$D/cosign.key" --tlog-upload=false -a imageRef=refs/tags/0.1.0 "$IMAGE"

# 4. Copy the image and everything attached to it (the signature too) into a second layout.
run copy "oci:$D/layout:hello" "oci:$D/copy"
run tree "oci:$D/copy:hello"

# 5. Anyone with the public key verifies the copy, requiring the annotation.
run verify --key "$D/cosign.pub" --insecure-ignore-tlog=true -a imageRef=refs/tags/0.1.0 "oci:$D/copy:hello"

# 6. Tampering is caught: in a third copy, the tag is moved to another image. Its verification fails
#    (exit code 10, as cosign: no signatures for what the tag now points at).
run copy "oci:$D/layout:hello" "oci:$D/tampered"
run demo-image --message "not what was signed" "oci:$D/tampered:hello" >/dev/null
set +e
run verify --key "$D/cosign.pub" --insecure-ignore-tlog=true "oci:$D/tampered:hello"
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
  echo "tampered image verified: this must not happen" >&2
  exit 1
fi
printf '
(verification of the tampered copy failed with exit code %s, as it should)
' "$rc" >&2

printf '
Done: the layouts and keys are in %s/ (try: ls %s/copy/blobs/sha256).
' "$D" "$D" >&2
