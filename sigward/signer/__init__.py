"""The Cloud Native Buildpacks signer phase (CNB RFC "Cosign support", PR #195), run after the exporter.

``sigward signer -report report.toml -cosign-config cosign.toml`` (or ``/cnb/signer`` in a builder) signs
every image the lifecycle exported, once per signing config, and exports the image's SBOMs as attestations
or attachments — all-or-nothing: nothing is written unless every image is readable, every tag still names
the reported digest, every key loads and every destination accepts pushes.

Layers, as in the rest of sigward: ``cli`` (flags, ``CNB_*`` environment, rendering, exit codes) → ``phase``
(the operation; reads no environment, prints nothing) → ``config``/``sbom`` (pure file formats) and
``actions`` (the one narrow door to sigward's sign/attest operations) → ``sigward.oci``.
"""
