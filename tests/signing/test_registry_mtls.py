"""Mutual TLS to a registry (--registry-client-cert/--registry-client-key), against a real distribution
registry that requires and verifies client certificates (``http.tls.clientcas``)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pki import KeyPair, _name, _write, make_ca, make_server_cert
from tests.fixtures.registries import RegistryServer, start_registry


def _client_cert(directory: Path, ca: KeyPair, cn: str = "ci-runner") -> KeyPair:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return _write(directory, cn, cert, key)


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryServer, KeyPair, KeyPair]]:
    base = tmp_path_factory.mktemp("mtls")
    ca = make_ca(base / "pki")
    server = make_server_cert(base / "pki", ca)
    client = _client_cert(base / "pki", ca)
    reg = start_registry(base, "mtls", tls=server, ca_file=ca.cert_file, client_ca=ca.cert_file,
                         client_cert=client)
    yield reg, ca, client
    reg.stop()


def test_registry_client_certificate(run: Callable[..., Any], keys: Any, layout: Callable[..., str],
                                     mtls: tuple[RegistryServer, KeyPair, KeyPair], tmp_path: Path) -> None:
    reg, ca, client = mtls
    img = layout()
    dest = f"{reg.host}/app:v1"
    tls = ("--registry-cacert", str(ca.cert_file))
    cert = ("--registry-client-cert", str(client.cert_file), "--registry-client-key", str(client.key_file))
    # Without a client certificate the registry refuses the TLS handshake: one clear line.
    r = run("copy", *tls, img, dest)
    assert r.code == 1 and r.err.startswith("Error: ") and "Traceback" not in r.err
    r = run("copy", *tls, *cert, img, dest)
    assert r.code == 0, r.err
    digest = img.split("@")[1]
    pushed = f"{reg.host}/app@{digest}"
    assert run("sign", "--tlog-upload=false", "--key", keys.key, *tls, *cert, pushed).code == 0
    r = run("verify", "--key", keys.pub, "--insecure-ignore-tlog=true", *tls, *cert, pushed)
    assert r.code == 0, r.err
    # A certificate from another CA is refused by the registry; a missing key file is a clear error.
    other = _client_cert(tmp_path, make_ca(tmp_path / "other"), "intruder")
    r = run("verify", "--key", keys.pub, "--insecure-ignore-tlog=true", *tls, "--registry-client-cert",
            str(other.cert_file), "--registry-client-key", str(other.key_file), f"{reg.host}/app@{digest}")
    assert r.code == 1
    r = run("copy", *tls, "--registry-client-cert", str(client.cert_file), "--registry-client-key",
            str(tmp_path / "missing.key"), img, dest)
    assert r.code == 1 and "cannot load the client certificate" in r.err
    r = run("copy", *tls, "--registry-client-key", str(client.key_file), img, dest)
    assert r.code == 1 and "--registry-client-key needs --registry-client-cert" in r.err
