"""Fixtures for keys held elsewhere: a SoftHSM2 token, AWS KMS (local-kms behind TLS), and the CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.awskms import LocalKms
from tests.fixtures.gcp_kms import GcpKms
from tests.fixtures.kube_secrets import KubeSecrets
from tests.fixtures.pki import KeyPair
from tests.fixtures.softhsm import SoftHsm, start_softhsm
from tests.fixtures.vault_transit import VaultTransit
from tests.signing.conftest import keys, layout, run  # noqa: F401

# google-auth must never probe the GCE metadata server (a non-loopback address) from the suite; it reads
# these when first imported.
os.environ.setdefault("NO_GCE_CHECK", "true")
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:1")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:1")


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A fresh SoftHSM2 token with EC P-256, EC P-384 and RSA-2048 key pairs generated on it.

    ``SOFTHSM2_CONF`` is set for the whole test process (and so for the in-process CLI): SoftHSM reads it
    once, when the module is first loaded.
    """
    hsm = start_softhsm(tmp_path_factory.mktemp("softhsm"))
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    return hsm


@pytest.fixture(scope="session")
def local_kms(tmp_path_factory: pytest.TempPathFactory, registry_ca: KeyPair) -> Iterator[LocalKms]:
    kms = LocalKms(tmp_path_factory.mktemp("local-kms"), registry_ca)
    yield kms
    kms.stop()


@pytest.fixture
def aws_env(local_kms: LocalKms, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The AWS environment a user would set for this endpoint; no ~/.aws is consulted."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_TLS_INSECURE_SKIP_VERIFY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for k, v in local_kms.env().items():
        monkeypatch.setenv(k, v)
    local_kms.front.reset()
    return local_kms.env()


@pytest.fixture(scope="session")
def vault_server() -> Iterator[VaultTransit]:
    server = VaultTransit().start()
    yield server
    server.stop()


@pytest.fixture
def vault(vault_server: VaultTransit, monkeypatch: pytest.MonkeyPatch) -> VaultTransit:
    """The transit stand-in with VAULT_ADDR/VAULT_TOKEN set as a user would; no ~/.vault-token read."""
    for var in ("BAO_ADDR", "BAO_TOKEN", "TRANSIT_SECRET_ENGINE_PATH", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(var, raising=False)
    for k, v in vault_server.env().items():
        monkeypatch.setenv(k, v)
    vault_server.reset()
    return vault_server


@pytest.fixture(scope="session")
def kube_server(tmp_path_factory: pytest.TempPathFactory, registry_ca: KeyPair) -> Iterator[KubeSecrets]:
    server = KubeSecrets(tmp_path_factory.mktemp("kube"), registry_ca)
    yield server
    server.stop()


@pytest.fixture
def kube(kube_server: KubeSecrets, monkeypatch: pytest.MonkeyPatch) -> KubeSecrets:
    """The Secrets API stand-in, reached through KUBECONFIG as a user's kubectl would."""
    monkeypatch.setenv("KUBECONFIG", str(kube_server.kubeconfig))
    kube_server.requests.clear()
    return kube_server


@pytest.fixture(scope="session")
def gcp_server(tmp_path_factory: pytest.TempPathFactory, registry_ca: KeyPair) -> Iterator[GcpKms]:
    server = GcpKms(tmp_path_factory.mktemp("gcpkms"), registry_ca)
    yield server
    server.stop()


@pytest.fixture
def gcp(gcp_server: GcpKms, monkeypatch: pytest.MonkeyPatch) -> GcpKms:
    """The Cloud KMS stand-in, with service-account credentials as a user's CI would have them."""
    for k, v in gcp_server.env().items():
        monkeypatch.setenv(k, v)
    gcp_server.reset()
    return gcp_server
