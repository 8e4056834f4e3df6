"""An attachment that cannot be read is never silently dropped, and never sinks the valid ones:

- ``verify``/``verify-attestation`` skip an unreadable bundle referrer (as cosign does) when another one
  verifies, and name it when none does;
- ``copy`` refuses an image whose signature manifest/referrer/blob is damaged or missing, naming it; with
  ``--skip-unreadable`` it copies the rest, warns naming what it left out, and its summary counts what
  travelled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sigward.oci.layout import LayoutStore
from sigward.oci.reference import LayoutReference, parse_reference
from tests.fixtures.images import push_image

SIGN = ("sign", "--tlog-upload=false")
NOTLOG = "--insecure-ignore-tlog=true"


def _layout(img: str) -> tuple[LayoutStore, str, Path]:
    ref = parse_reference(img)
    assert isinstance(ref, LayoutReference) and ref.digest
    return LayoutStore(ref.path), ref.digest, Path(ref.path)


def _blob_file(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.split(":", 1)[1]


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _bundle_blobs(store: LayoutStore, digest: str) -> list[str]:
    return [store.get_manifest(d.digest).layers[0].digest for d in store.referrers(digest)]


def test_verify_skips_one_unreadable_referrer(run: Callable[..., Any], keys: Any,
                                              layout: Callable[..., str]) -> None:
    img = layout()
    store, digest, root = _layout(img)
    assert run(*SIGN, "--key", keys.key, "-a", "n=1", img).code == 0
    assert run(*SIGN, "--key", keys.key, "-a", "n=2", img).code == 0
    first, second = _bundle_blobs(store, digest)
    _corrupt(_blob_file(root, first))
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code == 0, r.err
    assert len(json.loads(r.out)) == 1
    # Both unreadable: refused, and the reason names the skipped bundles.
    _blob_file(root, second).unlink()
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code != 0 and r.err.count("unreadable bundle skipped") == 2, r.err


def test_verify_attestation_skips_one_unreadable_referrer(run: Callable[..., Any], keys: Any,
                                                          layout: Callable[..., str], tmp_path: Path) -> None:
    img = layout()
    store, digest, root = _layout(img)
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    for _ in range(2):
        r = run("attest", "--tlog-upload=false", "--key", keys.key, "--predicate", str(pred), img)
        assert r.code == 0, r.err
    _corrupt(_blob_file(root, _bundle_blobs(store, digest)[0]))
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, img)
    assert r.code == 0, r.err
    assert len(r.out.splitlines()) == 1


def test_copy_refuses_or_skips_a_damaged_referrer(run: Callable[..., Any], keys: Any,
                                                  layout: Callable[..., str], tmp_path: Path) -> None:
    img = layout()
    store, digest, root = _layout(img)
    assert run(*SIGN, "--key", keys.key, img).code == 0
    assert run(*SIGN, "--key", keys.key, img).code == 0
    assert run(*SIGN, "--key", keys.key, "--new-bundle-format=false", img).code == 0
    bad = _bundle_blobs(store, digest)[1]
    _corrupt(_blob_file(root, bad))
    dst = tmp_path / "dst"
    r = run("copy", img, f"oci:{dst}")
    assert r.code == 1 and r.err.startswith("Error: cannot copy referrer") and "internal" not in r.err, r.err
    assert r.err.endswith(" (nothing was copied; --skip-unreadable copies the rest without it)\n"), r.err
    assert not dst.exists(), "a refused copy must not write anything"
    r = run("copy", "--skip-unreadable", img, f"oci:{dst}")
    assert r.code == 0, r.err
    assert "WARNING: skipped unreadable attachment referrer" in r.err
    assert "2 signatures, 0 attestations (1 unreadable skipped)" in r.err  # one bundle + one .sig layer
    r = run("verify", "--key", keys.pub, NOTLOG, f"oci:{dst}@{digest}")
    assert r.code == 0 and len(json.loads(r.out)) == 1


def test_copy_refuses_a_sig_tag_whose_manifest_is_gone(run: Callable[..., Any], keys: Any,
                                                       layout: Callable[..., str], tmp_path: Path) -> None:
    img = layout()
    store, digest, root = _layout(img)
    assert run(*SIGN, "--key", keys.key, "--new-bundle-format=false", img).code == 0
    sig = store.resolve(digest.replace(":", "-") + ".sig")
    _blob_file(root, sig.digest).unlink()
    r = run("copy", img, f"oci:{tmp_path / 'dst'}")
    assert r.code == 1 and ".sig" in r.err and r.err.startswith("Error: cannot copy"), r.err
    r = run("copy", "--skip-unreadable", img, f"oci:{tmp_path / 'dst'}")
    assert r.code == 0 and ".sig" in r.err and "0 signatures" in r.err, r.err


def test_copy_on_registry_refuses_a_sig_image_with_a_missing_layer(
        run: Callable[..., Any], keys: Any, registry: Any, unique_repo: str) -> None:
    digest = push_image(registry, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, "--new-bundle-format=false", ref).code == 0
    sig = httpx.get(f"{registry.url}/v2/{unique_repo}/manifests/{digest.replace(':', '-')}.sig",
                    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).json()
    layer = sig["layers"][0]["digest"]
    assert httpx.delete(f"{registry.url}/v2/{unique_repo}/blobs/{layer}").status_code == 202
    dst = f"{registry.host}/{unique_repo}-copy:v1"
    r = run("copy", ref, dst)
    assert r.code == 1 and ".sig" in r.err and layer in r.err, r.err
    r = run("copy", "--skip-unreadable", ref, dst)
    assert r.code == 0 and "0 signatures" in r.err, r.err
