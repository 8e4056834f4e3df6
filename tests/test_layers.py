"""The import-layer contract: CLI → ops → formats/keys/sigstore → oci; nothing imports upward.

Checked on the source with ``ast`` (every import, including the lazy ones inside functions, which is
where sigward does most of its importing): a module may import its own layer or a lower one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sigward

ROOT = Path(sigward.__file__).resolve().parent

# Highest first. A package not listed is a failure: new code must be placed in a layer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry points", ("sigward.cli", "sigward.api", "sigward.conformance", "sigward.__main__", "sigward",
                      "sigward.signer.cli", "sigward.webhook")),
    # The buildpacks signer phase (sigward/signer/) is ops-level below its own cli.py.
    ("ops", ("sigward.ops", "sigward.policy", "sigward.signer", "sigward.admission")),
    ("formats/keys/sigstore", ("sigward.formats", "sigward.keys", "sigward.sigstore", "sigward.cip")),
    ("oci", ("sigward.oci",)),
    ("base", ("sigward.errors", "sigward.gojson", "sigward.fileio", "sigward.safejson", "sigward.transport",
              "sigward.platforms", "sigward.util", "sigward.timeutil", "sigward.hashes")),
]


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for i, (_name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            matches = module == p or module.startswith(p + ".")
            if matches and (best is None or len(p) > best[0]):
                best = (len(p), i)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("sigward")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sigward") \
                and node.level == 0:
            if node.module == "sigward":  # `from sigward import x`: x is a submodule or a root name
                out += [(node.lineno, f"sigward.{a.name}") for a in node.names
                        if (ROOT / a.name).exists() or (ROOT / f"{a.name}.py").exists()]
            else:
                out.append((node.lineno, node.module))
    return out


def test_no_module_imports_a_higher_layer() -> None:
    violations = []
    for path in sorted(ROOT.rglob("*.py")):
        mod = module_name(path)
        mine = layer_of(mod)
        for line, target in imports(path):
            if layer_of(target) < mine:
                violations.append(f"{path.relative_to(ROOT.parent)}:{line}: {mod} "
                                  f"({LAYERS[mine][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not violations, "upward imports:\n" + "\n".join(violations)


def test_the_contract_sees_lazy_imports(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from sigward.cli.main import main\n")
    assert imports(p) == [(2, "sigward.cli.main")]
    assert layer_of("sigward.cli.main") < layer_of("sigward.ops.verify") < layer_of("sigward.keys.local")
    assert layer_of("sigward.oci.store") < layer_of("sigward.errors")
