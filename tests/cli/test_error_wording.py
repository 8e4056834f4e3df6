"""One failure, two audiences: a library call's error names the library's setting, the CLI's ``Error:`` line
is cosign's, byte for byte (cli/errors.py words one as the other; tests/test_layers.py keeps flags out of
the lower layers). Each case runs the real library call and the real command, in-process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sigward.cli.main import main
from sigward.errors import SigwardError

FLAG = re.compile(r"(?<![\w-])--[a-z]")


def cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def library_error(call: object) -> str:
    assert callable(call)
    with pytest.raises(SigwardError) as e:
        call()
    text = str(e.value)
    assert not FLAG.search(text), f"a library error names a flag: {text!r}"
    return text


def test_bundle_create_without_a_signer(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sigward.ops.bundles import BundleInputs, create_bundle

    artifact = tmp_path / "artifact"
    artifact.write_bytes(b"hello")
    assert library_error(lambda: create_bundle(BundleInputs(artifact_path=str(artifact)))) == (
        "the bundle needs the signer: pass BundleInputs.certificate_pem or BundleInputs.public_key_pem (or a "
        "BundleInputs.old_bundle with a cert)")
    assert cli_error(capsys, "bundle", "create", "--artifact", str(artifact)) == (
        1, "Error: the bundle needs the signer: pass --certificate or --key (or a --bundle with a cert)\n")


def test_bundle_create_with_a_bad_certificate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sigward.ops.bundles import BundleInputs, create_bundle

    artifact, cert = tmp_path / "artifact", tmp_path / "cert.pem"
    artifact.write_bytes(b"hello")
    cert.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    inputs = BundleInputs(artifact_path=str(artifact), certificate_pem=cert.read_bytes())
    assert library_error(lambda: create_bundle(inputs)) == (
        "BundleInputs.certificate_pem is not a PEM certificate")
    assert cli_error(capsys, "bundle", "create", "--artifact", str(artifact), "--certificate", str(cert)) == (
        1, "Error: --certificate is not a PEM certificate\n")


def test_signing_config_selector(capsys: pytest.CaptureFixture[str]) -> None:
    from sigward.sigstore.trustbuild import signing_config

    spec = "url=https://rekor.example,api-version=1,start-time=2025-01-01T00:00:00Z,operator=o"
    text = library_error(lambda: signing_config(fulcio=[], rekor=[spec], oidc=[], tsa=[], rekor_config=None,
                                                tsa_config=None))
    assert text == "signing_config(rekor=...) needs rekor_config, the selector of Rekor logs"
    # cosign's check of its own flags now lives in the CLI, worded as before
    assert cli_error(capsys, "signing-config", "create", "--rekor", spec) == (
        1, "Error: --rekor-config is required when --rekor is provided\n")
    text = library_error(lambda: signing_config(fulcio=[], rekor=[spec], oidc=[], tsa=[], rekor_config="SOME",
                                                tsa_config=None))
    assert text == "signing_config(rekor_config) must be ANY, ALL or EXACT:<count>, got 'SOME'"
    assert cli_error(capsys, "signing-config", "create", "--rekor", spec, "--rekor-config", "SOME") == (
        1, "Error: --rekor-config must be ANY, ALL or EXACT:<count>, got 'SOME'\n")


def test_image_build_layer(tmp_path: Path) -> None:
    """``--layer SRC[:DEST]`` is parsed by the CLI; the library takes a LayerSpec and says what is wrong."""
    from sigward.cli.image import parse_layer_spec
    from sigward.ops.build import LayerSpec, layer_problem

    tarball = tmp_path / "layer.tar"
    tarball.write_bytes(b"")
    assert layer_problem(LayerSpec(str(tarball), "/app")) == (
        "a tarball is appended as is; LayerSpec.dest is only for directories")
    with pytest.raises(SigwardError) as e:
        parse_layer_spec(f"{tarball}:/app")
    from sigward.cli.errors import cli_message

    assert cli_message(e.value) == (
        f"--layer {tarball}:/app: a tarball is appended as is; DEST is only for directories")
    assert parse_layer_spec(str(tmp_path)) == LayerSpec(str(tmp_path), "/")
    assert parse_layer_spec(str(tarball)) == LayerSpec(str(tarball))


def test_copy_only_value(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sigward.ops.copy import parse_only

    assert library_error(lambda: parse_only(["sig,img"])) == (
        "invalid value for plan_copy(only): img, only the following values are supported: [sig sbom att]")
    assert cli_error(capsys, "copy", "--only=sig,img", f"oci:{tmp_path}/a", f"oci:{tmp_path}/b") == (
        1, "Error: invalid value for --only: img, only the following values are supported: [sig sbom att]\n")


def test_registry_tls_and_credentials(capsys: pytest.CaptureFixture[str], tls_registry: Any,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry whose certificate is not trusted, then one that wants credentials nobody gave: the
    library names ``StoreOptions`` fields, the CLI the registry flags."""
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))  # no credentials from anywhere
    ref = f"{tls_registry.host}/wording/image:v1"

    def tags(**options: Any) -> None:
        with open_store(parse_reference(ref), StoreOptions(**options)) as store:
            store.tags()

    text = library_error(tags)
    assert text.startswith(f"TLS certificate of registry {tls_registry.host} cannot be verified (")
    assert text.endswith("); set StoreOptions.ca_file to trust its CA, or "
                         "StoreOptions.allow_insecure_registry to skip verification")
    code, err = cli_error(capsys, "triangulate", ref)
    assert code == 1 and err.startswith("Error: ") and err.endswith(
        "; pass --registry-cacert FILE to trust its CA, or --allow-insecure-registry to skip verification\n")

    text = library_error(lambda: tags(ca_file=str(tls_registry.ca_file)))
    assert text.endswith(f"(registry {tls_registry.host}: no credentials found; run `sigward login "
                         f"{tls_registry.host}` or set StoreOptions.username and StoreOptions.password)")
    code, err = cli_error(capsys, "triangulate", "--registry-cacert", str(tls_registry.ca_file), ref)
    assert code == 1 and err.startswith("Error: ") and err.endswith(
        f"(registry {tls_registry.host}: no credentials found; run `sigward login {tls_registry.host}` or "
        "pass --registry-username/--registry-password)\n")


def test_registry_serving_plain_http(capsys: pytest.CaptureFixture[str], registry: Any) -> None:
    """A plain-HTTP registry that is not known to be on this machine gets no HTTP fallback, and the error
    says how to allow it. ``127.1`` is 127.0.0.1 spelled so that sigward does not take it for loopback:
    the stand-in for a remote registry (it is the real distribution server of the ``registry`` fixture)."""
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import StoreOptions, open_store

    host = registry.host.replace("127.0.0.1:", "127.1:")
    assert host != registry.host
    ref = f"{host}/wording/image:v1"

    def tags(**options: Any) -> list[str]:
        with open_store(parse_reference(ref), StoreOptions(**options)) as store:
            return store.tags()

    assert library_error(tags).endswith("; if it serves plain HTTP, set StoreOptions.allow_http_registry")
    from sigward.errors import NotFoundError

    with pytest.raises(NotFoundError, match="NAME_UNKNOWN"):  # the advice works: the registry answers
        tags(allow_http_registry=True)
    code, err = cli_error(capsys, "triangulate", ref)
    assert code == 1 and err.startswith(f"Error: cannot reach registry {host}: ") and err.endswith(
        "; if it serves plain HTTP, use --allow-http-registry\n")
