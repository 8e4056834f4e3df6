"""The key commands run as a user runs them: ``python -m sigward`` in a subprocess, real files, real
stdin pipes, and a real pseudo-terminal for the interactive prompts."""

from __future__ import annotations

import os
import pathlib
import pty
import select
import subprocess
import sys
import time

import pytest

from sigward.keys import encrypted, keytypes

REPO = pathlib.Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors" / "cosign"


def _env(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if password is not None:
        env["COSIGN_PASSWORD"] = password
    return env


def run(cwd: pathlib.Path, *args: str, password: str | None = None,
        stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "sigward", *args], cwd=cwd, input=stdin,
                          env=_env(password), capture_output=True, timeout=60,
                          preexec_fn=lambda: os.umask(0o022))


def decrypts_with(path: pathlib.Path, password: bytes) -> bool:
    try:
        encrypted.decrypt_private_key(path.read_bytes(), password, str(path))
        return True
    except Exception:
        return False


def test_generate_writes_pair_with_modes_and_messages(tmp_path: pathlib.Path) -> None:
    r = run(tmp_path, "generate-key-pair", password="")  # set-but-empty: the empty password
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    assert r.stderr == b"Private key written to cosign.key\nPublic key written to cosign.pub\n"
    assert (tmp_path / "cosign.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cosign.pub").stat().st_mode & 0o777 == 0o644
    key = encrypted.decrypt_private_key((tmp_path / "cosign.key").read_bytes(), b"", "cosign.key")
    assert key.curve.name == "secp256r1"  # cosign always generates P-256
    assert (tmp_path / "cosign.pub").read_bytes() == keytypes.public_key_pem(key.public_key())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cosign.key", "cosign.pub"]


def test_password_from_stdin_is_untrimmed_and_env_wins(tmp_path: pathlib.Path) -> None:
    r = run(tmp_path, "generate-key-pair", "--output-key-prefix", "piped", stdin=b"pw\n")
    assert r.returncode == 0, r.stderr
    assert decrypts_with(tmp_path / "piped.key", b"pw\n")
    assert not decrypts_with(tmp_path / "piped.key", b"pw")
    r = run(tmp_path, "generate-key-pair", "--output-key-prefix", "env", password="x", stdin=b"y")
    assert r.returncode == 0, r.stderr
    assert decrypts_with(tmp_path / "env.key", b"x")
    # public-key reads the password the same way
    r = run(tmp_path, "public-key", "--key", "piped.key", stdin=b"pw\n")
    assert r.returncode == 0 and r.stdout == (tmp_path / "piped.pub").read_bytes()
    r = run(tmp_path, "public-key", "--key", "piped.key", stdin=b"pw")
    assert r.returncode == 1
    assert r.stderr == b"Error: piped.key: decrypt: encrypted: decryption failed (wrong password?)\n"


def test_overwrite_needs_yes_without_a_terminal(tmp_path: pathlib.Path) -> None:
    assert run(tmp_path, "generate-key-pair", password="a").returncode == 0
    before = (tmp_path / "cosign.key").read_bytes(), (tmp_path / "cosign.pub").read_bytes()
    r = run(tmp_path, "generate-key-pair", password="a")
    assert r.returncode == 1
    assert r.stderr.startswith(b"Error: File cosign.key already exists; not overwriting")
    assert r.stderr.count(b"\n") == 1
    assert ((tmp_path / "cosign.key").read_bytes(), (tmp_path / "cosign.pub").read_bytes()) == before
    r = run(tmp_path, "generate-key-pair", "-y", password="b")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cosign.key").read_bytes() != before[0]
    assert decrypts_with(tmp_path / "cosign.key", b"b")


def test_failed_write_leaves_nothing(tmp_path: pathlib.Path) -> None:
    r = run(tmp_path, "generate-key-pair", "--output-key-prefix", "missing/dir/k", password="")
    assert r.returncode == 1 and r.stderr.startswith(b"Error: writing missing/dir/k.key")
    # The .pub destination is a directory: the key would be renamed first, then the pub fails.
    (tmp_path / "k.pub").mkdir()
    r = run(tmp_path, "generate-key-pair", "--output-key-prefix", "k", password="")
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(b"Error: writing ") and r.stderr.count(b"\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pub"]  # no key, no temporaries


def test_import_key_pair(tmp_path: pathlib.Path) -> None:
    src = VECTORS / "ed25519key.pem"
    r = run(tmp_path, "import-key-pair", "-k", str(src), password="hello")
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"Private key written to import-cosign.key\nPublic key written to import-cosign.pub\n"
    assert (tmp_path / "import-cosign.key").stat().st_mode & 0o777 == 0o600
    k = encrypted.decrypt_private_key((tmp_path / "import-cosign.key").read_bytes(), b"hello", "k")
    assert (tmp_path / "import-cosign.pub").read_bytes() == keytypes.public_key_pem(k.public_key())

    bad = VECTORS / "invalidrsasmallkey.pem"
    r = run(tmp_path, "import-key-pair", "--key", str(bad), "-o", "bad", password="hello")
    assert r.returncode == 1
    assert r.stderr == f"Error: {bad}: error validating rsa key: key size not supported: 1024\n".encode()
    assert not (tmp_path / "bad.key").exists() and not (tmp_path / "bad.pub").exists()


def test_public_key_outfile_and_unsupported_sources(tmp_path: pathlib.Path) -> None:
    r = run(tmp_path, "public-key", "--key", str(VECTORS / "pemsigstorekey.pem"), "--outfile", "out.pub",
            password="hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"" and r.stderr == b"Public key written to out.pub\n"
    assert (tmp_path / "out.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    r = run(tmp_path, "generate-key-pair", "--kms", "awskms://alias/k", password="")
    assert r.returncode == 1 and b"kms specification should be in the format" in r.stderr
    assert r.stderr.count(b"\n") == 1
    r = run(tmp_path, "generate-key-pair", "--kms", "azurekms://v.vault.azure.net/k", password="")
    assert r.returncode == 1 and b"not supported yet" in r.stderr and r.stderr.count(b"\n") == 1
    r = run(tmp_path, "public-key", "--key", "azurekms://v.vault.azure.net/k", password="")
    assert r.returncode == 1
    assert r.stderr == b"Error: azurekms key references are not supported yet: azurekms://v.vault.azure.net/k\n"


# ---- interactive: a real pseudo-terminal on stdin ---------------------------------------------------

def converse(cwd: pathlib.Path, args: list[str], dialog: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Run with a tty on stdin; for each (prompt, reply) wait for the prompt on stderr, then type."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sigward", *args], cwd=cwd, env=_env(None),
                            stdin=slave, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(slave)
    assert proc.stderr is not None
    seen = b""
    try:
        for prompt, reply in dialog:
            deadline = time.monotonic() + 20
            while prompt not in seen:
                assert time.monotonic() < deadline, f"no prompt {prompt!r}; got {seen!r}"
                ready, _, _ = select.select([proc.stderr], [], [], 0.5)
                if ready:
                    chunk = os.read(proc.stderr.fileno(), 4096)
                    assert chunk, f"process ended before {prompt!r}; got {seen!r}"
                    seen += chunk
            seen = seen.split(prompt, 1)[1]
            os.write(master, reply)
        seen += proc.stderr.read()
        return proc.wait(timeout=30), seen
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def test_terminal_prompts_twice_and_checks_match(tmp_path: pathlib.Path) -> None:
    p1, p2 = b"Enter password for private key: ", b"Enter password for private key again: "
    rc, err = converse(tmp_path, ["generate-key-pair"], [(p1, b"s3cret\n"), (p2, b"s3cret\n")])
    assert rc == 0, err
    assert b"Private key written to cosign.key" in err
    assert decrypts_with(tmp_path / "cosign.key", b"s3cret")  # no newline from a terminal

    rc, err = converse(tmp_path, ["generate-key-pair", "--output-key-prefix", "m"],
                       [(p1, b"one\n"), (p2, b"two\n")])
    assert rc == 1
    assert err.strip().endswith(b"Error: passwords do not match")
    assert not (tmp_path / "m.key").exists()


def test_terminal_overwrite_confirmation(tmp_path: pathlib.Path) -> None:
    (tmp_path / "cosign.key").write_bytes(b"keep me")
    question = b"File cosign.key already exists. Overwrite (y/[N])? "
    rc, err = converse(tmp_path, ["generate-key-pair"], [(question, b"n\n")])
    assert rc == 1 and b"Error: not overwriting cosign.key" in err
    assert (tmp_path / "cosign.key").read_bytes() == b"keep me"
    p = b"Enter password for private key: "
    rc, err = converse(tmp_path, ["generate-key-pair"],
                       [(question, b"y\n"), (p, b"x\n"), (p.replace(b": ", b" again: "), b"x\n")])
    assert rc == 0, err
    assert decrypts_with(tmp_path / "cosign.key", b"x")


@pytest.mark.parametrize("stdin", [b"", b"pw"])
def test_public_key_output_is_go_pem(tmp_path: pathlib.Path, stdin: bytes) -> None:
    r = run(tmp_path, "generate-key-pair", stdin=stdin)
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "public-key", "--key", "cosign.key", stdin=stdin)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split(b"\n")
    assert lines[0] == b"-----BEGIN PUBLIC KEY-----" and lines[-2] == b"-----END PUBLIC KEY-----"
    assert [len(x) for x in lines[1:-2]] == [64, 60]  # P-256 SPKI: 91 bytes → 124 base64 chars
    assert r.stdout == (tmp_path / "cosign.pub").read_bytes()
