"""What `sigward image build` refuses, and that a refusal writes nothing to TARGET: a base by tag, an
unsigned or wrongly signed base (with verify's exit codes), missing verification flags, bad layers."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.oci.reference import parse_reference
from sigward.oci.store import open_store
from tests.build.helpers import NOTLOG, build, built_ref, demo_base, open_ref, sign, tags

LEGACY = "--new-bundle-format=false"


def _untouched(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()


def test_base_by_tag_refused(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    r = build(run, f"oci:{tmp_path}/base:v1", f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub)
    assert r.code == 1
    assert r.err.strip().splitlines()[-1] == (
        f"Error: --base oci:{tmp_path}/base:v1 is not a digest reference (a tag can move); reference the "
        f"base by digest: sigward image digest oci:{tmp_path}/base:v1")
    _untouched(tmp_path)


def test_unsigned_base_exit_10_nothing_written(run: Callable[..., Any], keys: Any, source: Path,
                                               tmp_path: Path, registry: Any, unique_repo: str) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    r = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub)
    assert r.code == 10
    assert r.err.strip().splitlines()[-1] == (
        f"Error: base image {base} does not verify: no signatures found; refusing to build")
    assert r.out == ""
    _untouched(tmp_path)
    # A registry target is untouched too: not even the base's blobs were pushed.
    target = f"{registry.host}/{unique_repo}"
    assert build(run, base, target, "--layer", str(source), pub=keys.pub).code == 10
    store, digest = open_ref(base)
    layer = store.get_manifest(digest).layers[0]
    with open_store(parse_reference(target, default_tag=False)) as reg:
        assert not reg.has_blob(layer.digest)
        assert tags(reg) == []


def test_other_key_exit_codes_as_verify(run: Callable[..., Any], keys: Any, other_keys: Any, source: Path,
                                        tmp_path: Path) -> None:
    legacy = demo_base(run, f"oci:{tmp_path}/base:legacy", message="legacy")
    sign(run, other_keys.key, legacy, LEGACY)
    r = build(run, legacy, f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub)
    assert r.code == 12 and "does not verify: no matching signatures" in r.err
    assert "refusing to build" in r.err
    _untouched(tmp_path)

    bundle = demo_base(run, f"oci:{tmp_path}/base:bundle", message="bundle")
    sign(run, other_keys.key, bundle)
    r = build(run, bundle, f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub)
    verify = run("verify", "--key", keys.pub, NOTLOG, bundle)
    assert verify.code != 0 and r.code == verify.code
    assert "does not verify" in r.err
    _untouched(tmp_path)
    # The right key builds.
    assert build(run, bundle, f"oci:{tmp_path}/out", "--layer", str(source), pub=other_keys.pub).code == 0


def test_base_annotation_checked(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base, LEGACY, "-a", "imageRef=refs/tags/1.0")
    r = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), "--base-annotation",
              "imageRef=refs/tags/2.0", pub=keys.pub)
    assert r.code == 12 and "annotation" in r.err
    _untouched(tmp_path)
    ok = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), "--base-annotation",
               "imageRef=refs/tags/1.0", pub=keys.pub)
    built_ref(ok)
    assert "The specified annotations were verified." in ok.err


def test_missing_verification_flags(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    r = run("image", "build", "--base", base, "--layer", str(source), f"oci:{tmp_path}/out")
    assert r.code == 1 and "base images must be verified" in r.err and "--base-key" in r.err
    # Half a keyless policy is refused the way verify refuses it.
    r = run("image", "build", "--base", base, "--certificate-identity", "me@example.com", "--layer",
            str(source), f"oci:{tmp_path}/out")
    assert r.code == 1 and "--certificate-oidc-issuer" in r.err
    r = run("image", "build", "--base", base, "--base-key", keys.pub, "--certificate-identity", "x",
            "--layer", str(source), f"oci:{tmp_path}/out")
    assert r.code == 1 and "--base-key" in r.err
    _untouched(tmp_path)


@pytest.mark.parametrize("target", ["oci:{tmp}/out:v1", "oci:{tmp}/out@sha256:" + "0" * 64])
def test_target_must_be_repository(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path,
                                   target: str) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    r = build(run, base, target.format(tmp=tmp_path), "--layer", str(source), pub=keys.pub)
    assert r.code == 1 and "must be a repository" in r.err and "--tag" in r.err
    _untouched(tmp_path)


def test_bad_layers_refused(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    tarball = tmp_path / "l.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(source / "app.py", arcname="app.py")
    fake = tmp_path / "fake.tar.gz"
    fake.write_bytes(b"not gzip at all")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        f"{tmp_path / 'missing'}:/app": "does not exist",
        str(notes): "must be a tarball",
        f"{tarball}:/app": "DEST is only for directories",
        f"{source}:app": "must be an absolute path",
        str(fake): "not a valid gzip-compressed tar archive",
    }
    for spec, message in cases.items():
        r = build(run, base, f"oci:{tmp_path}/out", "--layer", spec, pub=keys.pub)
        assert r.code == 1 and message in r.err, (spec, r.err)
    os.mkfifo(source / "pipe")
    r = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub)
    assert r.code == 1 and "special file" in r.err and "pipe" in r.err
    # Excluding it is the way out.
    built_ref(build(run, base, f"oci:{tmp_path}/out2", "--layer", str(source), "--exclude", "pipe",
                    pub=keys.pub))
    _untouched(tmp_path)


@pytest.mark.parametrize("flags, message", [
    (("--entrypoint", "[1, 2]"), "strings only"),
    (("--cmd", "[not json"), "not a JSON array"),
    (("--cmd", "unbalanced 'quote"), "invalid --cmd"),
    (("--env", "NOVALUE"), "expected KEY=VALUE"),
    (("--label", "=x"), "expected KEY=VALUE"),
    (("--expose", "http"), "invalid --expose"),
    (("--expose", "70000/tcp"), "invalid --expose"),
    (("--chown", "root"), "invalid --chown"),
    (("--platform", "linux"), "invalid platform"),
    (("--tag=-bad",), "invalid tag"),
])
def test_bad_flags_refused_before_anything(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path,
                                           flags: tuple[str, ...], message: str) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")  # unsigned: flags are checked before verification
    r = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), *flags, pub=keys.pub)
    assert r.code == 1 and message in r.err, r.err
    _untouched(tmp_path)


def test_platform_of_single_image_base(run: Callable[..., Any], keys: Any, source: Path,
                                       tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")  # linux/amd64
    sign(run, keys.key, base)
    r = build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), "--platform", "linux/arm64",
              pub=keys.pub)
    assert r.code == 1 and "is linux/amd64, not linux/arm64" in r.err
    _untouched(tmp_path)
    built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), "--platform", "linux/amd64",
                    pub=keys.pub))
