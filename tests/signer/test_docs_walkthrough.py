"""docs/buildpacks.md's walk-through, run as written: its ``sh`` blocks in order, in one bash, against a real
registry and the real lifecycle exporter. If the doc drifts from the tool, this fails."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.registries import RegistryServer
from tests.signer.buildpacks import lifecycle_dir

DOC = Path(__file__).resolve().parents[2] / "docs" / "buildpacks.md"


def walkthrough() -> str:
    text = DOC.read_text()
    section = text[text.index("## Walk-through"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert len(blocks) >= 4, "the walk-through lost its steps"
    return "\n".join(blocks)


def test_walkthrough(registry: RegistryServer, tmp_path: Path) -> None:
    script = "set -euo pipefail\n" + walkthrough()
    # `sigward` on PATH is this checkout's (the venv's console script, next to this Python)
    env = {**os.environ, "REGISTRY": registry.host, "LIFECYCLE": str(lifecycle_dir()),
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, f"walk-through failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert "Signed 1 image(s) with 1 config(s): 1 signature, 1 attestation" in p.stdout
    envelope = json.loads((tmp_path / "attestation.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["predicate"]["components"][0]["name"] == "left-pad"
