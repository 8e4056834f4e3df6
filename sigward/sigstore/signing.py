"""Turning a signature into Sigstore verification material: certificate, log entry, timestamps.

``SigningMaterial`` wraps a signer (an ephemeral key with its Fulcio chain, or a user's key) together
with the transparency services to use. Every signing operation (image, blob, attestation; bundle or
legacy format) goes through it, so key-based and keyless signing share one path, and uploads to Rekor
and the TSA happen the same way for both. Returned entries are checked against the trusted root before
use: the network is not trusted to hand back what we sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigward.errors import SigwardError
from sigward.formats import dsse
from sigward.formats.bundle import TlogEntry
from sigward.sigstore.rekor import RekorClient
from sigward.sigstore.trust import TrustedRoot

if TYPE_CHECKING:
    from cryptography import x509

    from sigward.keys.interfaces import Signer
    from sigward.keys.keytypes import PublicKey


@dataclass
class SigningMaterial:
    """A ``Signer`` plus what makes its signatures verifiable: certificate chain, log, timestamps.

    It is not itself a signer: it produces complete signatures (envelope + bundle, legacy layer
    annotations) from one.
    """

    signer: Signer
    chain: list[x509.Certificate] = field(default_factory=list)  # Fulcio chain, leaf first; empty for a key
    rekor: RekorClient | None = None
    tsa_urls: list[str] = field(default_factory=list)
    root: TrustedRoot | None = None  # to check what the services return

    @property
    def public_key(self) -> PublicKey:
        return self.signer.public_key

    # --- what identifies the signer ---------------------------------------------------------------

    @property
    def certificate_der(self) -> bytes | None:
        from cryptography.hazmat.primitives import serialization

        return self.chain[0].public_bytes(serialization.Encoding.DER) if self.chain else None

    def verifier_pem(self) -> bytes:
        """How Rekor v1 entries name the signer: the certificate PEM, else the public key PEM."""
        from cryptography.hazmat.primitives import serialization

        from sigward.keys.keytypes import public_key_pem

        if self.chain:
            return self.chain[0].public_bytes(serialization.Encoding.PEM)
        return public_key_pem(self.public_key)

    def chain_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain[1:])

    def bundle_identity(self) -> dict[str, Any]:
        """The keyword arguments formats.bundle builders take for the verification material."""
        from sigward.keys.keytypes import public_key_hint

        if self.chain:
            return {"certificate_der": self.certificate_der}
        return {"public_key_hint": public_key_hint(self.public_key)}

    # --- transparency -----------------------------------------------------------------------------

    def log_digest(self, digest: bytes, hash_name: str, signature: bytes) -> list[TlogEntry]:
        """Log a signature over ``digest`` (hashedrekord)."""
        if self.rekor is None:
            return []
        from sigward.sigstore import rekor

        if self.rekor.version == 2:
            proposed = rekor.hashedrekord_v002(digest, signature, certificate_der=self.certificate_der,
                                               public_key=None if self.chain else self.public_key)
        else:
            proposed = rekor.hashedrekord_v001(digest.hex(), hash_name, signature, self.verifier_pem())
        return [self._checked(self.rekor.upload(proposed))]

    def log_envelope(self, env: dsse.Envelope) -> list[TlogEntry]:
        """Log a DSSE envelope: a ``dsse`` entry on Rekor v1, a hashedrekord over its PAE on v2."""
        if self.rekor is None:
            return []
        if self.rekor.version == 2:
            return self.log_digest(hashlib.sha256(env.pae()).digest(), "sha256", env.signatures[0].sig)
        from sigward.sigstore import rekor

        return [self._checked(self.rekor.upload(rekor.dsse_v001(dsse.marshal(env), self.verifier_pem())))]

    def timestamps(self, signature: bytes) -> list[bytes]:
        from sigward.sigstore.timestamps import request_timestamp

        return [request_timestamp(url, signature) for url in self.tsa_urls]

    def _checked(self, entry: TlogEntry) -> TlogEntry:
        if self.root is None:
            return entry
        from sigward.errors import VerificationError
        from sigward.sigstore import tlog

        try:
            if entry.inclusion_proof is not None:
                tlog.verify_inclusion(self.root, entry)
            if entry.signed_entry_timestamp is not None:
                tlog.verify_set(self.root, entry.log_id, entry.canonicalized_body, entry.integrated_time,
                                entry.log_index, entry.signed_entry_timestamp)
        except VerificationError as e:
            raise SigwardError(f"the transparency log's answer does not verify against the trusted root: {e}")
        return entry

    # --- complete signatures ----------------------------------------------------------------------

    def sign_dsse(self, payload: bytes, payload_type: str) -> tuple[dsse.Envelope, bytes]:
        """(envelope, v0.3 bundle) for a DSSE payload: signed, logged, timestamped."""
        from sigward.formats import bundle

        sig = self.signer.sign(dsse.pae(payload_type, payload))
        env = dsse.Envelope(payload=payload, payload_type=payload_type, signatures=(dsse.Signature(sig),))
        stamps = self.timestamps(sig)
        entries = self.log_envelope(env)
        data = bundle.dsse_bundle(env, tlog_entries=entries, rfc3161_timestamps=stamps,
                                  **self.bundle_identity())
        return env, data

    def sign_digest(self, digest: bytes, hash_name: str) -> tuple[bytes, bytes]:
        """(signature, v0.3 message-signature bundle) for a blob's digest."""
        sig = self.signer.sign_prehashed(digest, hash_name)
        return sig, self.digest_bundle(digest, hash_name, sig)

    def digest_bundle(self, digest: bytes, hash_name: str, sig: bytes) -> bytes:
        """The v0.3 message-signature bundle for a signature already made over ``digest``."""
        from sigward.formats import bundle

        stamps = self.timestamps(sig)
        entries = self.log_digest(digest, hash_name, sig)
        data = bundle.message_signature_bundle(digest, sig,
                                               digest_algorithm=bundle.PROTO_HASH_NAMES[hash_name],
                                               tlog_entries=entries, rfc3161_timestamps=stamps,
                                               **self.bundle_identity())
        return data

    def legacy_signature(self, payload: bytes) -> tuple[bytes, dict[str, Any]]:
        """(signature, keyword arguments for ``formats.legacy.signature_layer``) for a legacy payload."""
        sig = self.signer.sign(payload)
        entries = self.log_digest(hashlib.sha256(payload).digest(), "sha256", sig)
        return sig, self.legacy_annotations(sig, entries)

    def legacy_annotations(self, stamped: bytes, entries: list[TlogEntry]) -> dict[str, Any]:
        """Keyword arguments for ``formats.legacy.signature_layer``/``attestation_layer``: certificate and
        chain, the RFC 3161 timestamp over ``stamped`` (the signature, or a ``.att`` layer's envelope
        bytes), and the Rekor bundle (SET) of the first log entry."""
        from sigward.formats import rekorbundle

        extra: dict[str, Any] = {}
        if self.chain:
            extra["certificate_pem"] = self.verifier_pem()
            extra["chain_pem"] = self.chain_pem()
        stamps = self.timestamps(stamped)
        if stamps:
            extra["timestamp_json"] = rekorbundle.rfc3161_annotation(stamps[0])
        if entries:
            if entries[0].signed_entry_timestamp is None:
                raise SigwardError("the legacy format needs a Rekor v1 log (its entries carry the SET the "
                                   "annotation holds); use the bundle format or a v1 log")
            extra["rekor_bundle_json"] = rekorbundle.from_tlog_entry(entries[0])
        return extra
