"""The import-layer contract: CLI → ops → formats/keys/sigstore → oci; nothing imports upward.

Checked on the source with ``ast`` (every import, including the lazy ones inside functions, which is
where sigward does most of its importing): a module may import its own layer or a lower one.
"""

from __future__ import annotations

import ast
import re
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


# --- below the CLI, messages name library settings, never flags -----------------------------------------

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# (module file, flag) → why that string may name it. A stale entry fails too, so the list only shrinks.
FLAG_ALLOWED: dict[tuple[str, str], str] = {}


def _docstring_ids(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _compared_ids(tree: ast.Module) -> set[int]:
    """Constants that are an operand of a comparison (``"--from=" in field``, ``x == "--"``): input syntax
    being recognised (a Dockerfile's ``COPY --from=``), never text anybody is shown."""
    return {id(operand) for node in ast.walk(tree) if isinstance(node, ast.Compare)
            for operand in (node.left, *node.comparators) if isinstance(operand, ast.Constant)}


def string_literals(path: Path, *, messages: bool = False) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings (comments are not in the tree); an f-string
    contributes its literal parts, and adjacent literals arrive already joined. ``messages``: only those
    that can reach a reader, so not the operands of comparisons either."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstring_ids(tree) | (_compared_ids(tree) if messages else set())
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def below_the_cli() -> list[Path]:
    """The modules under the entry points (CLI, API, webhook, conformance, the signer's cli.py)."""
    return [p for p in sorted(ROOT.rglob("*.py")) if layer_of(module_name(p)) > 0]


def flag_mentions() -> list[tuple[str, int, str, str]]:
    found = []
    for path in below_the_cli():
        rel = str(path.relative_to(ROOT.parent))
        for line, text in string_literals(path, messages=True):
            found += [(rel, line, flag, text) for flag in FLAG.findall(text)]
    return found


def test_lower_layers_name_no_flags() -> None:
    """The CLI parses and renders: a message below it names the library's setting (``Checks.ignore_tlog``,
    ``IdentityOptions.identity_token``) and cli/errors.py words it as cosign's flag."""
    mentions = flag_mentions()
    bad = [f"{rel}:{line}: {flag} in {text!r}" for rel, line, flag, text in mentions
           if (rel, flag) not in FLAG_ALLOWED]
    assert not bad, "flags named below the CLI (name the library setting, word it in cli/errors.py):\n" + \
        "\n".join(bad)
    stale = set(FLAG_ALLOWED) - {(rel, flag) for rel, _line, flag, _text in mentions}
    assert not stale, f"FLAG_ALLOWED entries no longer needed: {sorted(stale)}"


def test_the_flag_scan_sees_strings_not_docstrings(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text('"""Like cosign\'s --key."""\n\ndef f(x):\n    """--doc"""\n    # --comment\n'
                 '    return f"--key {x}: " "pass --yes"\n')
    texts = [t for _line, t in string_literals(p)]
    assert [FLAG.findall(t) for t in texts] == [["--key"], ["--yes"]]  # an f-string: its literal parts
    assert FLAG.findall("-----BEGIN PUBLIC KEY----- a--b x=--y") == ["--y"]


def test_the_flag_scan_skips_syntax_being_matched_not_messages(tmp_path: Path) -> None:
    """Dockerfile syntax (``COPY --from=IMAGE``) is matched by a comparison; a message naming it is seen."""
    p = tmp_path / "m.py"
    p.write_text('def f(field, x):\n    if "--from=" not in field or x == "--only":\n        return None\n'
                 '    raise ValueError(f"bad {field}: pass --from")\n')
    assert [t for _line, t in string_literals(p)] == ["--from=", "--only", "bad ", ": pass --from"]
    assert [t for _line, t in string_literals(p, messages=True)] == ["bad ", ": pass --from"]


def test_every_cli_wording_names_a_live_library_phrase() -> None:
    """Each library phrase of the CLI's wording table occurs in the lower layers' strings (no dead entry
    that would hide a reworded message), names no flag itself, and is not shadowed by an earlier one."""
    from sigward.cli.errors import FLAG_WORDING, POLICY_TEST_WORDING

    texts = [t for path in below_the_cli() for _line, t in string_literals(path, messages=True)]
    for table in (FLAG_WORDING, POLICY_TEST_WORDING):
        for i, (library, _cli) in enumerate(table):
            assert not FLAG.search(library), library
            assert any(library in t for t in texts), f"{library!r} occurs in no message below the CLI"
            shadowing = [earlier for earlier, _ in table[:i] if earlier in library]
            assert not shadowing, f"{library!r} is rewritten by {shadowing} first"


# --- below the CLI, the environment is the caller's to pass -----------------------------------------------

PROVIDER = ("a key provider's own standard environment (AWS_*, VAULT_*, KUBECONFIG, COSIGN_PKCS11_*…), "
            "as in cosign and its SDKs (keys/interfaces.py)")
# module file → why it may read the process environment. A stale entry fails too, so the list only shrinks.
ENV_ALLOWED: dict[str, str] = {
    "sigward/transport.py": "SSL_CERT_FILE/SSL_CERT_DIR and the proxy variables: what the HTTP stack "
                            "(OpenSSL, httpx) honours on its own; read to agree with it",
    "sigward/oci/registry/dockerconfig.py": "DOCKER_CONFIG: where docker's credentials live, read by "
                                            "every registry client (docker, go-containerregistry's keychain)",
    "sigward/sigstore/oidc.py": "puts the caller's environment into os.environ for the id package's "
                                "detectors (which read nothing else), and restores it",
    "sigward/keys/keyref.py": "an env://VAR key reference names the variable to read",
    "sigward/keys/remote/awskms.py": PROVIDER,
    "sigward/keys/remote/gcpkms.py": PROVIDER + "; SIGWARD_GCPKMS_ENDPOINT (docs/keys.md): its endpoint",
    "sigward/keys/remote/hashivault.py": PROVIDER,
    "sigward/keys/remote/k8s.py": PROVIDER,
    "sigward/keys/remote/pkcs11.py": PROVIDER,
}
_ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_reads(path: Path) -> list[tuple[int, str]]:
    """``os.environ``/``os.getenv``… uses and ``from os import environ``…, by line."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES and isinstance(node.value, ast.Name) \
                and node.value.id == "os":
            out.append((node.lineno, f"os.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            out += [(node.lineno, f"from os import {a.name}") for a in node.names if a.name in _ENV_NAMES]
    return out


def environment_defaults(path: Path) -> list[tuple[int, str]]:
    """Parameters whose default is the process environment: a caller that passes nothing gets it read."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None and any(isinstance(n, ast.Attribute) and n.attr in _ENV_NAMES
                                               for n in ast.walk(default)):
                    out.append((default.lineno, getattr(node, "name", "lambda")))
    return out


def test_lower_layers_read_the_environment_only_by_convention() -> None:
    """Below the entry points the environment is a value the caller passes (``KeylessOptions.environment``,
    ``get_identity_token(opts, env)``, ``EnvKeychain.from_env(env)``): the CLI passes ``os.environ``. The
    exceptions are conventions the ecosystem's own libraries follow (ENV_ALLOWED says which and why)."""
    reads: dict[str, list[str]] = {}
    defaults = []
    for path in below_the_cli():
        rel = str(path.relative_to(ROOT.parent))
        found = environment_reads(path)
        if found:
            reads[rel] = [f"{rel}:{line}: {what}" for line, what in found]
        defaults += [f"{rel}:{line}: {name}" for line, name in environment_defaults(path)]
    bad = [hit for rel, hits in reads.items() if rel not in ENV_ALLOWED for hit in hits]
    assert not bad, "the environment read below the CLI (take it from the caller):\n" + "\n".join(bad)
    assert not defaults, "parameters defaulting to the process environment:\n" + "\n".join(defaults)
    stale = set(ENV_ALLOWED) - set(reads)
    assert not stale, f"ENV_ALLOWED entries no longer needed: {sorted(stale)}"


def test_the_environment_scan(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text("import os\nfrom os import getenv, path\n\ndef f(env=os.environ, *, g=dict(os.environ)):\n"
                 "    return os.environ.get('A') or os.getenv('B') or os.path.join('a', 'b')\n")
    assert sorted(environment_reads(p)) == [(2, "from os import getenv"), (4, "os.environ"),
                                            (4, "os.environ"), (5, "os.environ"), (5, "os.getenv")]
    assert environment_defaults(p) == [(4, "f"), (4, "f")]
