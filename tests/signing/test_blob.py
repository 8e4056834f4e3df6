"""sign-blob / verify-blob with keys: the protobuf bundle, legacy signatures and legacy bundles."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.oci import mediatypes as mt

TEST_PASSWORD = "test-password"  # same as conftest.py

SIGN = ("sign-blob", "--tlog-upload=false")
NOTLOG = "--insecure-ignore-tlog=true"


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    p = tmp_path / "artifact.bin"
    # A few MiB of varied bytes, so chunked hashing crosses chunk boundaries.
    p.write_bytes(b"".join(hashlib.sha256(str(i).encode()).digest() * 64 for i in range(2000)))
    return p


def test_bundle_round_trip(run: Callable[..., Any], keys: Any, blob: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.sigstore.json"
    r = run(*SIGN, "--key", keys.key, "--bundle", str(bundle), str(blob))
    assert r.code == 0 and r.out == ""
    b = json.loads(bundle.read_bytes())
    assert list(b) == ["mediaType", "verificationMaterial", "messageSignature"]
    assert b["mediaType"] == mt.SIGSTORE_BUNDLE_V03
    md = b["messageSignature"]["messageDigest"]
    assert md["algorithm"] == "SHA2_256"
    assert base64.b64decode(md["digest"]) == hashlib.sha256(blob.read_bytes()).digest()
    r = run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(bundle), str(blob))
    assert (r.code, r.err.strip()) == (0, "Verified OK")
    # The digest may stand in for the file.
    dig = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    assert run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(bundle), dig).code == 0


def test_bundle_required_and_tlog(run: Callable[..., Any], keys: Any, blob: Path, tmp_path: Path) -> None:
    r = run(*SIGN, "--key", keys.key, str(blob))
    assert r.code == 1 and "must specify --bundle" in r.err
    bundle = tmp_path / "b.json"
    assert run(*SIGN, "--key", keys.key, "--bundle", str(bundle), str(blob)).code == 0
    r = run("verify-blob", "--key", keys.pub, "--bundle", str(bundle), str(blob))
    assert r.code == 1 and "--insecure-ignore-tlog" in r.err


def test_bundle_tamper_and_wrong_key(run: Callable[..., Any], keys: Any, other_keys: Any, blob: Path,
                                     tmp_path: Path) -> None:
    bundle = tmp_path / "b.json"
    assert run(*SIGN, "--key", keys.key, "--bundle", str(bundle), str(blob)).code == 0
    r = run("verify-blob", "--key", other_keys.pub, NOTLOG, "--bundle", str(bundle), str(blob))
    assert r.code == 1 and "signature" in r.err
    data = bytearray(blob.read_bytes())
    data[12345] ^= 1
    changed = tmp_path / "changed.bin"
    changed.write_bytes(bytes(data))
    r = run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(bundle), str(changed))
    assert r.code == 1 and "digest" in r.err
    b = json.loads(bundle.read_bytes())
    sig = bytearray(base64.b64decode(b["messageSignature"]["signature"]))
    sig[-2] ^= 1
    b["messageSignature"]["signature"] = base64.b64encode(bytes(sig)).decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(b))
    r = run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(bad), str(blob))
    assert r.code == 1 and "signature" in r.err
    (tmp_path / "junk.json").write_text('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}')
    r = run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(tmp_path / "junk.json"), str(blob))
    assert r.code == 1 and r.err.startswith("Error: ")


def test_legacy_signature_and_bundle(run: Callable[..., Any], keys: Any, blob: Path, tmp_path: Path) -> None:
    legacy_bundle = tmp_path / "legacy.json"
    r = run(*SIGN, "--new-bundle-format=false", "--key", keys.key, "--bundle", str(legacy_bundle), str(blob))
    assert r.code == 0
    sig_b64 = r.out.strip()
    assert r.out.endswith("\n") and len(base64.b64decode(sig_b64)) > 60
    lb = json.loads(legacy_bundle.read_bytes())
    assert lb["base64Signature"] == sig_b64
    assert base64.b64decode(lb["cert"]).startswith(b"-----BEGIN PUBLIC KEY-----")
    assert "rekorBundle" not in lb
    (tmp_path / "sig").write_text(r.out)
    assert run("verify-blob", "--key", keys.pub, NOTLOG, "--signature", str(tmp_path / "sig"),
               str(blob)).code == 0
    # verify-blob tells the legacy bundle from a protobuf one by itself.
    assert run("verify-blob", "--key", keys.pub, NOTLOG, "--bundle", str(legacy_bundle), str(blob)).code == 0
    r = run("verify-blob", "--key", keys.pub, NOTLOG, "--signature", str(tmp_path / "sig"),
            str(tmp_path / "x"))
    assert r.code == 1 and "cannot read" in r.err


@pytest.mark.parametrize(("flag", "algorithm"), [("ecdsa-sha2-384-nistp384", "SHA2_384"),
                                                  ("rsa-sign-pkcs1-2048-sha256", "SHA2_256")])
def test_other_key_types(run: Callable[..., Any], blob: Path, tmp_path: Path, flag: str,
                         algorithm: str) -> None:
    from cryptography.hazmat.primitives import serialization

    from sigward.keys.algorithms import generate_private_key

    key = generate_private_key(flag)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "in.pem").write_bytes(pem)
    prefix = str(tmp_path / "imported")
    assert run("import-key-pair", "--key", str(tmp_path / "in.pem"), "-o", prefix, "-y").code == 0
    bundle = tmp_path / "b.json"
    assert run(*SIGN, "--key", prefix + ".key", "--bundle", str(bundle), str(blob)).code == 0
    assert json.loads(bundle.read_bytes())["messageSignature"]["messageDigest"]["algorithm"] == algorithm
    assert run("verify-blob", "--key", prefix + ".pub", NOTLOG, "--bundle", str(bundle), str(blob)).code == 0


def test_stdin_is_streamed_by_the_real_cli(keys: Any, blob: Path, tmp_path: Path) -> None:
    """`-` reads stdin; run as a real process so stdin is a pipe."""
    bundle = tmp_path / "b.json"
    env = {"COSIGN_PASSWORD": TEST_PASSWORD, "PATH": "/usr/bin:/bin"}
    with blob.open("rb") as f:
        p = subprocess.run([sys.executable, "-m", "sigward", *SIGN, "--key", keys.key, "--bundle",
                            str(bundle), "-"], stdin=f, capture_output=True, env=env, check=False)
    assert p.returncode == 0, p.stderr
    with blob.open("rb") as f:
        p = subprocess.run([sys.executable, "-m", "sigward", "verify-blob", "--key", keys.pub, NOTLOG,
                            "--bundle", str(bundle), "-"], stdin=f, capture_output=True, env=env, check=False)
    assert p.returncode == 0 and p.stderr.strip() == b"Verified OK"
