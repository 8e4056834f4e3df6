"""Fixtures for keys held elsewhere: a SoftHSM2 token, AWS KMS (local-kms behind TLS), and the CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.awskms import LocalKms
from tests.fixtures.pki import KeyPair
from tests.fixtures.softhsm import SoftHsm, start_softhsm
from tests.signing.conftest import keys, layout, run  # noqa: F401


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
