"""A policy-controller TrustRoot for a Sigstore ``trusted_root.json`` (the local stack's, in these tests):
what ``sigward policy trustroot`` prints. The stack's Rekor v2 log (an Ed25519 key, which
policy-controller refuses, and a log ID a TrustRoot cannot carry) is left out there; legacy signatures,
the only ones policy-tester reads, never use it."""

from __future__ import annotations

import json
from typing import Any

TRUST_ROOT_NAME = "sigward-test-stack"


def trustroot_from(trusted_root: dict[str, Any], name: str = TRUST_ROOT_NAME) -> dict[str, Any]:
    from sigward.cip.trustroot_export import trustroot_from_trusted_root

    return trustroot_from_trusted_root(name, json.dumps(trusted_root).encode()).resource
