"""End to end through a real kube-apiserver: ``kubectl apply`` → kube-apiserver → ``sigward admission serve``.

Real components only: etcd + kube-apiserver + kubectl (tests/fixtures/kube.py, built by scripts/go-tools.sh),
``sigward admission serve`` as its own process over HTTPS with a CA and serving certificate from
``sigward admission certs``, Debian's distribution registry on loopback, images signed by sigward through
the local Sigstore stack. The policies are the seed blog's two ClusterImagePolicies (``policies/``), as
files; ``localize`` makes the only two changes a private installation makes: the globs name the local
registry instead of registry.gitlab.com / gcr.io, and the keyless authorities trust the local Sigstore
stack through a TrustRoot (policy-controller's ``trustRootRef``) instead of the public-good instance,
which is unreachable here.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.admission.oracle.trustroot import TRUST_ROOT_NAME, trustroot_from
from tests.fixtures.images import make_layer, push_image
from tests.fixtures.kube import KubeCluster
from tests.fixtures.registries import RegistryServer
from tests.fixtures.sigstore_stack import SigstoreStack

POLICIES = Path(__file__).resolve().parent / "policies"
PASSWORD = "e2e-pw"
WEBHOOK = "policy.sigstore.dev"
NAMESPACE = "signed-only"
GITLAB_ISSUER = "https://gitlab.com"
GITLAB_MAIN = "https://gitlab.com/BobyMCbobs/sigward-demo//.gitlab-ci.yml@refs/heads/main"
GITLAB_BRANCH = "https://gitlab.com/BobyMCbobs/sigward-demo//.gitlab-ci.yml@refs/heads/feature"
KNATIVE_ISSUER = "https://accounts.google.com"
KNATIVE_SIGNER = "signer@knative-releases.iam.gserviceaccount.com"
# The blog's public registries, and where the local copies of their images live.
PUBLIC_REGISTRIES = ("registry.gitlab.com", "gcr.io")
SERVER_START_TIMEOUT = 90.0
# Cold keyless decisions on a loaded 2-core machine: the API server's limit is 30 s.
WEBHOOK_TIMEOUT_SECONDS = 30


def localize(doc: dict[str, Any], registry_host: str) -> dict[str, Any]:
    """The blog's CIP for this installation: globs on the local registry, trust in the local stack."""
    spec = doc["spec"]
    for image in spec["images"]:
        for public in PUBLIC_REGISTRIES:
            if image["glob"].startswith(public + "/"):
                image["glob"] = registry_host + image["glob"][len(public):]
    for authority in spec.get("authorities", []):
        if "keyless" in authority:
            authority["keyless"]["trustRootRef"] = TRUST_ROOT_NAME
            authority.setdefault("ctlog", {})["trustRootRef"] = TRUST_ROOT_NAME
    return doc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class E2E:
    """The admission world: cluster, registry, signer, and the running sigward webhook."""

    kube: KubeCluster
    registry: RegistryServer
    stack: SigstoreStack
    workdir: Path
    env: dict[str, str]
    server: subprocess.Popen[bytes] | None = None
    server_url: str = ""
    ca_bundle: bytes = b""
    counter: int = 0

    def sigward(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "sigward", *map(str, args)], capture_output=True,
                              text=True, timeout=180, env=self.env, cwd=self.workdir,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, (f"sigward {' '.join(map(str, args))} exited {proc.returncode}:\n"
                                      f"{proc.stderr}")
        return proc

    def image(self, repo: str) -> tuple[str, str]:
        """Push a fresh image to ``HOST/REPO:v1``; returns (tag reference, digest)."""
        self.counter += 1
        layer = make_layer({"app.txt": f"{repo} {self.counter} {os.getpid()}\n".encode()})
        digest = push_image(self.registry, repo, "v1", [layer])
        return f"{self.registry.host}/{repo}:v1", digest

    def sign_keyless(self, image: str, subject: str, issuer: str, *, legacy: bool = False) -> None:
        """Sign as SUBJECT from ISSUER through the stack (an e-mail SAN when SUBJECT is an address)."""
        email = {"email": subject} if "@" in subject and "/" not in subject else {}
        token = self.workdir / f"token-{self.counter}"
        token.write_text(self.stack.minter.mint(subject, issuer=issuer, **email))
        self.sigward("sign", "--yes", "--identity-token", token,
                     "--signing-config", self.stack.signing_config, "--trusted-root", self.stack.trusted_root,
                     *(["--new-bundle-format=false"] if legacy else []), image)

    # -- the webhook ---------------------------------------------------------------------------------------

    def start_server(self) -> None:
        policies = self.workdir / "policies"
        policies.mkdir()
        for path in sorted(POLICIES.glob("*.yaml")):
            doc = localize(yaml.safe_load(path.read_text()), self.registry.host)
            (policies / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        trustroot = self.workdir / "trustroot.yaml"
        trustroot.write_text(json.dumps(trustroot_from(json.loads(self.stack.trusted_root.read_text()))))
        certs = self.workdir / "certs"
        self.sigward("admission", "certs", "--out", certs, "--host", "127.0.0.1")
        self.ca_bundle = (certs / "ca.crt").read_bytes()
        log_file = self.workdir / "admission-server.log"
        for _ in range(3):
            port = _free_port()
            with open(log_file, "ab") as log:
                self.server = subprocess.Popen(
                    [sys.executable, "-m", "sigward", "admission", "serve", "--policies", policies,
                     "--trustroot", trustroot, "--tls-cert", certs / "tls.crt",
                     "--tls-key", certs / "tls.key", "--listen", f"127.0.0.1:{port}"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                    cwd=self.workdir)
            self.server_url = f"https://127.0.0.1:{port}"
            if self._wait_ready(ssl.create_default_context(cadata=self.ca_bundle.decode())):
                return
            self.stop_server()
        raise AssertionError(f"sigward admission serve did not become ready:\n{log_file.read_text()[-3000:]}")

    def _wait_ready(self, context: ssl.SSLContext) -> bool:
        assert self.server is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline and self.server.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.server_url}/readyz", timeout=2, context=context) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(timeout=5)
        self.server = None

    def register_webhooks(self) -> None:
        """Validating + Mutating configurations as policy-controller's, by URL, for opted-in namespaces."""
        client = {"caBundle": base64.b64encode(self.ca_bundle).decode()}
        rules = [
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["pods", "pods/ephemeralcontainers"]},
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
            {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["jobs", "cronjobs"]},
        ]

        def hook(path: str) -> dict[str, Any]:
            return {"name": WEBHOOK, "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Fail", "timeoutSeconds": WEBHOOK_TIMEOUT_SECONDS,
                    "clientConfig": {**client, "url": f"{self.server_url}{path}"},
                    "namespaceSelector": {"matchExpressions": [{"key": "policy.sigstore.dev/include",
                                                                "operator": "In", "values": ["true"]}]},
                    "rules": rules}

        self.kube.apply({"apiVersion": "admissionregistration.k8s.io/v1",
                         "kind": "MutatingWebhookConfiguration", "metadata": {"name": WEBHOOK},
                         "webhooks": [{**hook("/mutations"), "reinvocationPolicy": "IfNeeded"}]})
        self.kube.apply({"apiVersion": "admissionregistration.k8s.io/v1",
                         "kind": "ValidatingWebhookConfiguration", "metadata": {"name": WEBHOOK},
                         "webhooks": [hook("/validations")]})

    def unregister_webhooks(self) -> None:
        for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
            self.kube.kubectl("delete", kind, WEBHOOK, "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def e2e(kube_cluster: KubeCluster, registry: RegistryServer, sigstore_stack: SigstoreStack,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    workdir = tmp_path_factory.mktemp("admission-e2e")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COSIGN_", "SIGSTORE_", "SIGWARD_", "TUF_"))}
    env.update(COSIGN_PASSWORD=PASSWORD, HOME=str(workdir), DOCKER_CONFIG=str(workdir / "docker"))
    world = E2E(kube_cluster, registry, sigstore_stack, workdir, env)
    world.start_server()
    try:
        world.register_webhooks()
        kube_cluster.kubectl("create", "namespace", NAMESPACE)
        kube_cluster.kubectl("label", "namespace", NAMESPACE, "policy.sigstore.dev/include=true")
        yield world
    finally:
        world.unregister_webhooks()
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false",
                             check=False)
        world.stop_server()
