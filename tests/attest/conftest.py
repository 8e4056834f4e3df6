"""Attestation tests reuse the signing fixtures: in-process CLI runner, test key pairs, demo layouts."""

from tests.signing.conftest import keys, layout, other_keys, run  # noqa: F401
