"""Key references as cosign accepts them on ``--key``.

A reference is a file path, ``env://VAR`` (the PEM itself in an environment variable), or a URI naming
a key held elsewhere (KMS, PKCS#11 token, Kubernetes secret, GitLab variable, http(s) download).
Parsing into a ``KeyRef`` first means every command recognises the same schemes the same way, and the
remote kinds fail with one clear line until they are implemented, instead of being mistaken for a
file called ``awskms:/...``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sigward.errors import KeyFileError, UsageError

# Prefix → kind, for the references read by something other than "open a file".
_REMOTE_PREFIXES = (
    ("awskms://", "awskms"),
    ("gcpkms://", "gcpkms"),
    ("azurekms://", "azurekms"),
    ("hashivault://", "hashivault"),
    ("openbao://", "hashivault"),
    ("pkcs11:", "pkcs11"),
    ("k8s://", "k8s"),
    ("gitlab://", "gitlab"),
    ("https://", "url"),
    ("http://", "url"),
)
KMS_KINDS = frozenset({"awskms", "gcpkms", "azurekms", "hashivault"})


@dataclass(frozen=True)
class KeyRef:
    """``kind`` is ``file``, ``env`` or one of the remote kinds; ``location`` is the path or variable."""

    kind: str
    location: str
    text: str

    @property
    def is_kms(self) -> bool:
        return self.kind in KMS_KINDS

    def read(self) -> bytes:
        """The key material (PEM bytes) for ``file`` and ``env`` references."""
        if self.kind == "file":
            from sigward.fileio import MAX_KEY_FILE, read_regular

            return read_regular(self.location, MAX_KEY_FILE, f"reading key {self.location}", KeyFileError)
        if self.kind == "env":
            value = os.environ.get(self.location)
            if not value:
                raise KeyFileError(f"environment variable {self.location} is not set or empty "
                                   f"(key reference {self.text})")
            return value.encode("utf-8")
        raise not_supported(self)


def not_supported(ref: KeyRef) -> KeyFileError:
    return KeyFileError(f"{ref.kind} key references are not supported yet: {ref.text}")


def parse_key_ref(text: str) -> KeyRef:
    """Classify a ``--key`` value; never touches the file system or the network."""
    if not text:
        raise UsageError("key reference is empty")
    if text.startswith("env://"):
        var = text[len("env://"):]
        if not var:
            raise UsageError(f"key reference {text}: missing environment variable name")
        return KeyRef("env", var, text)
    for prefix, kind in _REMOTE_PREFIXES:
        if text.startswith(prefix):
            return KeyRef(kind, text, text)
    return KeyRef("file", text, text)
