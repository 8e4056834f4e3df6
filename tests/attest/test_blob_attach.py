"""attest-blob / verify-blob-attestation, attach sbom|attestation, download attestation|sbom, tree, and
one round trip against a real registry (docker-registry, referrers fallback tag)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigward.formats import legacy
from sigward.oci import mediatypes as mt
from sigward.ops.attached import attached_tag
from tests.attest.helpers import ATTEST, LEGACY, NOTLOG, bundle_referrers, store_of


def _blob(tmp_path: Path) -> tuple[str, str, str]:
    blob = tmp_path / "artifact.tar"
    blob.write_bytes(b"some-payload")
    pred = tmp_path / "prov.json"
    pred.write_text(json.dumps({"builder": {"id": "ci"}, "buildType": "make"}))
    return str(blob), str(pred), hashlib.sha256(b"some-payload").hexdigest()


def test_attest_blob_bundle(run: Callable[..., Any], keys: Any, other_keys: Any, tmp_path: Path) -> None:
    blob, pred, hexd = _blob(tmp_path)
    bundle = str(tmp_path / "att.sigstore.json")
    r = run("attest-blob", "--tlog-upload=false", "--key", keys.key, "--type", "slsaprovenance",
            "--predicate", pred, "--bundle", bundle, blob)
    assert r.code == 0, r.err
    b = json.loads(Path(bundle).read_text())
    stmt = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
    assert stmt["subject"] == [{"name": "artifact.tar", "digest": {"sha256": hexd}}]
    assert stmt["predicateType"] == "https://slsa.dev/provenance/v0.2"

    ok = ("verify-blob-attestation", "--key", keys.pub, NOTLOG, "--bundle", bundle)
    for args in ([blob], [f"sha256:{hexd}"], ["--digest", hexd, "--digestAlg", "sha256"]):
        r = run(*ok, *args)
        assert r.code == 0 and "Verified OK" in r.err, (args, r.err)
    assert run(*ok, "--type", "slsaprovenance", blob).code == 0
    r = run(*ok, "--type", "cyclonedx", blob)
    assert r.code == 1 and "invalid predicate type" in r.err
    other = tmp_path / "other"
    other.write_bytes(b"other-payload")
    r = run(*ok, str(other))
    assert r.code == 1 and "subject does not name the artifact" in r.err
    r = run(*ok, "--digest", "00" * 32)
    assert r.code == 1 and "subject does not name the artifact" in r.err
    r = run("verify-blob-attestation", "--key", other_keys.pub, NOTLOG, "--bundle", bundle, blob)
    assert r.code == 1 and "DSSE signature" in r.err
    # --hash instead of the file gives the same subject digest.
    bundle2 = str(tmp_path / "att2.json")
    assert run("attest-blob", "--tlog-upload=false", "--key", keys.key, "--predicate", pred, "--hash", hexd,
               "--bundle", bundle2, blob).code == 0
    assert run("verify-blob-attestation", "--key", keys.pub, NOTLOG, "--bundle", bundle2, blob).code == 0
    r = run("attest-blob", "--tlog-upload=false", "--key", keys.key, "--predicate", pred, blob)
    assert r.code == 1 and "must specify --bundle" in r.err


def test_attest_blob_legacy_envelope(run: Callable[..., Any], keys: Any, tmp_path: Path) -> None:
    blob, pred, _hexd = _blob(tmp_path)
    r = run("attest-blob", "--tlog-upload=false", LEGACY, "--key", keys.key, "--predicate", pred, blob)
    assert r.code == 0, r.err
    env = tmp_path / "env.json"
    env.write_text(r.out)
    assert json.loads(r.out)["payloadType"] == mt.IN_TOTO
    v = run("verify-blob-attestation", "--key", keys.pub, NOTLOG, "--signature", str(env), blob)
    assert v.code == 0, v.err
    env.write_bytes(base64.b64encode(r.out.strip().encode()))  # the base64 form cosign's tests use
    assert run("verify-blob-attestation", "--key", keys.pub, NOTLOG, "--signature", str(env), blob).code == 0
    (tmp_path / "x").write_bytes(b"x")
    assert run("verify-blob-attestation", "--key", keys.pub, NOTLOG, "--signature", str(env),
               str(tmp_path / "x")).code == 1


def test_attach_and_download_sbom(run: Callable[..., Any], layout: Callable[..., str],
                                  tmp_path: Path) -> None:
    img = layout()
    store, subject = store_of(img)
    sbom = tmp_path / "bom.cdx.json"
    sbom.write_text('{"bomFormat":"CycloneDX","specVersion":"1.5"}')
    r = run("attach", "sbom", "--sbom", str(sbom), "--type", "cyclonedx", img)
    assert r.code == 0, r.err
    m = store.get_manifest(attached_tag(subject.digest, "sbom"))
    [layer] = m.layers
    assert layer.media_type == "application/vnd.cyclonedx+json" and not layer.annotations
    assert m.media_type == mt.OCI_MANIFEST and m.config is not None and m.config.media_type == mt.OCI_CONFIG
    d = run("download", "sbom", img)
    assert d.code == 0 and d.out == sbom.read_text()
    assert "Found SBOM of media type: application/vnd.cyclonedx+json" in d.err
    spdx = tmp_path / "bom.spdx"
    spdx.write_text("SPDXVersion: SPDX-2.3\n")
    assert run("attach", "sbom", "--sbom", str(spdx), "--type", "spdx", img).code == 0
    assert run("download", "sbom", img).out == "SPDXVersion: SPDX-2.3\n"
    assert store.get_manifest(attached_tag(subject.digest, "sbom")).layers[0].media_type == legacy.SPDX
    assert run("attach", "sbom", "--sbom", str(spdx), "--type", "nope", img).code == 1
    assert "no SBOMs found" in run("download", "sbom", layout()).err


def test_attach_and_download_attestation(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                         tmp_path: Path) -> None:
    src = layout("source")
    pred = tmp_path / "p.txt"
    pred.write_text("x")
    bom = tmp_path / "bom.json"
    bom.write_text('{"bomFormat":"CycloneDX"}')
    # Envelopes made elsewhere (--no-upload), attached as a JSON stream to the same image's .att.
    envs = []
    for t, p in (("custom", pred), ("cyclonedx", bom)):
        r = run(*ATTEST, LEGACY, "--no-upload", "--key", keys.key, "--type", t, "--predicate", str(p), src)
        assert r.code == 0, r.err
        envs.append(r.out.strip())
    stream = tmp_path / "envs.json"
    stream.write_text("\n".join(envs))
    r = run("attach", "attestation", "--attestation", str(stream), src)
    assert r.code == 0, r.err
    store, subject = store_of(src)
    att = store.get_manifest(attached_tag(subject.digest, "att"))
    assert len(att.layers) == 2
    assert legacy.PREDICATE_TYPE_ANNOTATION not in (att.layers[0].annotations or {})
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "cyclonedx", src).code == 0

    # A bundle file becomes a referrer.
    bundle = tmp_path / "b.json"
    assert run(*ATTEST, "--no-upload", "--bundle", str(bundle), "--key", keys.key, "--predicate", str(pred),
               src).code == 0
    assert bundle_referrers(store, subject.digest) == []
    assert run("attach", "attestation", "--attestation", str(bundle), src).code == 0
    [(m, _b)] = bundle_referrers(store, subject.digest)
    assert m.annotations["dev.sigstore.bundle.predicateType"] == "https://cosign.sigstore.dev/attestation/v1"

    d = run("download", "attestation", src)
    lines = d.out.splitlines()
    assert d.code == 0 and len(lines) == 3
    assert json.loads(lines[0])["mediaType"] == mt.SIGSTORE_BUNDLE_V03
    assert list(json.loads(lines[1])) == ["payloadType", "payload", "signatures"]
    d = run("download", "attestation", "--predicate-type", "cyclonedx", src)
    assert d.code == 0 and len(d.out.splitlines()) == 1
    d = run("download", "attestation", "--predicate-type", "vuln", src)
    assert d.code == 1 and "no attestations with predicate type vuln" in d.err

    bad = tmp_path / "bad.json"
    e = json.loads(envs[0])
    bad.write_text(json.dumps({**e, "payloadType": "text/plain"}))
    r = run("attach", "attestation", "--attestation", str(bad), src)
    assert r.code == 1 and "invalid payloadType text/plain" in r.err


def test_tree_lists_attestations_and_sboms(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                           tmp_path: Path) -> None:
    img = layout()
    pred = tmp_path / "p.txt"
    pred.write_text("x")
    assert run(*ATTEST, "--key", keys.key, "--type", "https://example.com/t", "--predicate",
               str(tmp_path / "p.txt"), img).code == 1  # not JSON: refused for a URI type
    assert run(*ATTEST, "--key", keys.key, "--predicate", str(pred), img).code == 0
    assert run(*ATTEST, LEGACY, "--key", keys.key, "--predicate", str(pred), img).code == 0
    assert run("attach", "sbom", "--sbom", str(pred), "--type", "spdx", img).code == 0
    out = run("tree", img).out
    assert "💾 Attestations for an image tag" in out
    assert "📦 SBOMs for an image tag" in out
    assert "🔗 https://cosign.sigstore.dev/attestation/v1 artifacts via OCI referrer" in out


def test_registry_round_trip(run: Callable[..., Any], keys: Any, registry: Any, unique_repo: str,
                             tmp_path: Path) -> None:
    from tests.fixtures.images import push_image

    digest = push_image(registry, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    pred = tmp_path / "bom.json"
    pred.write_text('{"bomFormat":"CycloneDX","specVersion":"1.5"}')
    assert run(*ATTEST, "--key", keys.key, "--type", "cyclonedx", "--predicate", str(pred), ref).code == 0
    v = run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "cyclonedx",
            f"{registry.host}/{unique_repo}:v1")
    assert v.code == 0, v.err
    stmt = json.loads(base64.b64decode(json.loads(v.out)["payload"]))
    assert stmt["subject"][0]["name"] == f"{registry.host}/{unique_repo}"
    # Legacy .att on the same registry, read back with --new-bundle-format=false.
    r = run(*ATTEST, LEGACY, "--key", keys.key, "--type", "cyclonedx", "--predicate", str(pred), ref)
    assert r.code == 0, r.err
    assert run("verify-attestation", "--key", keys.pub, NOTLOG, "--type", "cyclonedx",
               "--new-bundle-format=false", ref).code == 0
    assert run("attach", "sbom", "--sbom", str(pred), "--type", "cyclonedx", ref).code == 0
    assert run("download", "sbom", ref).out == pred.read_text()
    assert len(run("download", "attestation", ref).out.splitlines()) == 2


def test_download_sbom_and_attestation_by_platform(run: Callable[..., Any], keys: Any,
                                                   tmp_path: Path) -> None:
    """``--platform`` picks the index child's attachments; a single image refuses it; a missing platform is
    not found."""
    made = run("demo-image", "--platform", "linux/amd64,linux/arm64", f"oci:{tmp_path / 'l'}:multi")
    assert made.code == 0, made.err
    index = made.out.strip()
    store, top = store_of(index)
    arm = next(d for d in store.get_manifest(top.digest).manifests
               if (d.platform or {}).get("architecture") == "arm64")
    arm_ref = f"oci:{tmp_path / 'l'}@{arm.digest}"
    sbom = tmp_path / "arm.cdx.json"
    sbom.write_text('{"bomFormat":"CycloneDX","specVersion":"1.5","arch":"arm64"}')
    assert run("attach", "sbom", "--sbom", str(sbom), "--type", "cyclonedx", arm_ref).code == 0
    assert run("attest", "--key", keys.key, "--tlog-upload=false", "--type", "cyclonedx",
               "--predicate", str(sbom), arm_ref).code == 0
    d = run("download", "sbom", "--platform", "linux/arm64", index)
    assert d.code == 0 and d.out == sbom.read_text(), d.err
    a = run("download", "attestation", "--platform", "linux/arm64", index)
    assert a.code == 0 and len(a.out.splitlines()) == 1, a.err
    assert "no SBOMs found" in run("download", "sbom", "--platform", "linux/amd64", index).err
    missing = run("download", "sbom", "--platform", "linux/s390x", index)
    assert missing.code != 0 and "no manifest for platform linux/s390x" in missing.err
    single = run("download", "sbom", "--platform", "linux/arm64", arm_ref)
    assert single.code != 0 and "not an index" in single.err
