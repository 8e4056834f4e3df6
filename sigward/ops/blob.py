"""Sign and verify blobs (files), streamed: memory stays flat whatever the file size.

The message is hashed once as it is read; the signature is made over that digest (prehashed), which is
what a Sigstore ``messageSignature`` bundle records, so cosign and sigstore-js verify it the same way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from sigward.errors import SigwardError, UsageError, VerificationError

CHUNK = 1 << 20
_DIGEST_ARG = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise SigwardError(f"cannot read {path}: {e.strerror}")


def hash_file(path: str, hash_name: str, progress: Callable[[int], None] | None = None) -> bytes:
    """Digest of a file (``-`` is stdin), read in chunks."""
    h = hashlib.new(hash_name)
    f = _open(path)
    try:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    return h.digest()


@dataclass
class BlobSignature:
    hash_name: str
    digest: bytes
    signature: bytes


def sign_blob(path: str, signer: Any, progress: Callable[[int], None] | None = None) -> BlobSignature:
    """Hash ``path`` with the key's hash and sign the digest."""
    hash_name = signer.default_hash
    digest = hash_file(path, hash_name, progress)
    return BlobSignature(hash_name, digest, signer.sign_prehashed(digest, hash_name))


def load_and_sign_blob(path: str, load_signer: Callable[[], Any]) -> tuple[BlobSignature, Any]:
    """Sign ``path``, hashing it while the key is being decrypted.

    Decrypting a cosign key (scrypt) takes ~0.1 s and hashing a large file takes seconds; both release
    the GIL, so they overlap. The file is hashed speculatively with SHA-256, the hash of the default
    P-256 keys; another key type hashes again. Stdin is never read concurrently with a password prompt.
    """
    if path == "-":
        signer = load_signer()
        return sign_blob(path, signer), signer
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(hash_file, path, "sha256")
        try:
            signer = load_signer()
        except BaseException:
            pending.cancel()
            raise
        digest = pending.result()
    if signer.default_hash != "sha256":
        return sign_blob(path, signer), signer
    return BlobSignature("sha256", digest, signer.sign_prehashed(digest, "sha256")), signer


def legacy_bundle(sig: BlobSignature, material: Any) -> bytes:
    """cosign v3.1's LocalSignedPayload: the certificate PEM (or, for a key, the public key PEM) in
    ``cert``, and the Rekor bundle when the signature was logged."""
    from sigward.formats import blobbundle, rekorbundle

    entries = material.log_digest(sig.digest, sig.hash_name, sig.signature)
    rb = rekorbundle.from_tlog_entry(entries[0]) if entries else None
    return blobbundle.build(sig.signature, cert_pem=material.verifier_pem(), rekor_bundle=rb)


def _blob_digest(path: str, hash_name: str, allow_digest_arg: bool) -> bytes:
    """Digest of the blob; with a new bundle, a missing file named ``sha256:<hex>`` is the digest itself."""
    m = _DIGEST_ARG.match(path)
    if allow_digest_arg and m and not os.path.exists(path):
        if m.group(1) != hash_name:
            raise VerificationError(f"the bundle uses {hash_name}, but a {m.group(1)} digest was given")
        try:
            raw = bytes.fromhex(m.group(2))
        except ValueError:
            raise UsageError(f"{path}: the digest is not an even number of hex digits")
        if len(raw) != hashlib.new(hash_name).digest_size:
            raise UsageError(f"{path}: wrong length for a {hash_name} digest")
        return raw
    return hash_file(path, hash_name)


def verify_blob_bundle(path: str, bundle_bytes: bytes, verifier: Any, opts: Any) -> Any:
    """Verify a protobuf (v0.1-v0.3) bundle with a message signature over ``path``.

    ``opts`` is an ``ops.verify.VerifyOptions`` (key or identity policy, trusted root, checks).
    """
    from sigward.formats import bundle as bundle_fmt
    from sigward.sigstore.verify import verify_bundle

    b = bundle_fmt.parse_bundle(bundle_bytes)
    if b.message_signature is None:
        raise VerificationError("the bundle holds a DSSE envelope; use verify-blob-attestation for it")
    ms = b.message_signature
    hash_name = bundle_fmt.HASHLIB_NAMES.get(ms.digest_algorithm or "SHA2_256")
    if hash_name is None:
        raise VerificationError(f"unsupported message digest algorithm {ms.digest_algorithm!r} in the bundle")
    digest = _blob_digest(path, hash_name, allow_digest_arg=True)
    return verify_bundle(b, root=opts.root, key=verifier, policy=opts.policy,
                         artifact_digest=(hash_name, digest), options=opts.checks())


def verify_blob_signature(path: str, signature_b64: bytes, verifier: Any, opts: Any, *,
                          certificate_pem: bytes | None = None, rekor_bundle: Any = None,
                          timestamp: bytes | None = None) -> Any:
    """Verify a detached base64 signature (legacy ``--signature``, or a LocalSignedPayload bundle)."""
    from sigward.sigstore.verify import verify_legacy

    try:
        sig = base64.b64decode(signature_b64.strip(), validate=True)
    except ValueError:
        raise VerificationError("the signature is not valid base64")
    hash_name = verifier.hash_name if verifier is not None else "sha256"
    return verify_legacy(signature=sig, digest=(hash_name, hash_file(path, hash_name)),
                         certificate_pem=certificate_pem, rekor_bundle=rekor_bundle, timestamp=timestamp,
                         root=opts.root, key=verifier, policy=opts.policy, options=opts.checks())
