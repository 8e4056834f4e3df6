"""``sigward image build`` (an image on a verified base, pushed by digest) and ``sigward image digest``.

Both exist for the seed's rules: base images are verified before use, and artifacts are referenced by
digest only. ``image digest`` turns a tag into the digest reference to pin once; ``image build`` refuses
a base named by tag and refuses to build until the base's signature verifies.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward import safejson
from sigward.cli.common import add_registry_flags
from sigward.cli.sigstore_flags import add_verification_flags

BUILD_EPILOG = """\
examples:
  # pin the base once (a tag can move), then build on it, verified with the publisher's public key
  BASE=$(sigward image digest registry.example.com/base:1.2)
  sigward image build --base "$BASE" --base-key base.pub \\
      --layer ./dist:/app --exclude __pycache__ --exclude '*.pyc' \\
      --entrypoint '["/app/bin/serve"]' --env PORT=8080 --expose 8080 \\
      --source https://github.com/org/repo --revision "$(git rev-parse HEAD)" --version 0.5.0 \\
      registry.example.com/app
  # keyless base (as the seed's distroless example), multi-platform, into an OCI layout
  sigward image build --base gcr.io/distroless/static-debian12@sha256:... \\
      --certificate-identity keyless@distroless.iam.gserviceaccount.com \\
      --certificate-oidc-issuer https://accounts.google.com --layer ./rootfs oci:./out
  # reproducible: the same inputs give the same digest; pin the time stamps to the last commit
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) sigward image build ... --layer app.tar.gz TARGET

The base is verified exactly as `sigward verify` would (same flags, same exit codes: 10 no signatures,
12 no matching legacy signatures, 1 no matching Sigstore bundles, ...) before anything is built or
written. Prints TARGET@sha256:... on stdout.
"""

DIGEST_EPILOG = """\
examples:
  sigward image digest registry.example.com/base:1.2          # registry.example.com/base@sha256:...
  sigward image digest --platform linux/arm64 ubuntu:24.04      # that platform's image, not the index
  sigward image digest oci:./layout:hello
"""

NO_VERIFICATION = (
    "base images must be verified: pass --base-key KEY (the publisher's public key), or "
    "--certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp] for a keyless signature"
)


def register(sub: Any) -> None:
    p = sub.add_parser("image", help="build images on verified bases; resolve tags to digests",
                       description="Build an image on a verified base image, or resolve a reference to "
                                   "its digest.")
    isub = p.add_subparsers(dest="image_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: _help(p))
    _register_build(isub)
    _register_digest(isub)


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 1


def _register_build(isub: Any) -> None:
    p = isub.add_parser(
        "build", help="build an image on a verified base and push it by digest", epilog=BUILD_EPILOG,
        description="Add layers and configuration to a base image whose signature verifies, and push the "
                    "result to TARGET (a repository, or oci:PATH) by digest. Deterministic: the same "
                    "inputs give the same digest.",
    )
    p.add_argument("target", metavar="TARGET", help="repository to push to: registry/repo or oci:PATH "
                                                    "(no tag or digest; see --tag)")
    g = p.add_argument_group("base image")
    g.add_argument("--base", required=True, metavar="REF@sha256:...",
                   help="the base image, by digest (registry/repo@sha256:... or oci:PATH@sha256:...)")
    g.add_argument("--base-key", dest="key", metavar="KEY",
                   help="verify the base with this public key (PEM file, env://VAR, or cosign key)")
    g.add_argument("--base-annotation", action="append", default=[], metavar="KEY=VALUE",
                   help="require this annotation on the base's signature, as `verify -a` (repeatable)")
    g.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[,...]",
                   help="only these platforms of a multi-platform base (comma separated or repeated)")
    g = p.add_argument_group("content")
    g.add_argument("--layer", action="append", required=True, default=[], metavar="SRC[:DEST]",
                   help="a directory (placed under DEST, default /) or a .tar/.tar.gz/.tgz file; "
                        "repeat for several layers, in order")
    g.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out paths of directory layers matching GLOB, as a whole or in any "
                        "component (e.g. .git, __pycache__, '*.pyc')")
    g.add_argument("--chown", metavar="UID[:GID]",
                   help="owner of the files of directory layers (default 0:0)")
    g = p.add_argument_group("configuration")
    g.add_argument("--entrypoint", metavar="JSON|STRING",
                   help='entrypoint: a JSON array (\'["/app/run", "-v"]\') or a string split like a shell')
    g.add_argument("--cmd", metavar="JSON|STRING", help="default arguments (same forms as --entrypoint)")
    g.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="set an environment variable (repeatable; replaces the base's value)")
    g.add_argument("--label", action="append", default=[], metavar="K=V", help="config label (repeatable)")
    g.add_argument("--workdir", metavar="DIR", help="working directory")
    g.add_argument("--user", metavar="USER", help="user (name, UID, or UID:GID)")
    g.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]",
                   help="exposed port, tcp unless /udp (repeatable)")
    g = p.add_argument_group("manifest annotations")
    g.add_argument("--annotation", action="append", default=[], metavar="K=V",
                   help="manifest (and index) annotation (repeatable)")
    g.add_argument("--source", metavar="URL", help="org.opencontainers.image.source")
    g.add_argument("--revision", metavar="REV", help="org.opencontainers.image.revision")
    g.add_argument("--version", metavar="V", help="org.opencontainers.image.version")
    g = p.add_argument_group("output")
    g.add_argument("--tag", metavar="TAG", help="also tag the result in TARGET (default: by digest only)")
    add_verification_flags(p)
    add_registry_flags(p)
    p.set_defaults(func=run_build)


def _register_digest(isub: Any) -> None:
    p = isub.add_parser("digest", help="print the digest reference of an image (to pin a tag)",
                        epilog=DIGEST_EPILOG,
                        description="Resolve REF (a tag or digest) and print REPO@sha256:..., the full "
                                    "reference to use from then on.")
    p.add_argument("image", metavar="REF", help="image reference, or oci:PATH[:TAG]")
    p.add_argument("--platform", default="", metavar="OS/ARCH[/VARIANT]",
                   help="the digest of this platform's image inside an index")
    add_registry_flags(p)
    p.set_defaults(func=run_digest)


# --- build ---------------------------------------------------------------------------------------


def run_build(args: argparse.Namespace) -> int:
    from sigward.cli.common import open_image, store_options
    from sigward.cli.flags import parse_annotations
    from sigward.cli.progress import human_bytes, terminal_progress
    from sigward.cli.render import verification_header
    from sigward.cli.verify import image_verify_options
    from sigward.errors import UsageError
    from sigward.oci.reference import parse_reference, validate_tag
    from sigward.oci.store import open_store
    from sigward.ops.build import plan_build, push_build, verify_base

    base_ref = parse_reference(args.base, default_tag=False)
    if not base_ref.digest:
        raise UsageError(f"--base {args.base} is not a digest reference (a tag can move); reference the "
                         f"base by digest: sigward image digest {args.base}")
    target_ref = parse_reference(args.target, default_tag=False)
    if target_ref.tag or target_ref.digest:
        raise UsageError(f"TARGET {args.target} must be a repository (registry/repo or oci:PATH) without "
                         "tag or digest; the image is pushed by digest (use --tag TAG to also tag it)")
    if args.tag:
        validate_tag(args.tag)
    options = build_options(args)
    keyless = any(getattr(args, f) for f in ("certificate_identity", "certificate_identity_regexp",
                                             "certificate_oidc_issuer", "certificate_oidc_issuer_regexp"))
    if not args.key and not keyless:
        raise UsageError(NO_VERIFICATION)
    if args.key and (args.certificate_identity or args.certificate_identity_regexp):
        raise UsageError("cannot specify both --base-key and --certificate-identity or "
                         "--certificate-identity-regexp")
    annotations = parse_annotations(args.base_annotation)
    policy, checks, vopts = image_verify_options(args, annotations=annotations)
    _, base_store, attach = open_image(args.base, args)
    try:
        with base_store:
            assert base_ref.digest is not None
            verified = verify_base(base_store, base_ref.digest, policy, options=vopts, attach_store=attach,
                                   display_name=str(base_ref))
            print(verification_header(base_ref, check_claims=True, annotations=bool(annotations),
                                      tlog=not checks.ignore_tlog, key=bool(args.key)), file=sys.stderr)
            with terminal_progress(None, "building layers") as building:
                plan = plan_build(verified, base_store, options, progress=building)
            with plan, open_store(target_ref, store_options(args)) as target, \
                    terminal_progress(plan.total_bytes, "pushing") as bar:
                result = push_build(plan, base_store, target, tag=args.tag, progress=bar)
    finally:
        if attach is not base_store:
            attach.close()
    what = f"index of {len(result.platforms)} platforms" if result.platforms else "image"
    sys.stderr.write(
        f"Built {what} on {base_ref} with {len(result.layers)} new layer(s): {result.blobs_pushed} blob(s) "
        f"({human_bytes(result.bytes_pushed)}) pushed, {result.blobs_skipped} already present"
        + (f"; tagged {args.tag}" if args.tag else "") + "\n"
    )
    print(result.reference)
    return 0


def build_options(args: argparse.Namespace) -> Any:
    """The flags as ``BuildOptions``; every value is checked here, before the base is even fetched."""
    from sigward.oci.platform import Platform
    from sigward.ops.build import BuildOptions, parse_exposed_port

    platforms = [p.strip() for item in args.platform for p in item.split(",") if p.strip()]
    for p in platforms:
        Platform.parse(p)
    for port in args.expose:
        parse_exposed_port(port)
    return BuildOptions(
        layers=[parse_layer_spec(text) for text in args.layer],
        excludes=list(args.exclude),
        owner=_owner(args.chown),
        entrypoint=_command(args.entrypoint, "--entrypoint"),
        cmd=_command(args.cmd, "--cmd"),
        env=[f"{k}={v}" for k, v in (_pair(item, "--env") for item in args.env)],
        labels=dict(_pair(v, "--label") for v in args.label),
        annotations=dict(_pair(v, "--annotation") for v in args.annotation),
        working_dir=args.workdir,
        user=args.user,
        expose=list(args.expose),
        source=args.source,
        revision=args.revision,
        version=args.version,
        platforms=platforms,
        epoch=_source_date_epoch(),
        base_name=args.base.rsplit("@", 1)[0],
    )


def parse_layer_spec(text: str) -> Any:
    """``--layer SRC[:DEST]`` → a ``LayerSpec``, checked (``layer_problem``) before the base is fetched.

    A path that exists is taken whole, so a directory whose name holds ``:`` still works.
    """
    import os

    from sigward.errors import UsageError
    from sigward.ops.build import LayerSpec, layer_problem

    if not text:
        raise UsageError("--layer needs a path: --layer DIR[:DEST] or --layer FILE.tar[.gz]")
    src, dest = text, None
    if not os.path.lexists(text) and ":" in text:
        src, dest = text.rsplit(":", 1)
        if not dest.startswith("/"):
            raise UsageError(f"--layer {text}: DEST {dest!r} must be an absolute path inside the image")
    spec = LayerSpec(src, dest if dest is not None or not os.path.isdir(src) else "/")
    problem = layer_problem(spec)
    if problem is not None:
        raise UsageError(f"--layer {text}: {problem}")
    return spec


def _source_date_epoch() -> int | None:
    from sigward.cli.common import source_date_epoch

    return source_date_epoch()


def _pair(text: str, flag: str) -> tuple[str, str]:
    from sigward.errors import UsageError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"invalid {flag} {text!r}: expected KEY=VALUE")
    return key, value


def _command(text: str | None, flag: str) -> list[str] | None:
    """A JSON array of strings, or a string split the way a shell would (no expansion)."""
    import shlex

    from sigward.errors import UsageError

    if text is None:
        return None
    if text.lstrip().startswith("["):
        try:
            value = safejson.loads(text)
        except ValueError as e:
            raise UsageError(f"invalid {flag}: not a JSON array ({e})")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"invalid {flag}: the JSON array must hold strings only")
        return value
    try:
        return shlex.split(text)
    except ValueError as e:
        raise UsageError(f"invalid {flag} {text!r}: {e}")


def _owner(text: str | None) -> tuple[int, int]:
    from sigward.errors import UsageError

    if not text:
        return (0, 0)
    uid, _, gid = text.partition(":")
    gid = gid or uid
    if not uid.isdigit() or not gid.isdigit():
        raise UsageError(f"invalid --chown {text!r}: expected numeric UID[:GID]")
    return (int(uid), int(gid))


# --- digest --------------------------------------------------------------------------------------


def run_digest(args: argparse.Namespace) -> int:
    from sigward.cli.common import store_options
    from sigward.oci.reference import parse_reference
    from sigward.oci.store import open_store
    from sigward.ops.copy import select_platform

    ref = parse_reference(args.image)
    with open_store(ref, store_options(args)) as store:
        digest = store.resolve(ref.identifier).digest
        if args.platform:
            m = store.get_manifest(digest)
            if m.is_index:
                digest = select_platform(store, m, args.platform).digest
        print(store.reference(digest))
    return 0
