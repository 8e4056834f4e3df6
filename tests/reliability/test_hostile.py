"""The hostile-input corpus (``tests/reliability/hostile.py``): a fixed, deterministic slice of it in the
suite (every 20th case, all categories); the whole corpus with ``python -m tests.reliability.hostile``
(its counts are in docs/reliability.md). Zero internal errors, hangs or accepted tampering."""

from __future__ import annotations

from pathlib import Path

from tests.reliability import hostile

EVERY = 20


def test_hostile_corpus_slice(tmp_path: Path) -> None:
    counts, findings = hostile.run_corpus(EVERY, 0, workdir=tmp_path / "corpus")
    assert sum(counts.values()) >= 3000 // EVERY
    assert findings == [], "\n".join(findings)
    # Every category of the corpus is in the slice.
    assert len({c for c, _ in counts}) >= 12
