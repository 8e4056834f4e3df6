"""All 140 offline verify cases of sigstore-conformance, through the ``sigward-conformance`` client protocol.

Positive cases must verify; ``_fail`` cases must fail *for the reason the case is about*: each one is
mapped to the check that must reject it (a substring of the one-line error), so a case that fails for
an unrelated reason (a crash, a missing file, an unimplemented flag) fails the test.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sigward import conformance

VECTORS = Path(__file__).parent.parent / "vectors" / "sigstore-conformance"
CASES = VECTORS / "bundle-verify"
PRODUCTION_ROOT = VECTORS / "production_trusted_root.json"
DEFAULT_IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
                    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"

TLOG_MISMATCH = "does not match the bundle's signature, signer or artifact"
EXPECTED_FAILURE = {
    "bundle-empty-certificate-chain_fail": "x509CertificateChain.certificates is empty",
    "bundle-from-wrong-instance_fail": "unknown log",
    "bundle-invalid-base64-signature_fail": "signature is not valid base64",
    "bundle-malformed-json_fail": "not valid JSON",
    "bundle-negative-log-index_fail": "negative log index",
    "bundle-unknown-version_fail": "unsupported bundle version 99.9",
    "bundle-with-root-cert_fail": "contains a root (self-signed) certificate",
    "checkpoint-bad-keyhint_fail": "checkpoint: no valid signature from the log's key",
    "checkpoint-wrong-roothash_fail": "checkpoint: its root hash or tree size does not match",
    "dsse-invalid-sig_fail": "DSSE signature: invalid signature",
    # A second valid signature by the same key over the same payload: only the log entry tells.
    "dsse-mismatch-envelope_fail": TLOG_MISMATCH,
    "dsse-mismatch-sig_fail": TLOG_MISMATCH,
    "inclusion-proof-corrupted-hash_fail": "computed root hash does not match",
    # The hashedrekord's public key was modified, which changes the Merkle leaf.
    "incorrect-public-key_fail": "computed root hash does not match",
    "integrated-time-in-future_fail": "signing certificate was not valid at",
    "intoto-expired-certificate_fail": "signing certificate was not valid at",
    "intoto-log-entry-mismatch_fail": TLOG_MISMATCH,
    "intoto-missing-inclusion-proof_fail": "has no inclusion proof",
    "intoto-set-outside-signing-cert-validity_fail": "signing certificate was not valid at",
    "intoto-tsa-timestamp-outside-cert-validity_fail": "signing certificate was not valid at",
    "invalid-checkpoint-signature_fail": "checkpoint: no valid signature from the log's key",
    "invalid-ct-key_fail": "SCT from an unknown CT log",
    "invalid-inclusion-proof_fail": "computed root hash does not match",
    "managed-key-no-key_fail": "signed with a key, not a certificate",
    "managed-key-wrong-key_fail": "key.pub: cannot parse PUBLIC KEY",
    "message-digest-mismatch_fail": "artifact's digest does not match the digest in the bundle",
    "rekor2-checkpoint-missing-log-signature_fail": "checkpoint: the note is not signed",
    "rekor2-checkpoint-missing-origin_fail": "needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-missing-root-hash_fail": "needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-missing-size_fail": "needs an origin, a tree size and a root hash",
    "rekor2-checkpoint-no-matching-signature_fail": "checkpoint: no valid signature from the log's key",
    "rekor2-dsse-invalid-sig_fail": "DSSE signature: invalid signature",
    "rekor2-dsse-mismatch-envelope_fail": TLOG_MISMATCH,
    "rekor2-dsse-mismatch-sig_fail": TLOG_MISMATCH,
    "rekor2-no-inclusion-proof_fail": "has no inclusion proof",
    "rekor2-no-timestamp_fail": "no verified time",
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": "the TSA was not trusted at",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": "does not chain to this TSA's certificates",
    "rekor2-timestamp-payload-mismatch_fail": "Mismatch between messages",
    # FreeTSA's response: rfc3161-client already refuses its DER (non-canonical SET ordering).
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": "timestamp:",
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": "signer is not a certificate of this TSA",
    "rekor2-timestamp-with-incorrect-time_fail": "signing certificate was not valid at",
    "set-invalid-signature_fail": "the SET (signed entry timestamp) does not verify",
    "signature-mismatch_fail": "signature: invalid signature",
    "trust-root-tlog-missing-validity-start_fail": "validFor has no start",
    "wrong-hashedrekord-artifact_fail": TLOG_MISMATCH,
    "wrong-hashedrekord-cert-and-sig_fail": TLOG_MISMATCH,
    "wrong-hashedrekord-entry_fail": TLOG_MISMATCH,
    # A valid bundle for a.txt checked against another artifact.
    "wrong-material_fail": "artifact's digest does not match",
}

CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _argv(case: str, mode: str) -> list[str]:
    d = CASES / case
    artifact = d / "artifact" if (d / "artifact").exists() else CASES / "a.txt"
    argv = ["verify-bundle", "--bundle", str(d / "bundle.sigstore.json")]
    if (d / "key.pub").exists():
        argv += ["--key", str(d / "key.pub")]
    else:
        identity = (d / "identity").read_text().strip() if (d / "identity").exists() else DEFAULT_IDENTITY
        issuer = (d / "issuer").read_text().strip() if (d / "issuer").exists() else DEFAULT_ISSUER
        argv += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
    root = d / "trusted_root.json" if (d / "trusted_root.json").exists() else PRODUCTION_ROOT
    argv += ["--trusted-root", str(root)]
    digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
    argv.append(str(artifact) if mode == "PATH" else digest)
    return argv


def test_inventory() -> None:
    assert len(CASE_NAMES) == 70
    failing = {c for c in CASE_NAMES if c.endswith("_fail")}
    assert failing == set(EXPECTED_FAILURE), "every _fail case needs its expected reason"


@pytest.mark.parametrize("mode", ["PATH", "DIGEST"])
@pytest.mark.parametrize("case", CASE_NAMES)
def test_verify(case: str, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = conformance.main(_argv(case, mode))
    err = capsys.readouterr().err
    if case.endswith("_fail"):
        assert rc == 1, f"{case} verified but must fail"
        assert err.startswith("Error: ") and err.count("\n") == 1, err
        assert EXPECTED_FAILURE[case] in err, f"{case} failed for another reason: {err}"
    else:
        assert rc == 0, f"{case}: {err}"


def test_entrypoint_installed_and_speaks_the_protocol() -> None:
    """The console script itself (what the conformance action runs), on one positive and one negative case."""
    exe = Path(sys.executable).parent / "sigward-conformance"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sigward.conformance"]
    ok = subprocess.run(cmd + _argv("happy-path-v0.3", "PATH"), capture_output=True, text=True,
                        env={**os.environ})
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(cmd + _argv("signature-mismatch_fail", "DIGEST"), capture_output=True, text=True)
    assert bad.returncode == 1 and "invalid signature" in bad.stderr
