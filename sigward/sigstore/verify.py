"""The verification pipeline for one Sigstore bundle, in sigstore-go's (cosign v3's) order:

1. transparency log: inclusion proof + checkpoint and/or SET, and the entry's body must describe this
   signature (skipped with ``ignore_tlog``);
2. verified times: the log's integrated time (SET-backed) and RFC 3161 timestamps;
3. certificate chain to a trusted CA at each verified time, then the embedded SCT (``ignore_sct`` skips);
4. the signature itself, over the message digest or the DSSE PAE;
5. the identity policy (issuer, SAN, GitHub workflow claims).

Key-based bundles (``publicKey`` material) skip 2–3 and 5 and use the caller's key, which sigstore-python
cannot do (its issue #1244). Each failure names the check, so a user knows what to fix.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sigward import safejson
from sigward.errors import VerificationError
from sigward.formats.bundle import HASHLIB_NAMES, PROTO_HASH_NAMES, Bundle, TlogEntry
from sigward.sigstore.certs import CertIdentity
from sigward.sigstore.policy import Checks, IdentityMatcher, check_identities

if TYPE_CHECKING:
    from cryptography import x509

    from sigward.keys.interfaces import Verifier
    from sigward.sigstore.trust import TrustedRoot  # only passed through: a key-based verify has none

# Clock skew allowed for a log's integrated time to lie in the future (sigstore-go uses a small margin).
FUTURE_SKEW_SECONDS = 300


@dataclass
class Verified:
    """What a bundle proved: who signed (keyless), when, and which log entries vouched for it."""

    identity: CertIdentity | None
    certificate: x509.Certificate | None
    times: list[datetime] = field(default_factory=list)
    tlog_entries: list[TlogEntry] = field(default_factory=list)
    matched: IdentityMatcher | None = None  # which of the allowed identities it matched


def verify_bundle(
    b: Bundle,
    *,
    root: TrustedRoot | None,
    key: Verifier | None = None,
    identities: Sequence[IdentityMatcher] = (),
    artifact_digest: tuple[str, bytes] | None = None,
    options: Checks | None = None,
) -> Verified:
    """Verify ``b``. ``key`` is the ``Verifier`` for key-based verification; without it, the bundle's
    certificate is used and must match one of ``identities``. ``artifact_digest`` = (hash name, digest)
    of the blob a message signature covers."""
    opts = options or Checks()
    verifier, cert = _signing_key(b, key)
    sig = b.signature
    if b.dsse_envelope is not None and len(b.dsse_envelope.signatures) != 1:
        raise VerificationError("DSSE envelope: exactly one signature is supported")
    material_der = _material_der(cert, verifier)
    if key is not None:
        cert = None  # cosign: with --key, a certificate is only the key's carrier (no chain, no identity)
    # The signature first: when it is wrong, that is the failure to report, not the log entry that
    # (consequently) does not match it.
    _check_signature(b, verifier, artifact_digest)

    content = SignedContent(sig, _signed_digest_hex(b, artifact_digest), b.dsse_envelope)
    # With a key, cosign uses no observer timestamps unless --use-signed-timestamps asks for them.
    check_stamps = bool(b.rfc3161_timestamps) and (cert is not None or opts.use_signed_timestamps)
    needs_root = not opts.ignore_tlog or cert is not None or check_stamps
    if needs_root and root is None:
        raise VerificationError("no trusted root to verify against (give it a trusted root)")
    times: list[datetime] = []
    entries: list[TlogEntry] = []
    if not opts.ignore_tlog:
        assert root is not None
        if not b.tlog_entries:
            raise VerificationError("transparency log: the bundle has no log entry "
                                    "(Checks.ignore_tlog skips this check)")
        errors = []
        for e in b.tlog_entries:
            try:
                t = check_tlog_entry(root, e, content, material_der, require_proof=b.version != "0.1")
            except VerificationError as err:
                errors.append(str(err))
                continue
            entries.append(e)
            if t is not None:
                times.append(t)
        if not entries:
            raise VerificationError("; ".join(errors))

    if check_stamps:
        assert root is not None
        for ts in b.rfc3161_timestamps:
            times.append(_timestamp(root, ts, sig))
    if opts.use_signed_timestamps and not b.rfc3161_timestamps:
        raise VerificationError("timestamp: Checks.use_signed_timestamps needs an RFC 3161 timestamp in the "
                                "bundle")

    identity, matched = None, None
    if cert is not None:
        assert root is not None
        identity, matched = check_certificate(cert, root, times, opts, identities)
    return Verified(identity, cert, times, entries, matched)


def verify_legacy(
    *,
    signature: bytes | None = None,
    message: bytes | None = None,
    digest: tuple[str, bytes] | None = None,
    envelope: Any | None = None,
    envelope_bytes: bytes | None = None,
    certificate_pem: str | bytes | None = None,
    rekor_bundle: Any | None = None,
    timestamp: bytes | None = None,
    root: TrustedRoot | None,
    key: Verifier | None = None,
    identities: Sequence[IdentityMatcher] = (),
    options: Checks | None = None,
) -> Verified:
    """A cosign v2 signature: detached signature, certificate annotation, Rekor bundle (SET), timestamp.

    What was signed is one of: ``message`` (a simple-signing payload), ``digest`` = (hash, digest) of a
    blob, or a DSSE ``envelope`` whose stored bytes are ``envelope_bytes`` (a ``.att`` layer: the
    timestamp and the log's envelope hash cover those bytes). The log entry is checked offline, from its
    SET: these signatures carry no inclusion proof.
    """
    from sigward.errors import NoCertificateError
    from sigward.keys.local import LocalVerifier as Verifier

    opts = options or Checks()
    cert = None
    text = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
    if text and b"-----BEGIN CERTIFICATE-----" not in text and key is not None:
        text = None  # cosign v3.1 key-signed blob bundles carry the public key PEM in "cert"
    if text:
        from sigward.sigstore.certs import load_pem_certificates

        certs = load_pem_certificates(text, "signature's certificate")
        if not certs:
            raise VerificationError("the signature's certificate annotation holds no certificate")
        cert = certs[0]
    if key is not None:
        verifier = key
    elif cert is None:
        raise NoCertificateError("no certificate found on signature")
    else:
        verifier = Verifier(cert.public_key())
    material = _material_der(cert, verifier)
    if key is not None:
        cert = None
    if envelope is not None:
        signature = _envelope_signature(envelope, verifier, key is not None)
        hashed = None
        stamped = envelope_bytes if envelope_bytes is not None else b""
    else:
        assert signature is not None
        try:
            if message is not None:
                verifier.verify(signature, message)
            else:
                assert digest is not None
                verifier.verify_prehashed(signature, digest[1], digest[0])
        except VerificationError as e:
            raise VerificationError(f"signature: {e}")
        hashed = ("sha256", hashlib.sha256(message).hexdigest()) if message is not None else (
            (digest[0], digest[1].hex()) if digest else None)
        stamped = signature
    times: list[datetime] = []
    if timestamp is not None and (opts.use_signed_timestamps or cert is not None) and root is not None and (
            root.timestamp_authorities or opts.use_signed_timestamps):
        times.append(_timestamp(root, timestamp, stamped))
    elif opts.use_signed_timestamps:
        raise VerificationError("timestamp: Checks.use_signed_timestamps needs an RFC 3161 timestamp on the "
                                "signature")
    if not opts.ignore_tlog:
        if rekor_bundle is None:
            raise VerificationError("transparency log: the signature has no Rekor bundle to verify offline "
                                    "(Checks.ignore_tlog skips this check)")
        if root is None:
            raise VerificationError("no trusted root to verify the transparency log entry against")
        from sigward.sigstore import tlog

        body = rekor_bundle.body_bytes()
        try:
            log_id = bytes.fromhex(rekor_bundle.log_id)
        except ValueError:
            raise VerificationError("transparency log entry: the Rekor bundle's logID is not hex")
        tlog.verify_set(root, log_id, body, rekor_bundle.integrated_time, rekor_bundle.log_index,
                        rekor_bundle.signed_entry_timestamp)
        if rekor_bundle.integrated_time > datetime.now(UTC).timestamp() + FUTURE_SKEW_SECONDS:
            raise VerificationError("transparency log entry: integrated time is in the future")
        check_entry_body(None, None, body, SignedContent(signature, hashed, envelope), material)
        if envelope_bytes is not None:
            _check_envelope_hash(body, envelope_bytes)
        times.append(datetime.fromtimestamp(rekor_bundle.integrated_time, UTC))
    identity, matched = None, None
    if cert is not None:
        if root is None:
            raise VerificationError("no trusted root to verify the certificate against "
                                    "(give it a trusted root)")
        identity, matched = check_certificate(cert, root, times, opts, identities)
    return Verified(identity, cert, times, [], matched)


def _envelope_signature(env: Any, verifier: Any, with_key: bool) -> bytes:
    """The first DSSE signature that verifies (legacy envelopes may carry several)."""
    for s in env.signatures:
        try:
            verifier.verify(s.sig, env.pae())
        except VerificationError:
            continue
        return s.sig  # type: ignore[no-any-return]
    raise VerificationError("DSSE signature: no signature on the envelope verifies with the "
                            + ("specified key" if with_key else "certificate's key"))


def _check_envelope_hash(body: bytes, data: bytes) -> None:
    """A ``dsse`` entry records sha256 of the envelope bytes: they must be the bytes we hold."""
    try:
        entry = safejson.loads(body)
    except ValueError:
        return
    if entry.get("kind") != "dsse":
        return
    eh = (entry.get("spec") or {}).get("envelopeHash") or {}
    if eh.get("algorithm") != "sha256" or eh.get("value") != hashlib.sha256(data).hexdigest():
        raise VerificationError("transparency log entry (dsse 0.0.1) logged a different envelope "
                                "(envelopeHash does not match the attestation's bytes)")


def check_certificate(cert: x509.Certificate, root: TrustedRoot, times: list[datetime], opts: Checks,
                      identities: Sequence[IdentityMatcher]) -> tuple[CertIdentity, IdentityMatcher]:
    """Chain at every verified time, the SCT, then the identity policy; returns who signed."""
    from sigward.sigstore import certs

    if not times:
        if not opts.ignore_tlog:
            raise VerificationError(
                "no verified time: neither a signed entry timestamp nor an RFC 3161 timestamp to check "
                "the certificate against")
        now = datetime.now(UTC)
        if not certs.valid_at(cert, now):
            raise VerificationError("expected a signed timestamp to verify an expired certificate")
        times.append(now)
    issuer = None
    for t in times:
        _ca, issuer = certs.verify_chain(cert, root, t)
    if not opts.ignore_sct:
        certs.verify_embedded_sct(cert, issuer, root)
    identity = certs.identity_of(cert)
    return identity, check_identities(identity, identities)


def _signing_key(b: Bundle, key: Any | None) -> tuple[Any, Any | None]:
    """(verifier, certificate or None). A supplied key must match a certificate the bundle carries."""
    from sigward.keys.local import LocalVerifier as Verifier

    cert = None
    if b.leaf_certificate is not None:
        from sigward.sigstore.certs import load_certificate

        cert = load_certificate(b.leaf_certificate, "bundle's certificate")
        for i, der in enumerate(b.certificates[1:], 1):
            c = load_certificate(der, f"bundle's certificate chain entry {i}")
            if c.issuer == c.subject:
                # A root must come from the trusted root, never from the bundle (protobuf-specs).
                raise VerificationError("the bundle's certificate chain contains a root (self-signed) "
                                        "certificate; roots come only from the trusted root")
    if key is not None:
        if cert is not None and _spki(cert.public_key()) != _spki(key.public_key):
            raise VerificationError("the bundle's certificate key is not the specified public key")
        return key, cert
    if cert is None:
        raise VerificationError("the bundle is signed with a key, not a certificate: "
                                "verify it with a key authority")
    try:
        return Verifier(cert.public_key()), cert
    except Exception as e:
        raise VerificationError(f"the certificate's key cannot verify signatures: {e}")


def _spki(pub: Any) -> bytes:
    from sigward.keys.keytypes import public_key_der

    return public_key_der(pub)


def _material_der(cert: Any | None, verifier: Any) -> tuple[bytes, ...]:
    """DER forms a log entry may name the signer by: the certificate, and the public key."""
    from cryptography.hazmat.primitives import serialization

    out = [_spki(verifier.public_key)]
    if cert is not None:
        out.append(cert.public_bytes(serialization.Encoding.DER))
    return tuple(out)


def _timestamp(root: TrustedRoot, ts: bytes, sig: bytes) -> datetime:
    from sigward.sigstore.timestamps import verify_timestamp

    return verify_timestamp(root, ts, sig)


# --- the signature ---------------------------------------------------------------------------------

def _check_signature(b: Bundle, verifier: Any, artifact_digest: tuple[str, bytes] | None) -> None:
    if b.message_signature is not None:
        ms = b.message_signature
        hash_name = HASHLIB_NAMES.get(ms.digest_algorithm or "SHA2_256")
        if hash_name is None:
            raise VerificationError(f"unsupported message digest algorithm {ms.digest_algorithm!r}")
        if artifact_digest is None:
            raise VerificationError("a message-signature bundle needs the artifact to verify")
        alg, digest = artifact_digest
        if alg != hash_name:
            raise VerificationError(f"the bundle uses {hash_name}, but the artifact digest is {alg}")
        if ms.digest is not None and ms.digest != digest:
            raise VerificationError("the artifact's digest does not match the digest in the bundle")
        try:
            verifier.verify_prehashed(ms.signature, digest, hash_name)
        except VerificationError as e:
            raise VerificationError(f"signature: {e}")
        return
    env = b.dsse_envelope
    assert env is not None
    try:
        verifier.verify(env.signatures[0].sig, env.pae())
    except VerificationError as e:
        raise VerificationError(f"DSSE signature: {e}")


# --- log entry body ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedContent:
    """What a log entry must record: the signature, the digest a hashedrekord covers, the envelope."""

    signature: bytes
    hashed: tuple[str, str] | None  # (hash name, hex digest)
    envelope: Any | None  # formats.dsse.Envelope


def check_tlog_entry(root: TrustedRoot, e: TlogEntry, content: SignedContent, material: tuple[bytes, ...],
                     *, require_proof: bool = True) -> datetime | None:
    """Inclusion (proof and/or SET) and body consistency; returns the SET-backed integrated time."""
    from sigward.sigstore import tlog

    if e.log_index < 0 or (e.inclusion_proof is not None and e.inclusion_proof.log_index < 0):
        raise VerificationError("transparency log entry: negative log index")
    if e.inclusion_proof is None and require_proof:
        raise VerificationError("transparency log entry has no inclusion proof")
    if e.inclusion_proof is not None:
        tlog.verify_inclusion(root, e)
    verified_time = None
    if e.signed_entry_timestamp is not None:
        tlog.verify_set(root, e.log_id, e.canonicalized_body, e.integrated_time, e.log_index,
                        e.signed_entry_timestamp)
        verified_time = datetime.fromtimestamp(e.integrated_time, UTC)
    elif e.inclusion_proof is None:
        raise VerificationError("transparency log entry has neither an inclusion proof nor a SET")
    if e.integrated_time and e.integrated_time > datetime.now(UTC).timestamp() + FUTURE_SKEW_SECONDS:
        raise VerificationError("transparency log entry: integrated time is in the future")
    check_entry_body(e.kind, e.version, e.canonicalized_body, content, material)
    return verified_time


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem_der(text: str, where: str) -> bytes:
    """The DER inside a base64-encoded PEM (how Rekor v1 bodies name certificates and keys)."""
    from sigward.keys import pem

    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise VerificationError(f"transparency log entry: {where} is not base64")
    block = pem.decode(raw)
    if block is None:
        raise VerificationError(f"transparency log entry: {where} is not PEM")
    return block.data


def check_entry_body(entry_kind: str | None, entry_version: str | None, canonical_body: bytes,
                     content: SignedContent, material: tuple[bytes, ...]) -> None:
    """The log entry must record this very signature, by this signer, over this artifact."""
    try:
        body = safejson.loads(canonical_body)
        spec = body["spec"]
    except (ValueError, KeyError, TypeError):
        raise VerificationError("transparency log entry: the body is not a Rekor entry")
    kind, version = body.get("kind"), body.get("apiVersion")
    if entry_kind is not None and (kind, version) != (entry_kind, entry_version):
        raise VerificationError(f"transparency log entry: body kind {kind} {version} differs from "
                                f"kindVersion {entry_kind} {entry_version}")
    sig = content.signature
    mismatch = VerificationError(f"transparency log entry ({kind} {version}) does not match the bundle's "
                                 "signature, signer or artifact")
    try:
        if kind == "hashedrekord" and version == "0.0.1":
            want_hash = _need(content.hashed, mismatch)
            h = spec["data"]["hash"]
            if h.get("algorithm") != want_hash[0] or h.get("value") != want_hash[1]:
                raise mismatch
            if spec["signature"]["content"] != _b64(sig):
                raise mismatch
            if _pem_der(spec["signature"]["publicKey"]["content"], "publicKey") not in material:
                raise mismatch
        elif kind == "hashedrekord" and version == "0.0.2":
            hr = spec["hashedRekordV002"]
            alg, hexd = _need(content.hashed, mismatch)
            want_alg = PROTO_HASH_NAMES[alg]
            if hr["data"]["algorithm"] != want_alg or base64.b64decode(hr["data"]["digest"]).hex() != hexd:
                raise mismatch
            if hr["signature"]["content"] != _b64(sig):
                raise mismatch
            v = hr["signature"]["verifier"]
            raw = (v.get("x509Certificate") or v.get("publicKey") or {}).get("rawBytes", "")
            if base64.b64decode(raw) not in material:
                raise mismatch
        elif kind == "dsse" and version == "0.0.1":
            env = _need(content.envelope, mismatch)
            ph = spec["payloadHash"]
            if ph.get("algorithm") != "sha256" or ph.get("value") != hashlib.sha256(env.payload).hexdigest():
                raise mismatch
            entries = {(s["signature"], _pem_der(s["verifier"], "verifier")) for s in spec["signatures"]}
            if not any((_b64(sig), m) in entries for m in material):
                raise mismatch
        elif kind == "intoto" and version in ("0.0.1", "0.0.2"):
            env = _need(content.envelope, mismatch)
            logged_content = spec["content"]
            ph = logged_content["payloadHash"]
            if ph.get("algorithm") != "sha256" or ph.get("value") != hashlib.sha256(env.payload).hexdigest():
                raise mismatch
            sigs = logged_content["envelope"]["signatures"]
            found = False
            for s in sigs:
                logged = base64.b64decode(s["sig"])
                logged = base64.b64decode(logged) if version == "0.0.2" else logged
                if logged == sig and _pem_der(s["publicKey"], "publicKey") in material:
                    found = True
            if not found:
                raise mismatch
        else:
            raise VerificationError(f"transparency log entry: unsupported entry type {kind} {version}")
    except (KeyError, TypeError, AttributeError, ValueError):
        raise mismatch


def _need(value: Any, err: VerificationError) -> Any:
    if value is None:
        raise err
    return value


def _signed_digest_hex(b: Bundle, artifact_digest: tuple[str, bytes] | None,
                       default: str = "sha256") -> tuple[str, str]:
    """What a hashedrekord entry hashes: the artifact (message signature) or the DSSE PAE."""
    if b.message_signature is not None:
        if artifact_digest is not None:
            return artifact_digest[0], artifact_digest[1].hex()
        ms = b.message_signature
        if ms.digest is None:
            raise VerificationError("the bundle has no message digest to compare the log entry with")
        return HASHLIB_NAMES.get(ms.digest_algorithm or "SHA2_256", default), ms.digest.hex()
    env = b.dsse_envelope
    assert env is not None
    return "sha256", hashlib.sha256(env.pae()).hexdigest()
