#!/usr/bin/env python3
"""The cosign-compatibility table of docs/cosign-compat.md, generated from the real command trees.

    python3 scripts/cosign_compat.py            # print the table
    python3 scripts/cosign_compat.py --write    # replace the table between the markers in the doc

cosign's side is read from the real cosign binary (scripts/go-tools.sh builds it): every command of
`cosign --help`, recursively, and every flag its help lists. Deprecated flags are hidden from cosign's
help, so those are listed below (found by reading cmd/cosign/cli/options at the pinned version and
checking each against the binary). sigward's side is read from its argparse tree: a flag sigward
refuses (``flags.add_refused``) is "not yet" or "differs" with the refusal's reason; a flag it
accepts is "supported" unless NOTES says how it differs. tests/cli/test_cosign_compat.py checks that
the committed table is what this script generates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "cosign-compat.md"
BEGIN = "<!-- BEGIN generated command table (scripts/cosign_compat.py) -->"
END = "<!-- END generated command table -->"

# Deprecated (hidden) flags cosign v3.1 still accepts, per command (cmd/cosign/cli/options, checked
# against the binary with `cosign CMD --FLAG=x --help`).
HIDDEN = {
    "attest": ["attachment-tag-prefix", "fulcio-url", "insecure-skip-verify", "issue-certificate",
               "new-bundle-format", "oidc-issuer", "record-creation-timestamp", "rekor-entry-type",
               "rekor-url", "replace", "timestamp-server-url", "tlog-upload"],
    "attest-blob": ["fulcio-url", "insecure-skip-verify", "issue-certificate", "new-bundle-format",
                    "oidc-issuer", "output-attestation", "output-certificate", "output-signature",
                    "rekor-entry-type", "rekor-url", "rfc3161-timestamp-bundle", "timestamp-server-url",
                    "tlog-upload"],
    "bundle create": ["rekor-url"],
    "sign": ["attachment", "attachment-tag-prefix", "fulcio-url", "insecure-skip-verify", "issue-certificate",
             "new-bundle-format", "oidc-issuer", "output-certificate", "output-payload", "output-signature",
             "payload", "record-creation-timestamp", "rekor-url", "sign-container-identity",
             "timestamp-server-url", "tlog-upload"],
    "sign-blob": ["b64", "fulcio-url", "insecure-skip-verify", "issue-certificate", "new-bundle-format",
                  "oidc-issuer", "output", "output-certificate", "output-signature", "rekor-url",
                  "rfc3161-timestamp", "timestamp-server-url", "tlog-upload"],
    "tree": ["attachment-tag-prefix", "experimental-oci11"],
    "trusted-root create": ["certificate-chain", "ctfe-end-time", "ctfe-key", "ctfe-start-time", "ctfe-url",
                            "fulcio-uri", "rekor-end-time", "rekor-key", "rekor-start-time", "rekor-url",
                            "timestamp-certificate-chain", "timestamp-uri"],
    "verify": ["attachment", "attachment-tag-prefix", "ca-intermediates", "ca-roots", "certificate",
               "certificate-chain", "experimental-oci11", "new-bundle-format", "offline", "payload",
               "private-infrastructure", "rekor-url", "sct", "signature", "signature-digest-algorithm",
               "timestamp-certificate-chain"],
    "verify-attestation": ["attachment-tag-prefix", "ca-intermediates", "ca-roots", "certificate",
                           "certificate-chain", "experimental-oci11", "new-bundle-format", "offline",
                           "private-infrastructure", "rekor-url", "sct", "signature-digest-algorithm",
                           "timestamp-certificate-chain"],
    "verify-blob": ["ca-intermediates", "ca-roots", "certificate", "certificate-chain", "experimental-oci11",
                    "new-bundle-format", "offline", "private-infrastructure", "rekor-url", "rfc3161-timestamp",
                    "sct", "signature", "signature-digest-algorithm", "timestamp-certificate-chain"],
    "verify-blob-attestation": ["ca-intermediates", "ca-roots", "certificate", "certificate-chain",
                                "experimental-oci11", "new-bundle-format", "offline", "private-infrastructure",
                                "rekor-url", "rfc3161-timestamp", "sct", "signature",
                                "signature-digest-algorithm", "timestamp-certificate-chain"],
}
for _cmd in ("clean", "download attestation", "download sbom", "download signature", "load", "save",
             "attach attestation", "attach sbom", "attach signature", "copy", "generate", "triangulate",
             "upload blob", "upload wasm"):
    HIDDEN[_cmd] = ["attachment-tag-prefix"]
HIDDEN["dockerfile verify"] = HIDDEN["manifest verify"] = HIDDEN["verify"]
# Commands cosign hides from its help (deprecated or build-dependent) but still has.
HIDDEN_COMMANDS = ["attach", "copy", "dockerfile", "manifest", "generate", "triangulate", "upload", "debug",
                   "piv-tool", "pkcs11-tool"]

# How sigward differs where it accepts the flag or command: (command, flag) → why. A flag of every
# command is written ("*", flag); "" is the command itself.
NOTES: dict[tuple[str, str], tuple[str, str]] = {
    ("", "--timeout"): ("differs", "no limit unless given (cosign: 3m), so a large copy or build is not cut "
                                   "off; given, the command stops with cosign's `context deadline exceeded`"),
    ("", "--verbose"): ("differs", "Python debug logging (HTTP requests, retries, TUF), not go-containerregistry's"),
    ("", "--output-file"): ("supported", "standard output goes to the file, as cosign does"),
    ("*", "--max-workers"): ("differs", "accepted and ignored: signatures are checked one after another"),
    ("*", "--signature-digest-algorithm"): ("differs", "sha256 only (what cosign writes)"),
    ("*", "--experimental-oci11"): ("differs", "accepted, no effect: referrers are always looked up"),
    ("*", "--registry-referrers-mode"): ("differs", "`oci-1-1` with the legacy format is refused; bundles "
                                                    "are always referrers"),
    ("*", "--offline"): ("supported", "never contacts Rekor"),
    ("*", "--rekor-url"): ("differs", "verification takes log keys from the trusted root; signing honours it"),
    ("*", "--oidc-issuer"): ("supported", ""),
    ("*", "--private-infrastructure"): ("supported", "same as --insecure-ignore-tlog"),
    ("*", "--sct"): ("differs", "refused: a detached SCT is not read; the certificate's embedded SCT is"),
    ("*", "--timestamp-certificate-chain"): ("differs", "refused: pass the TSA chain in --trusted-root"),
    ("*", "--insecure-skip-verify"): ("supported", "accepted, as in cosign (SCTs are not checked when signing)"),
    ("version", ""): ("differs", "same fields; goVersion names the Python running sigward"),
    ("completion", ""): ("differs", "bash, zsh and fish; powershell is not yet"),
    ("env", ""): ("differs", "lists the variables sigward reads (a subset of cosign's, plus SIGWARD_*)"),
    ("debug providers", ""): ("differs", "which ambient identity sources are detected, not cosign's provider list"),
    ("login", ""): ("supported", ""),
    ("upload blob", ""): ("differs", "refused: deprecated in cosign; push blobs with an OCI client"),
    ("upload wasm", ""): ("differs", "refused: deprecated in cosign"),
    ("pkcs11-tool", ""): ("supported", "list-tokens, list-keys-uris (cosign's release builds lack it)"),
    ("bundle inspect", ""): ("differs", "a shorter report of the same facts (version, content, signer, log "
                                        "entries, timestamps)"),
    ("bundle upgrade", ""): ("differs", "v0.2 to v0.3 offline; a v0.1 bundle (no inclusion proof) is "
                                        "refused: fetching proofs from Rekor is not yet"),
    ("bundle create", "--rekor-url"): ("not yet", "refused: log entries are not fetched from Rekor; the old "
                                                  "bundle's entry is kept as an inclusion promise (v0.1)"),
    ("initialize", ""): ("supported", "through sigstore-python's TUF client; the mirror is recorded in "
                                      "TUF_ROOT/sigward-remote.json"),
    ("*", "--rekor-entry-type"): ("differs", "dsse only"),
}


def _run(binary: str, *args: str) -> str:
    env = {"HOME": os.environ.get("SIGWARD_COMPAT_HOME", "/tmp"), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, env=env, timeout=30)
    return p.stdout + p.stderr


def _parse_help(text: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(sub-commands, [(flag, default, help)]) from cosign's custom help template."""
    cmds: list[str] = []
    flags: list[tuple[str, str, str]] = []
    sec = None
    for line in text.splitlines():
        if line.startswith("Available Commands:"):
            sec = "cmd"
            continue
        if line.startswith("Flags:"):
            sec = "flags"
            continue
        if re.match(r"^[A-Z][A-Za-z ]+:$", line):
            sec = None
            continue
        if sec == "cmd":
            if not line.strip():
                sec = None
            elif m := re.match(r"^(\S+)\s", line):
                cmds.append(m.group(1))
        elif sec == "flags":
            if m := re.match(r"^\s+(?:-\w, )?(--[\w-]+)=(.*):$", line):
                flags.append((m.group(1), m.group(2), ""))
            elif flags and line.startswith("\t"):
                name, default, text_ = flags[-1]
                flags[-1] = (name, default, (text_ + " " + line.strip()).strip())
    return [c for c in cmds if c != "help"], [f for f in flags if f[0] != "--help"]


def cosign_tree(binary: str) -> dict[str, dict[str, str]]:
    """``{"verify": {"--key": "default", ...}, "": {global flags}}``, hidden flags and commands included."""
    out: dict[str, dict[str, str]] = {}

    def walk(path: list[str]) -> None:
        subs, flags = _parse_help(_run(binary, *path))
        key = " ".join(path)
        out[key] = {name: default for name, default, _ in flags}
        for f in HIDDEN.get(key, []):
            out[key].setdefault(f"--{f}", "(deprecated, hidden)")
        for s in subs:
            walk([*path, s])

    walk([])
    for cmd in HIDDEN_COMMANDS:
        if cmd not in out:
            walk([cmd])
    return out


def sigward_tree() -> dict[str, dict[str, tuple[str, str]]]:
    """``{"verify": {"--key": ("supported", ""), "--sk": ("not yet", reason)}}`` from sigward's parser."""
    sys.path.insert(0, str(REPO))
    from sigward.cli.flags import _RefusedAction
    from sigward.cli.main import build_parser

    out: dict[str, dict[str, tuple[str, str]]] = {}

    def walk(p: argparse.ArgumentParser, path: list[str]) -> None:
        flags: dict[str, tuple[str, str]] = {}
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    walk(sp, [*path, name])
                continue
            for o in a.option_strings:
                if not o.startswith("--") or o.endswith("--"):
                    continue
                if isinstance(a, _RefusedAction):
                    flags[o] = ("refused", a.reason)
                else:
                    flags[o] = ("supported", "")
        out[" ".join(path)] = flags

    walk(build_parser(), [])
    # The global flags are taken out of argv before argparse (sigward/cli/globalflags.py).
    out[""].update({f: ("supported", "") for f in ("--timeout", "--verbose", "--output-file")})
    return out


PERMANENT = ("hardware security keys", "Kubernetes keychain", "deprecated in cosign", "piv-tool",
             "the signatures carry theirs")


def status(command: str, flag: str, sw: dict[str, dict[str, tuple[str, str]]]) -> tuple[str, str]:
    """(supported | differs | not yet, why) for one cosign command (flag "") or flag."""
    note = NOTES.get((command, flag)) or (NOTES.get(("*", flag)) if flag else None)
    if command not in sw:
        # A command sigward lacks: its flags share its status (e.g. cosign's deprecated `upload blob`).
        return NOTES.get((command, "")) or ("not yet", "command not implemented")
    if not flag:
        return note or ("supported", "")
    got = sw[command].get(flag)
    if got is None:
        return ("not yet", "flag not implemented")
    kind, reason = got
    if kind == "refused":
        permanent = any(p in reason for p in PERMANENT)
        return ("differs" if permanent else "not yet", f"refused: {reason}")
    return note or ("supported", "")


def render(cosign: dict[str, dict[str, str]], sw: dict[str, dict[str, tuple[str, str]]]) -> str:
    lines = [BEGIN, ""]
    counts = {"supported": 0, "differs": 0, "not yet": 0}
    for command in sorted(cosign, key=lambda c: (c != "", c)):
        title = f"`cosign {command}`".replace(" `", "`") if command else "global flags"
        st, why = status(command, "", sw) if command else ("supported", "")
        hidden = " (hidden in cosign's help)" if command.split(" ")[0] in HIDDEN_COMMANDS else ""
        lines.append(f"### {title}{hidden}")
        lines.append("")
        lines.append(f"Command: **{st}**" + (f" — {why}" if why else ""))
        lines.append("")
        if command:
            counts[st] += 1
        flags = cosign[command]
        if not flags:
            continue
        lines += ["| flag | cosign default | sigward | why |", "|---|---|---|---|"]
        for flag in sorted(flags):
            st, why = status(command, flag, sw)
            counts[st] += 1
            default = flags[flag].replace("|", "\\|") or "''"
            lines.append(f"| `{flag}` | `{default}` | {st} | {why.replace('|', '/')} |")
        lines.append("")
    summary = (f"Totals: {counts['supported']} supported, {counts['differs']} differ, "
               f"{counts['not yet']} not yet (commands and flags, cosign's {len(cosign) - 1} commands).")
    return "\n".join([lines[0], "", summary, *lines[1:], END])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="update docs/cosign-compat.md in place")
    ap.add_argument("--cosign", help="cosign binary (default: the one scripts/go-tools.sh builds)")
    ap.add_argument("--dump", action="store_true", help="print cosign's tree as JSON")
    opts = ap.parse_args()
    binary = opts.cosign
    if not binary:
        sys.path.insert(0, str(REPO))
        from tests.fixtures.gotools import go_tool

        binary = str(go_tool("cosign"))
    cosign = cosign_tree(binary)
    if opts.dump:
        print(json.dumps(cosign, indent=1))
        return 0
    table = render(cosign, sigward_tree())
    if not opts.write:
        print(table)
        return 0
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + table + text[end:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
