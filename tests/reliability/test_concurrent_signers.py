"""N concurrent signers of one digest leave N signatures, on distribution 2.8 (no referrers API, no
``If-Match``): the fallback index, the legacy ``.sig``/``.att`` images and ``attach`` all read-merge-write
and would lose entries without the read-back of ``sigward/oci/optimistic.py`` (cosign#2432).

The signers are 20 processes forked from this one, each with its own ``RegistryStore``, all released at
once by a barrier; the registry is the real Debian docker-registry. The check is ``sigward
verify`` counting the signatures that verify."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures.images import push_image

N = 20
M = 10  # attest + attach together: the same read-merge-write as sign, half of them each
NOTLOG = "--insecure-ignore-tlog=true"


def _signer(keys: Any) -> Any:
    from sigward.keys.providers import load_signer

    return load_signer(keys.key, lambda confirm=False: b"test-password")


def _race(n: int, work: Callable[[int], None]) -> None:
    """``work(i)`` in ``n`` forked processes released together; each must exit 0."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    errors = ctx.SimpleQueue()

    def one(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as e:
            errors.put(f"signer {i}: {type(e).__name__}: {e}")
            os._exit(1)
        os._exit(0)

    procs = [ctx.Process(target=one, args=(i,)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    failed = []
    while not errors.empty():
        failed.append(errors.get())
    assert [p.exitcode for p in procs] == [0] * n, failed


def _store(registry: Any, repo: str) -> Any:
    from sigward.oci.reference import parse_reference
    from sigward.oci.registry.store import RegistryStore
    from sigward.oci.store import StoreOptions

    return RegistryStore(parse_reference(f"{registry.host}/{repo}"), StoreOptions())


@pytest.mark.parametrize("fmt", ["bundle", "legacy"])
def test_twenty_concurrent_signers(fmt: str, run: Callable[..., Any], keys: Any, registry: Any,
                                   unique_repo: str) -> None:
    from sigward.ops.sign import SignOptions, sign_image

    digest = push_image(registry, unique_repo, "v1")
    signer = _signer(keys)
    opts = SignOptions(new_bundle_format=fmt == "bundle", annotations={})

    def work(i: int) -> None:
        store = _store(registry, unique_repo)
        try:
            sign_image(store, digest, signer, options=SignOptions(
                new_bundle_format=opts.new_bundle_format, annotations={"signer": str(i)}))
        finally:
            store.close()

    _race(N, work)
    flags = () if fmt == "bundle" else ("--new-bundle-format=false",)
    r = run("verify", "--key", keys.pub, NOTLOG, *flags, f"{registry.host}/{unique_repo}@{digest}")
    assert r.code == 0, r.err
    signers = sorted(int(o["optional"]["signer"]) for o in json.loads(r.out))
    assert signers == list(range(N))


def test_concurrent_legacy_attestations_and_attaches(run: Callable[..., Any], keys: Any,
                                                           registry: Any, unique_repo: str) -> None:
    from sigward.ops.attest import AttestOptions, attest_image
    from sigward.ops.manage import attach_signature

    digest = push_image(registry, unique_repo, "v1")
    signer = _signer(keys)
    ref = f"{registry.host}/{unique_repo}@{digest}"

    def work(i: int) -> None:
        store = _store(registry, unique_repo)
        try:
            if i % 2:
                attest_image(store, digest, signer, options=AttestOptions(
                    new_bundle_format=False, predicate=json.dumps({"n": i}).encode()))
            else:
                from sigward.formats import simplesigning

                payload = simplesigning.payload(store.name, digest, {"signer": str(i)})
                sig = base64.b64encode(signer.sign(payload)).decode()
                attach_signature(store, digest, sig, payload=payload)
        finally:
            store.close()

    _race(M, work)
    r = run("verify-attestation", "--key", keys.pub, NOTLOG, "--new-bundle-format=false", ref)
    assert r.code == 0, r.err
    assert len([ln for ln in r.out.splitlines() if ln.strip()]) == M // 2
    r = run("verify", "--key", keys.pub, NOTLOG, "--new-bundle-format=false", ref)
    assert r.code == 0, r.err
    assert sorted(int(o["optional"]["signer"]) for o in json.loads(r.out)) == list(range(0, M, 2))


@pytest.mark.parametrize("fmt", ["bundle", "legacy"])
def test_twenty_concurrent_signers_on_a_layout(fmt: str, run: Callable[..., Any], keys: Any,
                                               layout: Callable[..., str]) -> None:
    """Layouts lock index.json; the legacy .sig append is a read-merge-write on top, read back alike."""
    from sigward.oci.layout import LayoutStore
    from sigward.oci.reference import LayoutReference, parse_reference
    from sigward.ops.sign import SignOptions, sign_image

    img = layout()
    ref = parse_reference(img)
    assert isinstance(ref, LayoutReference) and ref.digest
    signer = _signer(keys)

    def work(i: int) -> None:
        sign_image(LayoutStore(ref.path), ref.digest or "", signer, options=SignOptions(
            new_bundle_format=fmt == "bundle", annotations={"signer": str(i)}))

    _race(N, work)
    flags = () if fmt == "bundle" else ("--new-bundle-format=false",)
    r = run("verify", "--key", keys.pub, NOTLOG, *flags, img)
    assert r.code == 0, r.err
    assert sorted(int(o["optional"]["signer"]) for o in json.loads(r.out)) == list(range(N))
