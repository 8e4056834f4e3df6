"""CUE and Rego policies over JSON, as policy-controller evaluates them (``EvaluatePolicyAgainstJSON``).

Rego: the module is loaded as ``sigstore.rego`` and queried with ``isCompliant = data.sigstore.isCompliant``;
compliant when the value is ``true``, or a list of ``{result, error, warning}`` objects with ``result: true``.
A compliant-with-warning result is returned as a warning — and the caller counts it as a failure, as
policy-controller does (reference §1.5). Rego runs in-process through regopy (rego-cpp).

CUE: the policy text is unified with the document and validated; sigward runs the real ``cue`` (``cue vet
policy.cue input.json``). Without ``cue`` a CUE policy is an error, never a pass.

Messages are cosign's: ``failed evaluating cue policy for <name>: failed to evaluate the policy with error:
…`` and ``failed evaluating rego policy for type <name>: policy is not compliant for query '…'``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

QUERY = "isCompliant = data.sigstore.isCompliant"


def evaluate(name: str, policy_type: str, body: str, document: Any,
             cue: Path | None) -> tuple[str | None, str | None]:
    """(warning, error) of policy ``body`` over ``document``; both None when it passes cleanly."""
    if policy_type == "cue":
        err = _cue(body, document, cue)
        return None, (f"failed evaluating cue policy for {name}: {err}" if err else None)
    if policy_type == "rego":
        warn, err = _rego(body, document)
        if err:
            return None, f"failed evaluating rego policy for type {name}: {err}"
        return warn, None
    return None, f"sorry Type {policy_type} is not supported yet"


def _cue(body: str, document: Any, cue: Path | None) -> str | None:
    from sigward.policy.cue import INSTALL_HINT, CueMissingError, _message, _run

    if cue is None:
        return f"CUE policies need the cue command: {INSTALL_HINT}"
    with tempfile.TemporaryDirectory(prefix="sigward-cue-") as tmp:
        policy = os.path.join(tmp, "policy.cue")
        data = os.path.join(tmp, "input.json")
        Path(policy).write_text(body, encoding="utf-8")
        Path(data).write_text(json.dumps(document), encoding="utf-8")
        try:
            proc = _run(str(cue), ["vet", policy, data])
        except CueMissingError as e:
            return str(e)
        if proc.returncode == 0:
            return None
        text = _message(proc).replace(tmp + os.sep, "")
        if "policy.cue" in text and "input.json" not in text and "expected" in text:
            return f"failed to compile the cue policy with error: {text}"
        return f"failed to evaluate the policy with error: {text}"


# rego-cpp prints compile errors to file descriptor 1, so each evaluation redirects fd 1 for its
# duration; that is process-wide, so evaluations (from the engine's worker threads) take turns.
_REGO_LOCK = threading.Lock()


def _rego(body: str, document: Any) -> tuple[str | None, str | None]:
    from sigward.policy.rego import _first_error, _interpreter, _stdout_captured

    regopy = _interpreter()
    with _REGO_LOCK, _stdout_captured() as printed:
        try:
            rego = regopy.Interpreter()
            rego.add_module("sigstore.rego", body)
            rego.set_input_term(json.dumps(document, ensure_ascii=False))
            out = rego.query(QUERY)
            ok, text = out.ok(), str(out)
        except regopy.RegoError as e:
            ok, text = False, str(e)
    if not ok:
        return None, f"eval: {_first_error(''.join(printed), text)}"
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    results = result if isinstance(result, list) else [result]
    for r in results:
        if not isinstance(r, dict):
            continue
        value = _as_collection((r.get("bindings") or {}).get("isCompliant"))
        if isinstance(value, list):
            return _result_objects(value)
        if value is True:
            return None, None
    return None, f"policy is not compliant for query '{QUERY}'"


def _as_collection(value: Any) -> Any:
    """A Rego set as a list: rego-cpp renders a set of objects as an object whose keys are the members'
    JSON texts (each mapped to true)."""
    if isinstance(value, dict) and value and all(v is True for v in value.values()):
        members = []
        for k in value:
            try:
                members.append(json.loads(k))
            except ValueError:
                return value
        return members
    return value


def _result_objects(values: list[Any]) -> tuple[str | None, str | None]:
    err = f"policy is not compliant for query {json.dumps(QUERY)}"
    for v in values:
        if not isinstance(v, dict):
            continue
        if v.get("result") is True:
            warning = v.get("warning") or ""
            return (f"warning: {warning}" if warning else None), None
        err = f"policy is not compliant for query '{QUERY}' with errors: {v.get('error', '')}"
    return None, err
