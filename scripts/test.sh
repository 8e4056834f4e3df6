#!/usr/bin/env bash
# The test command: install everything needed, lint, run the whole suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
ruff check sigward tests bench
python3 -m pytest -q "$@"
