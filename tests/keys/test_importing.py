"""import-key-pair's parsing and validation, against cosign's TestImportPrivateKey expectations."""

from __future__ import annotations

import pathlib

import pytest

from sigward.errors import KeyFileError
from sigward.keys import encrypted, importing, keytypes, local, pem

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "vectors" / "cosign"


def vector(name: str) -> bytes:
    return (VECTORS / f"{name}.pem").read_bytes()


# Expected errors copied from cosign's TestImportPrivateKey (see tests/vectors/cosign/README.md).
CASES = [
    ("validrsa", None),
    ("validrsapkcs1", None),
    ("validrsapkcs8", None),
    ("invalidrsawithpubkey", "unsupported private key"),
    ("invalidrsasmallkey", "error validating rsa key: key size not supported: 1024"),
    ("invalidrsalargekey", "error validating rsa key: key size not supported: 5120"),
    ("validecp256", None),
    ("validecp384", None),
    ("validecp521", None),
    ("validecpkcs8", None),
    ("invalidecp224", "error validating ecdsa key: ECDSA curve P-224 not allowed"),
    ("invalidecunsupported", "error parsing ecdsa private key"),
    ("ed25519key", None),
    ("invalidkey", "invalid pem block"),
    ("pemsigstorekey", "unsupported private key"),  # already encrypted: not an import input
]


@pytest.mark.parametrize("name, expected", CASES)
def test_import_vectors(name: str, expected: str | None) -> None:
    if expected is None:
        k = importing.parse_import_key(vector(name))
        local.LocalSigner(k)  # usable for signing
    else:
        with pytest.raises(KeyFileError) as e:
            importing.parse_import_key(vector(name))
        assert str(e.value) == expected
        with pytest.raises(KeyFileError) as e:
            importing.import_key_pair(vector(name), b"hello", f"{name}.pem")
        assert str(e.value) == f"{name}.pem: {expected}"


def test_import_round_trip_keeps_the_key() -> None:
    raw = vector("validrsapkcs1")
    original = importing.parse_import_key(raw)
    private_pem, public_pem = importing.import_key_pair(raw, b"pw", "in.pem")
    assert pem.decode(private_pem).type == "ENCRYPTED SIGSTORE PRIVATE KEY"  # never the input's label
    back = encrypted.decrypt_private_key(private_pem, b"pw", "out.key")
    assert back.private_numbers() == original.private_numbers()
    assert public_pem == keytypes.public_key_pem(original.public_key())


def test_rsa_exponent_and_small_factor_rules() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    k3 = rsa.generate_private_key(public_exponent=3, key_size=2048)
    with pytest.raises(KeyFileError, match=r"^error validating rsa key: key exponent must be 65537$"):
        importing.validate_rsa(k3)

    # A 2048-bit odd modulus with the factor 751: real key generation never makes one.
    n = 751 * ((2**2047 // 751) | 1)
    while n.bit_length() < 2048:
        n += 2 * 751
    assert n.bit_length() == 2048 and n % 751 == 0 and n % 2 == 1
    with pytest.raises(KeyFileError, match=r"^error validating rsa key: key divisible by small prime$"):
        importing.validate_rsa(rsa.RSAPublicNumbers(65537, n).public_key())
    good_e = rsa.RSAPublicNumbers(65537, k3.public_key().public_numbers().n).public_key()
    importing.validate_rsa(good_e)  # same modulus with the right exponent: accepted


def test_mismatched_der_inside_label_is_refused_like_go() -> None:
    # A PKCS#8 body labelled EC PRIVATE KEY: cryptography would load it, Go's ParseECPrivateKey does not.
    body = pem.decode(vector("validecpkcs8")).data
    with pytest.raises(KeyFileError, match=r"^error parsing ecdsa private key$"):
        importing.parse_import_key(pem.encode("EC PRIVATE KEY", body))
    with pytest.raises(KeyFileError, match="use ParsePKCS8PrivateKey instead"):
        importing.parse_import_key(pem.encode("RSA PRIVATE KEY", pem.decode(vector("validrsapkcs8")).data))
    with pytest.raises(KeyFileError, match=r"^error parsing pkcs #8 private key$"):
        importing.parse_import_key(pem.encode("PRIVATE KEY", pem.decode(vector("validecp256")).data))
