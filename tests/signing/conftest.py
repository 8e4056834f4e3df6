"""Fixtures for signing tests: a test key pair, a CLI runner, and images in layouts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigward.cli.main import main
from tests.fixtures.testkeys import TEST_PASSWORD, KeyPair, make_keys


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run the sigward CLI in-process; COSIGN_PASSWORD is the test password unless overridden."""
    monkeypatch.setenv("COSIGN_PASSWORD", TEST_PASSWORD)
    monkeypatch.delenv("COSIGN_REPOSITORY", raising=False)
    monkeypatch.delenv("COSIGN_DOCKER_MEDIA_TYPES", raising=False)

    def _run(*argv: str, env: dict[str, str] | None = None) -> Run:
        capsys.readouterr()
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        try:
            code = main(list(argv))
        finally:
            for k in env or {}:
                monkeypatch.delenv(k, raising=False)
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err
        return Run(code, cap.out, cap.err)

    return _run


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keys(tmp_path_factory.mktemp("keys"), "cosign")


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keys(tmp_path_factory.mktemp("other-keys"), "other")


@pytest.fixture
def layout(tmp_path: Path) -> Callable[..., str]:
    """Write a demo image into a fresh layout; returns its ``oci:PATH@sha256:…`` reference."""
    from sigward.oci.layout import LayoutStore
    from sigward.ops.example import write_demo_image

    counter = iter(range(1000))

    def _make(message: str = "hello", name: str | None = None, tag: str = "v1") -> str:
        path = tmp_path / (name or f"layout{next(counter)}")
        store = LayoutStore(str(path))
        img = write_demo_image(store, tag, message=message)
        digest = getattr(img, "digest", None) or store.resolve(tag).digest
        return f"oci:{path}@{digest}"

    return _make

