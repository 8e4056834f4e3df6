"""Keyless signing and the trust material every Sigstore operation needs.

Signing: identity token → ephemeral P-256 key → Fulcio certificate → signature → Rekor entry (v1 or v2)
→ optional RFC 3161 timestamps → a v0.3 bundle. The services come from a signing config (the
public-good one by default, ``--signing-config``, or one built from ``--fulcio-url``/``--rekor-url``/
``--timestamp-server-url`` as cosign does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigward.sigstore.trust import SigningConfig, TrustedRoot

if TYPE_CHECKING:
    from cryptography import x509

    from sigward.keys.interfaces import Signer
    from sigward.sigstore.oidc import IdentityOptions
    from sigward.sigstore.signing import SigningMaterial


def load_trust(trusted_root: str | None = None, signing_config: str | None = None, *,
               staging: bool = False, offline: bool = False,
               tuf_mirror: str | None = None) -> tuple[TrustedRoot, SigningConfig | None]:
    """The trusted root (``--trusted-root``, else the TUF mirror ``sigward initialize`` set up, else public
    good) and the signing config, if any is known."""
    from sigward.sigstore import trust

    if trusted_root:
        root = trust.load_trusted_root(trusted_root)
        cfg = trust.load_signing_config(signing_config) if signing_config else None
        return root, cfg
    root, cfg = trust.public_good(offline=offline, staging=staging, mirror=tuf_mirror)
    if signing_config:
        cfg = trust.load_signing_config(signing_config)
    return root, cfg


@dataclass
class KeylessOptions:
    identity: IdentityOptions | None = None
    trusted_root: str | None = None
    signing_config: str | None = None
    staging: bool = False
    fulcio_url: str | None = None
    rekor_url: str | None = None
    rekor_version: int | None = None
    timestamp_urls: list[str] = field(default_factory=list)
    tlog_upload: bool = True
    use_signing_config: bool = True
    # Shown PUBLIC_GOOD_NOTICE and a y/N question before a key's signature goes to a public log;
    # None: no question.
    confirm: Callable[[str], bool] | None = None
    tuf_mirror: str | None = None  # the TUF repository `sigward initialize --mirror` set up
    # Where the identity token sources look (SIGSTORE_ID_TOKEN, the CI providers): ops read no
    # environment, so the caller passes one (the CLI: os.environ); empty, the default: none.
    environment: Mapping[str, str] = field(default_factory=dict)


PUBLIC_GOOD_NOTICE = (
    "Note that there may be personally identifiable information associated with this signed artifact.\n"
    "This may include the email address associated with the account with which you authenticate.\n"
    "This information will be used for signing this artifact and will be stored in public transparency "
    "logs and cannot be removed later."
)


Services = tuple[TrustedRoot | None, str | None, tuple[str, int] | None, list[str]]


def _services(opts: KeylessOptions) -> Services:
    """(trusted root, Fulcio URL, (Rekor URL, version), TSA URLs) the way cosign v3 picks them."""
    from sigward.errors import UsageError

    explicit = bool(opts.fulcio_url or opts.rekor_url or opts.timestamp_urls)
    if explicit and opts.signing_config:
        raise UsageError("signing_config cannot be combined with fulcio_url, rekor_url or timestamp_urls")
    if opts.signing_config and not opts.tlog_upload:
        raise UsageError("signing_config cannot be combined with tlog_upload=False")
    if explicit or not opts.use_signing_config:
        root = load_trust(opts.trusted_root)[0] if opts.trusted_root else None
        rekor = (opts.rekor_url or "https://rekor.sigstore.dev", opts.rekor_version or 1)
        return root, opts.fulcio_url or "https://fulcio.sigstore.dev", rekor, list(opts.timestamp_urls)
    root, cfg = load_trust(opts.trusted_root, opts.signing_config, staging=opts.staging,
                           tuf_mirror=opts.tuf_mirror)
    if cfg is None:
        raise UsageError("a private instance's trusted_root needs a signing_config (or fulcio_url and "
                         "rekor_url) to know where to sign")
    fulcio = cfg.fulcio()
    rekor_svc = cfg.rekor(version=opts.rekor_version)
    # A signing config without any Rekor log (`cosign signing-config create` with no --rekor-url) is how
    # cosign v3 signs a bundle offline; one that lists logs none of which is usable is a mistake.
    if rekor_svc is None and opts.tlog_upload and cfg.rekor_tlog_urls:
        raise UsageError("the signing config lists no usable Rekor log")
    return (root, fulcio.url if fulcio else None,
            (rekor_svc.url, rekor_svc.major_api_version) if rekor_svc else None,
            [s.url for s in cfg.tsas()])


def signing_material(signer: Signer | None, opts: KeylessOptions) -> SigningMaterial:
    """The signer plus services: keyless (``signer`` None) gets an ephemeral key and a Fulcio certificate.

    A key signer with ``tlog_upload`` false needs no services at all (and loads no trust root).
    """
    from sigward.sigstore.signing import SigningMaterial

    if signer is not None and not opts.tlog_upload and not opts.timestamp_urls:
        return SigningMaterial(signer)
    if signer is not None and opts.signing_config and not opts.trusted_root:
        # A key signer whose signing config names no log and no TSA (cosign's offline bundle signing)
        # needs no trust root: don't reach for the public-good one (a TUF refresh over the network).
        from sigward.sigstore.trust import load_signing_config

        cfg = load_signing_config(opts.signing_config)
        if not cfg.rekor_tlog_urls and not cfg.tsa_urls:
            return SigningMaterial(signer)
    root, fulcio_url, rekor, tsas = _services(opts)
    from sigward.sigstore.rekor import RekorClient

    client = RekorClient(*rekor) if rekor and opts.tlog_upload else None
    # A key signer is asked here; keyless signing asks in the identity-token flow, once.
    public_log = client is not None and "sigstore.dev" in client.url
    ask = opts.confirm if signer is not None and public_log else None
    if ask is not None and not ask(f"{PUBLIC_GOOD_NOTICE}\nAre you sure you would like to continue? [y/N] "):
        from sigward.errors import SigwardError

        raise SigwardError("signing declined: nothing was uploaded")
    chain: list[x509.Certificate] = []
    if signer is None:
        from cryptography.hazmat.primitives.asymmetric import ec

        from sigward.errors import UsageError
        from sigward.keys.local import LocalSigner
        from sigward.sigstore import fulcio
        from sigward.sigstore.oidc import IdentityOptions, get_identity_token

        if not fulcio_url:
            raise UsageError("no Fulcio URL: give fulcio_url or a signing_config with a CA")
        token = get_identity_token(opts.identity or IdentityOptions(), opts.environment)
        signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        chain = fulcio.request_certificate(fulcio_url, token, signer)
        if root is not None:
            _check_issued(chain, root)
    return SigningMaterial(signer, chain, client, tsas, root)


def _check_issued(chain: list[x509.Certificate], root: TrustedRoot) -> None:
    """The certificate Fulcio sent must chain to the trusted root and carry a valid SCT.

    Checked at the certificate's issuance time: that is when the CA vouched for it.
    """
    from sigward.errors import SigwardError, VerificationError
    from sigward.sigstore import certs

    try:
        _ca, issuer = certs.verify_chain(chain[0], root, chain[0].not_valid_before_utc)
        certs.verify_embedded_sct(chain[0], issuer, root)
    except VerificationError as e:
        raise SigwardError(f"Fulcio's certificate does not verify against the trusted root: {e}")


def sign_blob_keyless(path: str, opts: KeylessOptions) -> bytes:
    """A v0.3 message-signature bundle for a file, signed keylessly (sigward-conformance sign-bundle)."""
    from sigward.ops.blob import hash_file

    material = signing_material(None, opts)
    return material.sign_digest(hash_file(path, "sha256"), "sha256")[1]


def sign_statement_keyless(statement: bytes, opts: KeylessOptions) -> bytes:
    """A v0.3 DSSE bundle for an in-toto statement, signed keylessly."""
    from sigward.formats import intoto
    from sigward.oci import mediatypes as mt

    intoto.parse_statement(statement)  # refuse to sign something that is not a statement
    material = signing_material(None, opts)
    return material.sign_dsse(statement, mt.IN_TOTO)[1]
