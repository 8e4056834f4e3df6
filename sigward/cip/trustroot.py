"""policy-controller's TrustRoot resource → sigward's :class:`~sigward.sigstore.trust.TrustedRoot`.

A keyless authority with ``trustRootRef`` (and ``ctlog``/``rfc3161timestamp`` with one) verifies against
the named TrustRoot instead of the public-good roots: a private Fulcio/Rekor/TSA, or an air-gapped copy.
Three forms, as policy-controller has them (``pkg/apis/policy/v1alpha1/trustroot_types.go``):

- ``sigstoreKeys``: the keys inline. ``certChain`` and ``publicKey`` are ``[]byte`` in Go, so in YAML they
  are base64 of PEM. Converted here exactly as policy-controller's ``config.ConvertSigstoreKeys`` does, into
  a ``trusted_root.json`` document (validity from the epoch, log IDs the SHA-256 of the key), which
  sigward's own parser then reads: one trusted-root code path, not two.
- ``repository``: a TUF repository serialized into the resource (``mirrorFS``: base64 of a gzipped tar
  whose entries sit under ``repository/``, metadata at its top and targets in the ``targets`` directory),
  plus the ``root`` to trust it with. Read here, verified by python-tuf (the same checks as go-tuf: root
  chain, signatures, expiry, hashes); the ``trusted_root.json`` target is the result. A repository without
  that target falls back to the legacy "custom metadata" targets (Fulcio chain, Rekor and CT log keys),
  as policy-controller does.
- ``remote``: a TUF mirror URL plus ``root``: needs the network, so it is fetched by
  ``sigward.admission.trustroots`` (through the same :func:`trusted_root_from_tuf`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import posixpath
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sigward.errors import SigwardError
from sigward.sigstore.trust import TRUSTED_ROOT_MEDIA_TYPE, TrustedRoot, parse_trusted_root

EPOCH = "1970-01-01T00:00:00Z"
MAX_MIRROR_FS = 64 << 20  # uncompressed bytes: a TUF repository of roots and keys is tiny
DEFAULT_TRUSTED_ROOT_TARGET = "trusted_root.json"


class TrustRootError(SigwardError):
    """A TrustRoot whose keys cannot be used; ``path`` names the field (``certificateAuthorities[0]…``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class TufSource:
    """``remote`` (``mirror`` set) or ``repository`` (``mirror_fs`` set): a TUF repository and its root."""

    root: bytes
    targets: str = "targets"
    trusted_root_target: str = DEFAULT_TRUSTED_ROOT_TARGET
    mirror: str | None = None
    mirror_fs: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TrustRoot:
    """A (validated) TrustRoot: its name and one of the three forms."""

    name: str
    form: Literal["sigstoreKeys", "remote", "repository"]
    sigstore_keys: Mapping[str, Any] | None = field(default=None, repr=False)
    tuf: TufSource | None = None

    def trusted_root(self) -> TrustedRoot:
        """The keys, for ``sigstoreKeys`` and ``repository`` (no network). ``remote`` needs
        :func:`sigward.admission.trustroots.resolve`."""
        source = f"TrustRoot {self.name}"
        if self.sigstore_keys is not None:
            return sigstore_keys_to_trusted_root(self.sigstore_keys, source)
        if self.tuf is not None and self.tuf.mirror_fs is not None:
            data = repository_trusted_root(self.tuf.mirror_fs, self.tuf.root, targets=self.tuf.targets,
                                           trusted_root_target=self.tuf.trusted_root_target)
            return _parse(data, source)
        raise TrustRootError(f"{source}: a remote TUF mirror is fetched by sigward.admission.trustroots")


def parse_trustroot(doc: Mapping[str, Any]) -> TrustRoot:
    """A TrustRoot document that :func:`sigward.cip.validate.validate` accepted → :class:`TrustRoot`."""
    from sigward.cip.schema import decode_bytes

    name = str((doc.get("metadata") or {}).get("name") or "")
    spec = doc.get("spec") or {}
    if spec.get("sigstoreKeys") is not None:
        return TrustRoot(name, "sigstoreKeys", sigstore_keys=spec["sigstoreKeys"])
    for form in ("remote", "repository"):
        s = spec.get(form)
        if s is None:
            continue
        tuf = TufSource(
            root=decode_bytes(s.get("root") or ""),
            targets=s.get("targets") or "targets",
            trusted_root_target=s.get("trustedRootTarget") or DEFAULT_TRUSTED_ROOT_TARGET,
            mirror=s.get("mirror") if form == "remote" else None,
            mirror_fs=decode_bytes(s.get("mirrorFS") or "") if form == "repository" else None)
        return TrustRoot(name, form, tuf=tuf)  # type: ignore[arg-type]
    raise TrustRootError(f"TrustRoot {name}: none of sigstoreKeys, remote, repository")


# ---------------------------------------------------------------- sigstoreKeys

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _field_bytes(obj: Mapping[str, Any], key: str, path: str) -> bytes:
    from sigward.cip.schema import decode_bytes

    try:
        return decode_bytes(obj.get(key) or "")
    except ValueError as e:
        raise TrustRootError(f"illegal base64 data ({e})", f"{path}.{key}")


def split_pem_chain(pem: bytes) -> tuple[list[Any], list[Any], list[Any]]:
    """(leaves, intermediates, roots) of a PEM chain, as policy-controller's ``SplitPEMCertificateChain``:
    a non-CA certificate is a leaf; a CA whose subject equals its issuer is a root."""
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise TrustRootError(f"not a PEM certificate chain ({e})")
    leaves, intermediates, roots = [], [], []
    for c in certs:
        try:
            is_ca = c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            leaves.append(c)
        elif c.subject.public_bytes() == c.issuer.public_bytes():
            roots.append(c)
        else:
            intermediates.append(c)
    return leaves, intermediates, roots


def _pem_blocks(pem: bytes, path: str) -> list[bytes]:
    """Go ``DeserializeCertChain``: every PEM block's DER, in order; anything else is an error."""
    import re

    text = pem.decode("ascii", "replace")
    blocks = list(re.finditer(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", text, re.S))
    # Go's pem.Decode skips text before each block; text after the last one is an error there too.
    if not blocks or text[blocks[-1].end():].strip():
        raise TrustRootError("failed to decode certificate chain PEM", path)
    try:
        return [base64.b64decode("".join(b.group(2).split())) for b in blocks]
    except ValueError:
        raise TrustRootError("failed to decode certificate chain PEM", path)


def _authority(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    from cryptography import x509

    ders = _pem_blocks(_field_bytes(obj, "certChain", path), f"{path}.certChain")
    for i, der in enumerate(ders):
        try:
            x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise TrustRootError(f"certificate {i} cannot be parsed ({e})", f"{path}.certChain")
    subject = obj.get("subject") or {}
    return {
        "subject": {"organization": subject.get("organization", ""),
                    "commonName": subject.get("commonName", "")},
        "uri": obj.get("uri") or "",
        "certChain": {"certificates": [{"rawBytes": _b64(d)} for d in ders]},
        "validFor": {"start": EPOCH},
    }


_HASHES = {"sha-256": "SHA2_256", "sha256": "SHA2_256", "sha-384": "SHA2_384", "sha384": "SHA2_384",
           "sha-512": "SHA2_512", "sha512": "SHA2_512"}


def _key_details(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
                "secp521r1": "PKIX_ECDSA_P521_SHA_512"}.get(key.curve.name, "PUBLIC_KEY_DETAILS_UNSPECIFIED")
    if isinstance(key, rsa.RSAPublicKey):
        # Rekor and CT logs sign with PKCS#1 v1.5 (policy-controller writes PSS here, which no log uses).
        return f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    return "PUBLIC_KEY_DETAILS_UNSPECIFIED"


def _log(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization

    pem = _field_bytes(obj, "publicKey", path)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise TrustRootError(f"failed to unmarshal public key ({e})", f"{path}.publicKey")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "baseUrl": obj.get("baseURL") or "",
        "hashAlgorithm": _HASHES.get(str(obj.get("hashAlgorithm") or ""), "HASH_ALGORITHM_UNSPECIFIED"),
        "publicKey": {"rawBytes": _b64(der), "keyDetails": _key_details(key), "validFor": {"start": EPOCH}},
        # The log ID as Rekor and CT logs compute it: SHA-256 of the DER public key.
        "logId": {"keyId": _b64(hashlib.sha256(der).digest())},
    }


def convert_sigstore_keys(keys: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.sigstoreKeys`` → a ``trusted_root.json`` object (policy-controller's ``ConvertSigstoreKeys``).

    Raises :class:`TrustRootError` naming the field when a chain or key cannot be read.
    """
    def items(name: str) -> list[Mapping[str, Any]]:
        return [x or {} for x in (keys.get(name) or [])]

    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "certificateAuthorities": [_authority(x, f"certificateAuthorities[{i}]")
                                   for i, x in enumerate(items("certificateAuthorities"))],
        "tlogs": [_log(x, f"tLogs[{i}]") for i, x in enumerate(items("tLogs"))],
        "ctlogs": [_log(x, f"ctLogs[{i}]") for i, x in enumerate(items("ctLogs"))],
        "timestampAuthorities": [_authority(x, f"timestampAuthorities[{i}]")
                                 for i, x in enumerate(items("timestampAuthorities"))],
    }


def _parse(data: bytes, source: str) -> TrustedRoot:
    from sigward.formats._common import FormatError

    try:
        return parse_trusted_root(data, source)
    except FormatError as e:
        raise TrustRootError(str(e))


def sigstore_keys_to_trusted_root(keys: Mapping[str, Any], source: str = "TrustRoot") -> TrustedRoot:
    """``spec.sigstoreKeys`` → :class:`TrustedRoot` (via the ``trusted_root.json`` it converts to)."""
    return _parse(json.dumps(convert_sigstore_keys(keys)).encode(), source)


# ---------------------------------------------------------------- TUF (repository / remote)

def unpack_mirror_fs(mirror_fs: bytes) -> dict[str, bytes]:
    """``mirrorFS`` (a gzipped tar) → {path: bytes}, paths relative to the repository (``repository/``
    stripped, as policy-controller's ``UncompressMemFS`` does). Bounded in size; links are ignored."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(mirror_fs), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                total += member.size
                if total > MAX_MIRROR_FS:
                    raise TrustRootError(f"the repository is larger than {MAX_MIRROR_FS >> 20} MiB unpacked")
                name = posixpath.normpath("/" + member.name)
                name = name.removeprefix("/repository/").lstrip("/")
                f = tar.extractfile(member)
                if f is not None:
                    files[name] = f.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise TrustRootError(f"failed to uncompress: {e}")
    return files


def trusted_root_from_tuf(fetcher: Any, metadata_url: str, targets_url: str, root: bytes,
                          trusted_root_target: str = DEFAULT_TRUSTED_ROOT_TARGET) -> bytes:
    """Verify a TUF repository from ``root`` (python-tuf ngclient through ``fetcher``) and return its
    Sigstore trusted root as ``trusted_root.json`` bytes. Every failure is a :class:`TrustRootError`."""
    from tuf.api.exceptions import DownloadError, RepositoryError
    from tuf.api.metadata import Metadata, Targets  # type: ignore[attr-defined]
    from tuf.ngclient.updater import Updater

    with tempfile.TemporaryDirectory(prefix="sigward-tuf-") as tmp:
        try:
            updater = Updater(tmp, metadata_url, target_dir=tmp, target_base_url=targets_url, fetcher=fetcher,
                              bootstrap=root)
            updater.refresh()
            # refresh() persists only verified metadata; ngclient has no public listing of the targets.
            targets = dict(Metadata[Targets].from_file(posixpath.join(tmp, "targets.json")).signed.targets)
            if not targets:
                raise TrustRootError("there are no valid targetfiles in TUF repo")
            if trusted_root_target in targets:
                return _read(updater, targets[trusted_root_target], tmp, targets_url)
            return json.dumps(_from_custom_metadata(updater, targets, tmp, targets_url)).encode()
        except TrustRootError:
            raise
        except (RepositoryError, DownloadError, ValueError, OSError) as e:
            raise TrustRootError(f"TUF: {type(e).__name__}: {e}")


def _read(updater: Any, target: Any, tmp: str, targets_url: str) -> bytes:
    path = posixpath.join(tmp, "t-" + hashlib.sha256(target.path.encode()).hexdigest())
    updater.download_target(target, path, targets_url)
    with open(path, "rb") as f:
        return f.read()


def _from_custom_metadata(updater: Any, targets: Mapping[str, Any], tmp: str,
                          targets_url: str) -> dict[str, Any]:
    """Legacy Sigstore TUF targets (``custom.sigstore.usage``: Fulcio, Rekor, CTFE) → trusted_root.json."""
    cas: list[dict[str, Any]] = []
    tlogs: list[dict[str, Any]] = []
    ctlogs: list[dict[str, Any]] = []
    for name, target in sorted(targets.items()):
        custom = (target.unrecognized_fields or {}).get("custom") or {}
        meta = custom.get("sigstore") if isinstance(custom, dict) else None
        if not isinstance(meta, dict):
            continue
        usage, uri = meta.get("usage"), meta.get("uri") or ""
        data = _read(updater, target, tmp, targets_url)
        where = f"target {name}"
        if usage == "Fulcio":
            cas.append(_authority({"certChain": _b64(data), "uri": uri}, where))
        elif usage in ("Rekor", "CTFE"):
            (tlogs if usage == "Rekor" else ctlogs).append(
                _log({"publicKey": _b64(data), "baseURL": uri, "hashAlgorithm": "sha-256"}, where))
    if not cas:
        raise TrustRootError("no certificate authorities found")
    return {"mediaType": TRUSTED_ROOT_MEDIA_TYPE, "certificateAuthorities": cas, "tlogs": tlogs,
            "ctlogs": ctlogs, "timestampAuthorities": []}


def _memory_fetcher(files: Mapping[str, bytes], base: str) -> Any:
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient.fetcher import FetcherInterface

    class MemoryFetcher(FetcherInterface):
        def _fetch(self, url: str) -> Iterator[bytes]:
            data = files.get(url.removeprefix(base)) if url.startswith(base) else None
            if data is None:
                raise DownloadHTTPError(f"{url} not found", 404)
            return iter([data])

    return MemoryFetcher()


def repository_trusted_root(mirror_fs: bytes, root: bytes, *, targets: str = "targets",
                            trusted_root_target: str = DEFAULT_TRUSTED_ROOT_TARGET) -> bytes:
    """A TrustRoot ``repository`` (serialized TUF repository + root) → verified ``trusted_root.json``."""
    files = unpack_mirror_fs(mirror_fs)
    base = "tuf-mirror-fs:///"
    return trusted_root_from_tuf(_memory_fetcher(files, base), base, f"{base}{targets.strip('/')}/", root,
                                 trusted_root_target)
