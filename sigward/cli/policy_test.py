"""``sigward policy test``: policy-controller's ``policy-tester``, with the reasons shown.

Loads the ``--policy`` files (ClusterImagePolicies; ConfigMaps for ``configMapRef`` may ride along), the
``--trustroot`` and ``--secret`` files into one PolicySet, evaluates each IMAGE with the admission engine
(``sigward.admission``) and renders the verdicts. Exit 0 only when every image is admitted (a failing
``mode: warn`` policy admits, with warnings); 1 otherwise. Unlike policy-tester, warnings are printed on
success too, and ``secretRef``/``kms`` keys and ``remote`` policies are resolved.

``-o json``: one object per image ``{"image", "digest", "allowed", "errors", "warnings", "policies"}``;
with several images, a JSON list of those objects (one per IMAGE, in order).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigward.admission.engine import ImageVerdict


def _resource(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    import yaml

    from sigward.errors import UsageError

    try:
        doc = yaml.safe_load(Path(path).read_bytes())
    except OSError as e:
        raise UsageError(f"cannot read --resource {path}: {e.strerror or e}")
    except yaml.YAMLError as e:
        raise UsageError(f"--resource {path}: not valid YAML: {e}".replace("\n", " "))
    if not isinstance(doc, dict):
        raise UsageError(f"--resource {path}: expected one Kubernetes object")
    for key in ("metadata", "spec", "kind", "apiVersion"):
        if key not in doc:
            raise UsageError(f"--resource {path}: kubernetes resource is missing {key} key")
    return doc


def run(args: argparse.Namespace) -> int:
    from sigward.admission import Engine, EngineOptions, PolicyError, PolicySet
    from sigward.cli.common import store_options

    files = [*args.policy, *args.trustroot, *args.secret]
    try:
        policies = PolicySet.load([Path(f) for f in files])
    except PolicyError as e:
        lines = str(e).splitlines()
        more = f" (and {len(lines) - 1} more: {'; '.join(lines[1:])})" if len(lines) > 1 else ""
        raise PolicyError(f"{lines[0]}{more}") from None
    resource = _resource(args.resource)
    cue = os.environ.get("SIGWARD_CUE") or shutil.which("cue")
    # Closed at the end: the engine keeps registry connections warm, and a live client must not outlive
    # the command (a library caller that forks would share its sockets).
    with Engine(policies, EngineOptions(store_options(args), cue=Path(cue) if cue else None)) as engine:
        verdicts = [engine.evaluate(image, resource=resource) for image in args.images]
    if args.output == "json":
        out: Any = [_cli_words(v.to_json()) for v in verdicts]
        sys.stdout.write(json.dumps(out[0] if len(out) == 1 else out, indent=2) + "\n")
    else:
        for v in verdicts:
            sys.stdout.write(_cli_words(render_text(v)))
    return 0 if all(v.allowed for v in verdicts) else 1


def _cli_words(obj: Any) -> Any:
    """The verdict's reasons (library text) with the settings named as this command's flags."""
    from sigward.cli.errors import POLICY_TEST_WORDING, cli_wording

    if isinstance(obj, str):
        return cli_wording(obj, POLICY_TEST_WORDING)
    if isinstance(obj, list):
        return [_cli_words(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _cli_words(v) for k, v in obj.items()}
    return obj


def render_text(v: ImageVerdict) -> str:
    """Matched policies, each authority's pass/fail with its reason, warnings, then the verdict."""
    lines = [f"image: {v.image}" + (f" ({v.digest_ref})" if v.digest_ref and v.digest_ref != v.image else "")]
    if not v.policies:
        lines.append("  matched policies: none")
    for name, p in v.policies.items():
        lines.append(f"  policy {name} (mode {p.mode}): {'passed' if p.passed else 'FAILED'}")
        for a in p.authorities:
            lines.append(f"    authority {a.name}: {'passed' if a.passed else 'failed'}")
            lines += [f"      {_one_line(e)}" for e in a.errors]
        auth_errors = {e for a in p.authorities for e in a.errors}
        lines += [f"    policy: {_one_line(e)}" for e in p.errors if e not in auth_errors]
    lines += [f"  warning: {_one_line(w)}" for w in v.warnings]
    lines += [f"  error: {_one_line(e)}" for e in v.errors if not v.policies]
    lines.append(f"  verdict: {'admitted' if v.allowed else 'denied'}")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())
