"""Property-based fuzzing (hypothesis) of the parsers that face outside bytes.

Each target gets inputs derived from the seed corpus in ``tests/fuzz/corpus/`` (real bundles, an
envelope, manifests, a layout index, a chart, references; keys from ``tests/vectors/cosign``), mutated by
hypothesis (byte edits, splices, truncations, JSON re-shaping), plus free-form inputs. The property is the
same everywhere: the parser returns a value or raises sigward's one-line error type — never another
exception, never a hang. Bounded: ``max_examples`` per target (``SIGWARD_FUZZ_EXAMPLES``, default 100)
and no per-example deadline, derandomized so CI runs the same inputs every time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigward.errors import SigwardError

CORPUS = Path(__file__).parent / "corpus"
KEYS = Path(__file__).parents[1] / "vectors" / "cosign"
EXAMPLES = int(os.environ.get("SIGWARD_FUZZ_EXAMPLES", "100"))

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def seeds(*names: str) -> list[bytes]:
    return [(CORPUS / n).read_bytes() for n in names]


@st.composite
def mutated(draw: st.DrawFn, base: list[bytes]) -> bytes:
    """A seed with a few edits: replace/insert/delete a byte, splice in a random run, truncate."""
    data = bytearray(draw(st.sampled_from(base)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "splice", "truncate", "dup"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "replace" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(i, draw(st.sampled_from(b'{}[]":,0\\ \x00\xff')))
        elif op == "delete" and data:
            del data[i]
        elif op == "splice":
            data[i:i] = draw(st.binary(max_size=16))
        elif op == "truncate":
            del data[i:]
        elif op == "dup" and data:
            j = draw(st.integers(i, len(data)))
            data[j:j] = data[i:j]
    return bytes(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def reshaped(draw: st.DrawFn, base: list[bytes]) -> bytes:
    """A seed JSON document with one field replaced by an arbitrary JSON value (or removed)."""
    doc = json.loads(draw(st.sampled_from(base)))
    paths: list[list[Any]] = []

    def walk(o: Any, p: list[Any]) -> None:
        if isinstance(o, dict):
            for k, v in o.items():
                paths.append([*p, k])
                walk(v, [*p, k])
        elif isinstance(o, list):
            for i, v in enumerate(o):
                paths.append([*p, i])
                walk(v, [*p, i])

    walk(doc, [])
    if paths:
        path = draw(st.sampled_from(paths))
        cur = doc
        for k in path[:-1]:
            cur = cur[k]
        if draw(st.booleans()):
            del cur[path[-1]]
        else:
            cur[path[-1]] = draw(json_values)
    return json.dumps(doc).encode()


def inputs(*names: str, as_json: bool = True) -> st.SearchStrategy[bytes]:
    base = seeds(*names)
    parts = [mutated(base), st.binary(max_size=256)]
    if as_json:
        parts.append(reshaped(base))
    return st.one_of(*parts)


def must_be_clean(fn: Any, *args: Any) -> None:
    """The property: a value, or a SigwardError with a message."""
    try:
        fn(*args)
    except SigwardError as e:
        assert str(e), f"{type(e).__name__} without a message"


@fuzz
@given(
    st.one_of(
        st.sampled_from((CORPUS / "references.txt").read_text().split()),
        st.text(max_size=80),
        st.lists(
            st.sampled_from(
                [
                    "oci:",
                    "a",
                    "/",
                    ":",
                    "@",
                    "sha256:",
                    "0" * 64,
                    ".",
                    "-",
                    "_",
                    "A",
                    "[::1]",
                    ":5000",
                    "\x00",
                    "é",
                    "a" * 128,
                ]
            ),
            max_size=10,
        ).map("".join),
    )
)
def test_reference_parser(text: str) -> None:
    from sigward.oci.reference import parse_reference

    try:
        ref = parse_reference(text)
    except SigwardError as e:
        assert str(e)
        return
    # What parses prints as a reference that parses to the same thing.
    assert parse_reference(str(ref)) == ref


@fuzz
@given(inputs("manifest-image.json", "manifest-index.json", "layout-index.json"))
def test_manifest_and_index_parser(data: bytes) -> None:
    from sigward.oci.manifest import Manifest

    def parse() -> None:
        m = Manifest.parse(data)
        m.children()
        _ = m.subject, m.layers, m.manifests

    must_be_clean(parse)


@fuzz
@given(inputs("bundle-message-signature.json", "bundle-dsse.json"))
def test_bundle_parser(data: bytes) -> None:
    from sigward.formats.bundle import parse_bundle

    must_be_clean(parse_bundle, data)


@fuzz
@given(inputs("dsse-envelope.json"))
def test_dsse_parser(data: bytes) -> None:
    from sigward.formats import dsse, intoto

    def parse() -> None:
        env = dsse.parse(data)
        intoto.parse_statement(env.payload)

    must_be_clean(parse)


KEY_FILES = [
    "validecp256.pem",
    "validecp384.pem",
    "validrsa.pem",
    "ed25519key.pem",
    "pemcosignkey.pem",
    "invalidecunsupported.pem",
]


@fuzz
@given(
    st.one_of(
        mutated(
            [(CORPUS / "key-ecdsa-p256.pub").read_bytes(), *[(KEYS / n).read_bytes() for n in KEY_FILES]]
        ),
        st.binary(max_size=300).map(
            lambda b: (
                b"-----BEGIN PUBLIC KEY-----\n"
                + __import__("base64").encodebytes(b)
                + b"-----END PUBLIC KEY-----\n"
            )
        ),
    )
)
def test_key_file_loader(data: bytes) -> None:
    import tempfile

    from sigward.keys.keyref import parse_key_ref
    from sigward.keys.providers.local import load_public_key

    with tempfile.NamedTemporaryFile(suffix=".pem") as f:
        f.write(data)
        f.flush()
        must_be_clean(load_public_key, parse_key_ref(f.name), lambda confirm=False: b"wrong-password")


@fuzz
@given(inputs("fuzz-0.1.0.tgz", as_json=False))
def test_chart_archive_reader(data: bytes) -> None:
    from sigward.formats.helm.archive import load_chart_archive

    must_be_clean(load_chart_archive, data, "chart.tgz")


@pytest.mark.parametrize("depth", [99, 100, 101, 5000, 200000])
def test_json_nesting_limit(depth: int) -> None:
    from sigward import safejson

    doc = "[" * depth + "]" * depth
    if depth <= safejson.MAX_DEPTH:
        assert safejson.loads(doc) is not None
    else:
        with pytest.raises(ValueError, match="nested deeper"):
            safejson.loads(doc)
