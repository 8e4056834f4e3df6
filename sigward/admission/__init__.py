"""The admission policy engine: which ClusterImagePolicies match an image, and whether the image passes them.

Ops-level: it resolves images through the Store interface and verifies through the one verification
pipeline (``sigward.sigstore.pipeline``), so ``sigward policy test`` and the admission webhook give the
same verdicts as ``sigward verify`` would for the same authority. Never reads env, prints or prompts.
"""
