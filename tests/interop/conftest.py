"""The cosign ⇄ sigward interop matrix: real cosign v3.1.2, real registries, one command runner.

Everything here is real: cosign is the upstream binary built by scripts/go-tools.sh (a missing build fails
the tests), the registries are Debian's distribution 2.8.2 (no referrers API: the ``sha256-<hex>``
fallback tag) and go-containerregistry's ``pkg/registry`` with the referrers API, and keyless signing
goes through the local Sigstore stack (tests/fixtures/sigstore_stack). Both tools get the same command
lines — a cosign command line with ``cosign`` replaced by ``sigward`` is the promise under test.

Speed: registries, key pairs, the signing config and the "fully signed" images are session-scoped and
shared; independent commands run in parallel threads (``Tools.parallel``).

Results: each matrix test carries ``@pytest.mark.interop("<format>")`` and, through its parameters, a
direction and a registry kind. The hooks below collect one row per test; with ``SIGWARD_INTEROP_TABLE=FILE``
the session writes them as the markdown table that scripts/interop-table.py puts into
docs/cosign-compat.md (and test_compat_table.py checks the committed table against the collected rows).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.gotools import GoRegistry, go_tool, start_ggcr_registry
from tests.fixtures.images import make_layer, push_image

PASSWORD = "interop-pw"
COSIGN, SIGWARD = "cosign", "sigward"
TOOLS = (COSIGN, SIGWARD)
# (producer, consumer) pairs and their ids, as every matrix test is parametrized.
DIRECTIONS = [(COSIGN, SIGWARD), (SIGWARD, COSIGN)]
DIRECTION_IDS = ["cosign-to-sigward", "sigward-to-cosign"]
DISTRIBUTION, REFERRERS = "distribution", "referrers-api"
REGISTRY_KINDS = [DISTRIBUTION, REFERRERS]
REGISTRY_LABELS = {
    DISTRIBUTION: "distribution 2.8.2 (fallback tag)",
    REFERRERS: "go-containerregistry (referrers API)",
}
# Offline key signing, exactly as go-oracles.md says cosign v3.1.2 does it.
LEGACY_SIGN = ["--use-signing-config=false", "--tlog-upload=false", "--new-bundle-format=false"]
NO_TLOG_VERIFY = ["--insecure-ignore-tlog=true"]
TIMEOUT = 120


@dataclass
class Tools:
    """Runs cosign or sigward with the same arguments; ``env`` is shared (COSIGN_PASSWORD …)."""

    cosign: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, tool: str) -> list[str]:
        return [str(self.cosign)] if tool == COSIGN else [sys.executable, "-m", "sigward"]

    def run(self, tool: str, *args: str | os.PathLike[str], env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv(tool), *map(str, args)], capture_output=True, text=True,
                              timeout=TIMEOUT, env={**self.env, **(env or {})}, cwd=cwd or self.workdir,
                              stdin=subprocess.DEVNULL)

    def ok(self, tool: str, *args: str | os.PathLike[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        r = self.run(tool, *args, **kw)
        assert r.returncode == 0, f"{tool} {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}"
        return r

    def fails(self, tool: str, *args: str | os.PathLike[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        r = self.run(tool, *args, **kw)
        assert r.returncode != 0, f"{tool} {' '.join(map(str, args))} succeeded but must fail:\n{r.stderr}"
        return r

    def parallel(self, *calls: tuple[str, bool, Sequence[str | os.PathLike[str]]]) -> None:
        """Run ``(tool, must_succeed, args)`` calls concurrently and check every exit status."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda c: (c, self.run(c[0], *c[2])), calls))
        problems = []
        for (tool, good, args), r in results:
            if (r.returncode == 0) != good:
                want = "succeed" if good else "fail"
                problems.append(f"{tool} {' '.join(map(str, args))} must {want}, exited {r.returncode}:\n"
                                f"{r.stderr.strip()}")
        assert not problems, "\n\n".join(problems)


@dataclass
class KeyPair:
    key: Path
    pub: Path


@pytest.fixture(scope="session")
def interop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="session")
def tools(interop_dir: Path) -> Tools:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COSIGN_", "SIGSTORE_", "SIGWARD_", "TUF_"))}
    # Keep both tools away from the user's docker credentials and the public-good TUF cache.
    env.update(COSIGN_PASSWORD=PASSWORD, HOME=str(interop_dir / "home"),
               DOCKER_CONFIG=str(interop_dir / "docker"), COSIGN_YES="true")
    (interop_dir / "home").mkdir(exist_ok=True)
    return Tools(go_tool("cosign"), interop_dir, env)


@pytest.fixture(scope="session")
def ggcr_registry(interop_dir: Path) -> Iterator[GoRegistry]:
    """go-containerregistry's registry with the OCI 1.1 referrers API (built by scripts/go-tools.sh)."""
    server = start_ggcr_registry(interop_dir / "ggcr")
    yield server
    server.stop()


@pytest.fixture(scope="session", params=REGISTRY_KINDS)
def registry_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def registry_host(request: pytest.FixtureRequest, registry_kind: str) -> str:
    """``127.0.0.1:PORT`` of the registry of this kind (both are plain HTTP on loopback)."""
    if registry_kind == REFERRERS:
        return str(request.getfixturevalue("ggcr_registry").host)
    return str(request.getfixturevalue("registry").host)


_counter = iter(range(1_000_000))


def new_image(host: str, name: str) -> str:
    """Push a fresh single-layer image (unique content) and return ``host/repo@digest``."""
    n = next(_counter)
    repo = f"interop/{name}-{n}"
    layer = make_layer({"hello.txt": f"{name} {n} {os.getpid()}\n".encode()})
    digest = push_image(f"http://{host}", repo, "v1", [layer])
    return f"{host}/{repo}@{digest}"


@pytest.fixture(scope="session")
def keys(tools: Tools, interop_dir: Path) -> dict[str, KeyPair]:
    """One encrypted key pair per tool, each made by that tool's ``generate-key-pair``."""
    d = interop_dir / "keys"
    d.mkdir()
    tools.parallel((COSIGN, True, ["generate-key-pair", "--output-key-prefix", "cosign-made"]),
                   (SIGWARD, True, ["generate-key-pair", "--output-key-prefix", "sigward-made"]))
    pairs = {}
    for tool in TOOLS:
        key, pub = d / f"{tool}-made.key", d / f"{tool}-made.pub"
        (interop_dir / f"{tool}-made.key").rename(key)
        (interop_dir / f"{tool}-made.pub").rename(pub)
        pairs[tool] = KeyPair(key, pub)
    return pairs


@pytest.fixture(scope="session")
def no_log_config(tools: Tools, interop_dir: Path) -> Path:
    """``cosign signing-config create`` with no services: how cosign v3 signs a bundle offline."""
    path = interop_dir / "no-services.signing_config.json"
    tools.ok(COSIGN, "signing-config", "create", "--out", path)
    return path


def bundle_sign(no_log_config: Path) -> list[str]:
    return ["--signing-config", str(no_log_config)]


FORMS = ["bundle", "legacy"]


def sign_flags(form: str, no_log_config: Path) -> list[str]:
    return bundle_sign(no_log_config) if form == "bundle" else LEGACY_SIGN


@pytest.fixture(scope="session")
def predicate(interop_dir: Path) -> Path:
    path = interop_dir / "predicate.json"
    path.write_text('{"builder":{"id":"https://example.com/builder"},"buildType":"https://example.com/t"}')
    return path


@dataclass
class SignedImages:
    """Images signed (``-a by=<tool>``) and attested (``--type custom``) by one tool in one format, made on
    first use and shared by the tree, copy and save/load tests."""

    tools: Tools
    keys: dict[str, KeyPair]
    no_log_config: Path
    predicate: Path
    made: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def get(self, producer: str, host: str, form: str) -> str:
        key = (producer, host, form)
        if key not in self.made:
            ref = new_image(host, f"signed-by-{producer}-{form}")
            flags = sign_flags(form, self.no_log_config)
            signing_key = self.keys[producer].key
            # One after the other: on the fallback registry both update the one sha256-<hex> index.
            self.tools.ok(producer, "sign", "--yes", "--key", signing_key, *flags, "-a", f"by={producer}",
                          ref)
            self.tools.ok(producer, "attest", "--yes", "--key", signing_key, *flags,
                          "--predicate", self.predicate, "--type", "custom", ref)
            self.made[key] = ref
        return self.made[key]


@pytest.fixture(scope="session")
def signed_images(tools: Tools, keys: dict[str, KeyPair], no_log_config: Path,
                  predicate: Path) -> SignedImages:
    return SignedImages(tools, keys, no_log_config, predicate)


# -- results table ---------------------------------------------------------------------------------------

_RESULTS: dict[tuple[str, str, str], str] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop(format): a row of docs/cosign-compat.md's interop table")


def row_key(item: pytest.Item) -> tuple[str, str, str] | None:
    """(format, direction, registry) of a matrix test, from its marker and parameters."""
    marker = item.get_closest_marker("interop")
    if marker is None:
        return None
    params = getattr(item, "callspec", None)
    p = params.params if params is not None else {}
    direction = "both ways"
    if "direction" in p:
        producer, consumer = p["direction"]
        direction = f"{producer} → {consumer}"
    registry = REGISTRY_LABELS.get(p.get("registry_kind", ""), "—")
    extra = [str(p[k]) for k in sorted(p) if k not in ("direction", "registry_kind")]
    fmt = str(marker.args[0]) + (f" ({', '.join(extra)})" if extra else "")
    return fmt, direction, registry


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    key = row_key(item)
    if key is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _RESULTS[key] = "pass" if report.passed else ("skipped" if report.skipped else "FAIL")


def render_table(results: dict[tuple[str, str, str], str]) -> str:
    lines = ["| format | producer → consumer | registry | result |", "|---|---|---|---|"]
    ordered = sorted(results.items(), key=lambda kv: (kv[0][0].lower(), *kv[0]))
    for (fmt, direction, registry), result in ordered:
        mark = "✅ pass" if result == "pass" else f"❌ {result}"
        lines.append(f"| {fmt} | {direction} | {registry} | {mark} |")
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("SIGWARD_INTEROP_TABLE")
    if target and _RESULTS:
        Path(target).write_text(render_table(_RESULTS))
