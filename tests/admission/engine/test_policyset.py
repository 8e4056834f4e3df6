"""Loading policies: files and directories, every problem reported at once (one ``Error:`` line from the
CLI), Secrets decoded, the content identity independent of file order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sigward.admission import PolicyError, PolicySet
from tests.admission.engine.conftest import Run, cip

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k", "namespace": "cosign-system"},
          "data": {"cosign.pub": "cHVi"}, "stringData": {"note": "plain"}}


def test_directories_order_and_identity(tmp_path: Path, write: Callable[..., str]) -> None:
    a = cip("a", {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]})
    b = cip("b", {"images": [{"glob": "ghcr.io/**"}], "authorities": [{"static": {"action": "fail"}}]})
    d = tmp_path / "policies"
    d.mkdir()
    (d / "1.yaml").write_text(Path(write(a)).read_text())
    (d / "2.yml").write_text(Path(write(b, SECRET)).read_text())
    (d / "ignored.txt").write_text("not yaml: [")
    ps = PolicySet.load([d])
    assert [p.name for p in ps.policies] == ["a", "b"]
    assert ps.secrets[("cosign-system", "k")] == {"cosign.pub": b"pub", "note": b"plain"}
    other = PolicySet.load([Path(write(SECRET, b)), Path(write(a))])
    assert other.identity == ps.identity
    moved = cip("a", {"images": [{"glob": "x/**"}], "authorities": [{"static": {"action": "pass"}}]})
    changed = PolicySet.load([Path(write(SECRET, b)), Path(write(moved))])
    assert changed.identity != ps.identity


def test_every_error_at_once(tmp_path: Path, write: Callable[..., str], run: Callable[..., Run]) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: [unclosed\n")
    unknown = write({"apiVersion": "v1", "kind": "ConfigMapList"})
    with pytest.raises(PolicyError) as e:
        PolicySet.load([bad_yaml, tmp_path / "missing.yaml", Path(unknown)])
    lines = str(e.value).splitlines()
    assert len(lines) == 3
    assert "invalid YAML" in lines[0] and "cannot read" in lines[1] and "unknown type" in lines[2]
    r = run("policy", "test", "--policy", str(bad_yaml), "--policy", unknown, "oci:/nowhere")
    assert r.code == 1 and r.out == ""
    assert r.err.count("Error:") == 1 and "(and 1 more:" in r.err and len(r.err.strip().splitlines()) == 1


def test_configmap_volume_layout_loads_each_policy_once(tmp_path: Path, write: Callable[..., str]) -> None:
    """A ConfigMap mounted as a volume, as the kubelet lays it out (and the chart mounts policies):
    `p.yaml` → `..data/p.yaml` → `..<timestamp>/p.yaml`. Only the visible name is read."""
    a = cip("a", {"images": [{"glob": "**"}], "authorities": [{"static": {"action": "pass"}}]})
    d = tmp_path / "mounted"
    stamp = d / "..2026_12_05_14_00_00.000000001"
    stamp.mkdir(parents=True)
    (stamp / "p.yaml").write_text(Path(write(a)).read_text())
    (d / "..data").symlink_to(stamp.name)
    (d / "p.yaml").symlink_to("..data/p.yaml")
    ps = PolicySet.load([d])
    assert [p.name for p in ps.policies] == ["a"]
    assert ps.warnings == ()
