"""What policies read besides signatures: policy text (inline, ``remote``, ``configMapRef``) and the
image's config files (``fetchConfigFile``).

policy-controller's reconciler inlines ``remote`` and ``configMapRef`` policies into ``data`` before the
webhook sees them; sigward resolves them at evaluation, once per policy (cached, thread-safe):

- ``remote``: HTTPS only, the body's SHA-256 must equal ``sha256sum`` (policy-controller's
  ``failed to check sha256sum from policy remote``), at most 1 MiB;
- ``configMapRef``: from ConfigMap manifests loaded with the policies (``--policy cm.yaml``); with none,
  an error saying so (sigward does not read a cluster here).

``fetchConfigFile``: the image's OCI config, keyed by platform (``linux/amd64``), every child of an index.
"""

from __future__ import annotations

import hashlib
from threading import Lock
from typing import TYPE_CHECKING, Any

from sigward import safejson
from sigward.errors import SigwardError

if TYPE_CHECKING:
    from sigward.admission.authorities import Subject
    from sigward.cip.model import Policy
    from sigward.oci.store import Store

MAX_REMOTE_POLICY = 1024 * 1024
_REMOTE: dict[tuple[str, str], str] = {}
_REMOTE_LOCK = Lock()


class PolicySourceError(SigwardError):
    """A policy whose text cannot be had."""


def policy_text(subject: Subject, policy: Policy) -> str:
    """The policy's text: ``data``, else the fetched ``remote``, else the ``configMapRef`` value."""
    if policy.remote is not None and policy.remote.url:
        return fetch_remote(policy.remote.url, policy.remote.sha256sum, subject.store_options)
    if policy.config_map_ref is not None and policy.config_map_ref.name:
        ref = policy.config_map_ref
        cm = subject.policies.configmap(ref.name, ref.namespace or None)
        if cm is None:
            where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            raise PolicySourceError(f"configMapRef {where}: not supported yet without the ConfigMap "
                                    "(no such ConfigMap in the PolicySet)")
        if ref.key not in cm:
            raise PolicySourceError(f"configMapRef {ref.name}: the ConfigMap has no key {ref.key!r}")
        return cm[ref.key]
    return policy.data


def fetch_remote(url: str, sha256sum: str, store_options: Any) -> str:
    with _REMOTE_LOCK:
        cached = _REMOTE.get((url, sha256sum))
    if cached is not None:
        return cached
    if not url.startswith("https://"):
        raise PolicySourceError(f"policy remote {url}: only https URLs are fetched")
    from sigward import transport

    opts = transport.ClientOptions(ca_file=getattr(store_options, "ca_file", None))
    try:
        resp = transport.request("GET", url, options=opts)
    except Exception as e:  # httpx errors: the policy cannot be had, the image is not admitted
        raise PolicySourceError(f"failed to fetch policy remote {url}: {e}")
    if resp.status_code != 200:
        raise PolicySourceError(f"failed to fetch policy remote {url}: HTTP {resp.status_code}")
    body = resp.content
    if len(body) > MAX_REMOTE_POLICY:
        raise PolicySourceError(f"policy remote {url}: larger than {MAX_REMOTE_POLICY} bytes")
    if hashlib.sha256(body).hexdigest() != sha256sum.lower():
        raise PolicySourceError(f"failed to check sha256sum from policy remote {url}")
    text = body.decode("utf-8", "replace")
    with _REMOTE_LOCK:
        _REMOTE[(url, sha256sum)] = text
    return text


def config_files(store: Store, digest: str) -> dict[str, Any]:
    """``os/arch[/variant]`` → the OCI config JSON of the image (each child of an index)."""
    from sigward.oci import mediatypes as mt

    out: dict[str, Any] = {}
    m = store.get_manifest(digest)
    if mt.is_index(m.media_type):
        for child in m.manifests:
            out.update(config_files(store, child.digest))
        return out
    if m.config is None:
        raise SigwardError(f"{digest} has no config")
    cfg = safejson.loads(store.get_blob(m.config).decode("utf-8"))
    if not isinstance(cfg, dict):
        raise SigwardError(f"config of {digest} is not a JSON object")
    key = "/".join(str(p) for p in (cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant"))
                   if p)
    out[key] = cfg
    return out
