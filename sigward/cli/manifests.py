"""``sigward manifest verify`` and ``sigward dockerfile verify``: verify every image a Kubernetes manifest
would run or a Dockerfile would build from, with exactly ``verify``'s flags, output and exit codes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.flags import add_go_bool

MANIFEST_EPILOG = """\
examples:
  sigward manifest verify --key cosign.pub deployment.yaml
  sigward manifest verify --certificate-identity-regexp '^https://github.com/org/' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com k8s/app.yml

Images are taken from Pods, workload templates (Deployment, StatefulSet, DaemonSet, Job, ...) and CronJobs:
init containers, then containers, document by document.
"""

DOCKERFILE_EPILOG = """\
examples:
  sigward dockerfile verify --key cosign.pub Dockerfile
  sigward dockerfile verify --base-image-only --key cosign.pub path/to/Dockerfile

Images are the FROM lines and COPY --from=IMAGE, with $ARG/${ENV} expanded from earlier ARG/ENV lines and
then the environment; scratch and stage names are skipped.
"""


def register(sub: Any) -> None:
    from sigward.cli.verify import add_verify_flags

    m = sub.add_parser("manifest", help="verify the images of a Kubernetes manifest",
                       description="Discover the images of Kubernetes manifests and verify them.")
    msub = m.add_subparsers(dest="manifest_command", metavar="COMMAND", parser_class=type(m))
    mv = msub.add_parser("verify", help="verify all image signatures of a Kubernetes resource",
                         epilog=MANIFEST_EPILOG)
    mv.add_argument("path", metavar="MANIFEST", help="a .yaml or .yml Kubernetes manifest")
    add_verify_flags(mv)
    mv.set_defaults(func=run_manifest_verify)

    d = sub.add_parser("dockerfile", help="verify the images a Dockerfile uses",
                       description="Discover the images of Dockerfiles and verify them.")
    dsub = d.add_subparsers(dest="dockerfile_command", metavar="COMMAND", parser_class=type(d))
    dv = dsub.add_parser("verify", help="verify the signatures of the images in a Dockerfile",
                         epilog=DOCKERFILE_EPILOG)
    dv.add_argument("path", metavar="DOCKERFILE")
    add_go_bool(dv, "--base-image-only", help="only verify the base image (the last FROM image)")
    add_verify_flags(dv)
    dv.set_defaults(func=run_dockerfile_verify)


def _read_text(path: str, what: str) -> str:
    from sigward.errors import SigwardError

    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise SigwardError(f"could not read {what}: {path}: {e.strerror or e}")
    except UnicodeDecodeError:
        raise SigwardError(f"could not read {what}: {path} is not UTF-8 text")


def run_manifest_verify(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.verify import run
    from sigward.errors import SigwardError
    from sigward.formats.imagerefs import manifest_images

    if os.path.splitext(args.path.strip())[1].lower() not in (".yaml", ".yml"):
        raise SigwardError("check if extension is valid: only [.yaml .yml] manifests are supported at "
                           "this time")
    images = manifest_images(_read_text(args.path, "manifest"))
    if not images:
        raise SigwardError("no images found in manifest")
    print(f"Extracted image(s): {', '.join(images)}", file=sys.stderr)
    args.images = images
    return run(args)


def run_dockerfile_verify(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.verify import run
    from sigward.errors import SigwardError
    from sigward.formats.imagerefs import dockerfile_images

    found = dockerfile_images(_read_text(args.path, "Dockerfile"), dict(os.environ))
    for note in found.notes:
        print(note, file=sys.stderr)
    if not found.images:
        raise SigwardError("no images found in Dockerfile")
    images = found.images[-1:] if args.base_image_only else found.images
    print(f"Extracted image(s): {', '.join(images)}", file=sys.stderr)
    args.images = images
    return run(args)
