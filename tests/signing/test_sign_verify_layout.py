"""Key-based sign and verify of images, both formats, in OCI layouts: behaviour and tamper resistance."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.formats import legacy, referrer
from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import LayoutReference, parse_reference
from sigward.ops.attached import attached_tag

SIGN = ("sign", "--tlog-upload=false")
LEGACY = "--new-bundle-format=false"
NOTLOG = "--insecure-ignore-tlog=true"


def _store(ref: str) -> tuple[LayoutStore, str]:
    r = parse_reference(ref)
    assert isinstance(r, LayoutReference) and r.digest
    return LayoutStore(r.path), r.digest


def _bundle_referrer(store: LayoutStore, digest: str) -> tuple[Manifest, bytes]:
    refs = [d for d in store.referrers(digest)]
    assert len(refs) == 1, refs
    m = store.get_manifest(refs[0].digest)
    return m, store.get_blob(m.layers[0])


def _replace_referrer(store: LayoutStore, old: Manifest, new_bundle: bytes, subject: Descriptor) -> None:
    """Swap a referrer's bundle for other bytes, consistently (so only the signature can catch it)."""
    store.delete(old.digest)
    m = referrer.referrer_manifest(new_bundle, subject, "https://sigstore.dev/cosign/sign/v1",
                                   "2026-01-01T00:00:00Z")
    store.put_blob(Descriptor(mt.OCI_EMPTY, mt.EMPTY_DIGEST, 2), mt.EMPTY_JSON)
    store.put_blob(m.layers[0], new_bundle)
    store.put_manifest(m)


# --- happy paths -----------------------------------------------------------------------------------


def test_bundle_format_round_trip(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    r = run(*SIGN, "--key", keys.key, "-a", "imageRef=refs/tags/0.5.0", img)
    assert r.code == 0, r.err
    store, digest = _store(img)
    m, bundle = _bundle_referrer(store, digest)
    assert m.json["artifactType"] == mt.SIGSTORE_BUNDLE_V03
    assert m.json["config"]["artifactType"] == mt.SIGSTORE_BUNDLE_V03  # what `cosign clean` relies on
    assert m.subject is not None and m.subject.digest == digest
    b = json.loads(bundle)
    assert b["mediaType"] == mt.SIGSTORE_BUNDLE_V03
    assert "publicKey" in b["verificationMaterial"]
    stmt = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
    assert stmt["predicateType"] == "https://sigstore.dev/cosign/sign/v1"
    assert stmt["subject"][0]["digest"]["sha256"] == digest.split(":")[1]

    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "imageRef=refs/tags/0.5.0", img)
    assert r.code == 0, r.err
    assert r.out.startswith("\n[")
    out = json.loads(r.out)
    assert out == [{
        "critical": {"identity": {"docker-reference": img},
                     "image": {"docker-manifest-digest": digest},
                     "type": "https://sigstore.dev/cosign/sign/v1"},
        "optional": {"imageRef": "refs/tags/0.5.0"},
    }]
    assert "The signatures were verified against the specified public key" in r.err
    assert "The specified annotations were verified." in r.err


def test_legacy_format_round_trip(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, LEGACY, "--key", keys.key, "-a", "chartVersion=0.1.0", img).code == 0
    store, digest = _store(img)
    sig = store.get_manifest(attached_tag(digest, "sig"))
    [layer] = sig.layers
    assert layer.media_type == mt.COSIGN_SIMPLESIGNING
    assert layer.annotations and legacy.SIGNATURE_ANNOTATION in layer.annotations
    payload = store.get_blob(layer)
    # The payload is exactly what `generate` prints for the same image and annotations.
    gen = run("generate", "-a", "chartVersion=0.1.0", img)
    assert gen.out.encode() == payload
    assert json.loads(payload)["optional"] == {"chartVersion": "0.1.0"}

    r = run("verify", "--key", keys.pub, NOTLOG, "-a", "chartVersion=0.1.0", img)
    assert r.code == 0, r.err
    [obj] = json.loads(r.out)
    assert obj["critical"]["type"] == "cosign container image signature"
    assert obj["optional"] == {"chartVersion": "0.1.0"}
    text = run("verify", "--key", keys.pub, NOTLOG, "-o", "text", img)
    assert text.code == 0 and text.out.encode() == payload + b"\n"


def test_legacy_append_and_dedupe(run: Callable[..., Any], keys: Any, other_keys: Any,
                                  layout: Callable[..., str]) -> None:
    img = layout()
    store, digest = _store(img)
    for _ in range(2):
        assert run(*SIGN, LEGACY, "--key", keys.key, img).code == 0
    assert len(store.get_manifest(attached_tag(digest, "sig")).layers) == 1  # ECDSA differs, payload same
    assert run(*SIGN, LEGACY, "--key", other_keys.key, img).code == 0
    sig = store.get_manifest(attached_tag(digest, "sig"))
    assert len(sig.layers) == 2
    cfg = json.loads(store.get_blob(sig.config))  # type: ignore[arg-type]
    assert len(cfg["rootfs"]["diff_ids"]) == 2 and len(cfg["history"]) == 2
    # Either key verifies: one good signature is enough.
    assert run("verify", "--key", other_keys.pub, NOTLOG, img).code == 0
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 0


def test_bundle_path_preferred_over_legacy(run: Callable[..., Any], keys: Any, other_keys: Any,
                                          layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, LEGACY, "--key", other_keys.key, img).code == 0
    assert run(*SIGN, "--key", keys.key, img).code == 0
    # A bundle exists, so (as cosign) the legacy signature is not considered on the default path.
    assert run("verify", "--key", other_keys.pub, NOTLOG, img).code == 1
    assert run("verify", "--key", other_keys.pub, NOTLOG, "--new-bundle-format=false", img).code == 0


def test_recursive_signs_children(run: Callable[..., Any], keys: Any, tmp_path: Path) -> None:
    from sigward.ops.example import write_demo_image

    store = LayoutStore(str(tmp_path / "multi"))
    idx = write_demo_image(store, "v1", platforms=["linux/amd64", "linux/arm64"])
    ref = f"oci:{tmp_path / 'multi'}@{idx.digest}"
    assert run(*SIGN, "--recursive", "--key", keys.key, ref).code == 0
    children = store.get_manifest(idx.digest).manifests
    assert len(children) == 2
    for d in [idx, *children]:
        assert len(store.referrers(d.digest)) == 1
        assert run("verify", "--key", keys.pub, NOTLOG, f"oci:{tmp_path / 'multi'}@{d.digest}").code == 0


def test_upload_false_writes_only_the_bundle(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                             tmp_path: Path) -> None:
    img = layout()
    out = tmp_path / "sig.sigstore.json"
    assert run(*SIGN, "--upload=false", "--bundle", str(out), "--key", keys.key, img).code == 0
    store, digest = _store(img)
    assert store.referrers(digest) == []
    assert json.loads(out.read_bytes())["mediaType"] == mt.SIGSTORE_BUNDLE_V03
    assert run(*SIGN, "--upload=false", "--key", keys.key, img).code == 1


def test_cosign_repository_moves_signatures(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                            tmp_path: Path) -> None:
    img = layout()
    other = tmp_path / "sigs"
    env = {"COSIGN_REPOSITORY": f"oci:{other}"}
    for fmt in ([], [LEGACY]):
        assert run(*SIGN, *fmt, "--key", keys.key, img, env=env).code == 0
    store, digest = _store(img)
    assert store.referrers(digest) == []
    sigs = LayoutStore(str(other))
    assert len(sigs.referrers(digest)) == 1
    assert sigs.get_manifest(attached_tag(digest, "sig"))
    assert run("verify", "--key", keys.pub, NOTLOG, img, env=env).code == 0
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 10  # not beside the image


def test_docker_media_types(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, LEGACY, "--key", keys.key, img, env={"COSIGN_DOCKER_MEDIA_TYPES": "1"}).code == 0
    store, digest = _store(img)
    sig = store.get_manifest(attached_tag(digest, "sig"))
    assert sig.media_type == mt.DOCKER_MANIFEST
    assert sig.config is not None and sig.config.media_type == mt.DOCKER_CONFIG
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 0


# --- failures, exit codes --------------------------------------------------------------------------


def test_exit_codes(run: Callable[..., Any], keys: Any, other_keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    store, _ = _store(img)
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert (r.code, r.err.strip().splitlines()[-1]) == (10, "Error: no signatures found")
    missing = f"oci:{store.path}:nope" if hasattr(store, "path") else img.replace("@", ":nope@")
    r = run("verify", "--key", keys.pub, NOTLOG, missing.split("@")[0])
    assert r.code == 11, r.err
    assert run(*SIGN, LEGACY, "--key", keys.key, img).code == 0
    r = run("verify", "--key", other_keys.pub, NOTLOG, img)
    assert r.code == 12 and "no matching signatures" in r.err
    # No transparency log evidence and no --insecure-ignore-tlog: refused with the way out named.
    r = run("verify", "--key", keys.pub, img)
    assert r.code == 12 and "--insecure-ignore-tlog" in r.err


def test_wrong_key_bundle(run: Callable[..., Any], keys: Any, other_keys: Any,
                          layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    r = run("verify", "--key", other_keys.pub, NOTLOG, img)
    assert r.code == 1
    assert "signature" in r.err and r.err.count("\n") <= 2


@pytest.mark.parametrize("fmt", [[], [LEGACY]])
def test_annotation_mismatch(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                             fmt: list[str]) -> None:
    img = layout()
    assert run(*SIGN, *fmt, "--key", keys.key, "-a", "imageRef=refs/tags/0.5.0", img).code == 0
    for ann in ("imageRef=refs/tags/0.6.0", "other=x"):
        r = run("verify", "--key", keys.pub, NOTLOG, "-a", ann, img)
        assert r.code in (1, 12) and "annotation" in r.err


def test_substituted_bundle_rejected(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    """A valid signature of image A presented as a signature of image B."""
    a, b = layout("image A"), layout("image B")
    assert run(*SIGN, "--key", keys.key, a).code == 0
    sa, da = _store(a)
    sb, db = _store(b)
    _, bundle = _bundle_referrer(sa, da)
    subject_b = sb.resolve(db)
    m = referrer.referrer_manifest(bundle, subject_b, "https://sigstore.dev/cosign/sign/v1",
                                   "2026-01-01T00:00:00Z")
    sb.put_blob(Descriptor(mt.OCI_EMPTY, mt.EMPTY_DIGEST, 2), mt.EMPTY_JSON)
    sb.put_blob(m.layers[0], bundle)
    sb.put_manifest(m)
    r = run("verify", "--key", keys.pub, NOTLOG, b)
    assert r.code == 1 and "subject does not match" in r.err


def test_substituted_legacy_signature_rejected(run: Callable[..., Any], keys: Any,
                                               layout: Callable[..., str]) -> None:
    a, b = layout("image A", name="shared"), layout("image B", name="shared", tag="v2")
    assert run(*SIGN, LEGACY, "--key", keys.key, a).code == 0
    store, da = _store(a)
    _, db = _store(b)
    sig = store.get_manifest(attached_tag(da, "sig"))
    store.put_manifest(sig, attached_tag(db, "sig"))  # A's signature image, under B's tag
    r = run("verify", "--key", keys.pub, NOTLOG, b)
    assert r.code == 12 and "digest" in r.err


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@pytest.mark.parametrize("part", ["payload", "signature"])
def test_tampered_bundle_rejected(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                  part: str) -> None:
    img = layout()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    store, digest = _store(img)
    m, bundle = _bundle_referrer(store, digest)
    b = json.loads(bundle)
    field = "payload" if part == "payload" else None
    if field:
        raw = base64.b64decode(b["dsseEnvelope"]["payload"])
        # Flip a byte inside the statement's predicate type, keeping it valid JSON.
        i = raw.index(b"cosign/sign")
        b["dsseEnvelope"]["payload"] = base64.b64encode(_flip(raw, i)).decode()
    else:
        raw = base64.b64decode(b["dsseEnvelope"]["signatures"][0]["sig"])
        b["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(_flip(raw, len(raw) - 3)).decode()
    assert m.subject is not None
    _replace_referrer(store, m, json.dumps(b).encode(), m.subject)
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code == 1 and "signature" in r.err


def test_every_byte_of_legacy_signature_matters(run: Callable[..., Any], keys: Any,
                                                layout: Callable[..., str]) -> None:
    """Flip bytes across the payload and the signature: each flip is rejected (never a traceback)."""
    img = layout()
    assert run(*SIGN, LEGACY, "--key", keys.key, img).code == 0
    store, digest = _store(img)
    tag = attached_tag(digest, "sig")
    orig = store.get_manifest(tag)
    [layer] = orig.layers
    payload = store.get_blob(layer)
    assert layer.annotations is not None
    sig_b64 = layer.annotations[legacy.SIGNATURE_ANNOTATION]
    sig = base64.b64decode(sig_b64)
    positions = list(range(0, len(payload), max(1, len(payload) // 12)))
    cases: list[tuple[bytes, str]] = [(_flip(payload, i), sig_b64) for i in positions]
    cases += [(payload, base64.b64encode(_flip(sig, i)).decode()) for i in range(8, len(sig), 9)]
    for new_payload, new_sig in cases:
        new_layer = legacy.signature_layer(new_payload, new_sig)
        m, cfg = legacy.append(None, None, new_layer)
        store.put_blob(new_layer, new_payload)
        assert m.config is not None
        store.put_blob(m.config, cfg)
        store.put_manifest(m, tag)
        r = run("verify", "--key", keys.pub, NOTLOG, img)
        assert r.code == 12, (new_payload, r.err)
    store.put_manifest(orig, tag)
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 0


def test_corrupted_blob_on_disk_is_never_accepted(run: Callable[..., Any], keys: Any,
                                                  layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    store, digest = _store(img)
    m, _ = _bundle_referrer(store, digest)
    path = Path(store.path if hasattr(store, "path") else "") / "blobs" / "sha256" / m.layers[0].digest[7:]
    data = path.read_bytes()
    path.write_bytes(_flip(data, len(data) // 2))
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code != 0 and "digest" in r.err.lower()


def test_malformed_signature_manifest(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    store, digest = _store(img)
    payload = b'{"not":"a payload"}'
    layer = Descriptor(mt.COSIGN_SIMPLESIGNING, "sha256:" + __import__("hashlib").sha256(payload).hexdigest(),
                       len(payload))  # no signature annotation
    m, cfg = legacy.append(None, None, layer)
    store.put_blob(layer, payload)
    assert m.config is not None
    store.put_blob(m.config, cfg)
    store.put_manifest(m, attached_tag(digest, "sig"))
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code == 12
    assert "dev.cosignproject.cosign/signature" in r.err


def test_unreachable_services_and_missing_identity_are_clear(run: Callable[..., Any], keys: Any,
                                                            layout: Callable[..., str]) -> None:
    """Key signing logs to Rekor by default; an unreachable service is one line and nothing is pushed."""
    img = layout()
    store, digest = _store(img)
    r = run("sign", "--key", keys.key, "--rekor-url", "http://127.0.0.1:9", img)
    assert r.code == 1 and "Rekor at http://127.0.0.1:9 is unreachable" in r.err
    assert r.err.count("\n") == 1
    assert store.referrers(digest) == []
    r = run("sign", "--tlog-upload=false", "--fulcio-url", "http://127.0.0.1:9", img)
    assert r.code == 1 and "no identity token" in r.err and "SIGSTORE_ID_TOKEN" in r.err
    r = run("verify", "--key", keys.pub, "--certificate-identity", "x", img)
    assert r.code == 1 and "cannot specify both" in r.err
    r = run("verify", "--certificate-identity", "x", img)
    assert r.code == 1
    assert "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required" in r.err


def test_wrong_password(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    r = run(*SIGN, "--key", keys.key, img, env={"COSIGN_PASSWORD": "nope"})
    assert r.code == 1 and "decrypt" in r.err
    store, digest = _store(img)
    assert store.referrers(digest) == []  # nothing half-written


# --- attach / download / clean -----------------------------------------------------------------------


def test_sign_elsewhere_then_attach(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                    tmp_path: Path) -> None:
    """cosign's offline workflow: generate → sign-blob → attach signature → verify."""
    img = layout()
    payload = tmp_path / "payload.json"
    payload.write_text(run("generate", img).out)
    sig = run("sign-blob", "--key", keys.key, "--tlog-upload=false", LEGACY, str(payload))
    assert sig.code == 0
    (tmp_path / "sig.b64").write_text(sig.out)
    r = run("attach", "signature", "--signature", str(tmp_path / "sig.b64"), "--payload", str(payload), img)
    assert r.code == 0, r.err
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 0
    lines = run("download", "signature", img).out.splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["Base64Signature"] == sig.out.strip()
    assert base64.b64decode(doc["Payload"]) == payload.read_bytes()


def test_download_bundles_and_clean(run: Callable[..., Any], keys: Any, layout: Callable[..., str]) -> None:
    img = layout()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    assert run(*SIGN, LEGACY, "--key", keys.key, img).code == 0
    lines = run("download", "signature", img).out.splitlines()
    assert [json.loads(x)["mediaType"] for x in lines] == [mt.SIGSTORE_BUNDLE_V03]
    r = run("clean", img)
    assert r.code == 1 and "--force" in r.err  # no terminal to confirm on
    r = run("clean", "-f", "--type", "signature", img)
    assert r.code == 0 and "sha256-" in r.err
    store, digest = _store(img)
    assert len(store.referrers(digest)) == 1
    assert run("clean", "-f", img).code == 0
    assert store.referrers(digest) == []
    assert run("verify", "--key", keys.pub, NOTLOG, img).code == 10


def test_download_with_malformed_annotation_is_one_line(run: Callable[..., Any],
                                                        layout: Callable[..., str]) -> None:
    img = layout()
    store, digest = _store(img)
    payload = b'{"critical":{}}'
    layer = legacy.signature_layer(payload, "c2ln", rekor_bundle_json="{not json")
    m, cfg = legacy.append(None, None, layer)
    store.put_blob(layer, payload)
    assert m.config is not None
    store.put_blob(m.config, cfg)
    store.put_manifest(m, attached_tag(digest, "sig"))
    r = run("download", "signature", img)
    assert r.code == 1
    want = "Error: the dev.sigstore.cosign/bundle annotation of a signature layer is not valid JSON"
    assert r.err.strip() == want


@pytest.mark.parametrize("command", ["sign", "attest"])
def test_record_creation_timestamp(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                   tmp_path: Path, command: str) -> None:
    """Off (cosign's default): the legacy image config has Go's zero time, so re-signing is reproducible.
    On: ``created`` is recorded (SOURCE_DATE_EPOCH pins it here); the signature still verifies."""
    pred = tmp_path / "p.json"
    pred.write_text("{}")
    extra = ("--predicate", str(pred)) if command == "attest" else ()
    suffix = "att" if command == "attest" else "sig"
    for record, want in (("false", "0001-01-01T00:00:00Z"), ("true", "2023-11-14T22:13:20Z")):
        img = layout()
        r = run(command, "--tlog-upload=false", LEGACY, "--key", keys.key, *extra,
                f"--record-creation-timestamp={record}", img, env={"SOURCE_DATE_EPOCH": "1700000000"})
        assert r.code == 0, r.err
        store, digest = _store(img)
        m = store.get_manifest(attached_tag(digest, suffix))
        assert m.config is not None
        assert json.loads(store.get_blob(m.config)).get("created") == want
        verb = "verify-attestation" if command == "attest" else "verify"
        assert run(verb, "--key", keys.pub, NOTLOG, img).code == 0
