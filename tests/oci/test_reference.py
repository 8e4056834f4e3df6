"""The docker reference grammar, Docker Hub normalisation and oci: layouts."""

from __future__ import annotations

import pytest

from sigward.errors import InvalidReferenceError
from sigward.oci.reference import (
    LayoutReference,
    Reference,
    parse_reference,
    parse_registry_reference,
    parse_repository,
)

D256 = "sha256:" + "a" * 64
D512 = "sha512:" + "b" * 128


@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag", "digest"),
    [
        ("ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("ubuntu:22.04", "index.docker.io", "library/ubuntu", "22.04", None),
        ("docker.io/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("index.docker.io/library/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("user/app", "index.docker.io", "user/app", "latest", None),
        ("ghcr.io/michaelvl/cosign-oci-poc", "ghcr.io", "michaelvl/cosign-oci-poc", "latest", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", None),
        ("127.0.0.1:5000/app@" + D256, "127.0.0.1:5000", "app", None, D256),
        ("[::1]:5000/app:tag", "[::1]:5000", "app", "tag", None),
        ("[fe80::1]/app", "[fe80::1]", "app", "latest", None),
        ("reg.example.com/app:v1@" + D256, "reg.example.com", "app", "v1", D256),
        ("reg.example.com/app@" + D512, "reg.example.com", "app", None, D512),
        ("reg.example.com/a_b/c__d/e-f/g--h/i.j:T_1.x-y", "reg.example.com", "a_b/c__d/e-f/g--h/i.j",
         "T_1.x-y", None),
        ("Example.COM/app", "Example.COM", "app", "latest", None),
    ],
)
def test_valid(text: str, registry: str, repo: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert isinstance(ref, Reference)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


def test_hub_api_host_and_name() -> None:
    ref = parse_registry_reference("ubuntu")
    assert ref.api_host == "registry-1.docker.io"
    assert ref.name == "index.docker.io/library/ubuntu"
    assert str(ref) == "index.docker.io/library/ubuntu:latest"
    other = parse_registry_reference("localhost:5000/x")
    assert other.api_host == "localhost:5000"


def test_no_default_tag() -> None:
    ref = parse_reference("ghcr.io/a/b", default_tag=False)
    assert ref.tag is None and ref.identifier == "latest"


def test_identifier_prefers_digest() -> None:
    ref = parse_registry_reference(f"r.io/a:t@{D256}")
    assert ref.identifier == D256
    assert ref.with_digest(D256).tag is None
    assert str(ref.with_tag("v2")) == "r.io/a:v2"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("UPPER/app", None),  # host with uppercase is allowed, but then 'app' repo... valid: see below
        ("r.io/App", "must be lowercase"),
        ("r.io/app:", "invalid tag"),
        ("r.io/app:-bad", "invalid tag"),
        ("r.io/app:" + "x" * 129, "invalid tag"),
        ("r.io/app@sha256:abc", "sha256 needs 64"),
        ("r.io/app@sha256:" + "A" * 64, "lower-case hex"),
        ("r.io/app@md5:" + "a" * 32, "unsupported algorithm"),
        ("r.io//app", "empty path component"),
        ("r.io/app/", "empty path component"),
        ("r.io/a..b", "invalid repository component"),
        ("r.io/-a", "invalid repository component"),
        ("r.io:99999/app", "invalid port"),
        ("bad_host.io/app", "invalid registry host"),
        ("r.io/app name", "white space"),
        ("r.io/" + "a" * 260, "longer than 255"),
        ("r.io/", "missing repository"),
    ],
)
def test_invalid(text: str, fragment: str | None) -> None:
    if fragment is None:
        # An upper-case first component is a registry host (docker's rule), not an error.
        assert isinstance(parse_reference(text), Reference)
        return
    with pytest.raises(InvalidReferenceError) as e:
        parse_reference(text)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "path", "tag", "digest"),
    [
        ("oci:./layout", "./layout", None, None),  # no implicit latest: the only image (skopeo)
        ("oci:/tmp/x:v1", "/tmp/x", "v1", None),
        ("oci:rel/dir@" + D256, "rel/dir", None, D256),
        ("oci:/a:b/c", "/a:b/c", None, None),  # a ':' inside the path is not a tag
    ],
)
def test_layout(text: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert isinstance(ref, LayoutReference)
    assert (ref.path, ref.tag, ref.digest) == (path, tag, digest)
    assert ref.name == f"oci:{path}"


@pytest.mark.parametrize("text", ["oci:", "oci:/x@sha256:zz", "oci:/x:bad tag"])
def test_layout_invalid(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_layout_not_accepted_where_registry_required() -> None:
    with pytest.raises(InvalidReferenceError, match="registry reference is required"):
        parse_registry_reference("oci:/x")


def test_repository() -> None:
    assert parse_repository("r.io/sigs").name == "r.io/sigs"
    with pytest.raises(InvalidReferenceError, match="no tag or digest"):
        parse_repository("r.io/sigs:v1")
