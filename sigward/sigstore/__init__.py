"""Sigstore: trust roots, identity tokens, Fulcio/Rekor/TSA clients and the verification checks.

Everything here is imported lazily, only by keyless or transparency-log work; key-only paths never
load it. sigstore-python supplies the public-good trust root (TUF); the checks cosign needs beyond
sigstore-python (key-based bundles, SET-only entries, regex identities, opt-outs) are our own.
"""
