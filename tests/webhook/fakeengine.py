"""A test double of the Engine API (/work/coord/ENGINE.md) for the webhook's unit-level tests only: the
request handling, messages, caching, deadlines and overload rules are exercised without registries. The
real-component tests (test_real_*.py) use the real engine against a real registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The verdicts are the engine's own types: only the decision-making is doubled here.
from sigward.admission.engine import AuthorityVerdict, ImageVerdict, PolicyVerdict


@dataclass(frozen=True)
class FakePolicy:
    name: str
    glob: str
    mode: str = "enforce"
    policy: Any = None


@dataclass
class FakeEngine:
    """Policies match when the image contains their ``glob`` text; ``good`` digests pass, others fail with
    policy-controller's key-authority error. ``delay`` seconds per evaluate, ``resolved`` tag → digest."""

    policies: list[FakePolicy]
    good: set[str] = field(default_factory=set)
    delay: float = 0.0
    resolved: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matching(self, image: str, resource: Mapping[str, Any] | None = None) -> list[Any]:
        return [p for p in self.policies if p.glob in image]

    def resolve(self, image: str, keychain: Any = None) -> str:
        if image not in self.resolved:
            raise RuntimeError(f"cannot resolve {image}")
        return f"{image.rsplit(':', 1)[0]}@{self.resolved[image]}"

    def evaluate(self, image: str, *, resource: Mapping[str, Any] | None = None,
                 keychain: Any = None) -> ImageVerdict:
        with self.lock:
            self.calls.append(image)
        if self.delay:
            time.sleep(self.delay)
        repo, _, digest = image.partition("@")
        last = repo.rsplit("/", 1)[-1]
        ref = f"{repo[:len(repo) - len(last)]}{last.split(':')[0]}@{digest}"
        policies = {}
        for p in self.matching(image, resource):
            ok = digest in self.good
            err = () if ok else (f"signature key validation failed for authority authority-0 for {ref}: "
                                 "no matching signatures",)
            policies[p.name] = PolicyVerdict(p.name, p.mode, ok, (AuthorityVerdict("authority-0", ok, err),))
        errs = tuple(e for pv in policies.values() if pv.mode == "enforce" and not pv.passed
                     for a in pv.authorities for e in a.errors)
        warns = tuple(e for pv in policies.values() if pv.mode == "warn" and not pv.passed
                      for a in pv.authorities for e in a.errors)
        return ImageVerdict(image, ref, not errs, errs, warns, policies)
