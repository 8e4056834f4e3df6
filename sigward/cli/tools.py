"""Small cosign commands around the main ones: ``env``, ``completion``, ``debug providers``, ``piv-tool``,
``upload``. Each follows cosign v3's command line and output format; docs/cosign-compat.md says where
sigward differs and why."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from sigward.cli.flags import add_go_bool


@dataclass(frozen=True)
class EnvVar:
    name: str
    description: str
    expects: str
    sensitive: bool = False


# The variables sigward reads (directly, or through the `id` library's ambient credential detection).
ENV_VARS = [
    EnvVar("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer token GitHub Actions gives a job for an OIDC token",
           "string with a bearer token", True),
    EnvVar("ACTIONS_ID_TOKEN_REQUEST_URL", "GitHub Actions' URL to request an OIDC token from",
           "string with the URL of the OIDC provider"),
    EnvVar("BUILDKITE_AGENT_ACCESS_TOKEN", "Buildkite agent token, to request an OIDC token for the job",
           "string with an access token", True),
    EnvVar("COSIGN_DOCKER_MEDIA_TYPES", "write legacy signature images with Docker media types (registries "
           "without OCI media types)", "1 to use Docker media types (0 by default)"),
    EnvVar("COSIGN_PASSWORD", "password of the private key (else the terminal, else stdin)",
           "string with a password", True),
    EnvVar("COSIGN_REPOSITORY", "store and look up signatures, attestations and SBOMs in another repository "
           "(registry/repo or oci:PATH)", "string with a repository"),
    EnvVar("DOCKER_CONFIG", "directory of config.json with registry credentials (`sigward login` writes it)",
           "path to a directory (default ~/.docker)"),
    EnvVar("GOOGLE_SERVICE_ACCOUNT_NAME", "service account to impersonate for a Google Cloud OIDC token",
           "string with the service account's name"),
    EnvVar("SIGSTORE_ID_TOKEN", "OIDC identity token for keyless signing (GitLab CI `id_tokens`, or any "
           "token)", "string with an OIDC token", True),
    EnvVar("SIGWARD_CUE", "the `cue` binary for CUE policies (verify-attestation --policy x.cue)",
           "path to cue (default: `cue` on PATH)"),
    EnvVar("SIGWARD_DEBUG", "show the Python traceback of an internal error",
           "1 to show it (unset by default)"),
    EnvVar("SIGWARD_REGISTRY_CACERT", "PEM CA certificates to trust for registries, as --registry-cacert",
           "path to a PEM file"),
    EnvVar("SOURCE_DATE_EPOCH", "time recorded in signatures, builds and charts (reproducible output)",
           "number of seconds since the Unix epoch"),
]

_OTHER_PREFIXES = ("COSIGN_", "SIGSTORE_", "TUF_", "SIGWARD_")


def env_lines(environ: dict[str, str], *, descriptions: bool, sensitive: bool) -> list[str]:
    """cosign env's output: the known variables (sorted), then other COSIGN_/SIGSTORE_/TUF_/SIGWARD_ ones."""
    lines: list[str] = []
    known = {v.name for v in ENV_VARS}
    for var in sorted(ENV_VARS, key=lambda v: v.name):
        value = environ.get(var.name, "")
        if descriptions:
            lines += [f"# {var.name} {var.description}", f"# Expects: {var.expects}"]
        hide = var.sensitive and not sensitive and value
        lines.append(f"{var.name}=******" if hide else f"{var.name}={value}")
    others = sorted(k for k in environ if k.startswith(_OTHER_PREFIXES) and k not in known)
    if others and descriptions:
        lines += ["# Environment variables below are not registered with sigward,",
                  "# but might still influence its behavior."]
    for k in others:
        lines.append(f"{k}=******" if not sensitive and environ[k] else f"{k}={environ[k]}")
    return lines


def register(sub: Any) -> None:
    e = sub.add_parser("env", help="print the environment variables sigward reads",
                       epilog="examples:\n  sigward env\n  sigward env --show-descriptions=false\n"
                              "  sigward env --show-sensitive-values")
    add_go_bool(e, "--show-descriptions", default=True, help="show descriptions for environment variables")
    add_go_bool(e, "--show-sensitive-values", help="show values of sensitive environment variables")
    e.set_defaults(func=run_env)

    c = sub.add_parser("completion", help="generate a shell completion script",
                       epilog="bash:\n  source <(sigward completion bash)\nzsh:\n"
                              "  sigward completion zsh > \"${fpath[1]}/_sigward\"\nfish:\n"
                              "  sigward completion fish | source")
    c.add_argument("shell", choices=["bash", "zsh", "fish", "powershell"], metavar="SHELL",
                   help="bash, zsh, fish (powershell: not yet)")
    c.set_defaults(func=run_completion)

    d = sub.add_parser("debug", help="debugging information")
    dsub = d.add_subparsers(dest="debug_command", metavar="COMMAND", parser_class=type(d))
    dp = dsub.add_parser("providers", help="show the OIDC providers sigward can take an identity token from")
    dp.set_defaults(func=run_debug_providers)

    piv = sub.add_parser("piv-tool", help="not supported: YubiKey PIV keys")
    piv.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    piv.set_defaults(func=run_piv_tool)

    up = sub.add_parser("upload", help="not supported: deprecated in cosign (use `sigward attach` / "
                                       "`sigward chart push` / an OCI client)")
    up.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    up.set_defaults(func=run_upload)


def run_env(args: argparse.Namespace) -> int:
    import os

    for line in env_lines(dict(os.environ), descriptions=args.show_descriptions,
                          sensitive=args.show_sensitive_values):
        print(line)
    return 0


def run_completion(args: argparse.Namespace) -> int:
    from sigward.cli.completion import script
    from sigward.cli.main import build_parser
    from sigward.errors import UsageError

    if args.shell == "powershell":
        raise UsageError("completion for powershell is not supported yet (bash, zsh and fish are)")
    sys.stdout.write(script(build_parser(), args.shell))
    return 0


def run_debug_providers(args: argparse.Namespace) -> int:
    import os

    rows = [
        ("github-actions", "ACTIONS_ID_TOKEN_REQUEST_URL" in os.environ
         and "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in os.environ),
        ("gitlab (SIGSTORE_ID_TOKEN)", bool(os.environ.get("SIGSTORE_ID_TOKEN"))),
        ("buildkite-agent", bool(os.environ.get("BUILDKITE_AGENT_ACCESS_TOKEN"))),
        ("google", bool(os.environ.get("GOOGLE_SERVICE_ACCOUNT_NAME"))),
        ("filesystem (/var/run/sigstore/cosign/oidc-token)",
         os.path.exists("/var/run/sigstore/cosign/oidc-token")),
        ("spiffe", bool(os.environ.get("SPIFFE_ENDPOINT_SOCKET"))),
    ]
    for name, available in rows:
        print(f"{name}: {'enabled' if available else 'not detected'}")
    return 0


def run_piv_tool(args: argparse.Namespace) -> int:
    from sigward.errors import UsageError

    raise UsageError("piv-tool is not supported: sigward does not drive YubiKey PIV keys (cosign's release "
                     "builds neither); use a key file, a KMS key or a PKCS#11 token")


def run_upload(args: argparse.Namespace) -> int:
    from sigward.errors import UsageError

    raise UsageError("upload is not supported (deprecated in cosign): push blobs with an OCI client, charts "
                     "with `sigward chart push`, and attach SBOMs with `sigward attach sbom`")
