"""Keyless signing through the local Sigstore stack, cosign ⇄ sigward: Rekor v1, and Rekor v2 with a TSA.

Each tool signs (Fulcio certificate from a GitHub Actions identity token, log entry, timestamp) an image,
an attestation and a blob; the other verifies against the stack's trusted root, and both refuse a wrong
identity. The stack answers as the real services do (200 from Fulcio, Rekor v1's ETag, DER timestamps,
rekor-tiles' hashedrekord entries and host-name checkpoints), which sigstore-go inside cosign insists on.
Also: sigstore-python and sigstore-js over sigward's keyless bundles when the log index is 0, and a
malformed TSA reply, which must stop ``sign`` before anything is pushed.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.jwt_tokens import GITHUB_ISSUER, GITHUB_WORKFLOW_REF
from tests.fixtures.loopback import LoopbackServer
from tests.fixtures.sigstore_stack import STACK_DIR, SigstoreStack
from tests.interop.conftest import COSIGN, DIRECTION_IDS, DIRECTIONS, SIGWARD, TOOLS, Tools, new_image

IDENTITY = f"https://github.com/{GITHUB_WORKFLOW_REF}"
WRONG_IDENTITY = "https://github.com/someone-else/repo/.github/workflows/release.yml@refs/tags/0.5.0"
REKOR = ["rekor-v1", "rekor-v2+tsa"]


def signing_config(stack: SigstoreStack, rekor: str) -> Path:
    return stack.signing_config_v2 if rekor == "rekor-v2+tsa" else stack.signing_config


def sign_args(stack: SigstoreStack, rekor: str, token_file: Path) -> list[str]:
    return ["--yes", "--identity-token", str(token_file), "--signing-config",
            str(signing_config(stack, rekor)), "--trusted-root", str(stack.trusted_root)]


def identity_args(stack: SigstoreStack, identity: str = IDENTITY) -> list[str]:
    return ["--trusted-root", str(stack.trusted_root), "--certificate-identity", identity,
            "--certificate-oidc-issuer", GITHUB_ISSUER]


@pytest.fixture
def token_file(sigstore_stack: SigstoreStack, tmp_path: Path) -> Path:
    """A fresh GitHub Actions identity token in a file without a trailing newline (cosign sends it as is)."""
    path = tmp_path / "token"
    path.write_text(sigstore_stack.minter.mint_github())
    return path


@pytest.mark.interop("keyless image signature + attestation, wrong identity refused by both")
@pytest.mark.parametrize("rekor", REKOR)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_keyless_image(tools: Tools, sigstore_stack: SigstoreStack, token_file: Path, registry_host: str,
                       registry_kind: str, direction: tuple[str, str], rekor: str, tmp_path: Path) -> None:
    producer, consumer = direction
    ref = new_image(registry_host, f"keyless-{producer}")
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"scanner":"interop","result":"clean"}')
    args = sign_args(sigstore_stack, rekor, token_file)
    tools.ok(producer, "sign", *args, ref)
    tools.ok(producer, "attest", *args, "--predicate", predicate, "--type", "custom", ref)
    good, wrong = identity_args(sigstore_stack), identity_args(sigstore_stack, WRONG_IDENTITY)
    tools.parallel(
        (consumer, True, ["verify", *good, ref]),
        (consumer, True, ["verify-attestation", *good, "--type", "custom", ref]),
        (consumer, False, ["verify", *wrong, ref]),
        (producer, False, ["verify", *wrong, ref]),
    )


@pytest.mark.interop("keyless sign-blob / attest-blob bundles, wrong identity refused by both")
@pytest.mark.parametrize("rekor", REKOR)
@pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)
def test_keyless_blob(tools: Tools, sigstore_stack: SigstoreStack, token_file: Path,
                      direction: tuple[str, str], rekor: str, tmp_path: Path) -> None:
    producer, consumer = direction
    blob = tmp_path / "release.tar.gz"
    blob.write_bytes(f"release artifact signed by {producer} on {rekor}\n".encode())
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"buildType":"https://example.com/t","builder":{"id":"https://example.com/b"}}')
    args = sign_args(sigstore_stack, rekor, token_file)
    tools.ok(producer, "sign-blob", *args, "--bundle", tmp_path / "sig.json", blob)
    tools.ok(producer, "attest-blob", *args, "--predicate", predicate, "--type", "slsaprovenance",
             "--bundle", tmp_path / "att.json", blob)
    good, wrong = identity_args(sigstore_stack), identity_args(sigstore_stack, WRONG_IDENTITY)
    tools.parallel(
        (consumer, True, ["verify-blob", *good, "--bundle", tmp_path / "sig.json", blob]),
        (consumer, True, ["verify-blob-attestation", *good, "--type", "slsaprovenance",
                          "--bundle", tmp_path / "att.json", blob]),
        (consumer, False, ["verify-blob", *wrong, "--bundle", tmp_path / "sig.json", blob]),
        (producer, False, ["verify-blob", *wrong, "--bundle", tmp_path / "sig.json", blob]),
    )


# -- sigstore-python and sigstore-js over sigward's bundles, at log index 0 ------------------------------

@pytest.fixture(scope="module")
def empty_log_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigstoreStack]:
    """A second stack whose logs start empty: the first entry of each log has index 0."""
    stack = SigstoreStack(tmp_path_factory.mktemp("empty-log-stack"), empty_logs=True).start()
    yield stack
    stack.stop()


@pytest.mark.interop("sigward keyless bundle at log index 0, verified by sigstore-python and sigstore-js")
@pytest.mark.parametrize("rekor", REKOR)
def test_log_index_zero_bundles_verify_with_sigstore_python_and_js(
        tools: Tools, empty_log_stack: SigstoreStack, rekor: str, tmp_path: Path) -> None:
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    stack = empty_log_stack
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"first entry of the log\n")
    token = tmp_path / "token"
    token.write_text(stack.minter.mint_github())
    bundle = tmp_path / "b.sigstore.json"
    tools.ok(SIGWARD, "sign-blob", *sign_args(stack, rekor, token), "--bundle", bundle, blob)
    (entry,) = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"]
    # Protobuf-JSON would leave a zero out; sigstore-python needs the field, so sigward always writes it.
    assert entry["inclusionProof"]["logIndex"] == "0"
    if rekor == "rekor-v2+tsa":
        assert entry["logIndex"] == "0"
    Verifier(trusted_root=TrustedRoot.from_file(str(stack.trusted_root))).verify_artifact(
        blob.read_bytes(), Bundle.from_json(bundle.read_bytes()),
        Identity(identity=IDENTITY, issuer=GITHUB_ISSUER))
    js = subprocess.run(["node", str(STACK_DIR / "js_client.js"), "verify", "--trusted-root",
                         str(stack.trusted_root), "--bundle", str(bundle), "--in", str(blob),
                         "--san", IDENTITY, "--issuer", GITHUB_ISSUER],
                        capture_output=True, text=True, timeout=60)
    assert js.returncode == 0 and json.loads(js.stdout)["verified"] is True, js.stderr
    # cosign reads the same bundle.
    tools.ok(COSIGN, "verify-blob", *identity_args(stack), "--bundle", bundle, blob)


# -- a malformed TSA reply ---------------------------------------------------------------------------------

class CorruptingTSA(LoopbackServer):
    """Forwards timestamp requests to the stack's real TSA and flips one byte inside the signed token:
    a well-formed TimeStampResp (status granted) whose token no longer parses. A fake, because no real
    TSA sends that; it speaks RFC 3161 over HTTP like one."""

    thread_name = "corrupting-tsa"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.requests = 0
        self.lock = threading.Lock()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                reply = httpx.post(outer.upstream, content=body,
                                   headers={"Content-Type": "application/timestamp-query"}).content
                with outer.lock:
                    outer.requests += 1
                bad = bytearray(reply)
                bad[200] ^= 0xFF
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(bad)))
                self.end_headers()
                self.wfile.write(bytes(bad))

        return Handler


@pytest.mark.interop("malformed TSA reply: sign fails, nothing pushed")
@pytest.mark.parametrize("tool", TOOLS)
def test_malformed_tsa_reply_stops_signing(tools: Tools, sigstore_stack: SigstoreStack, token_file: Path,
                                           registry_host: str, registry_kind: str, tool: str,
                                           tmp_path: Path) -> None:
    tsa = CorruptingTSA(sigstore_stack.tsa_url)
    tsa.start()
    try:
        config = json.loads(sigstore_stack.signing_config_v2.read_text())
        tsa_url = f"http://{tsa.host}/api/v1/timestamp"
        config["tsaUrls"][0]["url"] = tsa_url
        bad_config = tmp_path / "signing_config.json"
        bad_config.write_text(json.dumps(config))
        ref = new_image(registry_host, f"bad-tsa-{tool}")
        r = tools.fails(tool, "sign", "--yes", "--identity-token", token_file, "--signing-config", bad_config,
                        "--trusted-root", sigstore_stack.trusted_root, ref)
        assert tsa.requests == 1
    finally:
        tsa.stop()
    if tool == SIGWARD:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: timestamp authority "), r.stderr
        assert tsa_url in lines[0] and "Traceback" not in r.stderr and "internal error" not in r.stderr
    # Neither tool pushed anything: the image has no signature of any kind.
    tree = tools.ok(SIGWARD, "tree", ref).stdout
    assert "No Supply Chain Security Related Artifacts found" in tree, tree
