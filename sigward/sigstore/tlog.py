"""Transparency-log checks: the SET (inclusion promise), Merkle inclusion proofs and signed checkpoints.

RFC 6962/9162 Merkle trees and C2SP signed notes are small, fully specified algorithms; sigstore-python
implements them only in private modules, so they live here, each raising a VerificationError that
names the check that failed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sigward.errors import VerificationError
from sigward.sigstore.trust import LogKey, TrustedRoot


def verify_signature(key: Any, signature: bytes, message: bytes) -> bool:
    """A log key's signature over ``message`` (ECDSA/RSA with SHA-256, or pure Ed25519)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            h = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size,
                                                                                       hashes.SHA256())
            key.verify(signature, message, ec.ECDSA(h))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- SET ---------------------------------------------------------------------------------------------


def set_message(body_b64: str, integrated_time: int, log_index: int, log_id_hex: str) -> bytes:
    from sigward.formats.rekorbundle import RekorBundle

    return RekorBundle(b"", body_b64, integrated_time, log_index, log_id_hex).set_signed_bytes()


def verify_set(root: TrustedRoot, log_id: bytes, body: bytes, integrated_time: int, log_index: int,
               set_bytes: bytes) -> LogKey:
    """The signed entry timestamp: the log promised to include ``body`` at ``integrated_time``."""
    log = root.tlog_by_id(log_id)
    if log is None:
        raise VerificationError(
            f"transparency log entry: the SET is from an unknown log (log ID {log_id.hex()[:16]}… is not "
            f"in the {root.source})")
    msg = set_message(base64.b64encode(body).decode(), integrated_time, log_index, log_id.hex())
    if not verify_signature(log.public_key, set_bytes, msg):
        raise VerificationError("transparency log entry: the SET (signed entry timestamp) does not verify")
    if not log.validity.contains(_utc(integrated_time)):
        raise VerificationError("transparency log entry: the log key was not valid at the entry's "
                                "integrated time")
    return log


# --- Merkle inclusion (RFC 9162 §2.1.3.2) -------------------------------------------------------------


def leaf_hash(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: tuple[bytes, ...]) -> bytes:
    if index < 0 or size <= 0 or index >= size:
        raise VerificationError(f"inclusion proof: log index {index} is outside a tree of size {size}")
    if any(len(h) != 32 for h in proof):
        raise VerificationError("inclusion proof: a proof hash is not 32 bytes")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof: the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof: the proof is shorter than the tree is deep")
    return r


# --- checkpoints (C2SP signed note) -----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    body: bytes  # the signed text
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (name, key hint, signature)


def parse_checkpoint(envelope: str) -> Checkpoint:
    text, sep, sigs = envelope.partition("\n\n")
    if not sep:
        raise VerificationError("checkpoint: no blank line between the note and its signatures")
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0]:
        raise VerificationError("checkpoint: the note needs an origin, a tree size and a root hash")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise VerificationError("checkpoint: malformed tree size or root hash")
    if len(root) != 32 or size < 0:
        raise VerificationError("checkpoint: malformed tree size or root hash")
    parsed = []
    for line in sigs.split("\n"):
        if not line:
            continue
        if not line.startswith("\u2014 "):
            raise VerificationError("checkpoint: malformed signature line")
        parts = line[2:].split(" ")
        if len(parts) != 2:
            raise VerificationError("checkpoint: malformed signature line")
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except ValueError:
            raise VerificationError("checkpoint: signature is not base64")
        if len(raw) < 5:
            raise VerificationError("checkpoint: signature too short")
        parsed.append((parts[0], raw[:4], raw[4:]))
    if not parsed:
        raise VerificationError("checkpoint: the note is not signed")
    return Checkpoint(lines[0], size, root, (text + "\n").encode(), tuple(parsed))


def verify_checkpoint(envelope: str, log: LogKey) -> Checkpoint:
    """One signature on the note must be the log's (matched by key hint); cosignatures are ignored."""
    cp = parse_checkpoint(envelope)
    hint = log.checkpoint_hint
    for _name, key_hint, sig in cp.signatures:
        if key_hint == hint and verify_signature(log.public_key, sig, cp.body):
            return cp
    raise VerificationError("checkpoint: no valid signature from the log's key")


def verify_inclusion(root: TrustedRoot, entry: Any) -> LogKey:
    """Inclusion proof + signed checkpoint for a bundle tlog entry (``formats.bundle.TlogEntry``)."""
    proof = entry.inclusion_proof
    if proof is None:
        raise VerificationError("transparency log entry has no inclusion proof")
    log = root.tlog_by_id(entry.log_id)
    if log is None:
        raise VerificationError(
            f"transparency log entry is from an unknown log (log ID {entry.log_id.hex()[:16]}… is not in "
            f"the {root.source})")
    computed = root_from_inclusion_proof(proof.log_index, proof.tree_size,
                                         leaf_hash(entry.canonicalized_body), proof.hashes)
    if computed != proof.root_hash:
        raise VerificationError(
            "inclusion proof: the computed root hash does not match the proof's root hash")
    if proof.checkpoint is None:
        raise VerificationError("inclusion proof has no checkpoint")
    cp = verify_checkpoint(proof.checkpoint, log)
    if cp.root_hash != proof.root_hash or cp.size != proof.tree_size:
        raise VerificationError("checkpoint: its root hash or tree size does not match the inclusion proof")
    return log
