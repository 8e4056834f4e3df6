"""Flags shared by many commands (registry access), and helpers to turn them into options."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sigward.cli.flags import add_go_bool


def add_registry_flags(p: argparse.ArgumentParser | Any) -> None:
    """cosign's registry options (``cmd/cosign/cli/options/registry.go``)."""
    g = p.add_argument_group("registry access")
    add_go_bool(g, "--allow-insecure-registry",
                help="accept registries whose TLS certificate cannot be verified (self-signed)")
    add_go_bool(g, "--allow-http-registry", help="allow plain HTTP to the registry (no TLS)")
    g.add_argument("--registry-username", default=None, help="registry user name (basic auth)")
    g.add_argument("--registry-password", default=None, help="registry password (basic auth)")
    g.add_argument("--registry-token", default=None, help="registry bearer token")
    g.add_argument("--registry-cacert", default=None, metavar="FILE",
                   help="PEM file of CA certificates to trust for registries")


def store_options(args: argparse.Namespace) -> Any:
    from sigward.oci.store import StoreOptions

    return StoreOptions(
        allow_insecure_registry=getattr(args, "allow_insecure_registry", False),
        allow_http_registry=getattr(args, "allow_http_registry", False),
        username=getattr(args, "registry_username", None),
        password=getattr(args, "registry_password", None),
        registry_token=getattr(args, "registry_token", None),
        ca_file=getattr(args, "registry_cacert", None) or os.environ.get("SIGWARD_REGISTRY_CACERT"),
    )
