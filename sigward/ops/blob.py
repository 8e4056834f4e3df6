"""Sign and verify blobs (files), streamed: memory stays flat whatever the file size.

The message is hashed once as it is read; the signature is made over that digest (prehashed), which is
what a Sigstore ``messageSignature`` bundle records, so cosign and sigstore-js verify it the same way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from sigward.errors import SigwardError, UsageError, VerificationError

if TYPE_CHECKING:
    from sigward.formats.rekorbundle import RekorBundle
    from sigward.sigstore.pipeline import VerifiedSignature
    from sigward.sigstore.policy import Policy
    from sigward.sigstore.signing import SigningMaterial

CHUNK = 1 << 20
_DIGEST_ARG = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")


# A blob: a file's path, or an open binary stream (the CLI passes stdin for ``-``; it is read once).
Source = str | BinaryIO


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise SigwardError(f"cannot read {path}: {e.strerror}")


def hash_file(path: Source, hash_name: str, progress: Callable[[int], None] | None = None) -> bytes:
    """Digest of a file or stream, read in chunks (a stream is read to its end, not closed)."""
    h = hashlib.new(hash_name)
    f = _open(path) if isinstance(path, str) else path
    try:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if progress:
                progress(len(chunk))
    finally:
        if isinstance(path, str):
            f.close()
    return h.digest()


@dataclass
class BlobSignature:
    hash_name: str
    digest: bytes
    signature: bytes


def sign_blob(path: Source, signer: Any, progress: Callable[[int], None] | None = None) -> BlobSignature:
    """Hash ``path`` with the key's hash and sign the digest."""
    hash_name = signer.default_hash
    digest = hash_file(path, hash_name, progress)
    return BlobSignature(hash_name, digest, signer.sign_prehashed(digest, hash_name))


def load_and_sign_blob(path: Source, load_signer: Callable[[], Any]) -> tuple[BlobSignature, Any]:
    """Sign ``path``, hashing it while the key is being decrypted.

    Decrypting a cosign key (scrypt) takes ~0.1 s and hashing a large file takes seconds; both release
    the GIL, so they overlap. The file is hashed speculatively with SHA-256, the hash of the default
    P-256 keys; another key type hashes again. Stdin is never read concurrently with a password prompt.
    """
    if not isinstance(path, str):
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


def sign_blob_bundle(path: Source, material: SigningMaterial) -> bytes:
    """The v0.3 message-signature bundle for the file at ``path``: hashed with the key's hash, signed,
    logged and timestamped as ``material`` says."""
    return signature_bundle(sign_blob(path, material.signer), material)


def signature_bundle(sig: BlobSignature, material: SigningMaterial) -> bytes:
    """The v0.3 message-signature bundle for a signature already made: logged and timestamped."""
    return material.digest_bundle(sig.digest, sig.hash_name, sig.signature)


def log_legacy(sig: BlobSignature, material: SigningMaterial, *, bundle: bool) -> bytes | None:
    """cosign v2-style sign-blob: the signature goes to the log (when ``material`` has one); with
    ``bundle``, the LocalSignedPayload to write (certificate or key, and the Rekor bundle)."""
    if bundle:
        return legacy_bundle(sig, material)
    if material.rekor is not None:
        material.log_digest(sig.digest, sig.hash_name, sig.signature)
    return None


def legacy_bundle(sig: BlobSignature, material: Any) -> bytes:
    """cosign v3.1's LocalSignedPayload: the certificate PEM (or, for a key, the public key PEM) in
    ``cert``, and the Rekor bundle when the signature was logged."""
    from sigward.formats import blobbundle, rekorbundle

    entries = material.log_digest(sig.digest, sig.hash_name, sig.signature)
    rb = rekorbundle.from_tlog_entry(entries[0]) if entries else None
    return blobbundle.build(sig.signature, cert_pem=material.verifier_pem(), rekor_bundle=rb)


def _blob_digest(path: Source, hash_name: str, allow_digest_arg: bool) -> bytes:
    """Digest of the blob; with a new bundle, a missing file named ``sha256:<hex>`` is the digest itself."""
    m = _DIGEST_ARG.match(path) if isinstance(path, str) else None
    if allow_digest_arg and m and isinstance(path, str) and not os.path.exists(path):
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


def verify_blob_bundle(path: Source, bundle_bytes: bytes, policy: Policy) -> VerifiedSignature:
    """Verify a protobuf (v0.1-v0.3) bundle with a message signature over ``path`` against ``policy``."""
    from sigward.formats import bundle as bundle_fmt
    from sigward.sigstore.pipeline import BundleCandidate, Target, verify_one

    b = bundle_fmt.parse_bundle(bundle_bytes)
    artifact = None
    if b.message_signature is not None:
        ms = b.message_signature
        hash_name = bundle_fmt.HASHLIB_NAMES.get(ms.digest_algorithm or "SHA2_256")
        if hash_name is None:
            raise VerificationError(f"unsupported message digest algorithm {ms.digest_algorithm!r} in the "
                                    "bundle")
        artifact = (hash_name, _blob_digest(path, hash_name, allow_digest_arg=True))
    return verify_one(policy, BundleCandidate(bundle_bytes), Target(artifact=artifact), "blob-signature")


def verify_blob_signature(path: Source, signature_b64: bytes, policy: Policy, *,
                          certificate_pem: bytes | None = None, rekor_bundle: RekorBundle | None = None,
                          timestamp: bytes | None = None) -> VerifiedSignature:
    """Verify a detached base64 signature (legacy ``--signature``, or a LocalSignedPayload bundle).

    The blob is hashed with the hash of the policy's (first) key, else sha256 (certificates)."""
    from sigward.sigstore.pipeline import LegacyCandidate, Target, verify_one
    from sigward.sigstore.policy import KeyAuthority, authorities

    try:
        base64.b64decode(signature_b64.strip(), validate=True)
    except ValueError:
        raise VerificationError("the signature is not valid base64")
    keys = [k for a in authorities(policy) if isinstance(a, KeyAuthority) for k in a.keys]
    hash_name = keys[0].hash_name if keys else "sha256"
    candidate = LegacyCandidate(signature_b64=signature_b64.strip().decode("ascii"),
                                certificate_pem=certificate_pem, rekor_bundle=rekor_bundle,
                                timestamp=timestamp)
    return verify_one(policy, candidate, Target(artifact=(hash_name, hash_file(path, hash_name))),
                      "blob-signature")
