"""``k8s://NAMESPACE/SECRET`` — a cosign key pair kept in a Kubernetes Secret (``sigward[k8s]``).

As cosign's ``pkg/cosign/kubernetes``: the Secret's data holds ``cosign.key`` (the encrypted private
key), ``cosign.pub`` and ``cosign.password``; signing decrypts ``cosign.key`` with ``cosign.password``
(no prompt), verifying and ``public-key`` read ``cosign.pub``. ``generate-key-pair k8s://NS/NAME``
creates the Secret — immutable when the API server is 1.21 or newer — or updates an existing one
(keeping its other data keys), and writes ``cosign.pub`` locally. The cluster is reached through the
official Kubernetes client with the usual kubeconfig rules (``KUBECONFIG``, ``~/.kube/config``, else the
in-cluster service account). Transient failures (429, 5xx, dropped connections) are retried by urllib3's
``Retry`` on the client's pool. The password and the key never appear in a message.
"""

from __future__ import annotations

import os
from typing import Any

from sigward.keys.keytypes import PublicKey
from sigward.keys.remote.base import key_error, require

SCHEME = "k8s"
FORMAT_ERROR = "kubernetes specification should be in the format k8s://<namespace>/<secret>"


def parse(text: str) -> tuple[str, str]:
    parts = text[len("k8s://"):].split("/") if text.startswith("k8s://") else []
    if len(parts) != 2 or not all(parts):
        raise key_error(text, FORMAT_ERROR)
    return parts[0], parts[1]


def _api(text: str) -> Any:
    kubernetes = require("kubernetes", "k8s", SCHEME)
    from kubernetes import config
    from urllib3.util.retry import Retry

    configuration = kubernetes.client.Configuration()
    # KUBECONFIG is read now, not when the client library was imported (it caches the default at import).
    config_file = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        config.load_kube_config(config_file=config_file, client_configuration=configuration)
    except (config.ConfigException, OSError, TypeError, ValueError) as e:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            raise key_error(text, f"no Kubernetes configuration: {_short(e)}") from None
    configuration.retries = Retry(total=4, backoff_factor=0.25, status_forcelist=(429, 500, 502, 503, 504),
                                  allowed_methods=None, respect_retry_after_header=True,
                                  raise_on_status=False)
    return kubernetes.client.ApiClient(configuration)


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


def _call(text: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kwargs, _request_timeout=30)
    except ApiException as e:
        cause = {401: "access denied (credentials not accepted)", 403: "access denied",
                 404: "secret not found", 409: "conflict (the secret changed meanwhile)",
                 422: "the API server refused the secret", 429: "throttled (gave up after retries)"}.get(
            e.status or 0, f"API server answered {e.status} {e.reason}")
        raise key_error(text, f"{what}: {cause}") from None
    except HTTPError as e:
        raise key_error(text, f"{what}: cannot reach the Kubernetes API server "
                              f"({type(e).__name__})") from None
    except ValueError:  # the client's models refuse a malformed answer (pydantic ValidationError)
        raise key_error(text, f"{what}: the API server's answer is not a valid Kubernetes object") from None


def _secret_data(text: str) -> dict[str, bytes]:
    import base64

    namespace, name = parse(text)
    api_client = _api(text)  # imports the client library, or names the extra
    from kubernetes import client

    api = client.CoreV1Api(api_client)
    secret = _call(text, "reading secret", api.read_namespaced_secret, name, namespace)
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def _field(data: dict[str, bytes], name: str, text: str) -> bytes:
    if name not in data:
        raise key_error(text, f"the secret has no {name}")
    return data[name]


def load_signer(text: str) -> Any:
    """The key pair's signer: ``cosign.key`` decrypted with ``cosign.password`` from the same Secret."""
    from sigward.keys import encrypted
    from sigward.keys.local import LocalSigner as Signer

    data = _secret_data(text)
    key = encrypted.decrypt_private_key(_field(data, "cosign.key", text),
                                        _field(data, "cosign.password", text), text)
    return Signer(key)


def load_public_key(text: str) -> PublicKey:
    from sigward.keys import pem
    from sigward.keys.remote.base import load_der_public_key

    raw = _field(_secret_data(text), "cosign.pub", text)
    block = pem.decode(raw)
    if block is None or block.type != "PUBLIC KEY":
        raise key_error(text, "cosign.pub in the secret is not a PEM public key")
    return load_der_public_key(block.data, text)


def store_key_pair(text: str, private_pem: bytes, public_pem: bytes, password: bytes) -> tuple[str, str]:
    """Create or update the Secret (cosign's ``KeyPairSecret``); returns (namespace, name)."""
    import base64

    namespace, name = parse(text)
    api_client = _api(text)
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    version = _call(text, "reading server version", client.VersionApi(api_client).get_code)
    immutable = _at_least(version, 1, 21)
    encoded = {"cosign.key": private_pem, "cosign.pub": public_pem, "cosign.password": password}
    try:
        existing = core.read_namespaced_secret(name, namespace, _request_timeout=30)
    except ApiException as e:
        if e.status != 404:
            _call(text, "checking if secret exists", core.read_namespaced_secret, name, namespace)
        existing = None
    data = dict(existing.data or {}) if existing is not None else {}
    data.update({k: base64.b64encode(v).decode("ascii") for k, v in encoded.items()})
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace=namespace), data=data,
                           immutable=True if immutable else None)
    if existing is None:
        _call(text, f"creating secret {name} in ns {namespace}", core.create_namespaced_secret, namespace,
              body)
    else:
        _call(text, f"updating secret {name} in ns {namespace}", core.replace_namespaced_secret, name,
              namespace, body)
    return namespace, name


def _at_least(version: Any, major: int, minor: int) -> bool:
    try:
        got = (int(str(version.major).rstrip("+")), int(str(version.minor).rstrip("+")))
    except (AttributeError, ValueError):
        return False
    return got >= (major, minor)
