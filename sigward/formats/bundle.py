"""Sigstore bundles (protobuf-specs ``sigstore_bundle.proto``) in protojson form (§3.1–3.2).

Building follows cosign's output: compact protojson, fields in proto declaration order, int64 as
strings, bytes as standard base64. Parsing accepts v0.1/v0.2/v0.3 media types, camelCase or proto
field names, and keeps the exact bytes plus tlog entries as their original dicts (typed accessors on
top), so verification can work on what was stored rather than on a re-serialisation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sigward.formats import dsse
from sigward.formats._common import (
    FormatError,
    b64decode_lenient,
    b64encode,
    first_of,
    load_object,
    protojson,
    type_name,
    want_int,
    want_list,
    want_obj,
    want_str,
)

MEDIA_TYPE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
MEDIA_TYPE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"

_MT_NEW = re.compile(r"^application/vnd\.dev\.sigstore\.bundle\.v(\d+\.\d+)\+json$")
_MT_OLD = re.compile(r"^application/vnd\.dev\.sigstore\.bundle\+json;version=(\d+\.\d+)$")

WHAT = "sigstore bundle"
SUPPORTED_VERSIONS = ("0.1", "0.2", "0.3")

# protobuf-specs HashAlgorithm names used in messageDigest.
HASH_ALGORITHMS = ("SHA2_256", "SHA2_384", "SHA2_512", "SHA3_256", "SHA3_384")
# The one mapping between hashlib names (what sigward computes, keys sign with, Rekor's hashedrekord
# v0.0.1 says) and protobuf-specs HashAlgorithm names (bundles, hashedrekord v0.0.2).
PROTO_HASH_NAMES = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}
HASHLIB_NAMES = {v: k for k, v in PROTO_HASH_NAMES.items()}


def media_type_version(media_type: str) -> str:
    """``"0.1"``/``"0.2"``/``"0.3"``… from either media type spelling; FormatError otherwise."""
    m = _MT_NEW.match(media_type) or _MT_OLD.match(media_type)
    if not m:
        raise FormatError(f"{WHAT}: unsupported mediaType {media_type[:80]!r}")
    if m.group(1) not in SUPPORTED_VERSIONS:
        raise FormatError(f"{WHAT}: unsupported bundle version {m.group(1)} (supported: "
                          f"{', '.join(SUPPORTED_VERSIONS)})")
    return m.group(1)


# --- tlog entries ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InclusionProof:
    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str | None


@dataclass(frozen=True)
class TlogEntry:
    """A ``TransparencyLogEntry``; ``json`` is the entry exactly as parsed (or as it will be written)."""

    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int
    canonicalized_body: bytes
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None
    json: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """protojson of the entry (rekor.proto field order; zero values omitted, except the log indexes:
        sigstore-python refuses an entry or inclusion proof without ``logIndex``, and 0 is a real index)."""
        out: dict[str, Any] = {}
        out["logIndex"] = str(self.log_index)
        out["logId"] = {"keyId": b64encode(self.log_id)}
        out["kindVersion"] = {"kind": self.kind, "version": self.version}
        if self.integrated_time:
            out["integratedTime"] = str(self.integrated_time)
        if self.signed_entry_timestamp is not None:
            out["inclusionPromise"] = {"signedEntryTimestamp": b64encode(self.signed_entry_timestamp)}
        p = self.inclusion_proof
        if p is not None:
            proof: dict[str, Any] = {}
            proof["logIndex"] = str(p.log_index)
            proof["rootHash"] = b64encode(p.root_hash)
            if p.tree_size:
                proof["treeSize"] = str(p.tree_size)
            proof["hashes"] = [b64encode(h) for h in p.hashes]
            if p.checkpoint is not None:
                proof["checkpoint"] = {"envelope": p.checkpoint}
            out["inclusionProof"] = proof
        out["canonicalizedBody"] = b64encode(self.canonicalized_body)
        return out


def parse_tlog_entry(obj: Any, where: str = "tlog entry") -> TlogEntry:
    if not isinstance(obj, dict):
        raise FormatError(f"{where} must be an object, got {type_name(obj)}")
    log_index = want_int(first_of(obj, "logIndex", "log_index"), f"{where}.logIndex",
                         required=False, as_string=True)
    log_id = want_obj(first_of(obj, "logId", "log_id"), f"{where}.logId")
    assert log_id is not None
    key_id = want_str(first_of(log_id, "keyId", "key_id"), f"{where}.logId.keyId")
    kv = want_obj(first_of(obj, "kindVersion", "kind_version"), f"{where}.kindVersion")
    assert kv is not None and key_id is not None
    kind = want_str(kv.get("kind"), f"{where}.kindVersion.kind")
    version = want_str(kv.get("version"), f"{where}.kindVersion.version")
    itime = want_int(first_of(obj, "integratedTime", "integrated_time"), f"{where}.integratedTime",
                     required=False, as_string=True)
    body = want_str(first_of(obj, "canonicalizedBody", "canonicalized_body"), f"{where}.canonicalizedBody")
    assert kind is not None and version is not None and body is not None
    promise = want_obj(first_of(obj, "inclusionPromise", "inclusion_promise"), f"{where}.inclusionPromise",
                       required=False)
    set_bytes = None
    if promise is not None:
        set_b64 = want_str(first_of(promise, "signedEntryTimestamp", "signed_entry_timestamp"),
                           f"{where}.inclusionPromise.signedEntryTimestamp")
        assert set_b64 is not None
        set_bytes = b64decode_lenient(set_b64, f"{where}.inclusionPromise.signedEntryTimestamp")
    proof = None
    pobj = want_obj(first_of(obj, "inclusionProof", "inclusion_proof"), f"{where}.inclusionProof",
                    required=False)
    if pobj is not None:
        pw = f"{where}.inclusionProof"
        root = want_str(first_of(pobj, "rootHash", "root_hash"), f"{pw}.rootHash")
        assert root is not None
        hashes = []
        for i, h in enumerate(want_list(pobj.get("hashes"), f"{pw}.hashes", required=False)):
            hs = want_str(h, f"{pw}.hashes[{i}]")
            assert hs is not None
            hashes.append(b64decode_lenient(hs, f"{pw}.hashes[{i}]"))
        cp = want_obj(pobj.get("checkpoint"), f"{pw}.checkpoint", required=False)
        proof = InclusionProof(
            log_index=want_int(first_of(pobj, "logIndex", "log_index"), f"{pw}.logIndex", required=False,
                               as_string=True) or 0,
            root_hash=b64decode_lenient(root, f"{pw}.rootHash"),
            tree_size=want_int(first_of(pobj, "treeSize", "tree_size"), f"{pw}.treeSize", required=False,
                               as_string=True) or 0,
            hashes=tuple(hashes),
            checkpoint=want_str(cp.get("envelope"), f"{pw}.checkpoint.envelope") if cp is not None else None,
        )
    return TlogEntry(
        log_index=log_index or 0,
        log_id=b64decode_lenient(key_id, f"{where}.logId.keyId"),
        kind=kind,
        version=version,
        integrated_time=itime or 0,
        canonicalized_body=b64decode_lenient(body, f"{where}.canonicalizedBody"),
        signed_entry_timestamp=set_bytes,
        inclusion_proof=proof,
        json=obj,
    )


# --- bundle ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MessageSignature:
    signature: bytes
    digest_algorithm: str | None
    digest: bytes | None


@dataclass(frozen=True)
class Bundle:
    """A parsed bundle. Exactly one of ``message_signature`` / ``dsse_envelope`` is set."""

    media_type: str
    version: str
    material_kind: Literal["public_key", "certificate", "x509_chain"]
    public_key_hint: str | None
    certificates: tuple[bytes, ...]  # DER; the leaf first (one entry for "certificate")
    tlog_entries: tuple[TlogEntry, ...]
    rfc3161_timestamps: tuple[bytes, ...]
    message_signature: MessageSignature | None
    dsse_envelope: dsse.Envelope | None
    raw: bytes = field(repr=False, compare=False)
    json: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def leaf_certificate(self) -> bytes | None:
        return self.certificates[0] if self.certificates else None

    @property
    def signature(self) -> bytes:
        """The signature bytes, whichever content the bundle carries."""
        if self.message_signature is not None:
            return self.message_signature.signature
        assert self.dsse_envelope is not None
        return self.dsse_envelope.signatures[0].sig


# The fields protojson knows in a bundle (sigstore_bundle.proto and what it imports), by JSON path; a
# field outside these, or a field given twice, is refused as protojson (and so sigstore-go) refuses it.
_TLOG_ENTRY = {
    "logIndex": None, "logId": {"keyId": None}, "kindVersion": {"kind": None, "version": None},
    "integratedTime": None, "inclusionPromise": {"signedEntryTimestamp": None},
    "inclusionProof": {"logIndex": None, "rootHash": None, "treeSize": None, "hashes": None,
                       "checkpoint": {"envelope": None}},
    "canonicalizedBody": None,
}
_SCHEMA: dict[str, Any] = {
    "mediaType": None,
    "verificationMaterial": {
        "publicKey": {"hint": None},
        "x509CertificateChain": {"certificates": [{"rawBytes": None}]},
        "certificate": {"rawBytes": None},
        "tlogEntries": [_TLOG_ENTRY],
        "timestampVerificationData": {"rfc3161Timestamps": [{"signedTimestamp": None}]},
    },
    "messageSignature": {"messageDigest": {"algorithm": None, "digest": None}, "signature": None},
    "dsseEnvelope": {"payload": None, "payloadType": None, "signatures": [{"sig": None, "keyid": None}]},
}


class _Fields(dict):  # type: ignore[type-arg]
    """A parsed JSON object that remembers a key it saw twice (protojson: duplicate field)."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Fields:
    out = _Fields()
    for k, v in pairs:
        if k in out and out.duplicate is None:
            out.duplicate = k
        out[k] = v
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def check_fields(obj: Any, schema: Any, where: str) -> None:
    """Refuse duplicate and unknown fields, naming the field's path (camelCase or proto names)."""
    if isinstance(schema, list):
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                check_fields(item, schema[0], f"{where}[{i}]")
        return
    if not isinstance(schema, dict) or not isinstance(obj, dict):
        return  # a wrong type is reported by the typed parse below, with its path
    if isinstance(obj, _Fields) and obj.duplicate is not None:
        raise FormatError(f"{where}.{obj.duplicate}: duplicate field")
    names = {n: n for n in schema} | {_snake(n): n for n in schema}
    seen: dict[str, str] = {}
    for key, value in obj.items():
        known = names.get(key)
        if known is None:
            raise FormatError(f"{where}.{key}: unknown field")
        if known in seen:
            raise FormatError(f"{where}.{known}: given twice (as {seen[known]} and {key})")
        seen[known] = key
        check_fields(value, schema[known], f"{where}.{known}")


def parse_bundle(data: bytes) -> Bundle:
    """Parse bundle JSON; every missing, mistyped, duplicate or unknown field gives a one-line FormatError
    naming its path (protojson's strictness, which sigstore-go inherits)."""
    from sigward import safejson

    try:
        parsed = safejson.loads(data, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{WHAT}: not valid JSON ({str(e).splitlines()[0] if str(e) else e})")
    if not isinstance(parsed, dict):
        raise FormatError(f"{WHAT}: expected a JSON object, got {type_name(parsed)}")
    check_fields(parsed, _SCHEMA, WHAT)
    obj = load_object(data, WHAT)
    mtype = want_str(first_of(obj, "mediaType", "media_type"), f"{WHAT}: mediaType")
    assert mtype is not None
    version = media_type_version(mtype)
    vm = want_obj(first_of(obj, "verificationMaterial", "verification_material"),
                  f"{WHAT}: verificationMaterial")
    assert vm is not None
    vw = f"{WHAT}: verificationMaterial"

    pk = want_obj(first_of(vm, "publicKey", "public_key"), f"{vw}.publicKey", required=False)
    chain = want_obj(first_of(vm, "x509CertificateChain", "x509_certificate_chain"),
                     f"{vw}.x509CertificateChain", required=False)
    cert = want_obj(vm.get("certificate"), f"{vw}.certificate", required=False)
    present = [k for k, v in (("publicKey", pk), ("x509CertificateChain", chain), ("certificate", cert))
               if v is not None]
    if not present:
        raise FormatError(f"{vw} has no publicKey, x509CertificateChain or certificate")
    if len(present) > 1:
        raise FormatError(f"{vw} has more than one of {', '.join(present)}")
    hint = None
    certs: list[bytes] = []
    kind: Literal["public_key", "certificate", "x509_chain"]
    if pk is not None:
        kind = "public_key"
        hint = want_str(pk.get("hint"), f"{vw}.publicKey.hint", required=False) or ""
    elif cert is not None:
        kind = "certificate"
        certs.append(_raw_bytes(cert, f"{vw}.certificate"))
    else:
        assert chain is not None
        kind = "x509_chain"
        items = want_list(chain.get("certificates"), f"{vw}.x509CertificateChain.certificates")
        if not items:
            raise FormatError(f"{vw}.x509CertificateChain.certificates is empty")
        for i, c in enumerate(items):
            cw = f"{vw}.x509CertificateChain.certificates[{i}]"
            if not isinstance(c, dict):
                raise FormatError(f"{cw} must be an object, got {type_name(c)}")
            certs.append(_raw_bytes(c, cw))

    entries = tuple(
        parse_tlog_entry(e, f"{vw}.tlogEntries[{i}]")
        for i, e in enumerate(want_list(first_of(vm, "tlogEntries", "tlog_entries"), f"{vw}.tlogEntries",
                                        required=False))
    )
    tsd = want_obj(first_of(vm, "timestampVerificationData", "timestamp_verification_data"),
                   f"{vw}.timestampVerificationData", required=False) or {}
    stamps = []
    for i, t in enumerate(want_list(first_of(tsd, "rfc3161Timestamps", "rfc3161_timestamps"),
                                    f"{vw}.timestampVerificationData.rfc3161Timestamps", required=False)):
        tw = f"{vw}.timestampVerificationData.rfc3161Timestamps[{i}]"
        if not isinstance(t, dict):
            raise FormatError(f"{tw} must be an object, got {type_name(t)}")
        s = want_str(first_of(t, "signedTimestamp", "signed_timestamp"), f"{tw}.signedTimestamp")
        assert s is not None
        stamps.append(b64decode_lenient(s, f"{tw}.signedTimestamp"))

    ms_obj = want_obj(first_of(obj, "messageSignature", "message_signature"), f"{WHAT}: messageSignature",
                      required=False)
    env_obj = want_obj(first_of(obj, "dsseEnvelope", "dsse_envelope"), f"{WHAT}: dsseEnvelope",
                       required=False)
    if ms_obj is None and env_obj is None:
        raise FormatError(f"{WHAT} has neither messageSignature nor dsseEnvelope")
    if ms_obj is not None and env_obj is not None:
        raise FormatError(f"{WHAT} has both messageSignature and dsseEnvelope")
    msg = None
    env = None
    if ms_obj is not None:
        msg = _message_signature(ms_obj, f"{WHAT}: messageSignature")
    else:
        env = dsse.from_json(env_obj, f"{WHAT}: dsseEnvelope")
    return Bundle(
        media_type=mtype,
        version=version,
        material_kind=kind,
        public_key_hint=hint,
        certificates=tuple(certs),
        tlog_entries=entries,
        rfc3161_timestamps=tuple(stamps),
        message_signature=msg,
        dsse_envelope=env,
        raw=bytes(data),
        json=obj,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def _raw_bytes(obj: dict[str, Any], where: str) -> bytes:
    s = want_str(first_of(obj, "rawBytes", "raw_bytes"), f"{where}.rawBytes")
    assert s is not None
    b = b64decode_lenient(s, f"{where}.rawBytes")
    if not b:
        raise FormatError(f"{where}.rawBytes is empty")
    return b


def _message_signature(obj: dict[str, Any], where: str) -> MessageSignature:
    sig = want_str(obj.get("signature"), f"{where}.signature")
    assert sig is not None
    md = want_obj(first_of(obj, "messageDigest", "message_digest"), f"{where}.messageDigest")
    alg = digest = None
    if md is not None:
        alg = want_str(md.get("algorithm"), f"{where}.messageDigest.algorithm")
        if alg not in HASH_ALGORITHMS:  # protojson refuses an enum name it does not know
            raise FormatError(f"{where}.messageDigest.algorithm: unknown hash algorithm {str(alg)[:40]!r}")
        d = want_str(md.get("digest"), f"{where}.messageDigest.digest")
        assert d is not None
        digest = b64decode_lenient(d, f"{where}.messageDigest.digest")
    return MessageSignature(b64decode_lenient(sig, f"{where}.signature"), alg, digest)


def is_bundle(data: bytes) -> bool:
    """Whether bytes parse as a Sigstore bundle (how verify-blob/attach pick the new format)."""
    try:
        parse_bundle(data)
    except FormatError:
        return False
    return True


# --- building ----------------------------------------------------------------------------------------

TlogInput = TlogEntry | Mapping[str, Any]


def _verification_material(
    public_key_hint: str | None, certificate_der: bytes | None,
    tlog_entries: Iterable[TlogInput], rfc3161_timestamps: Iterable[bytes],
) -> dict[str, Any]:
    if (public_key_hint is None) == (certificate_der is None):
        raise ValueError("exactly one of public_key_hint and certificate_der is required")
    vm: dict[str, Any] = {}
    if certificate_der is not None:
        vm["certificate"] = {"rawBytes": b64encode(certificate_der)}
    else:
        vm["publicKey"] = {"hint": public_key_hint} if public_key_hint else {}
    entries = [e.to_json() if isinstance(e, TlogEntry) else dict(e) for e in tlog_entries]
    # protojson omits empty repeated fields.
    if entries:
        vm["tlogEntries"] = entries
    stamps = [{"signedTimestamp": b64encode(t)} for t in rfc3161_timestamps]
    if stamps:
        vm["timestampVerificationData"] = {"rfc3161Timestamps": stamps}
    return vm


def message_signature_bundle(
    digest: bytes,
    signature: bytes,
    *,
    digest_algorithm: str = "SHA2_256",
    public_key_hint: str | None = None,
    certificate_der: bytes | None = None,
    tlog_entries: Iterable[TlogInput] = (),
    rfc3161_timestamps: Iterable[bytes] = (),
) -> bytes:
    """A v0.3 bundle for sign-blob: the blob's digest and the raw signature over the blob."""
    return protojson({
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": _verification_material(
            public_key_hint, certificate_der, tlog_entries, rfc3161_timestamps),
        "messageSignature": {
            "messageDigest": {"algorithm": digest_algorithm, "digest": b64encode(digest)},
            "signature": b64encode(signature),
        },
    })


def dsse_bundle(
    envelope: dsse.Envelope,
    *,
    public_key_hint: str | None = None,
    certificate_der: bytes | None = None,
    tlog_entries: Iterable[TlogInput] = (),
    rfc3161_timestamps: Iterable[bytes] = (),
) -> bytes:
    """A v0.3 bundle around a DSSE envelope (sign, attest, attest-blob)."""
    return protojson({
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": _verification_material(
            public_key_hint, certificate_der, tlog_entries, rfc3161_timestamps),
        "dsseEnvelope": dsse.to_json(envelope, "protobuf"),
    })
