"""The Helm formats on their own: config JSON field order, Chart.yaml quoting, v1 charts, Chart.lock,
long tar names, tags."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from sigward.formats import helm as hc
from tests.chart.conftest import POC_CHART_YAML, POC_CONFIG, make_tgz


def _entries(archive: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = (m, f.read() if f else b"")
    return out


def test_poc_config_json() -> None:
    assert hc.parse_metadata(POC_CHART_YAML, "Chart.yaml").config_json() == POC_CONFIG


def test_config_json_field_order_and_omitempty() -> None:
    meta = hc.parse_metadata(b"""\
type: application
dependencies:
- alias: db2
  import-values: [{child: a, parent: b}, data]
  enabled: true
  tags: [t]
  condition: db.enabled
  repository: https://charts.example.com
  version: ^1.0.0
  name: db
kubeVersion: ">=1.22"
annotations: {z: "1", a: "2"}
deprecated: true
appVersion: "1.0"
tags: a,b
condition: c.enabled
apiVersion: v2
icon: https://example.com/icon.png
maintainers: [{url: https://a.example, email: a@example.com, name: A}, {name: B}]
keywords: [k1, k2]
description: "tabs\\tand\\nnewlines"
version: 1.0.0
sources: [https://src.example]
home: https://home.example
name: full
""", "Chart.yaml")
    assert meta.config_json() == (
        b'{"name":"full","home":"https://home.example","sources":["https://src.example"],"version":"1.0.0",'
        b'"description":"tabs and newlines","keywords":["k1","k2"],'
        b'"maintainers":[{"name":"A","email":"a@example.com","url":"https://a.example"},{"name":"B"}],'
        b'"icon":"https://example.com/icon.png","apiVersion":"v2","condition":"c.enabled","tags":"a,b",'
        b'"appVersion":"1.0","deprecated":true,"annotations":{"a":"2","z":"1"},'
        b'"kubeVersion":"\\u003e=1.22","dependencies":[{"name":"db","version":"^1.0.0",'
        b'"repository":"https://charts.example.com","condition":"db.enabled","tags":["t"],"enabled":true,'
        b'"import-values":[{"child":"a","parent":"b"},"data"],"alias":"db2"}],"type":"application"}'
    )


def test_yaml_quoting_matches_go_yaml_v2() -> None:
    values = {
        "plain": "hello world", "float": "1.0", "int": "10", "hex": "0x1F", "octal": "017", "bool": "on",
        "y": "y", "null": "null", "tilde": "~", "empty": "", "date": "2024-01-01",
        "stamp": "2024-01-01T10:00:00Z", "exp": "1e3", "base60": "1:20", "semver": "1.2.3",
        "colon": "a: b", "dash": "- x", "hash": "#x", "star": "*x", "dotnum": ".5", "dotword": ".hidden",
        "multi": "a\nb\n", "unicode": "héllo",
    }
    assert hc.go_yaml_marshal(values).decode() == """\
base60: "1:20"
bool: "on"
colon: 'a: b'
dash: '- x'
date: "2024-01-01"
dotnum: ".5"
dotword: .hidden
empty: ""
exp: "1e3"
float: "1.0"
hash: '#x'
hex: "0x1F"
int: "10"
multi: |
  a
  b
"null": "null"
octal: "017"
plain: hello world
semver: 1.2.3
stamp: "2024-01-01T10:00:00Z"
star: '*x'
tilde: "~"
unicode: héllo
"y": "y"
"""


def test_key_order_is_go_yaml_v2s() -> None:
    # Digit runs compare numerically (shorter run first on a tie), a non-letter sorts before a letter,
    # letters compare by code point (upper case first).
    keys = ["b10", "b9", "a_b", "aB", "a.b", "ab", "a1", "a01"]
    text = hc.go_yaml_marshal({k: 1 for k in keys}).decode()
    assert [line.split(":")[0] for line in text.splitlines()] == ["a.b", "a_b", "a1", "a01", "aB", "ab", "b9",
                                                                   "b10"]


def test_numbers_in_string_fields_become_strings_as_in_helm() -> None:
    meta = hc.parse_metadata(b"apiVersion: v2\nname: x\nversion: 1.0.0\nappVersion: 1.10\n"
                             b"annotations: {n: 5, f: 0.5, b: true}\n", "Chart.yaml")
    assert meta.app_version == "1.1"  # sigs.k8s.io/yaml formats the float with 32-bit precision
    assert meta.annotations == {"n": "5", "f": "0.5", "b": "true"}


def test_v1_chart_keeps_requirements_and_drops_dependencies_from_chart_yaml() -> None:
    files = [
        hc.ChartFile("Chart.yaml", b"apiVersion: v1\nname: old\nversion: 1.0.0\n", 100),
        hc.ChartFile("requirements.yaml", b"dependencies:\n- name: dep\n  version: 1.0.0\n"
                                          b"  repository: https://x\n", 100),
        hc.ChartFile("charts/dep/Chart.yaml", b"name: dep\nversion: 1.0.0\n", 100),
    ]
    chart = hc.load_chart(files, "old")
    assert chart.metadata.api_version == "v1"
    assert [d.name for d in chart.metadata.dependencies if d] == ["dep"]
    assert b'"dependencies":[{"name":"dep","version":"1.0.0","repository":"https://x"}]' in \
        chart.metadata.config_json()
    entries = _entries(hc.write_chart_archive(chart))
    assert list(entries) == ["old/Chart.yaml", "old/requirements.yaml", "old/charts/dep/Chart.yaml"]
    assert entries["old/Chart.yaml"][1] == b"apiVersion: v1\nname: old\nversion: 1.0.0\n"
    assert entries["old/charts/dep/Chart.yaml"][1] == b"apiVersion: v1\nname: dep\nversion: 1.0.0\n"


def test_chart_lock_is_remarshalled_and_stamped() -> None:
    lock = (b"dependencies:\n- name: dep\n  repository: https://x\n  version: 1.0.0\n"
            b"digest: sha256:abc\ngenerated: 2021-03-04T05:06:07.250000-05:00\n")
    files = [
        hc.ChartFile("Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n"
                                   b"- name: dep\n  version: 1.0.0\n  repository: https://x\n", 100),
        hc.ChartFile("Chart.lock", lock, 100),
        hc.ChartFile("charts/dep/Chart.yaml", b"apiVersion: v2\nname: dep\nversion: 1.0.0\n", 100),
    ]
    chart = hc.load_chart(files, "app")
    entries = _entries(hc.write_chart_archive(chart))
    info, data = entries["app/Chart.lock"]
    assert data == (b"dependencies:\n- name: dep\n  repository: https://x\n  version: 1.0.0\n"
                    b'digest: sha256:abc\ngenerated: "2021-03-04T05:06:07.25-05:00"\n')
    assert info.mtime == 1614852367  # the generated time, rounded as archive/tar does
    chart.stamp_mtimes(1700000000)
    entries = _entries(hc.write_chart_archive(chart))
    assert entries["app/Chart.lock"][1].endswith(b'generated: "2023-11-14T22:13:20Z"\n')
    assert {i.mtime for i, _ in entries.values()} == {1700000000}


def test_long_and_non_ascii_names() -> None:
    tw = hc.GoTarWriter()
    split = "c/" + "d" * 90 + "/" + "f" * 60  # > 100 bytes: USTAR prefix/name split
    pax = "c/" + "x" * 120  # one component > 100 bytes: PAX path record
    uni = "c/templates/ünï.yaml"
    for name in (split, pax, uni):
        tw.add(name, name.encode(), 1700000000)
    tar = gzip.decompress(hc.go_gzip(tw.close()))
    assert tar[345:345 + 92].rstrip(b"\0") == ("c/" + "d" * 90).encode()  # Go's longest-prefix split
    assert b"PaxHeaders.0" in tar
    entries = _entries(hc.go_gzip(tar))
    assert [n for n in entries if "PaxHeaders" not in n] == [split, pax, uni]
    assert all(entries[n][1] == n.encode() for n in (split, pax, uni))


def test_tags_and_semver() -> None:
    assert hc.tag_for_version("1.2.3+build.1") == "1.2.3_build.1"
    assert hc.version_for_tag("1.2.3_build.1") == "1.2.3+build.1"
    for good in ("0.1.0", "1.2.3-rc.1+meta", "10.20.30"):
        assert hc.is_semver(good)
    for bad in ("v1.2.3", "1.2", "01.2.3", "1.2.3-01", ""):
        assert not hc.is_semver(bad)
    assert max(["1.10.0", "1.9.0", "1.10.0-rc.1"], key=hc.semver_key) == "1.10.0"


@pytest.mark.parametrize("tgz, expect", [
    (make_tgz([("c/Chart.yaml", b"name: c\n", {})]), "version is required"),
    (make_tgz([("c/values.yaml", b"a: 1\n", {})]), "Chart.yaml file is missing"),
    (b"not gzip", "does not appear to be a gzipped chart archive"),
    (gzip.compress(b"garbage" * 100), "not a valid chart archive"),
])
def test_archive_loading_errors(tgz: bytes, expect: str) -> None:
    with pytest.raises(hc.ChartError, match=expect):
        hc.load_chart_archive(tgz, "x.tgz")
