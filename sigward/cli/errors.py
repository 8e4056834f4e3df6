"""Errors as cosign's command line words them: the one place library words become flags.

Below the CLI, a message that tells the user what to change names the library's setting (a parameter,
an options field, ``Checks.ignore_tlog``), never a flag (``tests/test_layers.py`` enforces it). The CLI
rewrites each such phrase into what a cosign user types, through the one table below (``FLAG_WORDING``),
when it prints the ``Error:`` line (``cli/main.py``). So ``str(e)`` reads right to a library user and the
CLI's line is cosign's, byte for byte. ``policy test`` prints library text as verdict reasons too: it words
them with its own table (``POLICY_TEST_WORDING``: its flags, which are not cosign's verify flags).

Why phrases in the text rather than a structured field on the error: messages travel as text — the
verification pipeline joins the reasons of several candidates and authorities, callers wrap a cause as
``f"…: {e}"`` — and a field would be lost at every such step, while the words survive. Each entry is
a whole phrase of one message (setting names with ``_`` or ``.``, never a bare word such as "key"), so
a file name or value quoted in a message is never rewritten; ``tests/test_layers.py`` checks that every
phrase still occurs in the lower layers' source and that none names a flag there.

Checks that concern only how a flag is written (``--layer SRC[:DEST]``, "X is required when Y") are not
here: they live in the CLI module of the command, before any library call.
"""

from __future__ import annotations

from sigward.errors import SigwardError

# Registry access (oci/registry/client.py): every command that has the registry flags words them so, the
# cosign commands and ``policy test`` alike.
REGISTRY_WORDING: tuple[tuple[str, str], ...] = (
    ("set StoreOptions.ca_file to trust its CA, or StoreOptions.allow_insecure_registry to skip verification",
     "pass --registry-cacert FILE to trust its CA, or --allow-insecure-registry to skip verification"),
    ("if it serves plain HTTP, set StoreOptions.allow_http_registry",
     "if it serves plain HTTP, use --allow-http-registry"),
    ("or set StoreOptions.username and StoreOptions.password",
     "or pass --registry-username/--registry-password"),
)

# library phrase → cosign's flag wording. Applied in order, each at most once per occurrence; a phrase
# that contains another comes first.
FLAG_WORDING: tuple[tuple[str, str], ...] = (
    # verification (sigstore/verify.py, certs.py, signing.py; ops/sign.py)
    ("(Checks.ignore_tlog skips this check)", "(pass --insecure-ignore-tlog=true to skip this check)"),
    ("(Checks.ignore_sct skips this check)", "(pass --insecure-ignore-sct=true to skip)"),
    ("Checks.use_signed_timestamps needs", "--use-signed-timestamps needs"),
    ("(give it a trusted root)", "(pass --trusted-root)"),
    ("verify it with a key authority", "verify it with --key"),
    ("use the bundle format or a v1 log", "use --new-bundle-format or a v1 log"),
    ("a bundle-format signature that is not uploaded needs on_bundle to keep it",
     "--upload=false with the new bundle format needs --bundle FILE"),
    # keyless signing (ops/keyless.py)
    ("signing_config cannot be combined with fulcio_url, rekor_url or timestamp_urls",
     "--signing-config cannot be combined with --fulcio-url, --rekor-url or --timestamp-server-url"),
    ("signing_config cannot be combined with tlog_upload=False",
     "--signing-config cannot be combined with --tlog-upload=false"),
    ("no Fulcio URL: give fulcio_url or a signing_config with a CA",
     "no Fulcio URL: pass --fulcio-url or a --signing-config with a CA"),
    ("a private instance's trusted_root needs a signing_config (or fulcio_url and rekor_url)",
     "--trusted-root for a private instance needs --signing-config (or --fulcio-url and --rekor-url)"),
    # identity tokens (sigstore/oidc.py, oidc_login.py)
    ("IdentityOptions.skip_confirmation=True", "--yes"),
    ("IdentityOptions.identity_token", "--identity-token"),
    ("IdentityOptions.oidc_provider", "--oidc-provider"),
    ("IdentityOptions.auth_flow", "--fulcio-auth-flow"),
    ("IdentityOptions.oidc_client_secret_file", "--oidc-client-secret-file"),
    ("IdentityOptions.oidc_redirect_url", "--oidc-redirect-url"),
    # trusted roots and signing configs (sigstore/trustbuild.py, tufmirror.py)
    ("signing_config(rekor_config)", "--rekor-config"),
    ("signing_config(tsa_config)", "--tsa-config"),
    ("needs initialize(root=<its root.json>) the first time", "needs --root root.json the first time"),
    # bundle create (ops/bundles.py)
    ("BundleInputs.certificate_pem", "--certificate"),
    ("BundleInputs.public_key_pem", "--key"),
    ("BundleInputs.old_bundle", "--bundle"),
    ("BundleInputs.artifact_path", "--artifact"),
    ("BundleInputs.signature_b64", "--signature"),
    # image build (ops/build.py, formats/layer.py)
    ("LayerSpec.dest is only for directories", "DEST is only for directories"),
    ("BuildOptions.expose", "--expose"),
    ("leave it out with an exclude pattern", "exclude it with --exclude"),
    # charts (ops/chart.py)
    ("package_chart(version)", "--version"),
    ("pull_chart(version)", "--version"),
    ("push_chart(creation_time)", "--creation-time"),
    # keys, attach, verify --local-image
    ("create_kms_key needs a KMS key reference", "--kms needs a KMS key reference"),
    ("(base64 of the raw signature bytes)", "(as written by sign-blob --b64)"),
    ("local_image_identifier needs a LayoutStore (an OCI layout directory)",
     "--local-image needs an OCI layout directory"),
    # copy (ops/copy.py)
    ("invalid value for plan_copy(only)", "invalid value for --only"),
    ("Use plan_copy(force=True) to overwrite", "Use `-f` to overwrite"),
    ("plan_copy(skip_unreadable=True) copies the rest", "--skip-unreadable copies the rest"),
    *REGISTRY_WORDING,
)

# ``policy test`` renders the engine's verdicts, whose reasons are library text too (admission/): its own
# files and registry flags, not the cosign verification flags above (it has none of those).
POLICY_TEST_WORDING: tuple[tuple[str, str], ...] = (
    ("(no Secret of that name in the PolicySet)", "(give it with --secret FILE)"),
    ("(no such ConfigMap in the PolicySet)", "(give its manifest with --policy)"),
    *REGISTRY_WORDING,
)


def cli_wording(text: str, table: tuple[tuple[str, str], ...] = FLAG_WORDING) -> str:
    """``text`` with every library phrase of ``table`` in the command line's flag wording."""
    for library, flag in table:
        if library in text:
            text = text.replace(library, flag)
    return text


def cli_message(e: SigwardError) -> str:
    """``e``'s one-line message with every library phrase in cosign's flag wording."""
    return cli_wording(str(e))
