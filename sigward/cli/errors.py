"""Errors as cosign's command line words them.

Lower layers (ops, sigstore, keys) describe a remedy in the library's terms (``Checks.ignore_tlog``,
``signing_config``); the CLI rewrites each such phrase into the flag a cosign user types. One table, so a
library message never names a flag and a CLI message is exactly what it was.
"""

from __future__ import annotations

from sigward.errors import SigwardError

# library phrase → cosign's flag wording (longest phrases first where one contains another).
FLAG_WORDING: tuple[tuple[str, str], ...] = (
    ("(Checks.ignore_tlog skips this check)", "(pass --insecure-ignore-tlog=true to skip this check)"),
    ("(Checks.ignore_sct skips this check)", "(pass --insecure-ignore-sct=true to skip)"),
    ("Checks.use_signed_timestamps needs", "--use-signed-timestamps needs"),
    ("(give it a trusted root)", "(pass --trusted-root)"),
    ("verify it with a key authority", "verify it with --key"),
    ("use the bundle format or a v1 log", "use --new-bundle-format or a v1 log"),
    ("a bundle-format signature that is not uploaded needs on_bundle to keep it",
     "--upload=false with the new bundle format needs --bundle FILE"),
    ("signing_config cannot be combined with fulcio_url, rekor_url or timestamp_urls",
     "--signing-config cannot be combined with --fulcio-url, --rekor-url or --timestamp-server-url"),
    ("signing_config cannot be combined with tlog_upload=False",
     "--signing-config cannot be combined with --tlog-upload=false"),
    ("no Fulcio URL: give fulcio_url or a signing_config with a CA",
     "no Fulcio URL: pass --fulcio-url or a --signing-config with a CA"),
    ("a private instance's trusted_root needs a signing_config (or fulcio_url and rekor_url)",
     "--trusted-root for a private instance needs --signing-config (or --fulcio-url and --rekor-url)"),
)


def cli_message(e: SigwardError) -> str:
    """``e``'s one-line message with every library phrase in cosign's flag wording."""
    text = str(e)
    for library, flag in FLAG_WORDING:
        if library in text:
            text = text.replace(library, flag)
    return text
