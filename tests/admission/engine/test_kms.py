"""``key.kms``: the public key read through sigward's key providers — here Vault transit (``hashivault://``,
the wire-level transit stand-in of tests/fixtures/vault_transit.py, which real cosign also talks to)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.admission.engine.conftest import Run, cip
from tests.fixtures.vault_transit import VaultTransit


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultTransit]:
    server = VaultTransit().start()
    for var in ("BAO_ADDR", "BAO_TOKEN", "TRANSIT_SECRET_ENGINE_PATH", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(var, raising=False)
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    yield server
    server.stop()


def test_kms_key_authority(run: Callable[..., Run], write: Callable[..., str], layout: Callable[..., str],
                           vault: VaultTransit) -> None:
    vault.create_key("release", "ecdsa-p256")
    vault.create_key("other", "ecdsa-p256")
    img = layout()
    r = run("sign", "--tlog-upload=false", "--key", "hashivault://release", img)
    assert r.code == 0, r.err
    for key, admitted in (("release", True), ("other", False)):
        policy = cip("kms", {"images": [{"glob": "oci:**"}],
                             "authorities": [{"key": {"kms": f"hashivault://{key}"}}]})
        r = run("policy", "test", "--policy", write(policy), "-o", "json", img)
        assert (r.code == 0) is admitted, r.out
    assert r.json()["errors"][0].startswith("signature key validation failed for authority authority-0")
