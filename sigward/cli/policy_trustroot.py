"""``sigward policy trustroot --name NAME --trusted-root FILE``: a policy-controller ``TrustRoot`` resource
(``spec.sigstoreKeys``) from a Sigstore ``trusted_root.json``, ready for ``kubectl apply -f -``.

The resource goes to stdout (or ``--out``); what the TrustRoot form cannot carry (ended validity windows,
log IDs not derived from the key) is one ``Warning:`` line each on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

# A Kubernetes object name (RFC 1123 subdomain), which is what trustRootRef names.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def run(args: argparse.Namespace) -> int:
    from sigward.cip.trustroot_export import trustroot_from_trusted_root
    from sigward.errors import SigwardError
    from sigward.fileio import read_regular, read_stream, write_atomic

    if not _NAME.fullmatch(args.name) or len(args.name) > 253:
        raise SigwardError(f"--name {args.name!r}: not a Kubernetes object name (lower-case letters, digits, "
                           "'-' and '.', starting and ending with a letter or digit)")
    if args.trusted_root == "-":
        data, source = read_stream(sys.stdin.buffer), "<stdin>"
    else:
        data, source = read_regular(args.trusted_root), args.trusted_root
    export = trustroot_from_trusted_root(args.name, data, source=source,
                                         include_expired=args.include_expired)
    if args.output == "json":
        text = json.dumps(export.resource, indent=2) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(export.resource, sort_keys=False, width=1 << 16)
    for note in export.notes:
        print(f"Warning: {note}", file=sys.stderr)
    if args.out:
        write_atomic(args.out, text.encode())
    else:
        sys.stdout.write(text)
    return 0
