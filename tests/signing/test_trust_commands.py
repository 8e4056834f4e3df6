"""initialize, trusted-root create, signing-config create, bundle create/inspect/upgrade (issue 12 item 6),
against the local Sigstore stack: what these commands write is then used to sign and verify for real."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

IDENTITY = ("--certificate-identity", f"https://github.com/{GITHUB_WORKFLOW_REF}",
            "--certificate-oidc-issuer", GITHUB_ISSUER)
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _pieces(stack: Any, out: Path) -> dict[str, str]:
    """The stack's trusted root taken apart into the PEM files an operator would have."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    tr = json.loads(stack.trusted_root.read_bytes())

    def certs(entry: dict[str, Any]) -> bytes:
        return b"".join(x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"])).public_bytes(
            serialization.Encoding.PEM) for c in entry["certChain"]["certificates"])

    def key(entry: dict[str, Any]) -> bytes:
        pub = serialization.load_der_public_key(base64.b64decode(entry["publicKey"]["rawBytes"]))
        return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    files = {"fulcio": certs(tr["certificateAuthorities"][0]), "tsa": certs(tr["timestampAuthorities"][0]),
             "rekor1": key(tr["tlogs"][0]), "rekor2": key(tr["tlogs"][1]), "ctfe": key(tr["ctlogs"][0])}
    for name, data in files.items():
        (out / f"{name}.pem").write_bytes(data)
    return {name: str(out / f"{name}.pem") for name in files}


def test_trusted_root_create_then_verify_keyless(run: Callable[..., Any], sigstore_stack: Any,
                                                 layout: Callable[..., str], tmp_path: Path) -> None:
    stack = sigstore_stack
    p = _pieces(stack, tmp_path)
    url = stack.rekor_url.rstrip("/")
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname  # the stack names its Rekor v2 log (checkpoint origin) by host name
    start = "2020-01-01T00:00:00Z"
    out = tmp_path / "trusted_root.json"
    r = run("trusted-root", "create", "--fulcio", f"url={url},certificate-chain={p['fulcio']}",
            "--rekor", f"url={url},public-key={p['rekor1']},start-time={start}",
            "--rekor", f"url={url},public-key={p['rekor2']},start-time={start},origin={host}",
            "--ctfe", f"url={url},public-key={p['ctfe']},start-time={start}",
            "--tsa", f"url={url}/api/v1/timestamp,certificate-chain={p['tsa']}", "--out", str(out))
    assert r.code == 0, r.err
    made, theirs = json.loads(out.read_bytes()), json.loads(stack.trusted_root.read_bytes())
    assert [t["logId"] for t in made["tlogs"]] == [t["logId"] for t in theirs["tlogs"]]
    assert made["tlogs"][1]["checkpointKeyId"] == theirs["tlogs"][1]["checkpointKeyId"]
    assert [c["logId"] for c in made["ctlogs"]] == [c["logId"] for c in theirs["ctlogs"]]
    # Sign against the stack (Rekor v2, TSA), verify with only the created root.
    img = layout()
    token = stack.minter.mint_github()
    assert run("sign", "--yes", "--identity-token", token, "--trusted-root", str(stack.trusted_root),
               "--signing-config", str(stack.signing_config_v2), img).code == 0
    r = run("verify", "--trusted-root", str(out), *IDENTITY, img)
    assert r.code == 0, r.err
    # A spec missing a required key: one line naming it.
    r = run("trusted-root", "create", "--rekor", f"url={url},public-key={p['rekor1']}")
    assert r.code == 1 and "missing or empty required key 'start-time' in rekor spec" in r.err
    r = run("trusted-root", "create", "--rekor-key", p["rekor1"])
    assert r.code == 1 and "deprecated in cosign" in r.err


def test_signing_config_create_then_sign(run: Callable[..., Any], sigstore_stack: Any,
                                         layout: Callable[..., str], tmp_path: Path) -> None:
    stack = sigstore_stack
    base = json.loads(stack.signing_config_v2.read_bytes())
    url = stack.rekor_url.rstrip("/")
    out = tmp_path / "signing_config.json"
    # Keep the base's Fulcio/OIDC/TSA, replace Rekor with the stack's v1 log.
    r = run("signing-config", "create", "--base-config", str(stack.signing_config_v2),
            "--rekor", f"url={url},api-version=1,start-time=2020-01-01T00:00:00Z,operator=test",
            "--rekor-config", "EXACT:1", "--out", str(out))
    assert r.code == 0, r.err
    made = json.loads(out.read_bytes())
    assert made["caUrls"] == base["caUrls"] and made["tsaUrls"] == base["tsaUrls"]
    assert made["rekorTlogUrls"] == [{"url": url, "majorApiVersion": 1,
                                      "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "test"}]
    assert made["rekorTlogConfig"] == {"selector": "EXACT", "count": 1}
    img = layout()
    token = stack.minter.mint_github()
    r = run("sign", "--yes", "--identity-token", token, "--trusted-root", str(stack.trusted_root),
            "--signing-config", str(out), img)
    assert r.code == 0, r.err
    assert run("verify", "--trusted-root", str(stack.trusted_root), *IDENTITY, img).code == 0
    r = run("signing-config", "create", "--rekor", f"url={url},api-version=1,start-time=x,operator=o")
    assert r.code == 1 and "--rekor-config is required" in r.err


def test_bundle_create_inspect_upgrade(run: Callable[..., Any], sigstore_stack: Any, keys: Any,
                                       tmp_path: Path) -> None:
    stack = sigstore_stack
    blob = tmp_path / "artifact.txt"
    blob.write_text("release notes\n")
    old, sig = tmp_path / "old.json", tmp_path / "sig.b64"
    trust = ("--trusted-root", str(stack.trusted_root))
    r = run("sign-blob", "--yes", "--key", keys.key, "--new-bundle-format=false", "--bundle", str(old),
            *trust, "--signing-config", str(stack.signing_config), str(blob))
    assert r.code == 0, r.err
    sig.write_text(r.out.strip())
    assert "rekorBundle" in json.loads(old.read_bytes())
    new = tmp_path / "new.json"
    r = run("bundle", "create", "--artifact", str(blob), "--bundle", str(old), "--key", keys.pub, "--out",
            str(new))
    assert r.code == 0, r.err
    # The log entry travelled (as an inclusion promise): it verifies with the log check on.
    r = run("verify-blob", "--key", keys.pub, "--bundle", str(new), *trust, str(blob))
    assert r.code == 0, r.err
    r = run("bundle", "inspect", str(new))
    assert r.code == 0
    assert "Bundle version: 0.1" in r.out and "inclusion promise" in r.out and "Public key hint" in r.out
    # From a bare signature, without log evidence: v0.3, verifies only with --insecure-ignore-tlog.
    bare = tmp_path / "bare.json"
    assert run("bundle", "create", "--artifact", str(blob), "--signature", str(sig), "--key", keys.pub,
               "--ignore-tlog", "--out", str(bare)).code == 0
    assert json.loads(bare.read_bytes())["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert run("verify-blob", "--key", keys.pub, "--bundle", str(bare), *trust, str(blob)).code != 0
    assert run("verify-blob", "--key", keys.pub, "--bundle", str(bare), "--insecure-ignore-tlog=true",
               str(blob)).code == 0
    # A tampered signature does not verify.
    bad = tmp_path / "bad.b64"
    raw = base64.b64decode(sig.read_text())
    bad.write_text(base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode())
    worse = tmp_path / "worse.json"
    assert run("bundle", "create", "--artifact", str(blob), "--signature", str(bad), "--key", keys.pub,
               "--ignore-tlog", "--out", str(worse)).code == 0
    assert run("verify-blob", "--key", keys.pub, "--bundle", str(worse), "--insecure-ignore-tlog=true",
               str(blob)).code != 0
    r = run("bundle", "create", "--artifact", str(blob), "--signature", str(sig))
    assert r.code == 1 and "pass --certificate or --key" in r.err


def test_bundle_upgrade_v02_to_v03(run: Callable[..., Any], tmp_path: Path) -> None:
    v02 = next(p for p in sorted((VECTORS / "sigstore-conformance" / "bundle-verify").glob("*/*.json"))
               if not p.parent.name.endswith("_fail") and "version=0.2" in (t := p.read_text())
               and "inclusionProof" in t and "x509CertificateChain" in t)
    out = tmp_path / "up.json"
    r = run("bundle", "upgrade", str(v02), "--out", str(out))
    assert r.code == 0, r.err
    up, orig = json.loads(out.read_bytes()), json.loads(v02.read_bytes())
    assert up["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    leaf = orig["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
    assert up["verificationMaterial"]["certificate"] == leaf
    assert up["verificationMaterial"]["tlogEntries"] == orig["verificationMaterial"]["tlogEntries"]


def test_initialize_from_a_tuf_mirror(run: Callable[..., Any], sigstore_stack: Any,
                                      layout: Callable[..., str], tmp_path: Path) -> None:
    """`initialize --mirror URL --root root.json` against a real TUF repository serving the stack's trusted
    root: afterwards keyless verification needs no --trusted-root."""
    from tests.fixtures.tufrepo import serve

    stack = sigstore_stack
    env = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "TUF_ROOT": str(tmp_path / "tuf")}
    img = layout()
    token = stack.minter.mint_github()
    assert run("sign", "--yes", "--identity-token", token, "--trusted-root", str(stack.trusted_root),
               "--signing-config", str(stack.signing_config), img).code == 0
    targets = {"trusted_root.json": stack.trusted_root.read_bytes(),
               "signing_config.v0.2.json": stack.signing_config.read_bytes()}
    with serve(tmp_path / "repo", targets) as repo:
        # Unknown mirror without its root: refused, with the way out.
        r = run("initialize", "--mirror", repo.url, env=env)
        assert r.code == 1 and "--root" in r.err
        r = run("initialize", "--mirror", repo.url, "--root", str(repo.root_file),
                "--root-checksum", "0" * 64, env=env)
        assert r.code == 1 and "--root-checksum" in r.err
        r = run("initialize", "--mirror", repo.url, "--root", str(repo.root_file), env=env)
        assert r.code == 0, r.err
        assert "transparency logs: 2" in r.out
        r = run("verify", *IDENTITY, img, env=env)
        assert r.code == 0, r.err
    # The repository is gone: the cached, verified metadata still serves an offline verify.
    r = run("verify", "--offline", *IDENTITY, img, env=env)
    assert r.code == 0, r.err
