#!/usr/bin/env bash
# The test command: install everything needed, lint, run the whole suite. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
lint_dirs=(sigward tests examples)
[ -d bench ] && lint_dirs+=(bench)
[ -d deploy ] && lint_dirs+=(deploy)
ruff check "${lint_dirs[@]}"
# Strict typing of the whole package (configuration in pyproject.toml [tool.mypy]); the import-layer
# contract is tests/test_layers.py.
python3 -m mypy
python3 -m pytest -q "$@"
