"""An interrupted copy leaves no tag pointing at missing content, and running it again completes it.

The source is read through the fault proxy, which cuts every download of the image's big layer short
(more times than any retry tries): the copy must fail with one error line before it tags anything; once
the fault is gone the same command resumes (blobs already copied are skipped) and the copy verifies."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any

from tests.fixtures.images import make_layer, push_image
from tests.reliability.test_fault_matrix import _no_broken_tags


def test_interrupted_copy_leaves_no_broken_tag_and_resumes(
        run: Callable[..., Any], keys: Any, registry: Any, fault_proxy: Any, unique_repo: str) -> None:
    big = make_layer({"big.bin": os.urandom(3 * 1024 * 1024)})
    digest = push_image(registry, unique_repo, "v1", layers=[make_layer({"a": b"small"}), big])
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run("sign", "--key", keys.key, "--tlog-upload=false", ref).code == 0

    proxy = fault_proxy(registry)
    via = proxy.url.split("://", 1)[1]
    layer_digest = "sha256:" + hashlib.sha256(big).hexdigest()
    proxy.inject("truncate", times=20, method="GET", path_regex=f"/blobs/{layer_digest}")
    dst = f"{registry.host}/{unique_repo}-dst:v1"
    r = run("copy", f"{via}/{unique_repo}:v1", dst)
    assert r.code != 0 and r.err.strip().splitlines()[-1].startswith("Error: "), r.err
    _no_broken_tags(registry, f"{unique_repo}-dst")
    proxy.clear()
    r = run("copy", f"{via}/{unique_repo}:v1", dst)
    assert r.code == 0, r.err
    assert "already present" in r.err
    _no_broken_tags(registry, f"{unique_repo}-dst")
    v = run("verify", "--key", keys.pub, "--insecure-ignore-tlog=true",
            f"{registry.host}/{unique_repo}-dst@{digest}")
    assert v.code == 0, v.err
