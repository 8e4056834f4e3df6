"""``sigward login`` / ``sigward logout``: docker's config.json, shared with docker, cosign and crane.

Unlike cosign (which stores whatever it is given), login first checks the credentials against the
registry — a typo should fail now, not at the end of a signing run. The message matches cosign's
(``logged in via <config file>`` on stderr).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigward.cli.common import add_registry_flags, store_options
from sigward.cli.flags import add_go_bool
from sigward.errors import UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("login", help="log in to a registry",
                       description="Log in to a registry: check the credentials, then record them in "
                                   "docker's config.json ($DOCKER_CONFIG or ~/.docker).")
    p.add_argument("server", metavar="SERVER", help="registry host, e.g. reg.example.com")
    p.add_argument("-u", "--username", default=None, help="Username")
    p.add_argument("-p", "--password", default=None, help="Password")
    add_go_bool(p, "--password-stdin", help="Take the password from stdin")
    add_registry_flags(p)
    p.set_defaults(func=_login)

    q = sub.add_parser("logout", help="log out of a registry",
                       description="Remove a registry's credentials from docker's config.json.")
    q.add_argument("server", metavar="SERVER", help="registry host")
    q.set_defaults(func=_logout)


def _login(args: argparse.Namespace) -> int:
    from sigward.oci.registry import dockerconfig
    from sigward.oci.registry.login import verify_login

    password = args.password
    if args.password_stdin:
        if password is not None:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.read().rstrip("\r\n")
    if not args.username:
        raise UsageError("username required: pass -u USERNAME")
    if not password:
        raise UsageError("password required: pass -p PASSWORD or --password-stdin")
    opts = store_options(args)
    opts.username, opts.password, opts.registry_token = args.username, password, None
    verify_login(args.server, opts)
    path = dockerconfig.store_login(args.server, args.username, password)
    sys.stderr.write(f"logged in via {path}\n")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from sigward.oci.registry import dockerconfig

    key = dockerconfig.server_key(args.server)
    if dockerconfig.remove_login(args.server):
        sys.stderr.write(f"Removing login credentials for {key}\n")
    else:
        sys.stderr.write(f"Not logged in to {key}\n")
    return 0
