"""A keyless-signed base (the seed's distroless case), against the local Sigstore stack: the right
identity and issuer build, a wrong identity refuses with verify's exit code and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.build.helpers import built_ref, demo_base, open_ref
from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF

IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"


def test_keyless_base(run: Callable[..., Any], sigstore_stack: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    token = sigstore_stack.minter.mint_github()
    r = run("sign", "--yes", "--identity-token", token, "--trusted-root", str(sigstore_stack.trusted_root),
            "--signing-config", str(sigstore_stack.signing_config), "-a", "imageRef=refs/tags/0.5.0", base)
    assert r.code == 0, r.err
    trust = ("--trusted-root", str(sigstore_stack.trusted_root))

    def build(target: str, identity: str, *extra: str) -> Any:
        return run("image", "build", "--base", base, *trust, "--certificate-identity", identity,
                   "--certificate-oidc-issuer", GITHUB_ISSUER, *extra, "--layer", str(source), target)

    wrong = build(f"oci:{tmp_path}/bad", "https://github.com/someone/else")
    verify = run("verify", *trust, "--certificate-identity", "https://github.com/someone/else",
                 "--certificate-oidc-issuer", GITHUB_ISSUER, base)
    assert verify.code != 0 and wrong.code == verify.code
    assert "does not verify" in wrong.err and "refusing to build" in wrong.err
    assert not (tmp_path / "bad").exists()

    ok = build(f"oci:{tmp_path}/out", IDENTITY, "--base-annotation", "imageRef=refs/tags/0.5.0")
    ref = built_ref(ok)
    assert "code-signing certificate was verified" in ok.err
    assert "transparency log was verified offline" in ok.err
    store, digest = open_ref(ref)
    m = store.get_manifest(digest)
    assert m.annotations["org.opencontainers.image.base.digest"] == base.rsplit("@", 1)[1]
    # A regexp identity works as in verify.
    ok2 = run("image", "build", "--base", base, *trust, "--certificate-identity-regexp", "example-org/",
              "--certificate-oidc-issuer-regexp", "githubusercontent", "--layer", str(source),
              f"oci:{tmp_path}/out2")
    assert built_ref(ok2).rsplit("@", 1)[1] == digest
