"""``sigward policy validate`` as a user runs it (a real subprocess): exit codes, every error listed, the
JSON form, directories and stdin, and one ``Error:`` line (no traceback) for unreadable or broken input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "policy-controller"

GOOD = """apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: good}
spec:
  images: [{glob: "registry.example.com/**"}]
  authorities:
  - keyless:
      identities: [{issuer: https://gitlab.com, subjectRegExp: "https://gitlab.com/x/.*"}]
"""
BAD = """apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: bad}
spec:
  mode: garbage
  authorities: [{key: {}, keyless: {url: https://fulcio.sigstore.dev}}]
"""


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", "policy", "validate", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_valid_documents_exit_0(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD + "---\n" + GOOD.replace("name: good", "name: good2"))
    r = run(str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "clusterimagepolicy/good valid\nclusterimagepolicy/good2 valid\n"
    assert r.stderr == ""


def test_every_error_listed_exit_1(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    r = run(str(good), str(bad))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "clusterimagepolicy/good valid",
        f"{bad}: clusterimagepolicy/bad: expected exactly one, got both: spec.authorities[0].key, "
        "spec.authorities[0].keyless, spec.authorities[0].static",
        f"{bad}: clusterimagepolicy/bad: invalid value: garbage: spec.mode (unsupported mode)",
        f"{bad}: clusterimagepolicy/bad: missing field(s): spec.images",
    ]


def test_json_output(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD + "---\n" + BAD)
    r = run("-o", "json", str(f))
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["valid"] is False
    good, bad = out["documents"]
    assert (good["name"], good["valid"], good["errors"], good["document"]) == ("good", True, [], 0)
    assert bad["kind"] == "ClusterImagePolicy" and bad["apiVersion"] == "policy.sigstore.dev/v1alpha1"
    assert bad["errors"][1] == {"error": "invalid value: garbage: spec.mode\nunsupported mode",
                                "message": "invalid value: garbage", "paths": ["spec.mode"],
                                "details": "unsupported mode"}


def test_warnings_do_not_fail(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(GOOD + "    attestations: [{name: sbom, predicateType: spdxjson}]\n")
    r = run(str(f))
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == [
        f"{f}: clusterimagepolicy/good: Warning: invalid value: spdxjson: "
        "spec.authorities[0].attestations.predicateType "
        "(deprecated value, please use RFC 3986 conformant values)",
        "clusterimagepolicy/good valid"]


def test_directory_and_stdin() -> None:
    r = run(str(VECTORS / "policy-controller" / "valid"))
    assert r.returncode == 0 and r.stdout.count(" valid\n") == 14
    r = run("-", stdin=GOOD)
    assert (r.returncode, r.stdout) == (0, "clusterimagepolicy/good valid\n")


def test_trustroot_document() -> None:
    r = run(str(VECTORS / "trustroot" / "valid" / "valid-sigstore-keys.yaml"))
    assert (r.returncode, r.stdout) == (0, "trustroot/bring-your-own-sigstore-keys valid\n")


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(GOOD + "---\nspec: [unclosed\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, want in (([str(broken)], f"Error: {broken}: document 2: invalid YAML: "),
                       ([str(tmp_path / "no.yaml")], f"Error: cannot read {tmp_path / 'no.yaml'}: "),
                       ([str(empty)], f"Error: {empty}: no *.yaml, *.yml or *.json files")):
        r = run(*args)
        assert r.returncode == 1
        assert r.stdout == ""
        assert r.stderr.startswith(want) and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
