#!/usr/bin/env bash
# `make demo`: the README quickstart, offline, no registry needed. Everything happens in a fresh ./demo/
# directory: build a small image into an OCI layout, copy it (with whatever is attached) to a second
# layout, and show what hangs off each. Each command is printed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Install sigward (and what it needs) unless it is already importable.
if ! python3 -c 'import sigward' >/dev/null 2>&1; then
  bash scripts/install.sh
fi

if command -v sigward >/dev/null 2>&1; then
  SIGWARD=(sigward)
else
  SIGWARD=(python3 -m sigward)
fi

# Where the layouts go; DEMO_DIR overrides it (the test suite runs this script in a temp directory).
D="${DEMO_DIR:-demo}"

# Print a command (as a user would type it, bold on a terminal) and run it.
if [ -t 2 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
run() {
  printf '\n%s$ sigward %s%s\n' "$BOLD" "$*" "$PLAIN" >&2
  "${SIGWARD[@]}" "$@"
}

# Fresh layouts every run (only the two this script owns are removed).
rm -rf "$D/layout" "$D/copy"
mkdir -p "$D"

# 1. A reproducible example image (two files in one layer) in an on-disk OCI layout.
run demo-image "oci:$D/layout:hello"

# 2. Keys and signing go here (generate-key-pair, sign --key ... oci:demo/layout:hello).

# 3. Copy the image and everything attached to it into a second layout (DST takes SRC's tag).
run copy "oci:$D/layout:hello" "oci:$D/copy"

# 4. What is attached to each.
run tree "oci:$D/layout:hello"
run tree "oci:$D/copy:hello"

# 5. Verification goes here (verify --key ... oci:demo/copy:hello).

printf '\nDone: the layouts are in %s/ (try: ls %s/copy/blobs/sha256).\n' "$D" "$D" >&2
