"""A TUF repository other than the public-good one (``sigward initialize --mirror URL --root root.json``),
through sigstore-python's TUF client: the root is verified and refreshed by python-tuf, and the targets
``trusted_root.json`` / ``signing_config.v0.2.json`` are then what keyless commands trust when no
``--trusted-root`` is given.

The choice of mirror is recorded in a small JSON file (``sigward-remote.json`` in cosign's TUF home,
``TUF_ROOT`` or ~/.sigstore/root), as cosign records its mirror in ``remote.json`` there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from sigward.errors import SigwardError

PUBLIC_GOOD = "https://tuf-repo-cdn.sigstore.dev"
STAGING = "https://tuf-repo-cdn.sigstage.dev"
STATE_NAME = "sigward-remote.json"


def state_file(home: str) -> Path:
    return Path(home) / STATE_NAME


def recorded_mirror(path: Path) -> str | None:
    """The mirror recorded by ``initialize``; None for the public-good repository (or nothing recorded)."""
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    mirror = obj.get("mirror") if isinstance(obj, dict) else None
    return mirror if isinstance(mirror, str) and mirror.rstrip("/") != PUBLIC_GOOD else None


def _config(mirror: str, offline: bool, bootstrap: bytes | None = None) -> tuple[bytes, bytes]:
    from sigstore.models import ClientTrustConfig

    logging.getLogger("sigstore._internal.tuf").setLevel(logging.ERROR)
    tmp = None
    try:
        if bootstrap is not None:
            fd, tmp = tempfile.mkstemp(suffix=".root.json")
            with os.fdopen(fd, "wb") as f:
                f.write(bootstrap)
        cfg = ClientTrustConfig.from_tuf(mirror, offline=offline, bootstrap_root=Path(tmp) if tmp else None)
        return (cfg.trusted_root._inner.to_json().encode(), cfg.signing_config._inner.to_json().encode())
    except SigwardError:
        raise
    except Exception as e:
        cause = e.__cause__ or e
        hint = "" if bootstrap is not None or mirror in (PUBLIC_GOOD, STAGING) else (
            " (a mirror other than the public-good one needs initialize(root=<its root.json>) the first "
            "time)")
        raise SigwardError(f"TUF repository {mirror}: {e}: {cause}{hint}")
    finally:
        if tmp:
            os.unlink(tmp)


def load_mirror(mirror: str, *, offline: bool = False) -> tuple[bytes, bytes]:
    """(trusted_root.json, signing_config.v0.2.json) from the initialized mirror; offline, from its cache."""
    return _config(mirror, offline)


def initialize(mirror: str, root: bytes | None, state: Path) -> str:
    """Verify and cache ``mirror``'s metadata (bootstrapped from ``root``), record it; returns a summary."""
    root_json, _ = _config(mirror.rstrip("/"), offline=False, bootstrap=root)
    from sigward.sigstore.trust import parse_trusted_root

    tr = parse_trusted_root(root_json, f"trusted root from TUF mirror {mirror}")
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"mirror": mirror.rstrip("/")}) + "\n")
    except OSError as e:
        raise SigwardError(f"cannot record the TUF mirror in {state}: {e.strerror or e}")
    return (f"Root status: initialized from {mirror}\n"
            f"  certificate authorities: {len(tr.certificate_authorities)}, "
            f"transparency logs: {len(tr.tlogs)}, "
            f"CT logs: {len(tr.ctlogs)}, timestamp authorities: {len(tr.timestamp_authorities)}")
