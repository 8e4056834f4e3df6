"""Shared helpers: open a layout image, build bundles and referrers by hand (for tamper tests)."""

from __future__ import annotations

import base64
import json
from typing import Any

from sigward.formats import dsse, referrer
from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import LayoutReference, parse_reference
from tests.signing.conftest import TEST_PASSWORD

NOTLOG = "--insecure-ignore-tlog=true"
ATTEST = ("attest", "--tlog-upload=false")
LEGACY = "--new-bundle-format=false"


def store_of(ref: str) -> tuple[LayoutStore, Descriptor]:
    r = parse_reference(ref)
    assert isinstance(r, LayoutReference) and r.digest
    s = LayoutStore(r.path)
    return s, s.resolve(r.digest)


def material(key_path: str) -> Any:
    from sigward.keys.providers import load_signer
    from sigward.sigstore.signing import SigningMaterial

    return SigningMaterial(load_signer(key_path, lambda *a: TEST_PASSWORD.encode()))


def push_bundle(store: LayoutStore, subject: Descriptor, bundle: bytes,
                predicate_type: str = "https://cosign.sigstore.dev/attestation/v1") -> Manifest:
    m = referrer.referrer_manifest(bundle, subject, predicate_type, "2026-01-01T00:00:00Z")
    store.put_blob(Descriptor(mt.OCI_EMPTY, mt.EMPTY_DIGEST, 2), mt.EMPTY_JSON)
    store.put_blob(m.layers[0], bundle)
    store.put_manifest(m)
    return m


def bundle_referrers(store: LayoutStore, digest: str) -> list[tuple[Manifest, bytes]]:
    out = []
    for d in store.referrers(digest):
        m = store.get_manifest(d.digest)
        out.append((m, store.get_blob(m.layers[0])))
    return out


def statement_of_line(line: str) -> dict[str, Any]:
    env = json.loads(line)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    return json.loads(base64.b64decode(env["payload"]))  # type: ignore[no-any-return]


def with_payload(bundle: bytes, payload: bytes) -> bytes:
    """The bundle with its DSSE payload replaced (signature untouched)."""
    b = json.loads(bundle)
    b["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()
    return json.dumps(b).encode()


def envelope_of(bundle: bytes) -> dsse.Envelope:
    return dsse.from_json(json.loads(bundle)["dsseEnvelope"])
