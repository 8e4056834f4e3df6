"""``sigward chart package|push|pull``: Helm charts as OCI artifacts, as Helm stores them.

Output follows helm's (``Successfully packaged chart and saved it to: …``, ``Pushed:``/``Digest:``,
``Pulled:``/``Digest:``) except that references are always by digest, the seed's rule: the printed
``Pushed:`` line is what to sign and what to deploy.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags

CHART_DESCRIPTION = """\
Package a Helm chart, push it to a registry (or an OCI layout) exactly as `helm push` does, and pull
it back. Sign and verify pushed charts with `sigward sign` / `sigward verify`, like any image.
"""

CHART_EPILOG = """\
the release flow of the seed pipeline, by digest from end to end:
  sigward chart package charts/hello -d dist
  sigward chart push dist/hello-0.1.0.tgz oci://registry.example.com/charts   # Pushed: ...@sha256:...
  sigward sign --yes -a chartVersion=0.1.0 registry.example.com/charts/hello@sha256:...
  sigward verify --certificate-identity-regexp '^https://github.com/org/repo/' \\
    --certificate-oidc-issuer https://token.actions.githubusercontent.com -a chartVersion=0.1.0 \\
    registry.example.com/charts/hello@sha256:...
  sigward chart pull oci://registry.example.com/charts/hello@sha256:...

Run `sigward chart COMMAND --help` for each command's options.
"""

PACKAGE_EPILOG = """\
examples:
  sigward chart package charts/hello                 # ./hello-0.1.0.tgz
  sigward chart package charts/hello -d dist --version 0.2.0 --app-version 1.17.0
  # reproducible: the same sources give the same bytes (entry times = the last commit's)
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) sigward chart package charts/hello

The archive is what `helm package` writes: one top-level directory <name>/, Chart.yaml first
(re-marshalled as Helm does), then values.yaml, values.schema.json, templates/, other files and charts/;
.helmignore is honoured with Helm's rules.
"""

PUSH_EPILOG = """\
examples:
  sigward chart push hello-0.1.0.tgz oci://registry.example.com/charts
  # prints:  Pushed: registry.example.com/charts/hello@sha256:...
  #          Digest: sha256:...
  # then sign exactly that digest, as the seed pipeline does
  sigward sign --yes -a chartVersion=0.1.0 registry.example.com/charts/hello@sha256:...
  # into an OCI layout (tagged with the chart version in index.json)
  sigward chart push hello-0.1.0.tgz oci:./charts-layout

The repository is NAMESPACE/<chart name> and the tag is the chart version, with '+' written as '_'
(OCI tags cannot hold '+'; Helm does the same). A hello-0.1.0.tgz.prov beside the archive is pushed as
Helm's provenance layer. The manifest is byte-for-byte the one Helm >= 3.18 pushes.
"""

PULL_EPILOG = """\
examples:
  sigward chart pull oci://registry.example.com/charts/hello --version 0.1.0
  sigward chart pull oci://registry.example.com/charts/hello@sha256:... -d charts/
  sigward chart pull oci://registry.example.com/charts/hello:0.1.0 --untar      # ./hello/
  sigward chart pull oci:./charts-layout:0.1.0
  # verify first, then pull the same digest
  sigward verify --key cosign.pub -a chartVersion=0.1.0 registry.example.com/charts/hello@sha256:... \\
    && sigward chart pull oci://registry.example.com/charts/hello@sha256:...

Without a version or digest, the highest released SemVer tag is pulled. Every blob is checked against
its digest, and an archive with unsafe paths, links leading outside the chart or oversized content is
refused before anything is written.
"""


def register(sub: Any) -> None:
    p = sub.add_parser("chart", help="package, push and pull Helm charts as OCI artifacts",
                       epilog=CHART_EPILOG,
                       description=CHART_DESCRIPTION)
    csub = p.add_subparsers(dest="chart_command", metavar="COMMAND")
    p.set_defaults(func=lambda args: _help(p))

    pk = csub.add_parser("package", help="package a chart directory into a Helm chart archive",
                         epilog=PACKAGE_EPILOG,
                         description="Write <name>-<version>.tgz from a chart directory, as `helm package`.")
    pk.add_argument("directory", metavar="DIR", help="the chart directory (holding Chart.yaml)")
    pk.add_argument("-d", "--destination", default=".", metavar="DEST",
                    help="directory to write the archive to (default: the current directory)")
    pk.add_argument("--version", default=None, metavar="V", help="set the chart version (SemVer 2)")
    pk.add_argument("--app-version", default=None, metavar="V", help="set the chart's appVersion")
    pk.set_defaults(func=run_package)

    pu = csub.add_parser("push", help="push a chart archive to oci://REGISTRY/NAMESPACE or oci:PATH",
                         epilog=PUSH_EPILOG,
                         description="Push a chart archive as Helm does and print its digest reference.")
    pu.add_argument("chart", metavar="CHART.tgz",
                    help="the chart archive (from `chart package` or `helm package`)")
    pu.add_argument("target", metavar="TARGET",
                    help="oci://REGISTRY[/NAMESPACE] (the chart name is appended) or oci:PATH (a layout)")
    pu.add_argument("--creation-time", default=None, metavar="RFC3339",
                    help="org.opencontainers.image.created (default: SOURCE_DATE_EPOCH if set, "
                         "else the archive's modification time, as Helm)")
    add_registry_flags(pu)
    pu.set_defaults(func=run_push)

    pl = csub.add_parser("pull", help="pull a chart from oci://REGISTRY/REPO or oci:PATH",
                         epilog=PULL_EPILOG,
                         description="Download a chart archive (checked against its digests) as `helm pull`.")
    pl.add_argument("source", metavar="SOURCE",
                    help="oci://REGISTRY/REPO[:VERSION|@DIGEST] or oci:PATH[:VERSION|@DIGEST]")
    pl.add_argument("--version", default=None, metavar="V", help="the chart version to pull (exact)")
    pl.add_argument("-d", "--destination", default=".", metavar="DEST",
                    help="directory to write to (default: the current directory)")
    pl.add_argument("--untar", action="store_true",
                    help="extract the chart into DEST/<name>/ instead of keeping the archive")
    add_registry_flags(pl)
    pl.set_defaults(func=run_pull)


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 1


def _notify(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def run_package(args: argparse.Namespace) -> int:
    import os

    from sigward.cli.common import source_date_epoch
    from sigward.ops.chart import package_chart

    dest = os.getcwd() if args.destination == "." else args.destination
    path = package_chart(args.directory, dest, version=args.version, app_version=args.app_version,
                         epoch=source_date_epoch())
    print(f"Successfully packaged chart and saved it to: {path}")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from sigward.cli.common import source_date_epoch, store_options
    from sigward.ops.chart import push_chart

    epoch = None if args.creation_time else source_date_epoch()
    ref, desc = push_chart(args.chart, args.target, store_options(args), creation_time=args.creation_time,
                           epoch=epoch, notify=_notify)
    print(f"Pushed: {ref}")
    print(f"Digest: {desc.digest}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from sigward.cli.common import store_options
    from sigward.ops.chart import pull_chart

    def resolved(ref: Any, digest: str) -> None:
        print(f"Pulled: {ref}")
        print(f"Digest: {digest}")

    path = pull_chart(args.source, args.version, args.destination, args.untar, store_options(args),
                      notify=_notify, on_resolved=resolved)
    sys.stderr.write(f"{'Extracted to' if args.untar else 'Saved'} {path}\n")
    return 0
