"""A TUF repository serialized as a TrustRoot ``repository.mirrorFS`` (gzipped tar, entries under
``repository/``), built with python-tuf's metadata API — the format policy-controller's ``tuf.CompressFS``
writes. Both layouts a real repository has: consistent snapshots (``1.root.json``, ``1.targets.json``,
hash-prefixed targets, as go-tuf and the Sigstore root-signing repositories use) or plain names.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer


def build(targets: dict[str, bytes], *, consistent: bool = True, custom: dict[str, Any] | None = None,
          expires_in: timedelta = timedelta(days=7), prefix: str = "repository/",
          targets_dir: str = "targets") -> tuple[dict[str, bytes], bytes]:
    """({path: bytes} of the repository, the root to trust it with). ``custom``: per-target ``custom``
    metadata (the legacy Sigstore ``{"sigstore": {"usage": …, "uri": …}}``)."""
    expires = datetime.now(UTC).replace(microsecond=0) + expires_in
    signers = {r: CryptoSigner.generate_ecdsa() for r in ("root", "targets", "snapshot", "timestamp")}
    root = Root(expires=expires, consistent_snapshot=consistent)
    for role, s in signers.items():
        root.add_key(s.public_key, role)
    files: dict[str, bytes] = {}
    tgt = Targets(expires=expires)
    for name, data in targets.items():
        tf = TargetFile.from_data(name, data, ["sha256"])
        if custom and name in custom:
            tf.unrecognized_fields["custom"] = custom[name]
        tgt.targets[name] = tf
        stored = f"{hashlib.sha256(data).hexdigest()}.{name}" if consistent else name
        files[f"{prefix}{targets_dir}/{stored}"] = data
    ser = JSONSerializer(compact=False)

    def put(md: Metadata[Any], role: str, versioned: bool) -> bytes:
        md.sign(signers[role])
        data = md.to_bytes(ser)
        name = f"{md.signed.version}.{role}.json" if versioned else f"{role}.json"
        files[prefix + name] = data
        return data

    root_bytes = put(Metadata(root), "root", True)
    files[prefix + "root.json"] = root_bytes
    put(Metadata(tgt), "targets", consistent)
    snap = Snapshot(expires=expires)
    snap.meta["targets.json"] = MetaFile(version=tgt.version)
    put(Metadata(snap), "snapshot", consistent)
    ts = Timestamp(expires=expires)
    ts.snapshot_meta = MetaFile(version=snap.version)
    put(Metadata(ts), "timestamp", False)
    return files, root_bytes


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
