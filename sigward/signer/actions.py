"""The signer's one door to sigward's signing operations: load a key, signing material, sign, attest, attach.

Everything the phase needs of ``sigward.ops``/``sigward.keys`` goes through these few functions, so the
phase logic does not depend on how those are shaped inside. Why not the public API (``sigward.sign`` /
``sigward.attest``): it takes a reference and builds its signing material per call, so a keyless config
would get a Fulcio certificate per image and SBOM, the CI's ambient identity token is off, and
``docker-media-types`` (an RFC field) has no parameter; the phase needs material built once per config
and signatures written into the stores it already checked. When the API takes a ``SigningMaterial`` and
the media-type choice, ``sign``/``attest`` here become one call each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigward.keys.interfaces import Signer
    from sigward.oci.store import Store
    from sigward.signer.config import SignConfig
    from sigward.signer.sbom import SBOMFile
    from sigward.sigstore.signing import SigningMaterial


def load_key(ref: str, password: Callable[[bool], bytes]) -> Signer:
    """A private key signer for any key reference sigward accepts (file, ``env://``, KMS/PKCS#11 as built)."""
    from sigward.keys.providers import load_signer

    return load_signer(ref, password)


def material(cfg: SignConfig, key: Signer | None, environment: Mapping[str, str]) -> SigningMaterial:
    """Signing material for one config: the key alone (``tlog-upload = false``), with Rekor, or keyless.

    Keyless takes the identity token from the config's ``identity-token`` file, else the CI's ambient
    credentials / ``SIGSTORE_ID_TOKEN`` in ``environment`` (the CLI's: the process environment) as ``sign``
    does; a build never opens a browser or prompts.
    """
    from sigward.errors import UsageError
    from sigward.ops.keyless import KeylessOptions, signing_material
    from sigward.sigstore import oidc
    from sigward.sigstore.oidc import IdentityOptions

    identity = IdentityOptions(identity_token=cfg.identity_token, interactive=False, skip_confirmation=True)
    opts = KeylessOptions(identity=identity, trusted_root=cfg.trusted_root, signing_config=cfg.signing_config,
                          tlog_upload=cfg.tlog_upload, use_signing_config=cfg.tlog_upload, confirm=None,
                          environment=environment)
    try:
        return signing_material(key, opts)
    except UsageError as e:
        if str(e) != getattr(oidc, "NO_TOKEN_MESSAGE", None):
            raise
        raise UsageError("no identity token for keyless signing: set identity-token (a file) in the config, "
                         "or SIGSTORE_ID_TOKEN, or run in a CI with OIDC (GitHub Actions: permissions "
                         "id-token: write; GitLab: id_tokens with aud: sigstore)") from e


def sign(store: Store, digest: str, signer: Any, dest: Store, *, annotations: dict[str, str],
         new_bundle_format: bool, docker_media_types: bool, docker_reference: str) -> str:
    """Sign ``digest`` (already resolved and checked); returns where the signature went."""
    from sigward.ops.sign import SignOptions, sign_image

    opts = SignOptions(annotations=dict(annotations), new_bundle_format=new_bundle_format,
                       docker_media_types=docker_media_types)
    res = sign_image(store, digest, signer, attach_store=dest, options=opts,
                     docker_reference=docker_reference)
    return res[0].signature_ref


def attest(store: Store, digest: str, signer: Any, dest: Store, *, sbom: SBOMFile, type_name: str,
           new_bundle_format: bool, docker_media_types: bool, subject_name: str) -> str:
    """Attest one SBOM file (its JSON is the predicate) to ``digest``; returns where it went."""
    from sigward.ops.attest import AttestOptions, attest_image

    opts = AttestOptions(type_name=type_name, predicate=sbom.data, new_bundle_format=new_bundle_format,
                         docker_media_types=docker_media_types)
    res = attest_image(store, digest, signer, attach_store=dest, options=opts, subject_name=subject_name)
    return res.where


def attach_sboms(store: Store, digest: str, dest: Store, sboms: list[SBOMFile], *,
                 docker_media_types: bool) -> tuple[str, str]:
    """The ``sha256-<hex>.sbom`` image with one layer per SBOM file (cosign's SBOM spec), replaced whole.

    Each layer is titled with its path under ``sbom/launch`` (buildpack and layer). Returns the tag
    reference and the manifest digest (which the phase then signs, as ``cosign sign --attachment sbom``).
    """
    from sigward.formats import legacy
    from sigward.oci import digest as _digest
    from sigward.oci.manifest import Descriptor
    from sigward.ops.attached import attached_tag

    manifest = config = None
    for s in sboms:
        layer = Descriptor(s.media_type, _digest.compute(s.data), len(s.data),
                           annotations={"org.opencontainers.image.title": s.path})
        manifest, config = legacy.append(manifest, config, layer, docker_media_types=docker_media_types)
    assert manifest is not None and config is not None and manifest.config is not None
    for s, layer in zip(sboms, manifest.layers, strict=True):
        dest.put_blob(layer, s.data)
    dest.put_blob(manifest.config, config)
    tag = attached_tag(digest, "sbom")
    dest.put_manifest(manifest, tag)
    return str(dest.reference(tag)), manifest.digest
