"""cosign.toml and report.toml validation: one clear line naming the file and the key, exit code 3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sigward.signer.config import InputError, parse_cosign_config, parse_report

DIGEST = "sha256:" + "ab" * 32


def test_rfc_schema_and_defaults() -> None:
    cfg = parse_cosign_config("""
[[annotations]]
name = "a"
value = "1"

[[configs]]
key = "cosign.key"

[[configs]]
key = "awskms:///alias/build"
repository = "registry.example/sigs"
docker-media-types = true
password = "pw.txt"
export-sbom = "attachment"
tlog-upload = false
new-bundle-format = false
""")
    assert cfg.annotations == {"a": "1"}
    one, two = cfg.configs
    assert (one.key, one.export_sbom, one.tlog_upload, one.new_bundle_format, one.docker_media_types) == (
        "cosign.key", "attestation", True, True, False)
    assert (two.key, two.repository, two.password, two.export_sbom) == (
        "awskms:///alias/build", "registry.example/sigs", "pw.txt", "attachment")
    assert two.docker_media_types and not two.tlog_upload and not two.new_bundle_format
    keyless = parse_cosign_config('[[configs]]\nidentity-token = "/var/run/token"\n').configs[0]
    assert keyless.keyless and keyless.identity_token == "/var/run/token"


@pytest.mark.parametrize("text, message", [
    ('[[configs]]\nkey = "k"\nexport_sbom = "none"\n',
     "cosign.toml: configs[1]: unknown key 'export_sbom'"),
    ('[[configs]]\nkey = "k"\nexport-sbom = "spdx"\n',
     "cosign.toml: configs[1].export-sbom must be one of none, attestation, attachment, got 'spdx'"),
    ('[[configs]]\nkey = "k"\ndocker-media-types = "yes"\n',
     "cosign.toml: configs[1].docker-media-types must be a boolean (true or false), got 'yes'"),
    ('[[annotations]]\nname = "a"\n[[configs]]\nkey = "k"\n', "cosign.toml: annotations[1].value is missing"),
    ('signer = 1\n[[configs]]\nkey = "k"\n', "cosign.toml: unknown key 'signer'"),
    ('[[annotations]]\nname = "a"\nvalue = "b"\n', "cosign.toml: no [[configs]]: nothing to sign with"),
    ('[[configs]]\npassword = "pw"\n', "cosign.toml: configs[1].password is set but there is no key"),
    ('[[configs]]\ntlog-upload = false\n',
     "cosign.toml: configs[1]: keyless signing needs the transparency log"),
    ("[[configs]\n", "cosign.toml: not valid TOML"),
])
def test_cosign_config_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_cosign_config(text)
    assert str(e.value).startswith(message)


def test_report() -> None:
    r = parse_report(f'[image]\ntags = ["r.example/app:v1", "r.example/app:latest"]\ndigest = "{DIGEST}"\n'
                     'manifest-size = 1366\n')
    assert (r.tags, r.digest, r.manifest_size, r.image_id) == (
        ["r.example/app:v1", "r.example/app:latest"], DIGEST, 1366, None)
    # Platform API < 0.9 reports carry the legacy build BOM: accepted
    assert parse_report(f'[image]\ntags = ["a:b"]\ndigest = "{DIGEST}"\n[[build.bom]]\nname = "x"\n').digest


@pytest.mark.parametrize("text, message", [
    ('[image]\ntags = []\n', "report.toml: image.tags is missing or empty"),
    ('[image]\ntags = ["a:b"]\ndigest = "sha256:12"\n',
     "report.toml: image.digest 'sha256:12' is not a sha256"),
    ('[image]\ntags = ["a:b"]\nmanifest-size = "1366"\n',
     "report.toml: image.manifest-size must be an integer"),
    ('[image]\ntags = ["a:b"]\nsize = 3\n', "report.toml: image: unknown key 'size'"),
    ('tags = ["a:b"]\n', "report.toml: unknown key 'tags'"),
])
def test_report_errors(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_report(text)
    assert str(e.value).startswith(message)


def test_missing_files_named_exit_3(tmp_path: Path) -> None:
    report = tmp_path / "report.toml"
    report.write_text(f'[image]\ntags = ["127.0.0.1:1/app:v1"]\ndigest = "{DIGEST}"\n')
    cfg = tmp_path / "cosign.toml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sigward", "signer", "-report", str(report), *args],
                              capture_output=True, text=True)

    cfg.write_text(f'[[configs]]\nkey = "{tmp_path}/nope.key"\n')
    p = run("-cosign-config", str(cfg))
    assert (p.returncode, p.stderr) == (
        3, f"Error: {cfg}: configs[1].key: no such key file {tmp_path}/nope.key\n")
    (tmp_path / "k.key").write_text("x")
    cfg.write_text(f'[[configs]]\nkey = "{tmp_path}/k.key"\npassword = "{tmp_path}/pw"\n')
    p = run("-cosign-config", str(cfg))
    assert (p.returncode, p.stderr) == (
        3, f"Error: {cfg}: configs[1].password: cannot read {tmp_path}/pw: No such file or directory\n")
    p = run()
    assert p.returncode == 3 and p.stderr.startswith("Error: -cosign-config is required")
    p = run("-cosign-config", str(cfg), "-log-level", "loud")
    assert p.returncode == 3 and "-log-level 'loud'" in p.stderr
    p = run("-cosign-config", str(cfg), "-bogus")
    assert p.returncode == 3 and "unrecognized arguments: -bogus" in p.stderr
    p = subprocess.run([sys.executable, "-m", "sigward", "signer", "-cosign-config", str(cfg), "-report",
                        str(report)], capture_output=True, text=True,
                       env={**__import__("os").environ, "CNB_PLATFORM_API": "0.3"})
    assert p.returncode == 11 and "platform API version '0.3' is incompatible" in p.stderr
