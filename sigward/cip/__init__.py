"""Sigstore policy-controller's resources as data: ClusterImagePolicy (v1alpha1, v1beta1) and TrustRoot.

Pure (bytes/dicts in, values and field errors out; no network): the image glob, the resource model with
policy-controller's defaults, its validation rules and error wording, and the TrustRoot → trusted-root
conversion. Evaluation against images lives one layer up, in ``sigward.admission``.
"""
