"""`sigward image build` end to end: a key-signed base in a layout or a real registry, the new image pushed
to the other kind of store, and everything it must contain read back from there."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sigward.oci import mediatypes as mt
from sigward.oci.layout import LayoutStore
from sigward.oci.reference import parse_reference
from sigward.oci.store import open_store
from tests.build.conftest import make_source
from tests.build.helpers import build, built_ref, config_of, demo_base, layer_members, open_ref, sign, tags

CONFIG_FLAGS = (
    "--entrypoint", '["/app/bin/run.sh"]', "--cmd", "serve --port '8080'",
    "--env", "PATH=/app/bin:/usr/bin:/bin", "--env", "FOO=bar=baz",
    "--label", "org.example.team=web", "--workdir", "/app", "--user", "1000:1000",
    "--expose", "8080", "--expose", "53/udp",
    "--source", "https://github.com/example/app", "--revision", "0123abc", "--version", "0.5.0",
    "--annotation", "com.example.note=built in a test",
)


def test_layout_base_to_registry_target(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path,
                                        registry: Any, unique_repo: str) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    target = f"{registry.host}/{unique_repo}"
    r = build(run, base, target, "--layer", f"{source}:/app", *CONFIG_FLAGS, pub=keys.pub)
    ref = built_ref(r)
    assert ref.startswith(f"{target}@sha256:")
    assert f"Verification for {base} --" in r.err
    assert "verified against the specified public key" in r.err

    base_store, base_digest = open_ref(base)
    base_m = base_store.get_manifest(base_digest)
    base_cfg = config_of(base_store, base_m)
    store, digest = open_ref(ref)
    with store:
        m = store.get_manifest(digest)
        assert m.media_type == mt.OCI_MANIFEST and m.config and m.config.media_type == mt.OCI_CONFIG
        assert m.annotations == {
            "com.example.note": "built in a test",
            "org.opencontainers.image.base.digest": base_digest,
            "org.opencontainers.image.base.name": f"oci:{tmp_path}/base",
            "org.opencontainers.image.created": "1970-01-01T00:00:00Z",
            "org.opencontainers.image.revision": "0123abc",
            "org.opencontainers.image.source": "https://github.com/example/app",
            "org.opencontainers.image.version": "0.5.0",
        }
        # Base layers first, unchanged, and present in the target repository; then the new one.
        assert [d.digest for d in m.layers[:-1]] == [d.digest for d in base_m.layers]
        for d in m.layers:
            assert store.has_blob(d.digest)
        cfg = config_of(store, m)
        c = cfg["config"]
        assert c["Entrypoint"] == ["/app/bin/run.sh"]
        assert c["Cmd"] == ["serve", "--port", "8080"]
        assert c["Env"] == ["PATH=/app/bin:/usr/bin:/bin", "FOO=bar=baz"]  # PATH replaced in place
        assert c["Labels"] == {"org.example.team": "web",
                               "org.opencontainers.image.title": "sigward demo image"}
        assert (c["WorkingDir"], c["User"]) == ("/app", "1000:1000")
        assert c["ExposedPorts"] == {"53/udp": {}, "8080/tcp": {}}
        assert cfg["created"] == "1970-01-01T00:00:00Z"
        assert (cfg["os"], cfg["architecture"]) == ("linux", "amd64")
        assert list(cfg) == list(base_cfg)  # the base's keys, in the base's order
        new_diff_ids = cfg["rootfs"]["diff_ids"]
        assert new_diff_ids[:-1] == base_cfg["rootfs"]["diff_ids"] and len(new_diff_ids) == 2
        assert cfg["history"][:-1] == base_cfg["history"]
        assert cfg["history"][-1] == {"created": "1970-01-01T00:00:00Z", "created_by": "sigward image build"}

        members = layer_members(store, m.layers[-1])
        raw = gzip.decompress(store.get_blob(m.layers[-1]))
        assert new_diff_ids[-1] == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert members["app/app.py"].data == b"print('hello')\n"
        assert members["app/bin/run.sh"].info.mode == 0o755
        assert members["app/app.py"].info.mode == 0o644  # 0600 in the checkout
        assert members["app/data/nested/deep.txt"].info.mode == 0o644
        assert members["app"].info.isdir() and members["app"].info.mode == 0o755
        for mem in members.values():
            assert (mem.info.uid, mem.info.gid, mem.info.uname, mem.info.gname) == (0, 0, "", "")
            assert mem.info.mtime == 0
        # By digest only: no tag was created.
        assert tags(store) == []


def test_registry_base_to_layout_target(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path,
                                        registry: Any, unique_repo: str) -> None:
    r = run("demo-image", f"{registry.host}/{unique_repo}:1.0")
    assert r.code == 0, r.err
    d = run("image", "digest", f"{registry.host}/{unique_repo}:1.0")
    assert d.code == 0, d.err
    base = d.out.strip()
    assert base == r.out.strip()
    sign(run, keys.key, base)
    out = tmp_path / "out"
    ref = built_ref(build(run, base, f"oci:{out}", "--layer", str(source), "--tag", "v1", pub=keys.pub))
    assert ref.startswith(f"oci:{out}@sha256:")
    store = LayoutStore(out)
    digest = ref.rsplit("@", 1)[1]
    assert store.resolve("v1").digest == digest
    m = store.get_manifest(digest)
    assert m.annotations["org.opencontainers.image.base.name"] == f"{registry.host}/{unique_repo}"
    with open_store(parse_reference(base)) as src:
        base_m = src.get_manifest(base.rsplit("@", 1)[1])
    for layer in [*base_m.layers, *m.layers]:
        assert store.has_blob(layer.digest)
    # DEST defaults to /: the tree's entries sit at the root of the layer.
    members = layer_members(store, m.layers[-1])
    assert {"app.py", "bin", "bin/run.sh", "link"} <= set(members)
    # Registry to registry (base blobs mounted or copied across repositories): the same image.
    other = f"{registry.host}/{unique_repo}-app"
    again = built_ref(build(run, base, other, "--layer", str(source), "--tag", "v1", pub=keys.pub))
    assert again == f"{other}@{digest}"
    with open_store(parse_reference(other)) as reg:
        assert reg.resolve("v1").digest == digest
        for layer in m.layers:
            assert reg.has_blob(layer.digest)


def test_reproducible(run: Callable[..., Any], keys: Any, tmp_path: Path, monkeypatch: Any) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    one = make_source(tmp_path / "one")
    two = make_source(tmp_path / "two", reverse=True)  # other creation order, modes and mtimes
    flags = ("--entrypoint", "/app/bin/run.sh", "--label", "a=b")
    a = built_ref(build(run, base, f"oci:{tmp_path}/a", "--layer", f"{one}:/app", *flags, pub=keys.pub))
    b = built_ref(build(run, base, f"oci:{tmp_path}/b", "--layer", f"{two}:/app", *flags, pub=keys.pub))
    assert a.rsplit("@", 1)[1] == b.rsplit("@", 1)[1]
    # Rebuilding into the same target gives the same digest (and pushes nothing new).
    again = build(run, base, f"oci:{tmp_path}/a", "--layer", f"{one}:/app", *flags, pub=keys.pub)
    assert built_ref(again) == a and "0 blob(s)" in again.err

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    c = built_ref(build(run, base, f"oci:{tmp_path}/c", "--layer", f"{one}:/app", *flags, pub=keys.pub))
    assert c.rsplit("@", 1)[1] != a.rsplit("@", 1)[1]
    store, digest = open_ref(c)
    m = store.get_manifest(digest)
    assert m.annotations["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert config_of(store, m)["created"] == "2023-11-14T22:13:20Z"
    assert {mem.info.mtime for mem in layer_members(store, m.layers[-1]).values()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    r = build(run, base, f"oci:{tmp_path}/d", "--layer", str(one), pub=keys.pub)
    assert r.code == 1 and "SOURCE_DATE_EPOCH" in r.err and not (tmp_path / "d").exists()


def test_entrypoint_without_cmd_clears_base_cmd(run: Callable[..., Any], keys: Any, source: Path,
                                                tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    store, base_digest = open_ref(base)
    assert config_of(store, store.get_manifest(base_digest))["config"]["Cmd"] == ["/hello.txt"]
    ref = built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", str(source),
                          "--entrypoint", "/bin/sh -c 'echo hi'", "--chown", "1000:2000", pub=keys.pub))
    out, digest = open_ref(ref)
    m = out.get_manifest(digest)
    c = config_of(out, m)["config"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "echo hi"] and "Cmd" not in c
    owners = {(mem.info.uid, mem.info.gid) for mem in layer_members(out, m.layers[-1]).values()}
    assert owners == {(1000, 2000)}


def test_multi_platform_base(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path,
                             registry: Any, unique_repo: str) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:multi", "linux/amd64", "linux/arm64")
    sign(run, keys.key, base)  # the index digest, as publishers sign it
    base_store, base_digest = open_ref(base)
    base_index = base_store.get_manifest(base_digest)
    ref = built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", f"{source}:/app", "--version", "1",
                          pub=keys.pub))
    store, digest = open_ref(ref)
    index = store.get_manifest(digest)
    assert index.media_type == mt.OCI_INDEX
    assert [d.platform for d in index.manifests] == [d.platform for d in base_index.manifests]
    assert index.annotations["org.opencontainers.image.base.digest"] == base_digest
    assert index.annotations["org.opencontainers.image.version"] == "1"
    new_layers = set()
    for child, base_child in zip(index.manifests, base_index.manifests, strict=True):
        m = store.get_manifest(child.digest)
        bm = base_store.get_manifest(base_child.digest)
        assert [d.digest for d in m.layers[:-1]] == [d.digest for d in bm.layers]
        new_layers.add(m.layers[-1].digest)
        assert m.annotations["org.opencontainers.image.base.digest"] == base_child.digest
        assert config_of(store, m)["architecture"] == (child.platform or {})["architecture"]
    assert len(new_layers) == 1  # built once, shared by both platforms

    # One platform, pushed to a registry: an index with only that platform.
    target = f"{registry.host}/{unique_repo}"
    one = built_ref(build(run, base, target, "--layer", f"{source}:/app", "--platform", "linux/arm64",
                          pub=keys.pub))
    reg, one_digest = open_ref(one)
    with reg:
        idx = reg.get_manifest(one_digest)
        (only,) = idx.manifests
        assert only.platform == {"architecture": "arm64", "os": "linux"}
        assert reg.get_manifest(only.digest).layers[-1].digest in new_layers

    r = build(run, base, f"oci:{tmp_path}/none", "--layer", str(source), "--platform", "linux/s390x",
              pub=keys.pub)
    assert r.code == 1 and "linux/s390x" in r.err and "linux/arm64" in r.err
    assert not (tmp_path / "none").exists()


def test_index_skips_attestation_entries(run: Callable[..., Any], keys: Any, source: Path,
                                         tmp_path: Path) -> None:
    """BuildKit puts attestation manifests in the index as unknown/unknown: they are not platforms.
    The base here is a Docker manifest list, which the build turns into an OCI index."""
    from sigward.oci.manifest import Manifest

    layout = LayoutStore(tmp_path / "base")
    base = demo_base(run, f"oci:{tmp_path}/base:amd64", "linux/amd64")
    amd = layout.get_manifest(base.rsplit("@", 1)[1])
    unknown = {"architecture": "unknown", "os": "unknown"}
    index = Manifest.from_json({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [
        {**amd.descriptor().to_json(), "platform": {"architecture": "amd64", "os": "linux"}},
        {**amd.descriptor().to_json(), "platform": unknown},
    ]})
    layout.put_manifest(index, "with-att")
    ref = f"oci:{tmp_path}/base@{index.digest}"
    sign(run, keys.key, ref)
    out, digest = open_ref(built_ref(build(run, ref, f"oci:{tmp_path}/out", "--layer", str(source),
                                           pub=keys.pub)))
    built = out.get_manifest(digest)
    assert built.media_type == mt.OCI_INDEX  # a Docker manifest list base gives an OCI index
    assert [d.platform for d in built.manifests] == [{"architecture": "amd64", "os": "linux"}]


def test_docker_v2s2_base_becomes_oci(run: Callable[..., Any], keys: Any, source: Path,
                                      tmp_path: Path) -> None:
    from sigward.oci import digest as _digest
    from sigward.oci.manifest import Descriptor, Manifest

    oci_base = demo_base(run, f"oci:{tmp_path}/base:oci")
    layout = LayoutStore(tmp_path / "base")
    m = layout.get_manifest(oci_base.rsplit("@", 1)[1])
    assert m.config is not None
    cfg = layout.get_blob(m.config)
    docker = Manifest.from_json({
        "schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
        "config": Descriptor(mt.DOCKER_CONFIG, _digest.compute(cfg), len(cfg)).to_json(),
        "layers": [Descriptor(mt.DOCKER_LAYER, d.digest, d.size).to_json() for d in m.layers],
    })
    layout.put_manifest(docker, "docker")
    base = f"oci:{tmp_path}/base@{docker.digest}"
    sign(run, keys.key, base)
    out, digest = open_ref(built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", str(source),
                                           pub=keys.pub)))
    built = out.get_manifest(digest)
    assert built.media_type == mt.OCI_MANIFEST and built.config and built.config.media_type == mt.OCI_CONFIG
    assert [d.media_type for d in built.layers] == [mt.OCI_LAYER_TAR_GZIP] * 2
    assert built.layers[0].digest == m.layers[0].digest  # same blob bytes


def test_tarball_layers(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    plain = tmp_path / "extra.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(source / "app.py", arcname="opt/extra/app.py")
    packed = tmp_path / "more.tar.gz"
    with tarfile.open(packed, "w:gz") as tar:
        tar.add(source / "data", arcname="srv/data")
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    ref = built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", str(plain), "--layer", str(packed),
                          pub=keys.pub))
    store, digest = open_ref(ref)
    m = store.get_manifest(digest)
    tar_layer, gz_layer = m.layers[-2:]
    diff_ids = config_of(store, m)["rootfs"]["diff_ids"][-2:]
    # .tar: gzipped by us, its bytes unchanged inside.
    assert gzip.decompress(store.get_blob(tar_layer)) == plain.read_bytes()
    assert diff_ids[0] == "sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest()
    # .tar.gz: pushed as is.
    assert gz_layer.digest == "sha256:" + hashlib.sha256(packed.read_bytes()).hexdigest()
    assert diff_ids[1] == "sha256:" + hashlib.sha256(gzip.decompress(packed.read_bytes())).hexdigest()
    assert "srv/data/nested/deep.txt" in layer_members(store, gz_layer)


def test_exclude_and_symlink(run: Callable[..., Any], keys: Any, source: Path, tmp_path: Path) -> None:
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    outside = tmp_path / "secret.txt"
    outside.write_text("never in the image\n")
    (source / "escape").symlink_to(outside)
    ref = built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", f"{source}:/srv/app",
                          "--exclude", "__pycache__", "--exclude", "*.pyc", "--exclude", ".git/",
                          pub=keys.pub))
    store, digest = open_ref(ref)
    members = layer_members(store, store.get_manifest(digest).layers[-1])
    assert sorted(members) == ["srv", "srv/app", "srv/app/app.py", "srv/app/bin", "srv/app/bin/run.sh",
                               "srv/app/data", "srv/app/data/nested", "srv/app/data/nested/deep.txt",
                               "srv/app/escape", "srv/app/link"]
    assert members["srv/app/link"].info.issym() and members["srv/app/link"].info.linkname == "app.py"
    assert members["srv/app/escape"].info.issym() and members["srv/app/escape"].info.linkname == str(outside)
    assert all(b"never in the image" not in mem.data for mem in members.values())
    # Without --exclude the clutter is there: the flag is what removed it.
    full = built_ref(build(run, base, f"oci:{tmp_path}/full", "--layer", str(source), pub=keys.pub))
    s2, d2 = open_ref(full)
    assert {".git/HEAD", "mod.pyc", "__pycache__/app.cpython-311.pyc"} <= set(
        layer_members(s2, s2.get_manifest(d2).layers[-1]))


def test_image_digest(run: Callable[..., Any], tmp_path: Path, registry: Any, unique_repo: str) -> None:
    multi = demo_base(run, f"{registry.host}/{unique_repo}:multi", "linux/amd64", "linux/arm64")
    r = run("image", "digest", f"{registry.host}/{unique_repo}:multi")
    assert (r.code, r.out) == (0, multi + "\n")
    with open_store(parse_reference(multi)) as store:
        arm = store.get_manifest(multi.rsplit("@", 1)[1]).manifests[1]
    r = run("image", "digest", "--platform", "linux/arm64", f"{registry.host}/{unique_repo}:multi")
    assert (r.code, r.out.strip()) == (0, f"{registry.host}/{unique_repo}@{arm.digest}")
    local = demo_base(run, f"oci:{tmp_path}/l:hello")
    assert run("image", "digest", f"oci:{tmp_path}/l:hello").out.strip() == local
    missing = run("image", "digest", f"{registry.host}/{unique_repo}:nope")
    assert missing.code == 1 and missing.err.startswith("Error:")


def test_help_has_examples(run: Callable[..., Any], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run("image", "build", "--help")
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "sigward image digest" in text and "--base-key" in text
    assert run("image").code == 1


def test_signatures_in_cosign_repository(run: Callable[..., Any], keys: Any, source: Path,
                                         tmp_path: Path) -> None:
    """COSIGN_REPOSITORY: the base's signatures live elsewhere, and the build looks for them there."""
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    env = {"COSIGN_REPOSITORY": f"oci:{tmp_path}/sigs"}
    r = run("sign", "--tlog-upload=false", "--key", keys.key, base, env=env)
    assert r.code == 0, r.err
    assert build(run, base, f"oci:{tmp_path}/out", "--layer", str(source), pub=keys.pub).code == 10
    r = run("image", "build", "--base", base, "--base-key", keys.pub, "--insecure-ignore-tlog=true",
            "--layer", str(source), f"oci:{tmp_path}/out", env=env)
    built_ref(r)


def test_layout_dir_with_colon(run: Callable[..., Any], keys: Any, tmp_path: Path) -> None:
    """A source directory whose name holds ':' is taken whole when it exists."""
    odd = make_source(tmp_path / "a:b")
    base = demo_base(run, f"oci:{tmp_path}/base:v1")
    sign(run, keys.key, base)
    ref = built_ref(build(run, base, f"oci:{tmp_path}/out", "--layer", str(odd), pub=keys.pub))
    store, digest = open_ref(ref)
    assert "app.py" in layer_members(store, store.get_manifest(digest).layers[-1])
    shutil.rmtree(odd)
