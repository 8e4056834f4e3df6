"""The library API takes KMS and token references wherever it takes a key (sigward.sign / key_policy)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import sigward
from sigward.errors import VerificationError
from tests.fixtures.awskms import LocalKms


def test_sign_and_verify_with_a_kms_reference(aws_env: dict[str, str], local_kms: LocalKms,
                                              layout: Callable[..., str]) -> None:
    local_kms.create_key("RSA_2048", "alias/library")  # RSA-PSS: the verifier must follow the key
    uri = f"awskms://{local_kms.host}/alias/library"
    ref = layout("library")
    [result] = sigward.sign(ref, key=uri, tlog=False)
    assert result is not None
    [found] = sigward.verify(ref, policy=sigward.key_policy(uri, tlog=False))
    assert found is not None
    signer = sigward.load_signer(uri)
    assert sigward.verify(ref, policy=sigward.key_policy(signer, tlog=False))
    with pytest.raises(VerificationError):
        sigward.verify(layout("unsigned"), policy=sigward.key_policy(uri, tlog=False))
