"""Attestation policies for ``verify-attestation --policy``: load them, then judge statements.

cosign accepts ``.rego`` and ``.cue`` files; anything else is refused. Three failures are kept apart,
because they call for different fixes: the policy file cannot be read (``PolicyFileError``), it is not
valid Rego or CUE (``PolicySyntaxError``), or it evaluated and did not allow the attestation
(``PolicyDeniedError``). Policies are loaded and compiled before any registry is contacted.

CUE policies are evaluated by the real ``cue`` command (``sigward.policy.cue``), all ``.cue`` files
together as one instance, as cosign loads them; the caller says where ``cue`` is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sigward.errors import SigwardError, UsageError, VerificationError


class PolicyFileError(SigwardError):
    """A policy file that does not exist or cannot be read."""


class PolicySyntaxError(SigwardError):
    """A policy that does not parse or compile."""


class PolicyDeniedError(VerificationError):
    """A policy evaluated against an attestation and did not return exactly ``true``."""


@dataclass
class Policy:
    path: str
    engine: Any  # sigward.policy.rego.RegoPolicy

    def check(self, document: Any) -> str | None:
        """None if the policy allows ``document``, else the reason it does not."""
        return self.engine.evaluate(document)  # type: ignore[no-any-return]


def load_policies(paths: list[str], cue: str | None = None) -> list[Policy]:
    """Read and compile each policy; raises one of the errors above (or UsageError for the extension).

    ``cue`` is the ``cue`` binary for ``.cue`` policies (None: not installed, and a ``.cue`` policy is
    refused with what to install).
    """
    out = []
    cue_paths = []
    for path in paths:
        ext = os.path.splitext(path)[1]
        if ext not in (".cue", ".rego"):
            raise UsageError("invalid policy format, expected .cue or .rego")
        if ext == ".cue":
            if not os.path.isfile(path):
                raise PolicyFileError(f"policy file not found: {path}")
            cue_paths.append(path)
            continue
        from sigward.fileio import read_regular

        if not os.path.lexists(path):
            raise PolicyFileError(f"policy file not found: {path}")
        try:  # a regular file of bounded size: a FIFO or /dev/zero must not hang or exhaust memory
            raw = read_regular(path, 4 * 1024 * 1024, f"cannot read policy {path}", PolicyFileError)
            source = raw.decode()
        except UnicodeDecodeError as e:
            raise PolicyFileError(f"cannot read policy {path}: {e}")
        from sigward.policy.rego import RegoPolicy

        out.append(Policy(path, RegoPolicy(path, source)))
    if cue_paths:
        from sigward.policy.cue import CuePolicy

        # cosign validates against all CUE policies first, as one instance.
        out.insert(0, Policy(", ".join(cue_paths), CuePolicy(cue_paths, cue)))
    return out


def evaluate(policies: list[Policy], document: Any) -> list[str]:
    """The reasons (``path: reason``) the policies refuse ``document``; empty when all allow it."""
    errors = []
    for p in policies:
        reason = p.check(document)
        if reason is not None:
            errors.append(f"{p.path}: {reason}")
    return errors
