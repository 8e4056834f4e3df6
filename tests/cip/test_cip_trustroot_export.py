"""trusted_root.json → TrustRoot (``sigward policy trustroot``), the inverse of the ``sigstoreKeys``
conversion.

The inputs are Sigstore's public-good production trusted root and a conformance suite's staging root
(tests/vectors/sigstore-conformance, see ORIGIN.md there); what comes out must pass policy-controller's
validation and convert back to the same keys, and what a TrustRoot cannot carry must be said."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sigward.cip.documents import load_documents
from sigward.cip.trustroot import TrustRootError, parse_trustroot
from sigward.cip.trustroot_export import trustroot_from_trusted_root
from sigward.cip.validate import render, validate
from sigward.sigstore.trust import parse_trusted_root

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "sigstore-conformance"
PRODUCTION = VECTORS / "production_trusted_root.json"
STAGING = VECTORS / "bundle-verify" / "rekor2-dsse-happy-path" / "trusted_root.json"
NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def _spki(key: object) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def _round_trip(resource: dict[str, object]) -> object:
    (doc,) = load_documents(yaml.safe_dump(resource).encode(), "made.yaml")
    assert render(validate(doc.body)) == ""
    return parse_trustroot(doc.body).trusted_root()


@pytest.mark.parametrize("include_expired", [False, True])
def test_production_root_round_trips(include_expired: bool) -> None:
    data = PRODUCTION.read_bytes()
    original = parse_trusted_root(data, "production")
    made = trustroot_from_trusted_root("public-good", data, include_expired=include_expired, now=NOW)
    back = _round_trip(made.resource)

    def live(validity: object) -> bool:
        end = getattr(validity, "end", None)
        return include_expired or end is None or end > NOW

    def carried(t: object) -> bool:  # Rekor v2 logs: their IDs are not the SHA-256 of their keys
        key_id = hashlib.sha256(_spki(t.public_key)).digest()  # type: ignore[attr-defined]
        return live(t.validity) and t.key_id == key_id  # type: ignore[attr-defined]

    want_cas = [[c.fingerprint(c.signature_hash_algorithm) for c in a.chain]  # type: ignore[union-attr]
                for a in original.certificate_authorities if live(a.validity)]
    got_cas = [[c.fingerprint(c.signature_hash_algorithm) for c in a.chain]
               for a in back.certificate_authorities]  # type: ignore[attr-defined]
    assert got_cas == want_cas and want_cas
    for kind in ("tlogs", "ctlogs"):
        want = [(t.base_url, _spki(t.public_key)) for t in getattr(original, kind) if carried(t)]
        got = [(t.base_url, _spki(t.public_key)) for t in getattr(back, kind)]
        assert got == want, kind
    # What was left out is said, one note per entry; with include_expired nothing is left out.
    dropped = (len(original.certificate_authorities) - len(want_cas)
               + sum(len(getattr(original, k)) for k in ("tlogs", "ctlogs"))
               - sum(len(getattr(back, k)) for k in ("tlogs", "ctlogs")))
    assert len([n for n in made.notes if "left out" in n]) == dropped
    assert len([n for n in made.notes if "validity ended" in n]) == (0 if include_expired else dropped - 1)


def test_log_ids_a_trustroot_cannot_carry_are_reported() -> None:
    made = trustroot_from_trusted_root("staging", STAGING.read_bytes(), now=NOW)
    odd = [n for n in made.notes if "log ID is not the SHA-256" in n]
    assert len(odd) == 1 and "log2025-alpha3" in odd[0] and "left out" in odd[0]
    back = _round_trip(made.resource)
    assert "log2025-alpha3" not in json.dumps(made.resource)
    assert all("alpha3" not in t.base_url for t in back.tlogs)  # type: ignore[attr-defined]


def test_bad_input_is_one_error() -> None:
    with pytest.raises(TrustRootError, match=r"^tr\.json: not valid JSON"):
        trustroot_from_trusted_root("x", b"{", source="tr.json")
    broken = json.loads(PRODUCTION.read_text())
    broken["tlogs"][0]["publicKey"]["rawBytes"] = "AAAA"
    with pytest.raises(TrustRootError, match="public key cannot be parsed"):
        trustroot_from_trusted_root("x", json.dumps(broken).encode(), source="tr.json")


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sigward", "policy", "trustroot", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli(tmp_path: Path) -> None:
    r = _cli("--name", "public-good", "--trusted-root", "-", "-o", "json", stdin=PRODUCTION.read_text())
    assert r.returncode == 0, r.stderr
    resource = json.loads(r.stdout)
    assert resource["kind"] == "TrustRoot" and resource["metadata"] == {"name": "public-good"}
    assert r.stderr and all(line.startswith("Warning: ") for line in r.stderr.splitlines())

    out = tmp_path / "tr.yaml"
    r = _cli("--name", "public-good", "--trusted-root", str(PRODUCTION), "--include-expired",
             "--out", str(out))
    assert (r.returncode, r.stdout) == (0, "")
    # Nothing expired left out; the Rekor v2 log is, and said so.
    (line,) = r.stderr.splitlines()
    assert line.startswith("Warning: tlogs[1] (https://log2025-1.rekor.sigstore.dev): left out, its log ID")
    v = subprocess.run([sys.executable, "-m", "sigward", "policy", "validate", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert v.stdout == "trustroot/public-good valid\n", v.stderr

    for args, msg in [(("--name", "Not_A", "--trusted-root", str(PRODUCTION)), "not a Kubernetes object"),
                      (("--name", "x", "--trusted-root", str(tmp_path / "missing.json")), "missing.json"),
                      (("--name", "x", "--trusted-root", "-"), "<stdin>: not valid JSON")]:
        r = _cli(*args, stdin="nope")
        assert r.returncode == 1 and r.stdout == ""
        (line,) = r.stderr.splitlines()
        assert line.startswith("Error: ") and msg in line
