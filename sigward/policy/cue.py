"""CUE policies through the real ``cue`` command (cuelang.org/go/cmd/cue), not a re-implementation.

cosign builds the ``.cue`` files into one CUE instance and validates the attestation's JSON against it
(``encoding/json.Validate``: unify, then report errors; values need not be concrete). ``cue vet
POLICY.cue… input.json`` does the same: the JSON file is unified with the instance's root and errors
are reported, incomplete values are not (``-c`` would require them). The input is the statement as
cosign re-marshals it (``formats.predicates.policy_input``), the same document Rego policies see.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from typing import Any

from sigward.errors import SigwardError

INSTALL_HINT = ("CUE policies need the `cue` command (CUE v0.17 or later): install it with "
                "`go install cuelang.org/go/cmd/cue@v0.17.1` (or a release from https://cuelang.org/docs/"
                "introduction/installation/) and put it on PATH, or set SIGWARD_CUE=/path/to/cue")
TIMEOUT = 60.0


class CueMissingError(SigwardError):
    """``cue`` is not installed (or SIGWARD_CUE does not point at it)."""


def _run(cue: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([cue, *args], capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CueMissingError(f"{cue} not found: {INSTALL_HINT}")
    except PermissionError:
        raise CueMissingError(f"{cue} is not executable: {INSTALL_HINT}")
    except subprocess.TimeoutExpired:
        raise SigwardError(f"cue did not finish within {TIMEOUT:.0f} s")


_POSITION = re.compile(r"^\S+:\d+:\d+$")


def _message(proc: subprocess.CompletedProcess[str], input_path: str | None = None) -> str:
    """cue's errors on one line: each message with its positions in parentheses (the input file is
    called input.json, whatever temporary name it had)."""
    text = proc.stderr or proc.stdout
    if input_path:
        text = re.sub(r"\S*" + re.escape(os.path.basename(input_path)), "input.json", text)
    errors: list[list[str]] = []
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if _POSITION.match(line) and errors:
            errors[-1].append(line)
        else:
            errors.append([line.rstrip(":")])
    if not errors:
        return f"cue exited {proc.returncode}"
    parts = [e[0] + (f" ({', '.join(e[1:])})" if len(e) > 1 else "") for e in errors[:5]]
    return "; ".join(parts) + (" …" if len(errors) > 5 else "")


class CuePolicy:
    """One CUE instance made of ``paths``, compiled (``cue vet`` on the files alone) when loaded."""

    def __init__(self, paths: list[str], cue: str | None) -> None:
        from sigward.policy import PolicySyntaxError

        if not cue:
            raise CueMissingError(INSTALL_HINT)
        self.paths = list(paths)
        self.cue = cue
        proc = _run(cue, ["vet", *self.paths])
        if proc.returncode != 0:
            raise PolicySyntaxError(f"CUE policy {', '.join(self.paths)} does not compile: {_message(proc)}")

    def evaluate(self, document: Any) -> str | None:
        """None when the document satisfies every constraint, else cue's explanation."""
        fd, path = tempfile.mkstemp(prefix="sigward-policy-input-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(document, f)
            proc = _run(self.cue, ["vet", *self.paths, path])
        finally:
            os.unlink(path)
        if proc.returncode == 0:
            return None
        return _message(proc, path)
