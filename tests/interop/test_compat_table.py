"""docs/cosign-compat.md's interoperability table must list every row of the matrix as passing.

The table is generated (scripts/interop-table.py) from a run of tests/interop; this check keeps the
committed copy from going stale when a matrix test is added or renamed. It looks at the matrix tests
collected in this session (all of them under ``make test``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import row_key

REPO = Path(__file__).resolve().parents[2]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("interop_table", REPO / "scripts" / "interop-table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def committed_rows() -> dict[tuple[str, str, str], str]:
    script = _script()
    doc = (REPO / "docs" / "cosign-compat.md").read_text()
    assert script.BEGIN in doc and script.END in doc, "docs/cosign-compat.md has no interop table"
    table = doc.split(script.BEGIN, 1)[1].split(script.END, 1)[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, line
        rows[(cells[0], cells[1], cells[2])] = cells[3]
    return rows


def test_committed_table_lists_every_matrix_row_as_passing(request: pytest.FixtureRequest) -> None:
    collected = {k for k in map(row_key, request.session.items) if k is not None}
    rows = committed_rows()
    assert rows and all(result == "✅ pass" for result in rows.values())
    stale = sorted(k for k in collected if rows.get(k) != "✅ pass")
    assert not stale, f"{len(stale)} matrix rows missing or not passing in docs/cosign-compat.md " \
                      f"(run python3 scripts/interop-table.py): {stale[:5]}"


def test_insert_replaces_only_the_table() -> None:
    script = _script()
    doc = f"# T\n\nintro\n\n{script.BEGIN}\nold\n{script.END}\n\n## After\n"
    out = script.insert(doc, "| a |\n")
    assert out == f"# T\n\nintro\n\n{script.BEGIN}\n| a |\n{script.END}\n\n## After\n"
    fresh = script.insert("# T\n", "| b |\n")
    assert fresh.startswith("# T\n\n## Interoperability") and "| b |" in fresh
