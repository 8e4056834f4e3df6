"""Helpers for the build tests: make and sign bases, run builds, read what a build pushed."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sigward.oci.manifest import Descriptor, Manifest
from sigward.oci.reference import parse_reference
from sigward.oci.store import Store, open_store

NOTLOG = "--insecure-ignore-tlog=true"


def demo_base(run: Callable[..., Any], dest: str, *platforms: str, message: str = "base") -> str:
    """A demo image (an index when several platforms are given); returns its digest reference."""
    plat = ["--platform", ",".join(platforms)] if platforms else []
    r = run("demo-image", "--message", message, *plat, dest)
    assert r.code == 0, r.err
    return str(r.out.strip())


def sign(run: Callable[..., Any], key: str, ref: str, *extra: str) -> None:
    r = run("sign", "--tlog-upload=false", "--key", key, *extra, ref)
    assert r.code == 0, r.err


def build(run: Callable[..., Any], base: str, target: str, *extra: str, pub: str | None = None) -> Any:
    """``sigward image build`` with a key-verified base (``pub``), tlog not required."""
    verify = ["--base-key", pub, NOTLOG] if pub else []
    return run("image", "build", "--base", base, *verify, *extra, target)


def built_ref(r: Any) -> str:
    """The one line a successful build prints."""
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 1, r.out
    return str(lines[0])


def open_ref(text: str) -> tuple[Store, str]:
    ref = parse_reference(text)
    assert ref.digest
    return open_store(ref), ref.digest


def config_of(store: Store, m: Manifest) -> dict[str, Any]:
    assert m.config is not None
    obj: dict[str, Any] = json.loads(store.get_blob(m.config))
    return obj


@dataclass
class Member:
    info: tarfile.TarInfo
    data: bytes


def layer_members(store: Store, desc: Descriptor) -> dict[str, Member]:
    raw = gzip.decompress(store.get_blob(desc))
    out: dict[str, Member] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for info in tar:
            f = tar.extractfile(info) if info.isfile() else None
            out[info.name] = Member(info, f.read() if f else b"")
    return out


def layer_names(store: Store, desc: Descriptor) -> list[str]:
    """Member names in archive order."""
    raw = gzip.decompress(store.get_blob(desc))
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return tar.getnames()


def tags(store: Store) -> list[str]:
    """A repository's tags; distribution answers NAME_UNKNOWN for a repository that has none."""
    from sigward.errors import NotFoundError

    try:
        return store.tags()
    except NotFoundError:
        return []
