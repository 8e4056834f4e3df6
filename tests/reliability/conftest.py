"""Reliability tests reuse the signing fixtures (``run``, ``keys``, ``layout``)."""

from tests.signing.conftest import KeyPair, Run, keys, layout, other_keys, run  # noqa: F401
