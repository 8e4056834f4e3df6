"""``sigward policy validate FILE…``: ClusterImagePolicy / TrustRoot documents checked as policy-controller's
admission webhook checks them, before they reach a cluster (or a ``sigward policy test``).

Output, one line per document or error (stdout; exit 0 when every document is valid, 1 otherwise)::

    clusterimagepolicy/NAME valid
    FILE: clusterimagepolicy/NAME: missing field(s): spec.images

Validation errors are the command's *result*, so they are listed in full rather than stopping at the
first; a file that cannot be read or parsed is a usage failure instead: one ``Error: …`` line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigward.cip.documents import Document
    from sigward.cip.fielderror import FieldError

SUFFIXES = (".yaml", ".yml", ".json")


def _inputs(names: list[str]) -> list[tuple[str, bytes]]:
    """(label, bytes) of every input: files, ``-`` (stdin) and directories (their *.yaml/*.yml/*.json,
    sorted, not recursive — as ``kubectl apply -f DIR``)."""
    from sigward.errors import SigwardError
    from sigward.fileio import read_regular, read_stream

    out: list[tuple[str, bytes]] = []
    for name in names:
        if name == "-":
            out.append(("<stdin>", read_stream(sys.stdin.buffer)))
            continue
        p = Path(name)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix in SUFFIXES and f.is_file())
            if not files:
                raise SigwardError(f"{name}: no *.yaml, *.yml or *.json files in the directory")
            out += [(str(f), read_regular(str(f))) for f in files]
        else:
            out.append((name, read_regular(name)))
    return out


def _line(e: FieldError) -> str:
    head = f"{e.message}: {', '.join(e.paths)}" if e.paths else e.message
    return f"{head} ({e.details})" if e.details else head


def _error_json(e: FieldError) -> dict[str, Any]:
    return {"error": str(e), "message": e.message, "paths": list(e.paths), "details": e.details}


def run(args: argparse.Namespace) -> int:
    from sigward.cip.documents import load_documents
    from sigward.cip.validate import validate

    results: list[tuple[Document, list[FieldError]]] = []
    for label, data in _inputs(list(args.files)):
        for doc in load_documents(data, label):
            results.append((doc, validate(doc.body)))

    all_valid = all(not any(e.level == "Error" for e in errs) for _, errs in results)
    if args.output == "json":
        docs = []
        for doc, errs in results:
            docs.append({
                "source": doc.source, "document": doc.index, "item": doc.item,
                "apiVersion": doc.apiVersion, "kind": doc.kind, "name": doc.name,
                "valid": not any(e.level == "Error" for e in errs),
                "errors": [_error_json(e) for e in errs if e.level == "Error"],
                "warnings": [_error_json(e) for e in errs if e.level == "Warning"],
            })
        sys.stdout.write(json.dumps({"valid": all_valid, "documents": docs}, indent=2) + "\n")
        return 0 if all_valid else 1
    for doc, errs in results:
        for e in errs:
            prefix = "Warning: " if e.level == "Warning" else ""
            sys.stdout.write(f"{doc.source}: {doc.label}: {prefix}{_line(e)}\n")
        if not any(e.level == "Error" for e in errs):
            sys.stdout.write(f"{doc.label} valid\n")
    if not results:
        sys.stdout.write("no documents\n")
    return 0 if all_valid else 1
