"""Shared by the deploy tests: the real Helm client and the chart's paths.

Helm comes from scripts/go-tools.sh (``go_tool("helm")``, built from the Go module proxy and cached): a
missing Helm fails these tests, never skips them. ``render`` and the ``base_args`` fixture give the
rendered release, parsed.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures import gotools
from tests.fixtures.pki import make_ca

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "sigward-admission"
DIGEST = "sha256:" + "ab" * 32
NAMESPACE = "sigward-system"
# A Helm built by `go install` (no release ldflags) assumes Kubernetes v1.20 when not talking to a cluster;
# the chart requires >= 1.25 (kubeVersion), so name the version a real cluster would report.
KUBE_VERSION = ["--kube-version", "v1.34.0"]

Helm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """Run helm with its config and cache in a temp dir (nothing from the user's ~/.config/helm)."""
    binary = gotools.go_tool("helm")
    home = tmp_path_factory.mktemp("helm-home")
    env = {**os.environ, "HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_DATA_HOME": str(home / "data")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120)

    return run


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    """tls.caBundle: base64 of a real PEM CA certificate."""
    ca = make_ca(tmp_path_factory.mktemp("ca"))
    return base64.b64encode(ca.cert_file.read_bytes()).decode()


@pytest.fixture(scope="session")
def base_args(ca_bundle: str) -> list[str]:
    """The smallest values a release needs: an image digest, the CA bundle, a TLS Secret's name."""
    return [*KUBE_VERSION, "--namespace", NAMESPACE, "--set", f"image.digest={DIGEST}",
            "--set", f"tls.caBundle={ca_bundle}", "--set", "tls.existingSecret=webhook-tls"]


def render(helm: Helm, *args: str) -> list[dict[str, Any]]:
    """`helm template` of the chart, parsed; a failure to render fails the test with Helm's message."""
    r = helm("template", "rel", str(CHART), *args)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]
