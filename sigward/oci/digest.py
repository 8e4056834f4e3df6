"""Content digests: parsing, computing, and verifying streams as they flow.

Everything downloaded is checked against the digest it was asked for (never trust the network); a
stream is verified when it ends, so callers must only commit data after the iterator finished cleanly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

from sigward.errors import DigestMismatchError, InvalidReferenceError

_ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")
_HEX_RE = re.compile(r"[a-f0-9]+")
# The digests that are valid, in one match: the common case of every blob path and request.
_VALID_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256/sha512 digest, else raise with the reason."""
    if _VALID_RE.fullmatch(digest):
        return digest
    m = _DIGEST_RE.fullmatch(digest)  # fullmatch: no trailing newline slips through as ``$`` let it
    if not m:
        raise InvalidReferenceError(f"invalid digest {digest!r}: expected <algorithm>:<hex>")
    alg, enc = m.group(1), m.group(2)
    if alg not in _ALGORITHMS:
        raise InvalidReferenceError(f"invalid digest {digest!r}: unsupported algorithm {alg!r}")
    want = _ALGORITHMS[alg]
    if len(enc) != want or not _HEX_RE.fullmatch(enc):
        raise InvalidReferenceError(
            f"invalid digest {digest!r}: {alg} needs {want} lower-case hex characters"
        )
    return digest


def is_digest(s: str) -> bool:
    try:
        validate_digest(s)
    except InvalidReferenceError:
        return False
    return True


def algorithm(digest: str) -> str:
    return digest.split(":", 1)[0]


def hex_part(digest: str) -> str:
    return digest.split(":", 1)[1]


def new_hasher(digest_or_alg: str) -> hashlib._Hash:
    alg = digest_or_alg.split(":", 1)[0]
    if alg not in _ALGORITHMS:
        raise InvalidReferenceError(f"unsupported digest algorithm {alg!r}")
    return hashlib.new(alg)


def compute(data: bytes, alg: str = "sha256") -> str:
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def check(data: bytes, digest: str, what: str = "content") -> None:
    """Raise DigestMismatchError unless ``data`` hashes to ``digest``."""
    got = compute(data, algorithm(digest))
    if got != digest:
        raise DigestMismatchError(f"{what}: digest mismatch: expected {digest}, got {got}")


def verified_chunks(
    chunks: Iterable[bytes], digest: str, size: int | None = None, what: str = "blob"
) -> Iterator[bytes]:
    """Yield ``chunks`` unchanged; at the end raise DigestMismatchError if digest or size differ.

    Also raises as soon as more than ``size`` bytes arrive, so a hostile server cannot stream forever.
    """
    h = new_hasher(digest)
    n = 0
    for chunk in chunks:
        n += len(chunk)
        if size is not None and n > size:
            raise DigestMismatchError(f"{what} {digest}: more than the expected {size} bytes received")
        h.update(chunk)
        yield chunk
    if size is not None and n != size:
        raise DigestMismatchError(f"{what} {digest}: expected {size} bytes, received {n}")
    got = f"{algorithm(digest)}:{h.hexdigest()}"
    if got != digest:
        raise DigestMismatchError(f"{what}: digest mismatch: expected {digest}, got {got}")
