"""Errors that reach the user.

Every failure a user can cause (bad input, bad network, bad signature) is a ``SigwardError``: the CLI
prints its message as one line and exits with ``exit_code``. Anything else is a bug. Exit codes follow
cosign where cosign defines one (``cmd/cosign/errors/exit_codes.go``), else 1.

Messages speak the library's language. Below the CLI, an error that tells the user what to change names
the setting as a library user writes it — an options field (``IdentityOptions.identity_token``,
``BundleInputs.certificate_pem``, ``Checks.ignore_tlog``) or a function's parameter
(``push_chart(creation_time)``) — and never a command-line flag: ``str(e)`` is right for a library user.
The CLI turns those words into cosign's flags when it prints ``Error: …``, through the one table in
``sigward/cli/errors.py``, so its line stays cosign's byte for byte. A new message that names a setting
the CLI has a flag for adds its phrase there; ``tests/test_layers.py`` fails on a flag named below the CLI
and on a table phrase no message uses. Checks about how a flag is written (``--layer SRC[:DEST]``,
"--rekor-config is required when --rekor is provided") are not library errors: the CLI makes them.
"""

from __future__ import annotations


class SigwardError(Exception):
    """A failure with a message fit for the user; ``exit_code`` is the process exit status."""

    exit_code = 1


class UsageError(SigwardError):
    """Flags or arguments that do not make sense together."""


class InvalidReferenceError(SigwardError):
    """An image reference, digest or tag that does not follow the grammar."""


class InvalidManifestError(SigwardError):
    """Bytes that claim to be a manifest or index but are not one."""


class DigestMismatchError(SigwardError):
    """Content whose digest (or size) differs from the one it was asked for: never accepted."""


class StoreError(SigwardError):
    """A registry or layout operation failed."""


class NotFoundError(StoreError):
    """A manifest, tag or blob that does not exist."""


class AuthError(StoreError):
    """Credentials missing or refused."""


class KeyFileError(SigwardError):
    """A key file or key reference that cannot be used (bad PEM, wrong password, unsupported type)."""


class VerificationError(SigwardError):
    """A signature, certificate or claim did not verify."""


# cosign's exit codes for `verify` (legacy path); see cosign-wire-formats.md §4.4.
class NoSignaturesError(VerificationError):
    exit_code = 10


class ImageTagNotFoundError(VerificationError):
    exit_code = 11


class NoMatchingSignaturesError(VerificationError):
    exit_code = 12


class NoCertificateError(VerificationError):
    exit_code = 13
