"""The HTTP transport stays unloaded when no network is touched: a key-based sign and verify of an OCI layout,
run as a real ``sigward`` process, never imports httpx, tenacity or sigward.transport."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from tests.signing.conftest import TEST_PASSWORD

_PROBE = (
    "import sys\n"
    "from sigward.cli.main import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "finally:\n"
    "    loaded = [m for m in ('httpx', 'tenacity', 'sigward.transport') if m in sys.modules]\n"
    "    print('LOADED=' + ','.join(loaded), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _sigward(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSIGN_PASSWORD": TEST_PASSWORD}
    env.pop("COSIGN_REPOSITORY", None)
    return subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_layout_sign_and_verify_never_load_http(keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    signed = _sigward("sign", "--key", keys.key, "--tlog-upload=false", img)
    assert signed.returncode == 0, signed.stderr
    verified = _sigward("verify", "--key", keys.pub, "--insecure-ignore-tlog=true", img)
    assert verified.returncode == 0, verified.stderr
    for proc in (signed, verified):
        assert "LOADED=\n" in proc.stderr, proc.stderr
