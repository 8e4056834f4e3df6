"""`sigward policy validate|test|trustroot`:
Sigstore policy-controller's ClusterImagePolicy and TrustRoot, offline.

``validate`` checks the resources as policy-controller's admission would (same rules, same error text and
field paths); ``test`` is the counterpart of policy-controller's ``policy-tester``: it evaluates images
against the policies and prints the verdict. This module only builds the parsers; each handler lives in
its own module (cli/policy_validate.py, cli/policy_test.py), imported when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from sigward.cli.common import add_registry_flags

VALIDATE_EPILOG = """\
examples:
  sigward policy validate cip.yaml
  sigward policy validate policies/*.yaml trustroot.yaml
  kubectl get clusterimagepolicies -o yaml | sigward policy validate -

exit status: 0 when every document is valid; 1 with every error listed (policy-controller's wording:
`missing field(s): spec.images`, `expected exactly one, got both: spec.authorities[0].key, …`)."""

TEST_EPILOG = """\
examples:
  sigward policy test --policy cip.yaml registry.example.com/app@sha256:…
  sigward policy test --policy cip.yaml --trustroot trustroot.yaml -o json registry.example.com/app:v1
  sigward policy test --policy cip.yaml --resource pod.yaml --secret cosign-key.yaml oci:./layout

Every ClusterImagePolicy whose images[].glob (and match[]) selects the image applies, and all of them must
pass; within one policy, one authority passing is enough. No matching policy: denied, as policy-tester does.
exit status: 0 only when every image is admitted (a failing `mode: warn` policy admits, with warnings)."""


TRUSTROOT_EPILOG = """\
examples:
  sigward policy trustroot --name private-sigstore --trusted-root trusted_root.json | kubectl apply -f -
  sigward trusted-root create --fulcio … --rekor … --out tr.json
  sigward policy trustroot --name private-sigstore --trusted-root tr.json --out trustroot.yaml

A keyless authority then names it: `keyless: {trustRootRef: private-sigstore, …}` (and `ctlog:` /
`rfc3161timestamp:` with the same trustRootRef). A TrustRoot's keys have no validity window, so CAs and
keys whose window has ended are left out (with a warning) unless --include-expired."""


def _handler(module: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        result: int = importlib.import_module(module).run(args)
        return result
    return run


def register(sub: Any) -> None:
    p = sub.add_parser("policy", help="validate and test Sigstore policy-controller ClusterImagePolicies",
                       description="ClusterImagePolicy (policy.sigstore.dev v1alpha1/v1beta1) and TrustRoot "
                                   "resources, checked and evaluated as policy-controller's admission "
                                   "webhook does.")
    psub = p.add_subparsers(dest="policy_command", metavar="COMMAND", parser_class=type(p))

    v = psub.add_parser("validate", help="check ClusterImagePolicy and TrustRoot documents",
                        epilog=VALIDATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("files", nargs="+", metavar="FILE",
                   help="YAML files (multi-document, as `kubectl apply -f` takes them); - reads stdin")
    v.add_argument("-o", "--output", choices=["text", "json"], default="text", help="output format")
    v.set_defaults(func=_handler("sigward.cli.policy_validate"))

    t = psub.add_parser("test", help="evaluate images against ClusterImagePolicies (like policy-tester)",
                        epilog=TEST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("images", nargs="+", metavar="IMAGE", help="image references (registry or oci:PATH)")
    t.add_argument("--policy", action="append", required=True, metavar="FILE",
                   help="ClusterImagePolicy YAML (repeatable; multi-document files allowed)")
    t.add_argument("--trustroot", action="append", default=[], metavar="FILE",
                   help="TrustRoot YAML, referenced by name from trustRootRef (repeatable)")
    t.add_argument("--resource", metavar="FILE",
                   help="the Kubernetes object being admitted (for match[], includeSpec/ObjectMeta/TypeMeta)")
    t.add_argument("--secret", action="append", default=[], metavar="FILE",
                   help="Kubernetes Secret manifests that key.secretRef names (repeatable)")
    t.add_argument("-o", "--output", choices=["text", "json"], default="text", help="output format")
    add_registry_flags(t)
    t.set_defaults(func=_handler("sigward.cli.policy_test"))

    r = psub.add_parser("trustroot", help="make a TrustRoot resource from a Sigstore trusted_root.json",
                        description="Print a policy.sigstore.dev TrustRoot (spec.sigstoreKeys) carrying the "
                                    "certificate authorities, transparency logs, CT logs and timestamp "
                                    "authorities of a Sigstore trusted_root.json.",
                        epilog=TRUSTROOT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--name", required=True, help="metadata.name: what trustRootRef will name")
    r.add_argument("--trusted-root", required=True, metavar="FILE",
                   help="the trusted_root.json to convert (- reads stdin)")
    r.add_argument("--include-expired", action="store_true",
                   help="keep CAs and keys whose validity has ended (a TrustRoot trusts them for ever)")
    r.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml", help="output format")
    r.add_argument("--out", metavar="FILE", help="write the resource to FILE instead of stdout")
    r.set_defaults(func=_handler("sigward.cli.policy_trustroot"))
