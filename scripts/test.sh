#!/usr/bin/env bash
# The test command: install everything needed, lint, run the whole suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
lint_dirs=(sigward tests examples)
[ -d bench ] && lint_dirs+=(bench)
ruff check "${lint_dirs[@]}"
python3 -m pytest -q "$@"
