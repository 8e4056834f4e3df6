"""Providers load only for their scheme, and a missing extra is one line naming it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_key_file_commands_import_no_provider(run: Callable[..., Any], keys: Any,
                                              layout: Callable[..., str]) -> None:
    ref = layout("start-up")
    assert run("sign", "--tlog-upload=false", "--key", keys.key, ref).code == 0
    code = ("import sys\nfrom sigward.cli.main import main\n"
            f"rc = main(['verify', '--key', {keys.pub!r}, '--insecure-ignore-tlog=true', {ref!r}])\n"
            "assert rc == 0, rc\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m.startswith(('sigward.keys.remote', 'boto', 'pkcs11', 'hvac', 'kubernetes',\n"
            "                              'google'))))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("ref, module, extra", [
    ("awskms://localhost:1/alias/x", "boto3", "aws"),
    ("pkcs11:token=t;object=k?module-path=/usr/lib/x.so", "pkcs11", "pkcs11"),
    ("hashivault://k", "hvac", "vault"),
    ("k8s://ns/name", "kubernetes", "k8s"),
    ("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "google.cloud.kms_v1", "gcp"),
])
def test_missing_extra_names_it(run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                ref: str, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    blob = tmp_path / "b"
    blob.write_text("x")
    r = run("sign-blob", "--tlog-upload=false", "--new-bundle-format=false", "--key", ref, str(blob))
    assert r.code == 1 and r.err.count("\n") == 1
    assert f"pip install 'sigward[{extra}]'" in r.err and "not installed" in r.err
