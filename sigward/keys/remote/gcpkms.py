"""``gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]`` — Google Cloud KMS
through the official ``google-cloud-kms`` client (``sigward[gcp]``), REST transport.

As sigstore's ``pkg/signature/kms/gcp``: the key must have purpose ``ASYMMETRIC_SIGN``; without a version
the newest enabled version is used (``ListCryptoKeyVersions``, ``state=ENABLED``, ``name desc``); the
hash and padding come from the version's algorithm (``EC_SIGN_P256_SHA256``, ``EC_SIGN_P384_SHA384``,
``RSA_SIGN_PKCS1_*_SHA256/SHA512``, ``RSA_SIGN_PSS_*_SHA256/SHA512``); ``AsymmetricSign`` receives only
the digest. Credentials are Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
ADC file, the metadata server). ``SIGWARD_GCPKMS_ENDPOINT`` (``https://host[:port]``) points the client at
another endpoint (a private one, or the tests' server); cosign has no such setting.
``generate-key-pair --kms`` creates the key ring if needed and an ``EC_SIGN_P256_SHA256`` key.

Transient answers (429, 500, 502, 503, 504) and dropped connections are retried (5 attempts, tenacity).
"""

from __future__ import annotations

import os
import re
from typing import Any

from sigward.keys.keytypes import PublicKey
from sigward.keys.remote.base import RemoteSigner, key_error, load_pem_public_key, require

SCHEME = "gcpkms"
_REF = re.compile(r"^gcpkms://projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/]+)"
                  r"(?:/(?:cryptoKeyVersions|versions)/([^/]+))?$")
FORMAT_ERROR = ("kms specification should be in the format gcpkms://projects/[PROJECT_ID]/locations/"
                "[LOCATION]/keyRings/[KEY_RING]/cryptoKeys/[KEY]/cryptoKeyVersions/[VERSION]")
DEFAULT_ALGORITHM = "EC_SIGN_P256_SHA256"
# algorithm → (hash, RSA-PSS?)
ALGORITHMS = {
    "EC_SIGN_P256_SHA256": ("sha256", False),
    "EC_SIGN_P384_SHA384": ("sha384", False),
    "RSA_SIGN_PKCS1_2048_SHA256": ("sha256", False),
    "RSA_SIGN_PKCS1_3072_SHA256": ("sha256", False),
    "RSA_SIGN_PKCS1_4096_SHA256": ("sha256", False),
    "RSA_SIGN_PKCS1_4096_SHA512": ("sha512", False),
    "RSA_SIGN_PSS_2048_SHA256": ("sha256", True),
    "RSA_SIGN_PSS_3072_SHA256": ("sha256", True),
    "RSA_SIGN_PSS_4096_SHA256": ("sha256", True),
    "RSA_SIGN_PSS_4096_SHA512": ("sha512", True),
}


def parse(text: str) -> tuple[str, str, str, str, str]:
    m = _REF.match(text)
    if not m:
        raise key_error(text, FORMAT_ERROR)
    project, location, ring, key, version = m.groups()
    return project, location, ring, key, version or ""


def _client(text: str) -> Any:
    require("google.cloud.kms_v1", "gcp", SCHEME)
    import google.auth
    from google.api_core.client_options import ClientOptions
    from google.auth import exceptions as ge
    from google.cloud import kms_v1

    endpoint = os.environ.get("SIGWARD_GCPKMS_ENDPOINT") or None
    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloudkms"])
    except ge.DefaultCredentialsError:
        raise key_error(text, "no Google credentials found (GOOGLE_APPLICATION_CREDENTIALS, or "
                              "`gcloud auth application-default login`)") from None
    return kms_v1.KeyManagementServiceClient(credentials=credentials, transport="rest",
                                             client_options=ClientOptions(api_endpoint=endpoint))


def _with_retries(fn: Any, **kwargs: Any) -> Any:
    """One call, retried on transient answers: 5 attempts, jittered exponential backoff (tenacity, as the
    rest of sigward's HTTP); the client's own time-based retry is switched off so the two do not stack."""
    import requests
    import tenacity
    from google.api_core import exceptions as gx

    transient = (gx.TooManyRequests, gx.ResourceExhausted, gx.ServiceUnavailable, gx.InternalServerError,
                 gx.BadGateway, gx.GatewayTimeout, requests.exceptions.ConnectionError)
    retrying = tenacity.Retrying(retry=tenacity.retry_if_exception_type(transient),
                                 stop=tenacity.stop_after_attempt(5),
                                 wait=tenacity.wait_exponential(multiplier=0.2, max=2.0)
                                 + tenacity.wait_random(0, 0.2), reraise=True)
    return retrying(fn, **kwargs, retry=None, timeout=30.0)


def _call(text: str, what: str, fn: Any, **kwargs: Any) -> Any:
    import requests
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ge

    try:
        return _with_retries(fn, **kwargs)
    except (gx.PermissionDenied, gx.Forbidden):  # gRPC-style and HTTP-style names for the same answer
        raise key_error(text, f"{what}: access denied") from None
    except (gx.Unauthenticated, gx.Unauthorized):
        raise key_error(text, f"{what}: access denied (credentials not accepted)") from None
    except gx.NotFound:
        raise key_error(text, f"{what}: key not found") from None
    except (gx.FailedPrecondition, gx.BadRequest) as e:
        raise key_error(text, f"{what}: the key version is not usable ({_message(e)})") from None
    except (gx.TooManyRequests, gx.ResourceExhausted):
        raise key_error(text, f"{what}: throttled by Cloud KMS (gave up after retries)") from None
    except gx.RetryError:
        raise key_error(text, f"{what}: Cloud KMS kept failing (gave up after retries)") from None
    except gx.GoogleAPICallError as e:
        raise key_error(text, f"{what}: {type(e).__name__}: {_message(e)}") from None
    except ge.RefreshError:
        raise key_error(text, f"{what}: access denied (could not get an access token)") from None
    except ge.GoogleAuthError as e:
        raise key_error(text, f"{what}: authentication failed ({type(e).__name__})") from None
    except requests.exceptions.SSLError:
        raise key_error(text, f"{what}: TLS error talking to Cloud KMS") from None
    except requests.exceptions.RequestException as e:
        raise key_error(text, f"{what}: cannot reach Cloud KMS ({type(e).__name__})") from None


def _message(e: Any) -> str:
    return " ".join(str(getattr(e, "message", "") or e).split())[:200]


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


class GcpKmsKey(RemoteSigner):
    def __init__(self, text: str, client: Any, version_name: str, public_key: PublicKey, algorithm: str):
        hash_name, pss = ALGORITHMS[algorithm]
        super().__init__(text, public_key, hash_name, pss=pss)
        self._client = client
        self._version = version_name
        self.algorithm = algorithm

    def _sign_digest(self, digest: bytes) -> bytes:
        out = _call(self.ref, "signing", self._client.asymmetric_sign,
                    request={"name": self._version, "digest": {self.default_hash: digest}})
        return bytes(out.signature)


def _version_name(text: str, client: Any) -> str:
    project, location, ring, key, version = parse(text)
    parent = f"projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}"
    crypto_key = _call(text, "getting key", client.get_crypto_key, request={"name": parent})
    if _enum_name(crypto_key.purpose) != "ASYMMETRIC_SIGN":
        raise key_error(text, f"wrong key usage: purpose {_enum_name(crypto_key.purpose)} cannot sign "
                              "(ASYMMETRIC_SIGN needed)")
    if version:
        kv = _call(text, "getting key version", client.get_crypto_key_version,
                   request={"name": f"{parent}/cryptoKeyVersions/{version}"})
        if _enum_name(kv.state) != "ENABLED":
            raise key_error(text, f"the key version is {_enum_name(kv.state)}, not ENABLED")
        return str(kv.name)
    pager = _call(text, "listing key versions", client.list_crypto_key_versions,
                  request={"parent": parent, "filter": "state=ENABLED", "order_by": "name desc"})
    for kv in pager:
        return str(kv.name)
    raise key_error(text, "unable to find an enabled key version")


def load(text: str) -> GcpKmsKey:
    parse(text)  # a malformed reference fails before any credential lookup
    client = _client(text)
    name = _version_name(text, client)
    pub = _call(text, "getting public key", client.get_public_key, request={"name": name})
    algorithm = _enum_name(pub.algorithm)
    if algorithm not in ALGORITHMS:
        raise key_error(text, f"unsupported algorithm {algorithm}")
    return GcpKmsKey(text, client, name, load_pem_public_key(pub.pem.encode(), text), algorithm)


def create(text: str, algorithm: str = DEFAULT_ALGORITHM) -> PublicKey:
    """``generate-key-pair --kms``: the key ring and key, created when missing (cosign's ``createKey``)."""
    from google.api_core import exceptions as gx

    project, location, ring, key, _version = parse(text)
    client = _client(text)
    ring_name = f"projects/{project}/locations/{location}/keyRings/{ring}"
    try:
        _with_retries(client.get_key_ring, request={"name": ring_name})
    except gx.NotFound:
        _call(text, "creating key ring", client.create_key_ring,
              request={"parent": f"projects/{project}/locations/{location}", "key_ring_id": ring})
    except gx.GoogleAPICallError:
        _call(text, "getting key ring", client.get_key_ring, request={"name": ring_name})
    try:
        _with_retries(client.get_crypto_key, request={"name": f"{ring_name}/cryptoKeys/{key}"})
    except gx.NotFound:
        _call(text, "creating key", client.create_crypto_key,
              request={"parent": ring_name, "crypto_key_id": key,
                       "crypto_key": {"purpose": "ASYMMETRIC_SIGN",
                                      "version_template": {"algorithm": algorithm}}})
    return load(text).public_key
