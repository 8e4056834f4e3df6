"""`sigward chart package`: the archive Helm writes, reproducible, .helmignore, overrides, refusals."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chart.conftest import EPOCH, GZIP_EXTRA, POC_VALUES, make_tgz

ARCHIVE = "cosign-oci-poc-helm-0.1.0.tgz"


def _package(run: Callable[..., Any], chart: Path, dest: Path, *extra: str,
             env: dict[str, str] | None = None) -> Path:
    r = run("chart", "package", str(chart), "-d", str(dest), *extra, env=env)
    assert r.code == 0, r.err
    line = r.out.strip()
    assert line.startswith("Successfully packaged chart and saved it to: ")
    return Path(line.split(": ", 1)[1])


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def _files(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None
            out[m.name] = f.read()
    return out


def test_archive_layout_is_helms(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    (poc_chart / "values.schema.json").write_bytes(b'{"type": "object"}\n')
    (poc_chart / "README.md").write_bytes(b"# readme\n")
    (poc_chart / "crds").mkdir()
    (poc_chart / "crds" / "crd.yaml").write_bytes(b"kind: CustomResourceDefinition\n")
    path = _package(run, poc_chart, tmp_path / "out", env={"SOURCE_DATE_EPOCH": str(EPOCH)})
    assert path == tmp_path / "out" / ARCHIVE
    data = path.read_bytes()

    # gzip header as Go's gzip.Writer with Helm's Extra/Comment: FLG=FEXTRA|FCOMMENT, MTIME 0, XFL 0, OS 255
    assert data[:4] == b"\x1f\x8b\x08\x14"
    assert data[4:8] == b"\0\0\0\0"
    assert data[8] == 0 and data[9] == 255
    (xlen,) = struct.unpack("<H", data[10:12])
    assert xlen == len(GZIP_EXTRA) == 44
    assert data[12:12 + xlen] == GZIP_EXTRA
    assert data[12 + xlen:12 + xlen + 5] == b"Helm\0"

    members = _members(data)
    names = [m.name for m in members]
    top = "cosign-oci-poc-helm"  # the chart name, not the directory name
    assert names == [
        f"{top}/Chart.yaml", f"{top}/values.yaml", f"{top}/values.schema.json",
        f"{top}/templates/NOTES.txt", f"{top}/templates/_helpers.tpl", f"{top}/templates/deployment.yaml",
        f"{top}/.helmignore", f"{top}/README.md", f"{top}/crds/crd.yaml",
    ]
    for m in members:
        assert m.isreg() and m.mode == 0o644 and m.uid == 0 and m.gid == 0
        assert m.uname == "" and m.gname == "" and m.mtime == EPOCH
    # USTAR, as Go writes it: two zero blocks at the end and no padding to a 10 KiB record.
    tar = gzip.decompress(data)
    assert tar[257:265] == b"ustar\x0000"
    assert tar[329:345] == b"0000000\x000000000\x00"  # devmajor/devminor written as Go does
    body = sum(512 + -(-m.size // 512) * 512 for m in members)
    assert len(tar) == body + 1024 and tar[-1024:] == bytes(1024)

    files = _files(data)
    # Chart.yaml is re-marshalled (comments gone, keys sorted); the rest is copied byte for byte.
    assert files[f"{top}/Chart.yaml"] == (
        b"apiVersion: v2\nappVersion: 1.16.0\ndescription: A Helm chart for Kubernetes\n"
        b"name: cosign-oci-poc-helm\ntype: application\nversion: 0.1.0\n"
    )
    assert files[f"{top}/values.yaml"] == POC_VALUES


def test_reproducible_with_source_date_epoch(run: Callable[..., Any], poc_chart: Path,
                                             tmp_path: Path) -> None:
    env = {"SOURCE_DATE_EPOCH": str(EPOCH)}
    first = _package(run, poc_chart, tmp_path / "a", env=env).read_bytes()
    for p in poc_chart.rglob("*"):  # touching the sources changes nothing
        os.utime(p, (EPOCH + 12345, EPOCH + 12345))
    second = _package(run, poc_chart, tmp_path / "b", env=env).read_bytes()
    assert first == second
    third = _package(run, poc_chart, tmp_path / "c", env={"SOURCE_DATE_EPOCH": str(EPOCH + 1)}).read_bytes()
    assert third != first


def test_mtimes_come_from_the_files_without_epoch(run: Callable[..., Any], poc_chart: Path,
                                                  tmp_path: Path) -> None:
    os.utime(poc_chart / "values.yaml", ns=(0, 1_600_000_000_600_000_000))  # rounds up, as archive/tar
    os.utime(poc_chart / "Chart.yaml", (1_500_000_000, 1_500_000_000))
    data = _package(run, poc_chart, tmp_path / "out").read_bytes()
    mtimes = {m.name.split("/", 1)[1]: m.mtime for m in _members(data)}
    assert mtimes["values.yaml"] == 1_600_000_001
    assert mtimes["Chart.yaml"] == 1_500_000_000


def test_invalid_source_date_epoch(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    for bad in ("yesterday", "-5"):
        r = run("chart", "package", str(poc_chart), "-d", str(tmp_path), env={"SOURCE_DATE_EPOCH": bad})
        assert r.code == 1 and "SOURCE_DATE_EPOCH" in r.err
    assert not list(tmp_path.glob("*.tgz"))


def test_helmignore(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    (poc_chart / ".helmignore").write_bytes(
        b"# comment\n*.orig\nsecrets/\n/top-only.txt\nnotes/*.md\n  \n"
    )
    for rel in ("values.yaml.orig", "templates/x.orig", "secrets/key.pem", "top-only.txt", "sub/top-only.txt",
                "notes/a.md", "notes/b.txt", "templates/.hidden", "docs/.keep"):
        (poc_chart / rel).parent.mkdir(parents=True, exist_ok=True)
        (poc_chart / rel).write_bytes(b"x\n")
    names = {n.split("/", 1)[1] for n in _files(_package(run, poc_chart, tmp_path / "out").read_bytes())}
    for gone in ("values.yaml.orig", "templates/x.orig", "secrets/key.pem", "top-only.txt", "notes/a.md",
                 "templates/.hidden"):  # the last by Helm's one built-in rule, templates/.?*
        assert gone not in names
    for kept in ("sub/top-only.txt", "notes/b.txt", "docs/.keep", ".helmignore"):
        assert kept in names


def test_helmignore_negation_is_helms(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    # Helm's `!pattern` ignores every path that does not match it (not gitignore's re-include): with
    # `!*.yaml` first, only .yaml files and directories named *.yaml survive.
    (poc_chart / ".helmignore").write_bytes(b"!*.yaml\n")
    (poc_chart / "README.md").write_bytes(b"x\n")
    names = {n.split("/", 1)[1] for n in _files(_package(run, poc_chart, tmp_path / "out").read_bytes())}
    assert names == {"Chart.yaml", "values.yaml"}  # templates/ is a directory that does not match either


def test_helmignore_rules_table() -> None:
    from sigward.formats.helm import ChartError, IgnoreRules

    dirs = {"cargo", "mast", "templates"}
    table = [
        ("helm.txt", "helm.txt", True), ("helm.*", "rudder.txt", False), ("*.txt", "cargo/a.txt", True),
        ("cargo/*.txt", "cargo/a.txt", True), ("cargo/*.txt", "mast/a.txt", False),
        ("ru[c-e]?er.txt", "rudder.txt", True), ("ru[^d]der.txt", "rudder.txt", False),
        ("a\\*b", "a*b", True), ("a\\*b", "axb", False), ("*", "cargo/a.txt", True),
        (".*", ".", False), (".*", ".joonix", True), (".*", "", False),
        ("cargo/", "cargo", True), ("cargo/", "mast", False), ("helm.txt/", "helm.txt", False),
        ("!helm.txt", "helm.txt", False), ("!helm.txt", "tiller.txt", True), ("!cargo/", "mast/a.txt", True),
        ("/a.txt", "a.txt", True), ("/a.txt", "cargo/a.txt", False), ("/cargo/a.txt", "cargo/a.txt", True),
        ("templates/.?*", "templates/.dotfile", True), ("templates/.?*", "templates/sub/.dotfile", False),
    ]
    for pattern, path, want in table:
        rules = IgnoreRules.parse(pattern.encode())
        assert rules.ignore(path, path in dirs) is want, (pattern, path)
    for bad in ("foo/**/bar", "[z-", "[]a]", "a\\"):
        with pytest.raises(ChartError):
            IgnoreRules.parse(bad.encode())


def test_version_overrides(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    path = _package(run, poc_chart, tmp_path / "out", "--version", "1.2.3+build.1", "--app-version", "2.0")
    assert path.name == "cosign-oci-poc-helm-1.2.3+build.1.tgz"
    chart_yaml = _files(path.read_bytes())["cosign-oci-poc-helm/Chart.yaml"]
    assert b"\nversion: 1.2.3+build.1\n" in chart_yaml
    assert b'\nappVersion: "2.0"\n' in chart_yaml  # go-yaml quotes what would read back as a float
    r = run("chart", "package", str(poc_chart), "-d", str(tmp_path), "--version", "v1.2")
    assert r.code == 1 and "--version: version 'v1.2' is not a SemVer 2 version" in r.err


def test_chart_yaml_is_remarshalled_like_helm(run: Callable[..., Any], tmp_path: Path) -> None:
    d = tmp_path / "c"
    (d / "charts" / "sub").mkdir(parents=True)
    (d / "Chart.yaml").write_bytes(b"""\
apiVersion: v2
name: demo
version: 1.0.0
appVersion: 1.10
kubeVersion: ">=1.22.0-0"
description: "two\\nlines   here"
home: https://example.com
unknownField: dropped
keywords: [web, "yes", "2024-01-01", "1e3", "a: b"]
maintainers:
  - name: Alice
    email: alice@example.com
dependencies:
  - name: sub
    version: 0.1.0
    repository: file://charts/sub
annotations:
  example.com/b10: ten
  example.com/b9: nine
""")
    (d / "charts" / "sub" / "Chart.yaml").write_bytes(b"apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    files = _files(_package(run, d, tmp_path / "out").read_bytes())
    assert files["demo/Chart.yaml"] == b"""\
annotations:
  example.com/b9: nine
  example.com/b10: ten
apiVersion: v2
appVersion: "1.1"
dependencies:
- name: sub
  repository: file://charts/sub
  version: 0.1.0
description: two lines   here
home: https://example.com
keywords:
- web
- "yes"
- "2024-01-01"
- "1e3"
- 'a: b'
kubeVersion: '>=1.22.0-0'
maintainers:
- email: alice@example.com
  name: Alice
name: demo
version: 1.0.0
"""
    assert files["demo/charts/sub/Chart.yaml"] == b"apiVersion: v2\nname: sub\nversion: 0.1.0\n"


def test_subcharts_directory_and_archive(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    sub = poc_chart / "charts" / "lib"
    (sub / "templates").mkdir(parents=True)
    (sub / "Chart.yaml").write_bytes(b"apiVersion: v2\nname: lib\nversion: 0.2.0\ntype: library\n")
    (sub / "templates" / "_x.tpl").write_bytes(b"{{/* x */}}\n")
    (poc_chart / "charts" / "db-1.0.0.tgz").write_bytes(make_tgz([
        ("db/Chart.yaml", b"apiVersion: v2\nname: db\nversion: 1.0.0\n", {}),
        ("db/values.yaml", b"port: 5432\n", {}),
    ]))
    names = list(_files(_package(run, poc_chart, tmp_path / "out").read_bytes()))
    top = "cosign-oci-poc-helm"
    assert names[-4:] == [
        f"{top}/charts/db/Chart.yaml", f"{top}/charts/db/values.yaml",  # an archive becomes a directory
        f"{top}/charts/lib/Chart.yaml", f"{top}/charts/lib/templates/_x.tpl",
    ]
    assert not any(n.endswith(".tgz") for n in names)


def test_symlinks(run: Callable[..., Any], poc_chart: Path, tmp_path: Path) -> None:
    (poc_chart / "files").mkdir()
    (poc_chart / "files" / "real.txt").write_bytes(b"real\n")
    (poc_chart / "alias.txt").symlink_to("files/real.txt")
    files = _files(_package(run, poc_chart, tmp_path / "out").read_bytes())
    assert files["cosign-oci-poc-helm/alias.txt"] == b"real\n"  # followed, as Helm does
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret\n")
    (poc_chart / "leak.txt").symlink_to(outside)
    r = run("chart", "package", str(poc_chart), "-d", str(tmp_path / "out2"))
    assert r.code == 1 and "symbolic link leak.txt points outside the chart" in r.err
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").iterdir())


@pytest.mark.parametrize("case, expect", [
    ("no-chart-yaml", "no Chart.yaml"),
    ("bad-yaml", "Chart.yaml: invalid YAML"),
    ("bad-version", "Chart.yaml: version '1.2' is not a SemVer 2 version"),
    ("no-name", "Chart.yaml: name is required"),
    ("bad-api", "Chart.yaml: apiVersion 'v3' is not supported"),
    ("bad-schema", "values.schema.json: invalid JSON"),
    ("bad-values", "values.yaml: invalid YAML"),
    ("missing-dep", "found in Chart.yaml, but missing in charts/ directory: redis"),
    ("bad-type", "Chart.yaml: sources must be a list of strings"),
])
def test_refusals(run: Callable[..., Any], poc_chart: Path, tmp_path: Path, case: str, expect: str) -> None:
    chart_yaml = poc_chart / "Chart.yaml"
    if case == "no-chart-yaml":
        chart_yaml.unlink()
    elif case == "bad-yaml":
        chart_yaml.write_bytes(b"apiVersion: v2\nname: [unclosed\n")
    elif case == "bad-version":
        chart_yaml.write_bytes(b"apiVersion: v2\nname: x\nversion: 1.2\n")
    elif case == "no-name":
        chart_yaml.write_bytes(b"apiVersion: v2\nversion: 1.2.0\n")
    elif case == "bad-api":
        chart_yaml.write_bytes(b"apiVersion: v3\nname: x\nversion: 1.2.0\n")
    elif case == "bad-schema":
        (poc_chart / "values.schema.json").write_bytes(b"{not json")
    elif case == "bad-values":
        (poc_chart / "values.yaml").write_bytes(b"a: [1\n")
    elif case == "missing-dep":
        chart_yaml.write_bytes(b"apiVersion: v2\nname: x\nversion: 1.2.0\ndependencies:\n- name: redis\n"
                               b"  version: 1.0.0\n  repository: https://charts.example.com\n")
    elif case == "bad-type":
        chart_yaml.write_bytes(b"apiVersion: v2\nname: x\nversion: 1.2.0\nsources: https://x\n")
    out = tmp_path / "out"
    r = run("chart", "package", str(poc_chart), "-d", str(out))
    assert r.code == 1
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expect in lines[0], r.err
    assert not out.exists() or not list(out.iterdir())
