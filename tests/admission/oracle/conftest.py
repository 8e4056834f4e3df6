"""policy-controller's real ``policy-tester`` as the oracle of ``sigward policy test``.

Everything is real: policy-tester is policy-controller v0.13.1's ``cmd/tester`` built by scripts/go-tools.sh
(a missing build fails the tests), the images live in Debian's distribution 2.8.2 on loopback, sigward signs
and attests them (key pairs it generated; keyless through the local Sigstore stack, whose trusted root
becomes a ``TrustRoot`` with ``sigstoreKeys``), and CUE policies go through the real ``cue`` on sigward's
side (policy-tester links CUE in). Both tools get the same CIP file, TrustRoot file and image reference;
``Oracle.both`` runs them concurrently and hands back both verdicts.

policy-tester's interface (../shared/reference/policy-controller-and-peers.md §2.10): exit 0 admitted
(nothing on stdout); exit 1 denied with ``{"errors": […], "warnings": […]}`` on stdout; ``CIP is invalid: …``
in its log (stderr) when validation fails. It reaches 127.0.0.1 registries over plain HTTP by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admission.oracle.trustroot import TRUST_ROOT_NAME, trustroot_from
from tests.fixtures.gotools import go_tool
from tests.fixtures.images import make_layer, push_image
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF
from tests.fixtures.registries import RegistryServer
from tests.fixtures.sigstore_stack import SigstoreStack

PASSWORD = "oracle-pw"
TIMEOUT = 180
KEYLESS_IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
KEYLESS_ISSUER = GITHUB_ISSUER
# Offline key signing in the legacy `.sig` format policy-tester reads (it refuses bundle-format signatures).
LEGACY_KEY = ["--use-signing-config=false", "--tlog-upload=false", "--new-bundle-format=false"]
CUSTOM_PREDICATE = "foobar oracle test"
CUSTOM_TYPE_URI = "https://cosign.sigstore.dev/attestation/v1"


@dataclass(frozen=True)
class Verdict:
    """One tool's answer: the admission decision, its messages, and the raw output for failure reports."""

    tool: str
    allowed: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        """Errors and warnings as one string, for substring checks."""
        return "\n".join((*self.errors, *self.warnings))

    def report(self) -> str:
        return (f"--- {self.tool}: exit {self.returncode}, allowed={self.allowed}\n"
                f"errors={list(self.errors)}\nwarnings={list(self.warnings)}\n"
                f"stdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}")


@dataclass(frozen=True)
class KeyPair:
    key: Path
    pub: Path

    @property
    def pem(self) -> str:
        return self.pub.read_text()


@dataclass
class Oracle:
    """Runs policy-tester and ``sigward policy test`` on the same inputs; signs images with sigward."""

    tester: Path
    workdir: Path
    env: dict[str, str]
    registry: RegistryServer
    counter: int = 0
    key_pairs: dict[str, KeyPair] = field(default_factory=dict)

    # -- the two tools ----------------------------------------------------------------------------------

    def run_tester(self, policy: Path, image: str, *, trustroot: Path | None = None,
                   resource: Path | None = None) -> Verdict:
        argv = [str(self.tester), "-policy", str(policy), "-image", image]
        if trustroot is not None:
            argv += ["-trustroot", str(trustroot)]
        if resource is not None:
            argv += ["-resource", str(resource)]
        proc = self._run(argv)
        errors: tuple[str, ...] = ()
        warnings: tuple[str, ...] = ()
        if proc.stdout.strip():
            try:
                doc = json.loads(proc.stdout)
                errors, warnings = tuple(doc.get("errors") or ()), tuple(doc.get("warnings") or ())
            except json.JSONDecodeError:
                errors = (proc.stdout.strip(),)
        if proc.returncode != 0 and not errors:
            # Fatal errors (an invalid CIP, a bad flag) are logged to stderr, not printed as JSON.
            errors = tuple(line for line in proc.stderr.splitlines() if line.strip())[-5:]
        return Verdict("policy-tester", proc.returncode == 0, errors, warnings, proc.returncode,
                       proc.stdout, proc.stderr)

    def run_sigward(self, policy: Path, image: str, *, trustroot: Path | None = None,
                    resource: Path | None = None) -> Verdict:
        argv = [sys.executable, "-m", "sigward", "policy", "test", "--policy", str(policy), "-o", "json"]
        if trustroot is not None:
            argv += ["--trustroot", str(trustroot)]
        if resource is not None:
            argv += ["--resource", str(resource)]
        proc = self._run([*argv, image])
        errors: tuple[str, ...] = ()
        warnings: tuple[str, ...] = ()
        try:
            doc = json.loads(proc.stdout)
            errors, warnings = tuple(doc.get("errors") or ()), tuple(doc.get("warnings") or ())
        except json.JSONDecodeError:
            errors = tuple(line for line in proc.stderr.splitlines() if line.strip())
        return Verdict("sigward", proc.returncode == 0, errors, warnings, proc.returncode,
                       proc.stdout, proc.stderr)

    def both(self, policy: str | Path, image: str, *, trustroot: Path | None = None,
             resource: Path | None = None) -> tuple[Verdict, Verdict]:
        """(policy-tester's verdict, sigward's verdict) on the same CIP text or file and image."""
        path = policy if isinstance(policy, Path) else self.write("cip.yaml", policy)
        with ThreadPoolExecutor(max_workers=2) as pool:
            tester = pool.submit(self.run_tester, path, image, trustroot=trustroot, resource=resource)
            ours = pool.submit(self.run_sigward, path, image, trustroot=trustroot, resource=resource)
            return tester.result(), ours.result()

    def sigward(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = self._run([sys.executable, "-m", "sigward", *map(str, args)])
        if check:
            assert proc.returncode == 0, (f"sigward {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                          f"{proc.stderr}")
        return proc

    def _run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT, env=self.env,
                              cwd=self.workdir, stdin=subprocess.DEVNULL)

    # -- inputs -----------------------------------------------------------------------------------------

    def write(self, name: str, text: str) -> Path:
        self.counter += 1
        path = self.workdir / f"{self.counter:03d}-{name}"
        path.write_text(text)
        return path

    def image(self, case: str) -> str:
        """A fresh single-layer image ``HOST/oracle/CASE-N@sha256:…`` (unique content)."""
        self.counter += 1
        repo = f"oracle/{case}-{self.counter}"
        layer = make_layer({"hello.txt": f"{case} {self.counter} {os.getpid()}\n".encode()})
        digest = push_image(self.registry, repo, "v1", [layer])
        return f"{self.registry.host}/{repo}@{digest}"

    def glob(self, case: str) -> str:
        """The glob that covers ``image(case)``'s repositories (``*`` crosses ``@`` and ``:``, not ``/``)."""
        return f"{self.registry.host}/oracle/{case}-*"

    def key_pair(self, name: str) -> KeyPair:
        if name not in self.key_pairs:
            prefix = self.workdir / f"key-{name}"
            self.sigward("generate-key-pair", "--output-key-prefix", prefix)
            self.key_pairs[name] = KeyPair(prefix.with_suffix(".key"), prefix.with_suffix(".pub"))
        return self.key_pairs[name]

    def _format(self, legacy: bool) -> list[str | Path]:
        """Legacy `.sig`/`.att` offline, or cosign v3's bundle format with a no-services signing config."""
        if legacy:
            return list(LEGACY_KEY)
        config = self.workdir / "no-services.signing_config.json"
        if not config.exists():
            self.sigward("signing-config", "create", "--out", config)
        return ["--signing-config", config]

    def sign_key(self, image: str, key: str, *, legacy: bool = True) -> None:
        self.sigward("sign", "--yes", "--key", self.key_pair(key).key, *self._format(legacy), image)

    def attest_key(self, image: str, key: str, *, predicate: str = CUSTOM_PREDICATE,
                   predicate_type: str = "custom", legacy: bool = True) -> None:
        path = self.write("predicate", predicate)
        self.sigward("attest", "--yes", "--key", self.key_pair(key).key, *self._format(legacy),
                     "--predicate", path, "--type", predicate_type, image)


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Oracle:
    workdir = tmp_path_factory.mktemp("oracle")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COSIGN_", "SIGSTORE_", "SIGWARD_", "TUF_", "DOCKER_"))}
    home = workdir / "home"
    home.mkdir()
    cue = go_tool("cue")
    # Away from the user's docker credentials and TUF caches; the real cue first on sigward's PATH.
    env.update(COSIGN_PASSWORD=PASSWORD, HOME=str(home), DOCKER_CONFIG=str(workdir / "docker"),
               TUF_ROOT=str(home / ".sigstore"), PATH=f"{cue.parent}{os.pathsep}{env.get('PATH', '')}")
    return Oracle(go_tool("policy-tester"), workdir, env, registry)


# -- keyless: the local Sigstore stack and a TrustRoot made from its trusted root ---------------------------


@dataclass(frozen=True)
class Keyless:
    """Keyless signing through the stack, and the TrustRoot file both tools are given."""

    oracle: Oracle
    stack: SigstoreStack
    trustroot: Path

    def _token(self) -> Path:
        path = self.oracle.write("token", self.stack.minter.mint_github())  # no trailing newline
        return path

    def _args(self) -> list[str | Path]:
        return ["--yes", "--identity-token", self._token(), "--signing-config", self.stack.signing_config,
                "--trusted-root", self.stack.trusted_root]

    def sign(self, image: str, *, legacy: bool = True) -> None:
        self.oracle.sigward("sign", *self._args(), *(["--new-bundle-format=false"] if legacy else []), image)

    def attest(self, image: str, *, predicate: str = CUSTOM_PREDICATE, predicate_type: str = "custom",
               legacy: bool = True) -> None:
        path = self.oracle.write("predicate", predicate)
        self.oracle.sigward("attest", *self._args(), *(["--new-bundle-format=false"] if legacy else []),
                            "--predicate", path, "--type", predicate_type, image)

    def authority(self, *, subject: str = KEYLESS_IDENTITY, issuer: str = KEYLESS_ISSUER,
                  regexp: bool = False) -> dict[str, Any]:
        """A keyless authority trusting the stack's CA and Rekor v1 log through the TrustRoot."""
        ident = ({"issuerRegExp": issuer, "subjectRegExp": subject} if regexp
                 else {"issuer": issuer, "subject": subject})
        return {"keyless": {"url": self.stack.url, "trustRootRef": TRUST_ROOT_NAME, "identities": [ident]},
                "ctlog": {"url": self.stack.url, "trustRootRef": TRUST_ROOT_NAME}}


@pytest.fixture(scope="session")
def keyless(oracle: Oracle, sigstore_stack: SigstoreStack) -> Keyless:
    doc = trustroot_from(json.loads(sigstore_stack.trusted_root.read_text()))
    return Keyless(oracle, sigstore_stack, oracle.write("trustroot.yaml", json.dumps(doc, indent=1)))


# -- CIP documents ----------------------------------------------------------------------------------------


def cip(name: str, glob: str, authorities: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy",
            "metadata": {"name": name},
            "spec": {"images": [{"glob": glob}], "authorities": authorities, **spec}}


def key_authority(pem: str, **extra: Any) -> dict[str, Any]:
    return {"key": {"data": pem}, **extra}


def documents(*docs: dict[str, Any]) -> str:
    """Multi-document YAML as ``kubectl apply -f`` takes it."""
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def assert_same(tester: Verdict, ours: Verdict, *, allowed: bool, contains: Sequence[str] = (),
                warned: bool = False) -> None:
    """Both tools reached ALLOWED; each message in CONTAINS is in both tools' errors (or warnings)."""
    reports = f"\n{tester.report()}\n{ours.report()}"
    assert tester.allowed is allowed, f"policy-tester: expected allowed={allowed}{reports}"
    assert ours.allowed is allowed, f"sigward: expected allowed={allowed}{reports}"
    if not allowed:
        assert tester.errors and ours.errors, f"a denial without a reason{reports}"
    for text in contains:
        assert text in tester.text, f"policy-tester does not say {text!r}{reports}"
        assert text in ours.text, f"sigward does not say {text!r}{reports}"
    if warned:
        assert ours.warnings, f"sigward: expected warnings{reports}"
