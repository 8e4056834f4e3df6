"""A cosign user's first hour (issue 12): layouts without a tag, help texts, messages and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SIGN = ("sign", "--tlog-upload=false")
NOTLOG = "--insecure-ignore-tlog=true"


def _signed_layout(run: Callable[..., Any], keys: Any, tmp_path: Path) -> tuple[Path, str]:
    src = tmp_path / "src"
    r = run("demo-image", f"oci:{src}:hello")
    assert r.code == 0, r.err
    img = r.out.strip()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    return src, img


def test_copy_to_untagged_layout_then_read_it_untagged(run: Callable[..., Any], keys: Any,
                                                      tmp_path: Path) -> None:
    """`copy … oci:./backup`, then `tree`/`verify oci:./backup` and `verify --local-image ./backup`.

    Reading `oci:PATH` with no tag used to look for `latest` (`tag not found`); it takes the layout's
    only image, attachments (referrers, sha256-<hex> tags) aside, as skopeo's `oci:` transport does.
    """
    src, img = _signed_layout(run, keys, tmp_path)
    digest = img.split("@")[1]
    backup = tmp_path / "backup"
    assert run("copy", f"oci:{src}:hello", f"oci:{backup}").code == 0
    r = run("tree", f"oci:{backup}")
    assert r.code == 0, r.err
    assert "via OCI referrer" in r.out
    r = run("verify", "--key", keys.pub, NOTLOG, f"oci:{backup}")
    assert r.code == 0, r.err
    assert digest in r.out
    r = run("verify", "--key", keys.pub, NOTLOG, "--local-image", str(backup))
    assert r.code == 0, r.err
    # From a digest, copy writes no tag; the untagged entry is still the layout's one image.
    bydigest = tmp_path / "bydigest"
    assert run("copy", img, f"oci:{bydigest}").code == 0
    assert "ref.name" not in (bydigest / "index.json").read_text()
    assert run("verify", "--key", keys.pub, NOTLOG, f"oci:{bydigest}").code == 0
    # Legacy signatures (a sha256-<hex>.sig tag) are attachments too.
    assert run(*SIGN, "--new-bundle-format=false", "--key", keys.key, img).code == 0
    legacy = tmp_path / "legacy"
    assert run("copy", img, f"oci:{legacy}").code == 0
    assert run("verify", "--key", keys.pub, NOTLOG, "--new-bundle-format=false", f"oci:{legacy}").code == 0


def test_untagged_read_of_a_layout_with_several_images_names_them(run: Callable[..., Any],
                                                                   tmp_path: Path) -> None:
    lay = tmp_path / "multi"
    a = run("demo-image", f"oci:{lay}:one").out.strip()
    b = run("demo-image", "--message", "two", f"oci:{lay}").out.strip()  # untagged write
    r = run("tree", f"oci:{lay}")
    assert r.code == 1
    err = r.err.strip().splitlines()[-1]
    assert err.startswith(f"Error: oci:{lay} holds 2 images; name one")
    assert f"oci:{lay}:one" in err and b.replace(f"oci:{lay}", "") in err
    assert a.split("@")[1] not in err  # the tagged image is offered by its tag
    # An empty layout: no image, not a "tag not found".
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (empty / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    r = run("tree", f"oci:{empty}")
    assert r.code == 1 and "the layout holds no image" in r.err


def test_help_texts_never_print_suppress(capsys: pytest.CaptureFixture[str]) -> None:
    """`--insecure-skip-verify`/`--private-infrastructure` are hidden, not shown as `==SUPPRESS==`."""
    from sigward.cli.main import main

    commands = ["sign", "verify", "attest", "verify-attestation", "sign-blob", "verify-blob",
                "attest-blob", "verify-blob-attestation", "copy", "tree", "clean"]
    for command in commands:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "usage:" in out
        assert "SUPPRESS" not in out, command
    with pytest.raises(SystemExit):
        main(["image", "build", "--help"])
    assert "SUPPRESS" not in capsys.readouterr().out


def test_tree_of_unsigned_image_names_sigward(run: Callable[..., Any], layout: Callable[..., str]) -> None:
    r = run("tree", layout())
    assert r.code == 0
    assert "$ sigward sign <img>" in r.out and "cosign sign" not in r.out


def test_failed_verify_groups_identical_reasons(run: Callable[..., Any], keys: Any, other_keys: Any,
                                                layout: Callable[..., str]) -> None:
    """Three signatures failing for one reason: the reason once, with the count; exit 1 on bundles."""
    img = layout()
    for _ in range(3):
        assert run(*SIGN, "--key", keys.key, img).code == 0
    r = run("verify", "--key", other_keys.pub, NOTLOG, img)
    assert r.code == 1  # cosign v3's bundle path: 1, not 12
    line = r.err.strip().splitlines()[-1]
    assert line.startswith("Error: no matching signatures among 3 Sigstore bundles: ")
    assert line.endswith("(3 signatures)")
    assert line.count("sha256:") == 0  # the per-referrer digests are not repeated
    # Legacy format: exit 12, grouped the same way.
    for _ in range(2):
        assert run(*SIGN, "--new-bundle-format=false", "--key", other_keys.key, "-a", "n=1", img).code == 0
    assert run(*SIGN, "--new-bundle-format=false", "--key", other_keys.key, "-a", "n=2", img).code == 0
    r = run("verify", "--key", keys.pub, NOTLOG, "--new-bundle-format=false", img)
    assert r.code == 12
    assert r.err.strip().splitlines()[-1].endswith("(2 signatures)")


def test_key_only_verify_prints_no_tuf_noise(run: Callable[..., Any], keys: Any,
                                            layout: Callable[..., str]) -> None:
    """A key-based verify that needs the log loads the public trust root: no sigstore-python TUF chatter."""
    import subprocess
    import sys

    img = layout()
    assert run(*SIGN, "--key", keys.key, img).code == 0
    # A real process: in-process, pytest's log capture would swallow the logging warning.
    proc = subprocess.run([sys.executable, "-m", "sigward", "verify", "--key", keys.pub, img],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1  # no log entry: refused, but quietly
    assert "TUF" not in proc.stderr
    assert "--insecure-ignore-tlog" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_docs_state_the_bundle_exit_code() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    assert "12** no matching signatures\n  in the legacy" in readme
    example = (root / "examples" / "hello-service" / "README.md").read_text()
    assert "(exit 12)" not in example


def test_clean_on_a_v3_signed_image(run: Callable[..., Any], keys: Any, registry: Any,
                                    unique_repo: str) -> None:
    """`clean --type signature` names the bundle referrers it leaves; `--type all` leaves no empty
    `sha256-<hex>` fallback index behind (distribution 2.8 has no referrers API)."""
    import httpx

    from sigward.oci import mediatypes as mt
    from tests.fixtures.images import push_image

    digest = push_image(registry, unique_repo, "v1")
    ref = f"{registry.host}/{unique_repo}@{digest}"
    assert run(*SIGN, "--key", keys.key, ref).code == 0
    fallback = f"{registry.url}/v2/{unique_repo}/manifests/{digest.replace(':', '-')}"
    assert httpx.get(fallback, headers={"Accept": mt.OCI_INDEX}).status_code == 200
    r = run("clean", "-f", "--type", "signature", ref)
    assert r.code == 0
    assert "Nothing to remove" not in r.err
    assert "WARNING: image has 1 Sigstore bundle referrer(s)" in r.err and "--type referrer" in r.err
    r = run("clean", "-f", "--type", "all", ref)
    assert r.code == 0 and "Removed sha256:" in r.err
    assert httpx.get(fallback, headers={"Accept": mt.OCI_INDEX}).status_code == 404
    r = run("tree", ref)
    assert "No Supply Chain Security Related Artifacts" in r.out
    assert run("verify", "--key", keys.pub, NOTLOG, ref).code == 10
