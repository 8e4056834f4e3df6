"""The admission policy engine: which ClusterImagePolicies match an image, and whether the image passes them.

Ops-level: it resolves images through the Store interface and verifies through the one verification
pipeline (``sigward.sigstore.pipeline``), so ``sigward policy test`` and the admission webhook give the
same verdicts as ``sigward verify`` would for the same authority. Never reads env, prints or prompts.

``from sigward.admission import Engine, EngineOptions, PolicySet, ImageVerdict, …`` (loaded lazily, so
importing the package costs nothing until a name is used).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PolicySet": "sigward.admission.policyset",
    "PolicyError": "sigward.admission.policyset",
    "Document": "sigward.admission.policyset",
    "Engine": "sigward.admission.engine",
    "EngineOptions": "sigward.admission.engine",
    "ImageVerdict": "sigward.admission.engine",
    "PolicyVerdict": "sigward.admission.engine",
    "AuthorityVerdict": "sigward.admission.engine",
    "TrustRoot": "sigward.admission.roots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sigward.admission' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
