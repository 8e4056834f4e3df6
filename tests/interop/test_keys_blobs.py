"""Key files and blobs, cosign ⇄ sigward: each tool's key pair used by the other; sign-blob/verify-blob with
a bundle and with a bare signature; attest-blob/verify-blob-attestation with ``--type`` checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.interop.conftest import (
    DIRECTION_IDS,
    DIRECTIONS,
    LEGACY_SIGN,
    NO_TLOG_VERIFY,
    KeyPair,
    Tools,
    bundle_sign,
)

pytestmark = pytest.mark.parametrize("direction", DIRECTIONS, ids=DIRECTION_IDS)


@pytest.mark.interop("key pair: public-key, sign-blob with the other tool's key")
def test_key_pair_used_by_the_other_tool(tools: Tools, keys: dict[str, KeyPair], tmp_path: Path,
                                         direction: tuple[str, str], no_log_config: Path) -> None:
    producer, consumer = direction
    pair = keys[producer]
    out = tools.ok(consumer, "public-key", "--key", pair.key, "--outfile", tmp_path / "derived.pub")
    assert out.returncode == 0
    derived = (tmp_path / "derived.pub").read_bytes()
    assert load_pem_public_key(derived) == load_pem_public_key(pair.pub.read_bytes())
    # The consumer signs with the producer's private key; the producer verifies with its own public key.
    blob = tmp_path / "blob.txt"
    blob.write_text(f"signed by {consumer} with a key made by {producer}\n")
    tools.ok(consumer, "sign-blob", "--yes", "--key", pair.key, *bundle_sign(no_log_config),
             "--bundle", tmp_path / "b.json", blob)
    tools.parallel((producer, True, ["verify-blob", "--key", pair.pub, "--bundle", tmp_path / "b.json",
                                     *NO_TLOG_VERIFY, blob]),
                   (producer, False, ["verify-blob", "--key", keys[consumer].pub, "--bundle",
                                      tmp_path / "b.json", *NO_TLOG_VERIFY, blob]))


@pytest.mark.interop("sign-blob / verify-blob")
@pytest.mark.parametrize("form", ["bundle", "bare signature"])
def test_blob_signature(tools: Tools, keys: dict[str, KeyPair], tmp_path: Path, direction: tuple[str, str],
                        form: str, no_log_config: Path) -> None:
    producer, consumer = direction
    blob, other = tmp_path / "blob.bin", tmp_path / "other.bin"
    blob.write_bytes(b"\x00blob signed by " + producer.encode() + b"\n")
    other.write_bytes(b"a different blob\n")
    sig = tmp_path / ("b.sigstore.json" if form == "bundle" else "blob.sig")
    if form == "bundle":
        tools.ok(producer, "sign-blob", "--yes", "--key", keys[producer].key, *bundle_sign(no_log_config),
                 "--bundle", sig, blob)
        flag = "--bundle"
    else:
        tools.ok(producer, "sign-blob", "--yes", "--key", keys[producer].key, *LEGACY_SIGN,
                 "--output-signature", sig, blob)
        flag = "--signature"
    tools.parallel(
        (consumer, True, ["verify-blob", "--key", keys[producer].pub, flag, sig, *NO_TLOG_VERIFY, blob]),
        (consumer, False, ["verify-blob", "--key", keys[producer].pub, flag, sig, *NO_TLOG_VERIFY, other]),
        (consumer, False, ["verify-blob", "--key", keys[consumer].pub, flag, sig, *NO_TLOG_VERIFY, blob]),
    )


@pytest.mark.interop("attest-blob / verify-blob-attestation (--type)")
def test_blob_attestation(tools: Tools, keys: dict[str, KeyPair], tmp_path: Path, direction: tuple[str, str],
                          no_log_config: Path) -> None:
    producer, consumer = direction
    blob = tmp_path / "artifact.tar"
    blob.write_bytes(b"an artifact to attest\n")
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"builder":{"id":"https://example.com/builder"},"buildType":"x"}')
    bundle = tmp_path / "att.sigstore.json"
    tools.ok(producer, "attest-blob", "--yes", "--key", keys[producer].key, *bundle_sign(no_log_config),
             "--predicate", predicate, "--type", "slsaprovenance", "--bundle", bundle, blob)
    pub = keys[producer].pub
    tools.parallel(
        (consumer, True, ["verify-blob-attestation", "--key", pub, "--bundle", bundle, "--type",
                          "slsaprovenance", *NO_TLOG_VERIFY, blob]),
        (consumer, False, ["verify-blob-attestation", "--key", pub, "--bundle", bundle, "--type",
                           "custom", *NO_TLOG_VERIFY, blob]),
        (consumer, False, ["verify-blob-attestation", "--key", keys[consumer].pub, "--bundle", bundle,
                           "--type", "slsaprovenance", *NO_TLOG_VERIFY, blob]),
    )
