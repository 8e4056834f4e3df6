"""tree / triangulate: cosign's wording, our stable order, through the CLI as users run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_attached import make_legacy, make_referrer

from sigward.cli.main import main
from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.ops.example import write_demo_image
from sigward.ops.tree import render_tree, tree_sections, triangulate


def test_tree_empty_prints_cosigns_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_demo_image(LayoutStore(tmp_path / "l"), "hello")
    ref = f"oci:{tmp_path}/l:hello"
    assert main(["tree", ref]) == 0
    assert capsys.readouterr().out == (
        f"📦 Supply Chain Security Related artifacts for an image: {ref}\n"
        f"No Supply Chain Security Related Artifacts found for image {ref},\n"
        " start creating one with simply running$ sigward sign <img>\n"
    )


def test_tree_lists_everything_in_a_stable_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = LayoutStore(tmp_path / "l")
    desc = write_demo_image(store, "hello")
    hexd = desc.digest.split(":")[1]
    sig = make_legacy(store, desc.digest, "sig", [b"p1", b"p2"])
    sbom = make_legacy(store, desc.digest, "sbom", [b"spdx"], "text/spdx+json")
    att = make_legacy(store, desc.digest, "att", [b"stmt"], mt.DSSE_ENVELOPE)
    refs = sorted([make_referrer(store, desc, "https://slsa.dev/provenance/v1"),
                   make_referrer(store, desc, "https://sigstore.dev/cosign/sign/v1")], key=lambda m: m.digest)
    ref = f"oci:{tmp_path}/l:hello"
    for flags in ([], ["--experimental-oci11"]):
        assert main(["tree", *flags, ref]) == 0
        out = capsys.readouterr().out
        expected = [
            f"📦 Supply Chain Security Related artifacts for an image: {ref}",
            f"└── 🔐 Signatures for an image tag: oci:{tmp_path}/l:sha256-{hexd}.sig",
            f"   ├── 🍒 {sig.layers[0].digest}",
            f"   └── 🍒 {sig.layers[1].digest}",
            f"└── 💾 Attestations for an image tag: oci:{tmp_path}/l:sha256-{hexd}.att",
            f"   └── 🍒 {att.layers[0].digest}",
            f"└── 📦 SBOMs for an image tag: oci:{tmp_path}/l:sha256-{hexd}.sbom",
            f"   └── 🍒 {sbom.layers[0].digest}",
        ]
        for r in refs:
            expected += [
                f"└── 🔗 {r.annotations['dev.sigstore.bundle.predicateType']} artifacts via OCI referrer: "
                f"oci:{tmp_path}/l@{r.digest}",
                f"   └── 🍒 {r.layers[0].digest}",
            ]
        assert out == "\n".join(expected) + "\n"


def test_referrer_label_falls_back_to_artifact_type(tmp_path: Path) -> None:
    from sigward.oci.manifest import Manifest

    store = LayoutStore(tmp_path)
    desc = write_demo_image(store, "x")
    m = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                            "artifactType": "application/spdx+json",
                            "config": {"mediaType": mt.OCI_EMPTY, "size": 2, "digest": mt.EMPTY_DIGEST},
                            "layers": [], "subject": desc.to_json()})
    store.put_blob(m.config, mt.EMPTY_JSON)  # type: ignore[arg-type]
    store.put_manifest(m)
    (section,) = tree_sections(store, "x")
    assert section.heading.startswith("🔗 application/spdx+json artifacts via OCI referrer: ")
    assert section.layers == []
    assert render_tree("r", [section]).endswith(f"@{m.digest}\n")


def test_triangulate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = LayoutStore(tmp_path / "l")
    desc = write_demo_image(store, "hello")
    hexd = desc.digest.split(":")[1]
    ref = f"oci:{tmp_path}/l:hello"
    assert triangulate(store, "hello") == f"oci:{tmp_path}/l:sha256-{hexd}.sig"
    cases = {"signature": f":sha256-{hexd}.sig", "attestation": f":sha256-{hexd}.att",
             "sbom": f":sha256-{hexd}.sbom", "digest": f"@{desc.digest}"}
    for kind, tail in cases.items():
        assert main(["triangulate", "--type", kind, ref]) == 0
        cap = capsys.readouterr()
        assert cap.out == f"oci:{tmp_path}/l{tail}\n"
        assert ("SBOM attachments are deprecated" in cap.err) == (kind == "sbom")
    monkeypatch.setenv("COSIGN_REPOSITORY", f"oci:{tmp_path}/sigs")
    assert main(["triangulate", ref]) == 0
    assert capsys.readouterr().out == f"oci:{tmp_path}/sigs:sha256-{hexd}.sig\n"


def test_tree_of_missing_image_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_demo_image(LayoutStore(tmp_path), "hello")
    assert main(["tree", f"oci:{tmp_path}:nope"]) == 1
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == f"Error: oci:{tmp_path}:nope: tag not found\n"
