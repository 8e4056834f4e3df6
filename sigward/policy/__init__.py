"""Attestation policies for ``verify-attestation --policy``: load them, then judge statements.

cosign accepts ``.rego`` and ``.cue`` files; anything else is refused. Three failures are kept apart,
because they call for different fixes: the policy file cannot be read (``PolicyFileError``), it is not
valid Rego (``PolicySyntaxError``), or it evaluated and did not allow the attestation
(``PolicyDeniedError``). Policies are loaded and compiled before any registry is contacted.
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


def load_policies(paths: list[str]) -> list[Policy]:
    """Read and compile each policy; raises one of the errors above (or UsageError for the extension)."""
    out = []
    for path in paths:
        ext = os.path.splitext(path)[1]
        if ext == ".cue":
            raise UsageError(f"{path}: CUE is not supported, use Rego (a .rego policy with package "
                             "signature and a rule allow)")
        if ext != ".rego":
            raise UsageError("invalid policy format, expected .cue or .rego")
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
    return out


def evaluate(policies: list[Policy], document: Any) -> list[str]:
    """The reasons (``path: reason``) the policies refuse ``document``; empty when all allow it."""
    errors = []
    for p in policies:
        reason = p.check(document)
        if reason is not None:
            errors.append(f"{p.path}: {reason}")
    return errors
