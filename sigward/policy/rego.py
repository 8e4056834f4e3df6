"""Rego policies evaluated with regopy (the rego-cpp interpreter), with cosign's semantics.

cosign queries ``data.signature.allow`` with the statement as ``input`` and accepts only a single,
binding-free result whose value is exactly ``true`` (OPA ``ResultSet.Allowed``); false, undefined, or any
other value refuses. cosign parses policies as Rego v0; rego-cpp reads both the v0 syntax cosign users
write (``allow { … }``, ``default allow = false``) and Rego v1 (``allow if …``, ``contains``).

rego-cpp reports compile errors by printing them to file descriptor 1, which would corrupt our stdout
(the verified envelopes go there); every call into it runs with fd 1 redirected to a temporary file, and
what it printed becomes part of the error message instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from sigward.errors import SigwardError

QUERY = "data.signature.allow"
# A binding, not the bare query: a bare query whose value is false comes back "undefined" from
# rego-cpp, and cosign's messages tell false and undefined apart.
_BOUND_QUERY = f"__sigward_allow := {QUERY}"
_BINDING = "__sigward_allow"


@contextlib.contextmanager
def _stdout_captured() -> Iterator[list[str]]:
    """Redirect fd 1 for the duration; the list receives what was written there."""
    captured: list[str] = []
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all: nothing to protect
        yield captured
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield captured
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


def _first_error(printed: str, fallback: str) -> str:
    """rego-cpp's report is ``Errors:\\n<message>\\n-- <file>:<line>:<col>\\n…``; keep the first one."""
    lines = [ln for ln in printed.splitlines() if ln.strip()]
    if lines and lines[0].strip() == "Errors:" and len(lines) >= 3 and lines[2].startswith("-- "):
        return f"{lines[1].strip()} at {lines[2][3:].strip()}"
    text = " ".join(ln.strip() for ln in (lines or fallback.splitlines()) if ln.strip())
    return text[:300]


def _interpreter() -> Any:
    try:
        import regopy
    except ImportError:
        raise SigwardError("Rego policies need the regopy package (pip install regopy)")
    return regopy


class RegoPolicy:
    def __init__(self, path: str, source: str) -> None:
        from sigward.policy import PolicySyntaxError

        self.path = path
        self.source = source
        regopy = _interpreter()
        if not source.strip():
            raise PolicySyntaxError(f"policy {path} is empty")
        # Compile once without input, so syntax errors surface before anything is verified.
        with _stdout_captured() as printed:
            try:
                rego = regopy.Interpreter()
                rego.add_module(os.path.basename(path), source)
                out = rego.query(_BOUND_QUERY)
                ok, text = out.ok(), str(out)
            except regopy.RegoError as e:
                ok, text = False, str(e)
        if not ok:
            reason = _first_error("".join(printed), text)
            raise PolicySyntaxError(f"policy {path} has a syntax error: {reason}")

    def evaluate(self, document: Any) -> str | None:
        """None if allowed, else cosign's reason."""
        regopy = _interpreter()
        with _stdout_captured() as printed:
            try:
                rego = regopy.Interpreter()
                rego.add_module(os.path.basename(self.path), self.source)
                # As JSON text: rego-cpp keeps strings in escaped form, and only a JSON input term is
                # escaped the way policy literals are (set_input of a str with a newline never equals
                # the literal "...\\n").
                rego.set_input_term(json.dumps(document, ensure_ascii=False))
                out = rego.query(_BOUND_QUERY)
                ok, text = out.ok(), str(out)
            except regopy.RegoError as e:
                ok, text = False, str(e)
        if not ok:
            return f"policy evaluation failed: {_first_error(''.join(printed), text)}"
        if text.strip() == "undefined":
            return f"result is undefined for query '{QUERY}'"
        try:
            result = json.loads(text)
        except ValueError:
            return f"unexpected result for query '{QUERY}': {text[:200]}"
        results = result if isinstance(result, list) else [result]
        values = [r.get("bindings", {}).get(_BINDING) for r in results if isinstance(r, dict)]
        if len(values) == 1 and values[0] is True:
            return None
        if not values:
            return f"result is undefined for query '{QUERY}'"
        shown = ", ".join(json.dumps(v) for v in values)
        return f"expression value, {shown}, is not true"
