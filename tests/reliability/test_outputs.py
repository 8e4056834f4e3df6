"""Nothing logged and then lost: every signing command checks its output paths before it contacts Fulcio
or Rekor (the local Sigstore stack records each request it gets), and output files are written atomically.
Before, these four commands created the Rekor entry and then failed with an internal error."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.signing.test_keyless import _trust


def _posts(stack: Any) -> list[str]:
    return [ln for ln in stack.requests_log() if ln.startswith("POST")]


CASES = [
    ("sign-blob", ["--bundle", "{missing}/x.json"]),
    ("sign-blob", ["--new-bundle-format=false", "--output-signature", "{missing}/x.sig"]),
    ("sign-blob", ["--bundle", "{dir}"]),
    ("attest-blob", ["--bundle", "{missing}/x.json", "--predicate", "{pred}"]),
    ("sign", ["--upload=false", "--bundle", "{missing}/x.json"]),
    ("sign", ["--upload=false", "--bundle", "{dir}/" + "n" * 300]),
]


@pytest.mark.parametrize(("command", "extra"), CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_unwritable_output_refused_before_any_service_call(
        command: str, extra: list[str], run: Callable[..., Any], sigstore_stack: Any,
        layout: Callable[..., str], tmp_path: Path) -> None:
    blob = tmp_path / "blob.txt"
    blob.write_text("hello")
    pred = tmp_path / "pred.json"
    pred.write_text("{}")
    fill = {"missing": str(tmp_path / "missing"), "dir": str(tmp_path), "pred": str(pred)}
    args = [a.format(**fill) for a in extra]
    target = layout() if command == "sign" else str(blob)
    before = len(_posts(sigstore_stack))
    token = sigstore_stack.minter.mint_github()
    r = run(command, "--yes", "--identity-token", token, *_trust(sigstore_stack), *args, target)
    assert r.code != 0
    assert r.err.startswith("Error: ") and r.err.count("\n") == 1 and "internal error" not in r.err, r.err
    assert len(_posts(sigstore_stack)) == before, "a service was contacted although the output is unwritable"
    assert not (tmp_path / "missing").exists()


def test_output_written_atomically_and_unwritable_key_dir(run: Callable[..., Any], keys: Any,
                                                          tmp_path: Path) -> None:
    blob = tmp_path / "blob.txt"
    blob.write_text("hello")
    out = tmp_path / "out.json"
    r = run("sign-blob", "--key", keys.key, "--tlog-upload=false", "--bundle", str(out), str(blob))
    assert r.code == 0, r.err
    assert out.read_bytes().startswith(b"{")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sigward-")] == []
    if os.geteuid() != 0:  # root writes anywhere: the EACCES case only means something for other users
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        r = run("sign-blob", "--key", keys.key, "--tlog-upload=false", "--bundle", str(ro / "b.json"),
                str(blob))
        assert r.code == 1 and r.err.startswith("Error: ") and "internal error" not in r.err
