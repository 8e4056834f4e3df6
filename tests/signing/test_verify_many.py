"""Verify with many signatures: every one is checked and printed (cosign's semantics), fetched a few at a
time ahead of the checks; ``first_match`` (what image build uses) stops at the first that passes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sigward.errors import NotFoundError
from sigward.keys.providers import load_verifier
from sigward.oci.layout import LayoutStore
from sigward.oci.reference import LayoutReference, parse_reference
from sigward.ops.fetch import fetch_ahead
from sigward.ops.verify import VerifyOptions, verify_image
from sigward.sigstore.policy import Checks, KeyAuthority

NOTLOG = "--insecure-ignore-tlog=true"


def _sign_many(run: Callable[..., Any], keys: Any, other_keys: Any, img: str, n: int, *extra: str) -> None:
    assert run("sign", "--tlog-upload=false", "--key", other_keys.key, *extra, img).code == 0
    for i in range(n):
        r = run("sign", "--tlog-upload=false", "--key", keys.key, "-a", f"n={i}", *extra, img)
        assert r.code == 0, r.err


@pytest.mark.parametrize("fmt", [(), ("--new-bundle-format=false",)])
def test_every_signature_is_checked_and_first_match_stops_early(
        run: Callable[..., Any], keys: Any, other_keys: Any, layout: Callable[..., str],
        fmt: tuple[str, ...]) -> None:
    img = layout()
    _sign_many(run, keys, other_keys, img, 6, *fmt)
    r = run("verify", "--key", keys.pub, NOTLOG, img)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert len(out) == 6  # all matching signatures, the other key's one left out
    ref = parse_reference(img)
    assert isinstance(ref, LayoutReference) and ref.digest
    store = LayoutStore(ref.path)
    opts = VerifyOptions(new_bundle_format=not fmt)
    verifier = KeyAuthority((load_verifier(keys.pub),), checks=Checks(ignore_tlog=True))
    assert len(verify_image(store, ref.digest, verifier, options=opts).signatures) == 6
    opts.first_match = True
    assert len(verify_image(store, ref.digest, verifier, options=opts).signatures) == 1


def test_fetch_ahead_keeps_order_bounds_concurrency_and_stops() -> None:
    lock = threading.Lock()
    active, peak, calls = [0], [0], []

    def fetch(i: int) -> int:
        with lock:
            calls.append(i)
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        if i == 3:
            raise NotFoundError("gone")
        return i * 10

    got = list(fetch_ahead(fetch, list(range(10)), limit=3))
    assert got[:3] == [0, 10, 20] and isinstance(got[3], NotFoundError)
    assert got[4:] == [40, 50, 60, 70, 80, 90]
    assert peak[0] == 3
    calls.clear()
    it = fetch_ahead(fetch, list(range(50)), limit=3)
    assert next(it) == 0
    it.close()  # stop early: nothing beyond the look-ahead window was fetched
    assert len(calls) <= 4
