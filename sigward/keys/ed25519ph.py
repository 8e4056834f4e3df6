"""Ed25519ph (RFC 8032 §5.1, phflag=1) in pure Python.

cosign signs with Ed25519ph by default for Ed25519 keys (sigstore's ``WithED25519ph``), but
``cryptography`` only offers pure Ed25519. The arithmetic here follows RFC 8032 directly: twisted
Edwards curve in extended coordinates, SHA-512 everywhere, the ``dom2`` prefix with phflag=1 and an
empty context. Signing is deterministic, so the result can be checked against the RFC test vector and
(with phflag off) against ``cryptography``'s pure Ed25519. Verification is cofactorless and compares
the encoding of R, like Go's ``crypto/ed25519``: non-canonical S is rejected.

Secret keys are never used in variable-time code paths outside this process, but this module is not
constant-time; it is meant for signing artifacts, not for serving an oracle to attackers.
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_DOM2_PREFIX = b"SigEd25519 no Ed25519 collisions"

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _add(p: _Point, q: _Point) -> _Point:
    # RFC 8032 §5.1.4 addition formula (complete for a = -1).
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p: _Point) -> _Point:
    q: _Point = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _encode(p: _Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decode(s: bytes) -> _Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G: _Point = (_GX, _GY, 1, _GX * _GY % _P)


def _h(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def _dom(prehash: bool, context: bytes) -> bytes:
    if not prehash and not context:
        return b""  # pure Ed25519 has no domain prefix
    if len(context) > 255:
        raise ValueError("Ed25519 context longer than 255 bytes")
    return _DOM2_PREFIX + bytes([1 if prehash else 0, len(context)]) + context


def _expand(secret: bytes) -> tuple[int, bytes]:
    if len(secret) != 32:
        raise ValueError("Ed25519 secret key must be 32 bytes")
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(secret: bytes) -> bytes:
    """The 32-byte public key for a 32-byte secret (seed)."""
    a, _ = _expand(secret)
    return _encode(_mul(a, _G))


def _sign(secret: bytes, msg: bytes, prehash: bool, context: bytes) -> bytes:
    dom = _dom(prehash, context)
    a, prefix = _expand(secret)
    pub = _encode(_mul(a, _G))
    r = _h(dom, prefix, msg) % _L
    big_r = _encode(_mul(r, _G))
    k = _h(dom, big_r, pub, msg) % _L
    s = (r + k * a) % _L
    return big_r + int.to_bytes(s, 32, "little")


def _verify(public: bytes, msg: bytes, sig: bytes, prehash: bool, context: bytes) -> bool:
    if len(sig) != 64 or len(public) != 32:
        return False
    a_pt = _decode(public)
    if a_pt is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _L:
        return False
    k = _h(_dom(prehash, context), sig[:32], public, msg) % _L
    neg_a: _Point = ((-a_pt[0]) % _P, a_pt[1], a_pt[2], (-a_pt[3]) % _P)
    return _encode(_add(_mul(s, _G), _mul(k, neg_a))) == sig[:32]


def sign(secret: bytes, message: bytes, context: bytes = b"") -> bytes:
    """Ed25519ph signature of ``message`` (hashed here with SHA-512)."""
    return _sign(secret, hashlib.sha512(message).digest(), True, context)


def sign_prehashed(secret: bytes, digest: bytes, context: bytes = b"") -> bytes:
    """Ed25519ph signature given the SHA-512 digest of the message."""
    if len(digest) != 64:
        raise ValueError("Ed25519ph needs a 64-byte SHA-512 digest")
    return _sign(secret, digest, True, context)


def verify(public: bytes, message: bytes, signature: bytes, context: bytes = b"") -> bool:
    return _verify(public, hashlib.sha512(message).digest(), signature, True, context)


def verify_prehashed(public: bytes, digest: bytes, signature: bytes, context: bytes = b"") -> bool:
    if len(digest) != 64:
        return False
    return _verify(public, digest, signature, True, context)


def sign_pure(secret: bytes, message: bytes) -> bytes:
    """Pure Ed25519 with the same arithmetic; exists so tests can cross-check it with ``cryptography``."""
    return _sign(secret, message, False, b"")


def verify_pure(public: bytes, message: bytes, signature: bytes) -> bool:
    return _verify(public, message, signature, False, b"")
