"""policy-controller's glob semantics (its own table test, pkg/apis/glob/glob_test.go, as vectors) and the
CIP model's defaults."""

from __future__ import annotations

import pytest

from sigward.cip.glob import GlobError, glob_matches, image_name
from sigward.cip.model import DEFAULT_FULCIO_URL, parse_cip
from sigward.errors import InvalidReferenceError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("glob", "image", "want"), [
    ("index.docker.io/library/foo:latest", "foo", True),
    ("index.docker.io/library/*", "foo", True),
    ("index.docker.io/*/*", "foo", True),
    ("**", "foo", True),
    ("*", "foo", True),  # rewritten to index.docker.io/library/*
    ("foo*", "foo", True),  # only through the raw-input fallback
    ("*/*", "myuser/app", True),  # rewritten to index.docker.io/*/*
    ("ghcr.io/*/*", "ghcr.io/foo", False),
    ("ghcr.io/**", "ghcrxio/foo", False),  # `.` is literal
    ("ghcr.io/*", "ghcr.io/foo/bar", False),  # `*` stops at `/`
    ("ghcr.io/foo*", "ghcr.io/foo:v1", True),  # ... but crosses `:`
    ("ghcr.io/foo*", f"ghcr.io/foo@{DIGEST}", True),  # ... and `@`
    ("ghcr.io/foo@**", f"ghcr.io/foo:v1@{DIGEST}", True),
])
def test_upstream_glob_table(glob: str, image: str, want: bool) -> None:
    assert glob_matches(glob, image) is want


def test_the_tag_is_dropped_from_a_digest_reference() -> None:
    # policy-controller issue #888: `repo:**` never matches what the webhook matches (ref.Name()).
    name = image_name(f"ghcr.io/foo:v1@{DIGEST}")
    assert name == f"ghcr.io/foo@{DIGEST}"
    assert not glob_matches("ghcr.io/foo:**", name)
    assert image_name("foo") == "index.docker.io/library/foo:latest"
    assert image_name("docker.io/me/app:1") == "index.docker.io/me/app:1"


@pytest.mark.parametrize("glob", [".+", "[a-z]*", "[", "a?b", "{a,b}"])
def test_invalid_globs(glob: str) -> None:
    with pytest.raises(GlobError, match="invalid glob"):
        glob_matches(glob, "foo")


def test_invalid_image() -> None:
    with pytest.raises(InvalidReferenceError):
        glob_matches("**", "invalid&name")


def test_defaults_are_policy_controllers() -> None:
    p = parse_cip({"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "ClusterImagePolicy",
                   "metadata": {"name": "p"},
                   "spec": {"images": [{"glob": "**"}], "authorities": [
                       {"keyless": {"identities": [{"issuer": "i", "subject": "s"}]}},
                       {"name": "mine", "keyless": {"ca-cert": {"data": "x"}, "identities": []}},
                       {"static": {"action": "pass"}},
                       {"key": {"data": "k"},
                        "attestations": [{"name": "a", "predicateType": "slsaprovenance"}]},
                   ]}})
    assert p.mode == "enforce" and p.api_version.endswith("v1alpha1")
    assert [a.name for a in p.authorities] == ["authority-0", "mine", "authority-2", "authority-3"]
    assert p.authorities[0].keyless is not None and p.authorities[0].keyless.url == DEFAULT_FULCIO_URL
    assert p.authorities[1].keyless is not None and p.authorities[1].keyless.url == ""  # ca-cert: no default
    assert p.authorities[3].key is not None and p.authorities[3].key.hash_name == "sha256"
    assert p.authorities[3].attestations[0].predicate_type_uri == "https://slsa.dev/provenance/v0.2"
