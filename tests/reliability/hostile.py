"""A generated hostile-input corpus: thousands of mutated bundles, envelopes, keys, signatures, references,
OCI layouts and chart archives, each run through sigward (the CLI in-process, or the parser for
references and charts) with three verdicts that must never happen:

- **internal**: an ``internal error``, a traceback, or an exception escaping ``main`` (input must get
  one clear ``Error:`` line);
- **hang**: a case that takes longer than ``CASE_TIMEOUT`` seconds (FIFOs, ``/dev/zero``, huge inputs);
- **tamper**: a mutated signature, payload, bundle or key that *verifies* although what it authenticates
  changed. A mutation that changes nothing authenticated (the unauthenticated key ``hint``, base64 padding
  bits, PEM whitespace) may verify; it is counted as ``benign`` and its semantic equality is checked.

The mutations are seeded (case *i* makes the same edit at the same place on every run); the signed material
they are applied to (keys, signatures, layout) is made fresh for each run. The suite runs a slice
(``tests/reliability/test_hostile.py``); the whole corpus runs with one command and prints the counts
recorded in ``docs/reliability.md``::

    python -m tests.reliability.hostile            # all cases
    python -m tests.reliability.hostile --every 8  # the CI slice
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASE_TIMEOUT = 20.0
PASSWORD = "hostile-test-password"  # a throwaway key made for the corpus
PRINTABLE = [c for c in range(0x20, 0x7F)]


class Hang(BaseException):
    """Raised by the alarm: a BaseException so ``main``'s own handlers cannot swallow it."""


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float
    escaped: str = ""  # an exception that escaped main


@dataclass
class Case:
    category: str
    name: str
    run: Callable[[Path], Outcome]
    # (outcome) -> "tamper" | "benign" | None: decides what an exit 0 means for this case.
    judge: Callable[[Outcome], str | None] = field(default=lambda o: None)


# --- running ------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> Outcome:
    """``sigward argv`` in-process, stdout/stderr captured, stdin empty, bounded by ``CASE_TIMEOUT``."""
    from sigward.cli.main import main

    out_b = io.BytesIO()
    err_b = io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="replace", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="replace", write_through=True)
    stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    escaped = ""
    start = time.monotonic()
    old = (sys.stdout, sys.stderr, sys.stdin)
    sys.stdout, sys.stderr, sys.stdin = out, err, stdin
    try:
        with _deadline():
            code = main(argv)
    except Hang:
        code, escaped = -1, "hang"
    except BaseException as e:  # anything escaping main is a finding, reported as such
        code, escaped = -2, f"{type(e).__name__}: {e}"
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
    return Outcome(
        code,
        out_b.getvalue().decode("utf-8", "replace"),
        err_b.getvalue().decode("utf-8", "replace"),
        time.monotonic() - start,
        escaped,
    )


def run_call(fn: Callable[[], Any], ok_errors: tuple[type[BaseException], ...]) -> Outcome:
    """A library parser: returning or raising one of ``ok_errors`` (with a message) is fine."""
    start = time.monotonic()
    try:
        with _deadline():
            fn()
        return Outcome(0, "", "", time.monotonic() - start)
    except Hang:
        return Outcome(-1, "", "", time.monotonic() - start, "hang")
    except ok_errors as e:
        msg = str(e)
        return Outcome(
            1,
            "",
            f"Error: {msg}\n" if msg else "",
            time.monotonic() - start,
            "" if msg else f"{type(e).__name__} without a message",
        )
    except BaseException as e:
        return Outcome(-2, "", "", time.monotonic() - start, f"{type(e).__name__}: {e}")


@contextlib.contextmanager
def _deadline() -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise Hang()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def verdict(case: Case, o: Outcome) -> str:
    """One of: internal, hang, tamper, benign, rejected, ok."""
    if o.escaped == "hang" or o.seconds > CASE_TIMEOUT:
        return "hang"
    if o.escaped or "internal error" in o.err or "Traceback" in o.err:
        return "internal"
    if o.code != 0:
        lines = [ln for ln in o.err.splitlines() if ln.startswith("Error:")]
        return "rejected" if len(lines) == 1 else "internal"  # exactly one Error: line
    return case.judge(o) or "ok"


# --- mutations ----------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, same_length: bool = False) -> bytes:
    """One small change: a byte replaced by a printable one (or, unless ``same_length``, deleted or
    inserted), somewhere in ``data``."""
    b = bytearray(data)
    i = rng.randrange(len(b))
    op = "replace" if same_length else rng.choice(["replace", "replace", "delete", "insert"])
    if op == "replace":
        new = rng.choice([c for c in PRINTABLE if c != b[i]])
        b[i] = new
    elif op == "delete":
        del b[i]
    else:
        b.insert(i, rng.choice([*PRINTABLE, 0, 0xFF, 0x80]))
    return bytes(b)


WRONG_TYPES: list[Any] = [None, {}, [], 0, -1, "x", True, 1.5, "", "!!notbase64!!"]


def field_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from field_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i)
            yield from field_paths(v, (*prefix, i))


def with_path(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    obj = json.loads(json.dumps(obj))
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return obj


def structural_mutations(doc: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """Each field deleted and set to each wrong type; duplicate keys; deep nesting; non-objects."""
    for path in field_paths(doc):
        label = "/".join(map(str, path))
        yield f"delete {label}", json.dumps(with_path(doc, path, None, delete=True)).encode()
        for v in WRONG_TYPES:
            yield f"{label}={json.dumps(v)}", json.dumps(with_path(doc, path, v)).encode()
    text = json.dumps(doc)
    for key in doc:
        dup = text[:-1] + f', "{key}": {json.dumps(doc[key])}' + "}"
        yield f"duplicate {key}", dup.encode()
        dup_first = "{" + f'"{key}": {{}}, ' + text[1:]
        yield f"duplicate {key} (first)", dup_first.encode()
    for depth in (50, 101, 5000, 100000):
        yield f"nested {depth}", ("[" * depth + "]" * depth).encode()
        yield f"nested object {depth}", ('{"a":' * depth + "1" + "}" * depth).encode()
    for junk in (b"", b"null", b"[]", b"1", b'"x"', b"\xff\xfe", b"{", json.dumps(doc).encode() * 2):
        yield f"junk {junk[:8]!r}", junk


def normalized(obj: Any, drop: tuple[str, ...] = ("hint",)) -> Any:
    """Semantic form: base64 strings as their decoded bytes, unauthenticated keys dropped."""
    if isinstance(obj, dict):
        return {k: normalized(v, drop) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [normalized(v, drop) for v in obj]
    if isinstance(obj, str) and len(obj) >= 8:
        decoded = _protojson_b64(obj)
        if decoded is not None:
            return ("b64", decoded)
    return obj


def _protojson_b64(s: str) -> bytes | None:
    """The bytes a base64 string stands for as Go's protojson (hence cosign) reads ``bytes`` fields:
    standard or URL-safe alphabet, padding optional, CR/LF ignored. Two spellings of the same bytes are
    the same bundle (``+`` → ``-`` is not tampering), so the judge compares decoded values this way."""
    cleaned = s.replace("\r", "").replace("\n", "").rstrip("=")
    if "-" in cleaned or "_" in cleaned:
        if "+" in cleaned or "/" in cleaned:
            return None
        cleaned = cleaned.replace("-", "+").replace("_", "/")
    with contextlib.suppress(binascii.Error, ValueError):
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    return None


def json_judge(original: bytes, mutated: bytes) -> Callable[[Outcome], str]:
    def judge(o: Outcome) -> str:
        try:
            same = normalized(json.loads(mutated)) == normalized(json.loads(original))
        except ValueError:
            same = False
        return "benign" if same else "tamper"

    return judge


def layers_judge(original: bytes, mutated: bytes) -> Callable[[Outcome], str]:
    """A ``.sig`` manifest: what verification reads is each layer's digest and annotations (signature,
    certificate, bundle); the config, media types and the rest are not authenticated by design."""

    def layers(data: bytes) -> Any:
        return [
            (d.get("digest"), normalized(d.get("annotations"))) for d in json.loads(data).get("layers", [])
        ]

    def judge(o: Outcome) -> str:
        try:
            return "benign" if layers(mutated) == layers(original) else "tamper"
        except (ValueError, AttributeError):
            return "tamper"

    return judge


def always_tamper(o: Outcome) -> str:
    return "tamper"


# --- the material -------------------------------------------------------------------------------


class Material:
    """Keys, a blob, its bundles and signatures, and a signed layout: made once per corpus run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        os.environ["COSIGN_PASSWORD"] = PASSWORD
        os.environ.pop("COSIGN_REPOSITORY", None)
        self.key, self.pub = root / "cosign.key", root / "cosign.pub"
        assert run_cli(["generate-key-pair", "--output-key-prefix", str(root / "cosign")]).code == 0
        self.blob = root / "blob.txt"
        self.blob.write_bytes(b"hostile corpus subject\n")
        self.bundle = root / "blob.sigstore.json"
        self._ok(
            [
                "sign-blob",
                "--key",
                str(self.key),
                "--tlog-upload=false",
                "--bundle",
                str(self.bundle),
                str(self.blob),
            ]
        )
        pred = root / "predicate.json"
        pred.write_text('{"builder": "hostile"}')
        self.att = root / "blob.att.json"
        self._ok(
            [
                "attest-blob",
                "--key",
                str(self.key),
                "--tlog-upload=false",
                "--predicate",
                str(pred),
                "--type",
                "custom",
                "--bundle",
                str(self.att),
                str(self.blob),
            ]
        )
        self.sig = root / "blob.sig"
        self._ok(
            [
                "sign-blob",
                "--key",
                str(self.key),
                "--tlog-upload=false",
                "--new-bundle-format=false",
                "--output-signature",
                str(self.sig),
                str(self.blob),
            ]
        )
        self.layout = root / "layout"
        from sigward.oci.layout import LayoutStore
        from sigward.ops.example import write_demo_image

        desc = write_demo_image(LayoutStore(str(self.layout)), "v1")
        self.digest = desc.digest
        self.image = f"oci:{self.layout}@{self.digest}"
        self._ok(["sign", "--key", str(self.key), "--tlog-upload=false", self.image])
        self._ok(
            ["sign", "--key", str(self.key), "--tlog-upload=false", "--new-bundle-format=false", self.image]
        )
        self.chart = self._chart()

    def _ok(self, argv: list[str]) -> None:
        o = run_cli(argv)
        assert o.code == 0, (argv, o.err)

    def _chart(self) -> bytes:
        from sigward.ops.chart import package_chart

        src = self.root / "chart"
        (src / "templates").mkdir(parents=True)
        (src / "Chart.yaml").write_text("apiVersion: v2\nname: hostile\nversion: 0.1.0\n")
        (src / "values.yaml").write_text("replicas: 1\n")
        (src / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
        return package_chart(src, self.root, epoch=0).read_bytes()


# --- the cases ----------------------------------------------------------------------------------


def _file(dirpath: Path, name: str, data: bytes) -> str:
    p = dirpath / name
    p.write_bytes(data)
    return str(p)


def special_files(dirpath: Path) -> Iterator[tuple[str, str]]:
    """Paths that are not a readable regular file: FIFO, /dev/zero link, directory, missing, too long."""
    fifo = dirpath / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    yield "fifo", str(fifo)
    zero = dirpath / "zero"
    if not zero.exists():
        zero.symlink_to("/dev/zero")
    yield "link to /dev/zero", str(zero)
    yield "directory", str(dirpath)
    yield "missing", str(dirpath / "missing" / "x")
    yield "name too long", str(dirpath / ("n" * 300))
    yield "path too long", str(dirpath / "/".join(["d" * 200] * 30))
    empty = dirpath / "empty"
    empty.write_bytes(b"")
    yield "empty", str(empty)


def bundle_cases(m: Material, rng: random.Random, flips: int) -> Iterator[Case]:
    for kind, path, cmd in (
        ("message-signature bundle", m.bundle, ["verify-blob"]),
        ("DSSE bundle", m.att, ["verify-blob-attestation", "--type", "custom"]),
    ):
        original = path.read_bytes()

        def case(
            name: str, data: bytes, kind: str = kind, cmd: list[str] = cmd, original: bytes = original
        ) -> Case:
            def run(tmp: Path) -> Outcome:
                b = _file(tmp, "b.json", data)
                return run_cli(
                    [*cmd, "--key", str(m.pub), "--insecure-ignore-tlog=true", "--bundle", b, str(m.blob)]
                )

            return Case(kind, name, run, json_judge(original, data))

        for i in range(flips):
            yield case(f"byte mutation {i}", mutate_bytes(original, rng))
        for name, data in structural_mutations(json.loads(original)):
            yield case(name, data)
        for name, p in special_files(m.root / "special"):
            yield Case(
                kind,
                f"bundle is {name}",
                lambda tmp, p=p, cmd=cmd: run_cli(
                    [*cmd, "--key", str(m.pub), "--insecure-ignore-tlog=true", "--bundle", p, str(m.blob)]
                ),
            )
    for digest in (
        "sha256:abc",
        "sha256:" + "0" * 63,
        "sha256:" + "zz" * 32,
        "sha512:" + "00" * 32,
        "sha256:",
    ):
        yield Case(
            "message-signature bundle",
            f"digest argument {digest[:20]}",
            lambda tmp, d=digest: run_cli(
                [
                    "verify-blob",
                    "--key",
                    str(m.pub),
                    "--insecure-ignore-tlog=true",
                    "--bundle",
                    str(m.bundle),
                    d,
                ]
            ),
            always_tamper,
        )


def signature_cases(m: Material, rng: random.Random, flips: int) -> Iterator[Case]:
    original = m.sig.read_bytes()
    for i in range(flips):
        data = mutate_bytes(original.strip(), rng)

        def run(tmp: Path, data: bytes = data) -> Outcome:
            return run_cli(
                [
                    "verify-blob",
                    "--key",
                    str(m.pub),
                    "--insecure-ignore-tlog=true",
                    "--signature",
                    _file(tmp, "s.sig", data),
                    str(m.blob),
                ]
            )

        def judge(o: Outcome, data: bytes = data) -> str:
            try:
                return "benign" if base64.b64decode(data) == base64.b64decode(original) else "tamper"
            except binascii.Error:
                return "tamper"

        yield Case("legacy signature", f"signature mutation {i}", run, judge)


def key_cases(m: Material, rng: random.Random, flips: int) -> Iterator[Case]:
    from cryptography.hazmat.primitives import serialization

    pub_pem = m.pub.read_bytes()
    original = serialization.load_pem_public_key(pub_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = base64.b64decode(b"".join(ln for ln in pub_pem.splitlines() if not ln.startswith(b"-----")))

    def verify_with(data: bytes) -> Callable[[Path], Outcome]:
        return lambda tmp: run_cli(
            [
                "verify-blob",
                "--key",
                _file(tmp, "k.pub", data),
                "--insecure-ignore-tlog=true",
                "--bundle",
                str(m.bundle),
                str(m.blob),
            ]
        )

    def same_key(data: bytes) -> Callable[[Outcome], str]:
        def judge(o: Outcome) -> str:
            try:
                k = serialization.load_pem_public_key(data).public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            except Exception:
                return "tamper"
            return "benign" if k == original else "tamper"

        return judge

    for i in range(flips):
        data = mutate_bytes(pub_pem, rng)
        yield Case("public key PEM", f"PEM mutation {i}", verify_with(data), same_key(data))
    for _ in range(flips):
        b = bytearray(der)
        j = rng.randrange(len(b))
        b[j] = rng.randrange(256)
        body = base64.encodebytes(bytes(b))
        data = b"-----BEGIN PUBLIC KEY-----\n" + body + b"-----END PUBLIC KEY-----\n"
        yield Case("public key DER", f"DER byte {j} -> {b[j]}", verify_with(data), same_key(data))
    for label in ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PUBLIC KEY", "CERTIFICATE", "FOO"):
        data = (
            f"-----BEGIN {label}-----\n".encode()
            + base64.encodebytes(der)
            + f"-----END {label}-----\n".encode()
        )
        yield Case("public key DER", f"PEM type {label}", verify_with(data), same_key(data))
    enc = m.key.read_bytes()
    for i in range(flips):
        data = mutate_bytes(enc, rng)
        yield Case(
            "encrypted private key",
            f"mutation {i}",
            lambda tmp, data=data: run_cli(["public-key", "--key", _file(tmp, "k.key", data)]),
        )
    for name, p in special_files(m.root / "special"):
        yield Case(
            "public key PEM",
            f"key is {name}",
            lambda tmp, p=p: run_cli(
                [
                    "verify-blob",
                    "--key",
                    p,
                    "--insecure-ignore-tlog=true",
                    "--bundle",
                    str(m.bundle),
                    str(m.blob),
                ]
            ),
        )
        yield Case(
            "encrypted private key", f"key is {name}", lambda tmp, p=p: run_cli(["public-key", "--key", p])
        )


REF_PIECES = [
    "oci:",
    "example.com",
    "localhost:5000",
    "/",
    ":",
    "@",
    "sha256:",
    "a" * 64,
    "latest",
    "..",
    "UPPER",
    "-",
    "_",
    ".",
    "__",
    "~",
    " ",
    "\x00",
    "é",
    "%2F",
    "[::1]",
    ":0",
    ":99999",
    "@sha256:zz",
    "a" * 300,
    "/" * 3,
    "v1.0",
    "\n",
    "oci:/dev/zero",
    "oci:/proc/self/fd/0",
]


def reference_cases(m: Material, rng: random.Random, count: int) -> Iterator[Case]:
    from sigward.errors import SigwardError
    from sigward.oci.reference import parse_reference

    for i in range(count):
        text = "".join(rng.choice(REF_PIECES) for _ in range(rng.randint(1, 6)))
        yield Case(
            "reference",
            f"parse {i}",
            lambda tmp, t=text: run_call(lambda: parse_reference(t), (SigwardError,)),
        )
    for i in range(count // 4):
        path = "".join(rng.choice(["x", "/", "..", "d" * 255, ":", "@sha256:", "a" * 64]) for _ in range(4))
        yield Case(
            "reference",
            f"oci: path {i}",
            lambda tmp, p=path: run_cli(
                ["verify", "--key", str(m.pub), "--insecure-ignore-tlog=true", f"oci:{tmp}/{p}"]
            ),
        )


def _layout_copy(m: Material, tmp: Path) -> Path:
    dst = tmp / "layout"
    shutil.copytree(m.layout, dst, symlinks=True)
    return dst


def _blobs(root: Path) -> dict[str, Path]:
    return {f"sha256:{p.name}": p for p in (root / "blobs" / "sha256").iterdir()}


def rewrite_blob(root: Path, old: str, new_bytes: bytes) -> None:
    """An attacker with write access: replace a blob and re-hash every manifest (and index.json) that
    names it, so content addressing alone cannot catch the change. ``new_bytes`` keeps the length."""
    import hashlib

    queue = [(old, new_bytes)]
    while queue:
        old_d, data = queue.pop()
        new_d = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs = _blobs(root)
        if old_d in blobs:  # (already rewritten when two changes met in one manifest)
            blobs[old_d].unlink()
        (root / "blobs" / "sha256" / new_d[7:]).write_bytes(data)
        for d, p in blobs.items():
            if d == old_d or not p.exists():
                continue
            content = p.read_bytes()
            if old_d.encode() in content:
                queue.append((d, content.replace(old_d.encode(), new_d.encode())))
        idx = root / "index.json"
        idx.write_bytes(idx.read_bytes().replace(old_d.encode(), new_d.encode()))


def layout_cases(m: Material, rng: random.Random, flips: int) -> Iterator[Case]:
    from sigward.oci.layout import LayoutStore

    store = LayoutStore(str(m.layout))
    (ref_desc,) = store.referrers(m.digest)
    referrer = store.get_manifest(ref_desc.digest)
    bundle_digest = referrer.layers[0].digest
    sig_manifest = store.get_manifest(m.digest.replace(":", "-") + ".sig")
    payload_digest = sig_manifest.layers[0].digest
    commands: list[list[str]] = [
        ["verify", "--key", str(m.pub), "--insecure-ignore-tlog=true"],
        ["verify", "--key", str(m.pub), "--insecure-ignore-tlog=true", "--new-bundle-format=false"],
        ["tree"],
        ["copy"],
    ]

    def run_on(mutate: Callable[[Path], None], which: int) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            root = _layout_copy(m, tmp)
            mutate(root)
            cmd = list(commands[which])
            if cmd == ["copy"]:
                return run_cli(["copy", f"oci:{root}@{m.digest}", f"oci:{tmp}/dst"])
            return run_cli([*cmd, f"oci:{root}@{m.digest}"])

        return run

    def refuse_if_verify(which: int) -> Callable[[Outcome], str | None]:
        return (lambda o: "tamper") if which < 2 else (lambda o: None)

    index = (m.layout / "index.json").read_bytes()
    for i in range(flips):
        data = mutate_bytes(index, rng)
        yield Case(
            "OCI layout index.json",
            f"mutation {i}",
            run_on(lambda r, d=data: (r / "index.json").write_bytes(d), i % 4),
        )
    for n, (name, data) in enumerate(structural_mutations(json.loads(index)), start=1):
        yield Case(
            "OCI layout index.json", name, run_on(lambda r, d=data: (r / "index.json").write_bytes(d), n % 4)
        )
    for target in ("index.json", "oci-layout"):
        for name in ("fifo", "/dev/zero", "directory", "missing"):

            def mutate(r: Path, target: str = target, name: str = name) -> None:
                p = r / target
                p.unlink()
                if name == "fifo":
                    os.mkfifo(p)
                elif name == "/dev/zero":
                    p.symlink_to("/dev/zero")
                elif name == "directory":
                    p.mkdir()

            for which in range(4):
                yield Case(
                    "OCI layout special files",
                    f"{target} is {name} ({commands[which][0]})",
                    run_on(mutate, which),
                )
    for d in sorted(_blobs(m.layout)):
        for name in ("fifo", "/dev/zero", "directory", "missing", "truncated", "flipped"):

            def mutate_blob(r: Path, d: str = d, name: str = name) -> None:
                p = r / "blobs" / "sha256" / d[7:]
                data = p.read_bytes()
                p.unlink()
                if name == "fifo":
                    os.mkfifo(p)
                elif name == "/dev/zero":
                    p.symlink_to("/dev/zero")
                elif name == "directory":
                    p.mkdir()
                elif name == "truncated":
                    p.write_bytes(data[: len(data) // 2])
                elif name == "flipped":
                    p.write_bytes(mutate_bytes(data, random.Random(d), same_length=True))

            for which in range(4):
                yield Case(
                    "OCI layout blobs",
                    f"blob {d[7:19]} {name} ({commands[which][0]})",
                    run_on(mutate_blob, which),
                )
    # Re-hashed tampering: the attacker rewrites the bundle or the signed payload and fixes every digest.
    bundle = store.get_blob(referrer.layers[0])
    payload = store.get_blob(sig_manifest.layers[0])
    for i in range(flips):
        data = mutate_bytes(bundle, rng, same_length=True)
        yield Case(
            "OCI layout re-hashed bundle",
            f"bundle mutation {i}",
            run_on(lambda r, data=data: rewrite_blob(r, bundle_digest, data), 0),
            json_judge(bundle, data),
        )
        pdata = mutate_bytes(payload, rng, same_length=True)
        yield Case(
            "OCI layout re-hashed payload",
            f"payload mutation {i}",
            run_on(lambda r, data=pdata: rewrite_blob(r, payload_digest, data), 1),
            always_tamper,
        )
        sdata = mutate_bytes(sig_manifest.data, rng, same_length=True)
        yield Case(
            "OCI layout re-hashed .sig manifest",
            f"manifest mutation {i}",
            run_on(lambda r, data=sdata: rewrite_blob(r, sig_manifest.digest, data), 1),
            layers_judge(sig_manifest.data, sdata),
        )
    del refuse_if_verify


def chart_cases(m: Material, rng: random.Random, flips: int) -> Iterator[Case]:
    import gzip
    import tarfile

    from sigward.errors import SigwardError
    from sigward.formats.helm.archive import load_chart_archive

    def parse(data: bytes) -> Callable[[Path], Outcome]:
        return lambda tmp: run_call(lambda: load_chart_archive(data, "chart.tgz"), (SigwardError,))

    for i in range(flips):
        yield Case("chart archive", f"byte mutation {i}", parse(mutate_bytes(m.chart, rng)))
    raw = gzip.decompress(m.chart)
    for i in range(flips):
        yield Case(
            "chart archive", f"tar mutation {i}", parse(gzip.compress(mutate_bytes(raw, rng), mtime=0))
        )

    def tgz(entries: list[tuple[str, bytes, bytes]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, kind, data in entries:
                ti = tarfile.TarInfo(name)
                if kind == b"sym":
                    ti.type, ti.linkname = tarfile.SYMTYPE, data.decode()
                    tar.addfile(ti)
                elif kind == b"hard":
                    ti.type, ti.linkname = tarfile.LNKTYPE, data.decode()
                    tar.addfile(ti)
                elif kind == b"dev":
                    ti.type = tarfile.CHRTYPE
                    tar.addfile(ti)
                else:
                    ti.size = len(data)
                    tar.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    chart_yaml = b"apiVersion: v2\nname: x\nversion: 0.1.0\n"
    evil = [
        [("x/Chart.yaml", b"", chart_yaml), ("../escape", b"", b"x")],
        [("x/Chart.yaml", b"", chart_yaml), ("/etc/passwd", b"", b"x")],
        [("x/Chart.yaml", b"", chart_yaml), ("x/link", b"sym", b"/etc/passwd")],
        [("x/Chart.yaml", b"", chart_yaml), ("x/hl", b"hard", b"/etc/passwd")],
        [("x/Chart.yaml", b"", chart_yaml), ("x/dev", b"dev", b"")],
        [("x/Chart.yaml", b"", chart_yaml), ("y/other", b"", b"x")],
        [("x/Chart.yaml", b"", b"{{{{ not yaml")],
        [("x/Chart.yaml", b"", b"a: &a [*a, *a]\n")],
        [("x/Chart.yaml", b"", b"apiVersion: v2\nname: x\nversion: " + b"9" * 5000 + b"\n")],
        [("x/values.yaml", b"", b"a: 1")],
        [("x/Chart.yaml", b"", chart_yaml), ("x\\..\\..\\win", b"", b"x")],
        [("x/Chart.yaml", b"", chart_yaml)] * 3,
        [],
    ]
    for i, entries in enumerate(evil):
        yield Case("chart archive", f"malicious archive {i}", parse(tgz(entries)))
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    yield Case("chart archive", "gzip bomb", parse(bomb))
    yield Case("chart archive", "not gzip", parse(b"PK\x03\x04"))


def all_cases(m: Material, scale: int = 1) -> list[Case]:
    rng = random.Random(20261205)
    cases: list[Case] = []
    cases += bundle_cases(m, rng, 300 * scale)
    cases += signature_cases(m, rng, 150 * scale)
    cases += key_cases(m, rng, 150 * scale)
    cases += reference_cases(m, rng, 400 * scale)
    cases += layout_cases(m, rng, 150 * scale)
    cases += chart_cases(m, rng, 100 * scale)
    return cases


def run_corpus(
    every: int = 1,
    offset: int = 0,
    workdir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Counter[tuple[str, str]], list[str]]:
    """Run every ``every``-th case; returns (counts by (category, verdict), findings)."""
    base = Path(workdir or tempfile.mkdtemp(prefix="sigward-hostile-"))
    base.mkdir(parents=True, exist_ok=True)
    m = Material(base)
    (base / "special").mkdir(exist_ok=True)
    cases = all_cases(m)
    counts: Counter[tuple[str, str]] = Counter()
    findings: list[str] = []
    chosen = cases[offset::every]
    for n, case in enumerate(chosen):
        tmp = Path(tempfile.mkdtemp(dir=base))
        try:
            o = case.run(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        v = verdict(case, o)
        counts[(case.category, v)] += 1
        if v in ("internal", "hang", "tamper"):
            findings.append(
                f"{v}: {case.category}: {case.name}: exit {o.code} {o.escaped} {o.err.strip()[:300]}"
            )
        if progress:
            progress(n + 1, len(chosen))
    shutil.rmtree(base, ignore_errors=True)
    return counts, findings


def report(counts: Counter[tuple[str, str]]) -> str:
    verdicts = ["rejected", "ok", "benign", "internal", "hang", "tamper"]
    cats = sorted({c for c, _ in counts})
    lines = ["| input | cases | " + " | ".join(verdicts) + " |", "|---|---|" + "---|" * len(verdicts)]
    for c in cats:
        row = [counts[(c, v)] for v in verdicts]
        lines.append(f"| {c} | {sum(row)} | " + " | ".join(map(str, row)) + " |")
    total = [sum(counts[(c, v)] for c in cats) for v in verdicts]
    lines.append(f"| **total** | **{sum(total)}** | " + " | ".join(map(str, total)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--every", type=int, default=1, help="run every N-th case (the CI slice uses 8)")
    p.add_argument("--offset", type=int, default=0)
    args = p.parse_args(argv)
    start = time.monotonic()

    def progress(i: int, n: int) -> None:
        if i % 200 == 0 or i == n:
            print(f"  {i}/{n} cases, {time.monotonic() - start:.0f} s", file=sys.stderr)

    counts, findings = run_corpus(args.every, args.offset, progress=progress)
    print(report(counts))
    print(f"\n{sum(counts.values())} cases in {time.monotonic() - start:.0f} s; {len(findings)} findings")
    for f in findings:
        print("  " + f)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
