"""policy-controller's admission messages: knative FieldErrors built per image, merged and rendered the
way knative renders them (reference §2.5), from a verdict reduced to plain data.

The decision (admit or not) is computed separately from the wording (reference §2.9: policy-controller
mixes them up and can relabel an enforce error as a warning); here a warn policy only ever produces
warnings and an enforce policy only ever errors.

Reasons from below (the registry client, the engine) name library settings (``StoreOptions.ca_file``);
``outcome`` words them as the flags ``admission serve`` takes — the registry flags it shares with
``verify`` — through the CLI's table, so whoever reads a denial learns what to change on the webhook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sigward.webhook.review import ImageSite


@dataclass(frozen=True)
class FieldError:
    message: str
    paths: tuple[str, ...]
    details: str = ""
    warning: bool = False


def render(errors: Iterable[FieldError]) -> str:
    """knative's ``FieldError.Error()``: same message+details merged (paths joined), sorted, one per line."""
    merged: dict[tuple[str, str], list[str]] = {}
    for e in errors:
        paths = merged.setdefault((e.message, e.details), [])
        paths += [p for p in e.paths if p not in paths]
    lines = []
    for (message, details), paths in sorted(merged.items()):
        head = f"{message}: {', '.join(sorted(paths))}"
        lines.append(f"{head}\n{details}" if details else head)
    return "\n".join(lines)


def decision_of(verdict: Any) -> dict[str, Any]:
    """An engine ImageVerdict as plain JSON-able data (what the cache stores): the verdict, and per failing
    policy its mode and policy-controller's error strings."""
    failures = []
    policies: Mapping[str, Any] = getattr(verdict, "policies", {}) or {}
    for name, pv in policies.items():
        if pv.passed:
            continue
        errs = list(pv.errors)
        for a in pv.authorities:
            errs += [e for e in a.errors if e not in errs]
        failures.append({"policy": name, "warn": str(pv.mode).lower() == "warn", "errors": errs})
    return {"digest_ref": verdict.digest_ref, "allowed": bool(verdict.allowed), "failures": failures,
            "errors": list(verdict.errors), "warnings": list(verdict.warnings),
            "policies": {name: bool(pv.passed) for name, pv in policies.items()}}


def field_errors(site: ImageSite, decision: Mapping[str, Any]) -> list[FieldError]:
    """The FieldErrors (and warning-level ones) of one image at one site."""
    out: list[FieldError] = []
    enforced = False
    for f in decision.get("failures", []):
        details = " ".join([site.image, *f["errors"]])
        out.append(FieldError(f"failed policy: {f['policy']}", (site.field,), details, warning=f["warn"]))
        enforced |= not f["warn"]
    if not decision.get("allowed") and not enforced:
        # Denied without a failing enforce policy (resolution, timeout, internal error): still say why.
        reasons = list(decision.get("errors") or []) or ["denied by the policy engine"]
        out.append(FieldError("failed to verify image", (site.field,), " ".join([site.image, *reasons])))
    return out


def no_match(site: ImageSite, warning: bool) -> FieldError:
    return FieldError("no matching policies", (site.field,), site.image, warning=warning)


def not_digest(site: ImageSite) -> FieldError:
    return FieldError(f"invalid value: {site.image} must be an image digest", (site.field,))


def unparsable(site: ImageSite) -> FieldError:
    return FieldError(f"could not parse reference: {site.image}", (site.field,), site.image)


def failed(site: ImageSite, reason: str) -> FieldError:
    """Fail closed: a timeout, overload or internal error for this image, with the reason."""
    return FieldError("failed to verify image", (site.field,), f"{site.image} {reason}")


def outcome(errors: list[FieldError]) -> tuple[str | None, list[str]]:
    """(denial message or None, warnings): warnings split on newlines as knative does, since the API server
    drops warnings with control characters."""
    from sigward.cli.errors import REGISTRY_WORDING, cli_wording

    denials = [e for e in errors if not e.warning]
    warns = [e for e in errors if e.warning]
    warnings = cli_wording(render(warns), REGISTRY_WORDING).split("\n") if warns else []
    denial = cli_wording(f"validation failed: {render(denials)}", REGISTRY_WORDING) if denials else None
    return denial, warnings
