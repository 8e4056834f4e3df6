"""Checking credentials against a registry before they are saved."""

from __future__ import annotations

from sigward.errors import AuthError, InvalidReferenceError, StoreError
from sigward.oci.reference import DOCKER_HUB, DOCKER_HUB_API
from sigward.oci.registry.client import RegistryClient
from sigward.oci.registry.dockerconfig import normalize_host
from sigward.oci.store import StoreOptions


def verify_login(server: str, options: StoreOptions) -> None:
    """GET /v2/ with the credentials (exchanging them for a token when the registry wants bearer).

    Raises AuthError when the registry refuses them. A registry that needs no auth at all accepts
    anything; that is reported as success, as docker does.
    """
    host = normalize_host(server)
    if not host:
        raise InvalidReferenceError(f"invalid registry {server!r}")
    api = DOCKER_HUB_API if host == DOCKER_HUB else host
    client = RegistryClient(api, options, host)
    try:
        ping = client.ping()
        if ping.status_code == 200:
            return
        if ping.status_code != 401:
            raise StoreError(
                f"GET {ping.request.url}: registry answered {ping.status_code}, expected 200 or 401")
        resp = client.request("GET", "/v2/", scopes=[])
        if resp.status_code in (401, 403):
            raise AuthError(f"login to {host} failed: the registry refused the credentials for "
                            f"{options.username!r}")
        if resp.status_code != 200:
            raise client.error(resp)
    finally:
        client.close()
