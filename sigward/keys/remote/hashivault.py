"""``hashivault://KEY`` — a HashiCorp Vault (or OpenBao) transit key through hvac (``sigward[vault]``).

As sigstore's ``pkg/signature/kms/hashivault``: the key name matches ``\\w([\\w-.]*\\w)?`` (``openbao://``
is the same provider), the server is ``VAULT_ADDR`` (or ``BAO_ADDR``), the token ``VAULT_TOKEN`` (or
``BAO_TOKEN``, or the token helper's ``~/.vault-token``), the transit mount ``TRANSIT_SECRET_ENGINE_PATH``
(default ``transit``). The public key is the latest version's ``public_key`` from ``GET
/v1/<mount>/keys/<key>``; signing posts ``prehashed: true`` with the locally computed digest to
``/v1/<mount>/sign/<key>/sha2-NNN`` (``signature_algorithm: pkcs1v15``, as cosign) and strips the
``vault:vN:`` prefix from the answer. ``generate-key-pair --kms`` creates an ``ecdsa-p256`` key.

Hash: the key type's default, as for a key file (cosign passes SHA-256 for every Vault key; the two agree
for P-256 and RSA keys). Ed25519 transit keys are refused: cosign's Vault path signs a SHA-256 digest with
pure Ed25519 there, which no verifier of cosign's formats accepts.

Transient answers (429 rate-limit quotas, 5xx, a sealed or standby Vault's 503) and dropped connections
are retried with urllib3's ``Retry`` (exponential backoff, ``Retry-After`` honoured) on hvac's session.
"""

from __future__ import annotations

import os
import re
from typing import Any

from sigward.keys.keytypes import PublicKey
from sigward.keys.remote.base import RemoteSigner, key_error, load_pem_public_key, require

SCHEME = "hashivault"
_REF = re.compile(r"^(?:hashivault|openbao)://(?P<path>\w(([\w\-.]+)?\w)?)$")
FORMAT_ERROR = "kms specification should be in the format hashivault://<key>"
DEFAULT_KEY_TYPE = "ecdsa-p256"
_HASH_PATH = {"sha256": "sha2-256", "sha384": "sha2-384", "sha512": "sha2-512"}


def parse(text: str) -> str:
    m = _REF.match(text)
    if not m:
        raise key_error(text, FORMAT_ERROR)
    return m.group("path")


def _client(text: str) -> tuple[Any, str]:
    hvac = require("hvac", "vault", SCHEME)
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    address = os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR")
    if not address:
        raise key_error(text, "VAULT_ADDR is not set")
    token = os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")
    if not token:
        try:
            with open(os.path.expanduser("~/.vault-token")) as f:
                token = f.read().strip()
        except OSError:
            token = ""
    if not token:
        raise key_error(text, "VAULT_TOKEN is not set (nor ~/.vault-token)")
    session = requests.Session()
    retry = Retry(total=4, backoff_factor=0.25, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=None, respect_retry_after_header=True, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    verify: Any = os.environ.get("VAULT_CACERT") or True
    if os.environ.get("VAULT_SKIP_VERIFY", "").lower() in ("1", "true"):
        verify = False
    client = hvac.Client(url=address, token=token, verify=verify, session=session, timeout=30,
                         namespace=os.environ.get("VAULT_NAMESPACE") or None)
    mount = os.environ.get("TRANSIT_SECRET_ENGINE_PATH") or "transit"
    return client, mount


def _call(text: str, what: str, fn: Any, **kwargs: Any) -> Any:
    """One Vault request; hvac's exceptions (and requests') become one line naming the key."""
    import requests
    from hvac import exceptions as hx

    try:
        return fn(**kwargs)
    except hx.Forbidden:
        raise key_error(text, f"{what}: access denied (permission denied for this token)") from None
    except hx.Unauthorized:
        raise key_error(text, f"{what}: access denied (token not accepted)") from None
    except hx.InvalidPath:
        raise key_error(text, f"{what}: key not found") from None
    except hx.RateLimitExceeded:
        raise key_error(text, f"{what}: throttled by Vault (gave up after retries)") from None
    except (hx.VaultDown, hx.BadGateway, hx.InternalServerError) as e:
        raise key_error(text, f"{what}: Vault unavailable ({_errors(e)}; gave up after retries)") from None
    except hx.InvalidRequest as e:
        detail = _errors(e)
        cause = "key not found" if "not found" in detail else detail
        if "does not support signing" in detail:
            cause = f"wrong key usage ({detail})"
        raise key_error(text, f"{what}: {cause}") from None
    except hx.VaultError as e:
        raise key_error(text, f"{what}: {type(e).__name__}: {_errors(e)}") from None
    except requests.exceptions.SSLError:
        raise key_error(text, f"{what}: TLS error talking to Vault (VAULT_CACERT names a CA file)") from None
    except requests.exceptions.RequestException as e:
        raise key_error(text, f"{what}: cannot reach Vault ({type(e).__name__})") from None


def _errors(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(str(x) for x in errors)[:200]
    return " ".join(str(e).split())[:200] or type(e).__name__


class VaultKey(RemoteSigner):
    def __init__(self, text: str, client: Any, mount: str, name: str, public_key: PublicKey):
        from sigward.keys.keytypes import default_hash, key_kind

        if key_kind(public_key) == "ed25519":
            raise key_error(text, "Ed25519 transit keys are not supported (cosign signs a SHA-256 digest "
                                  "with pure Ed25519 there)")
        super().__init__(text, public_key, default_hash(public_key))
        self._client = client
        self._mount = mount
        self._name = name

    def _sign_digest(self, digest: bytes) -> bytes:
        import base64

        out = _call(self.ref, "signing", self._client.secrets.transit.sign_data, name=self._name,
                    hash_input=base64.b64encode(digest).decode("ascii"),
                    hash_algorithm=_HASH_PATH[self.default_hash], prehashed=True,
                    signature_algorithm="pkcs1v15", mount_point=self._mount)
        encoded = str((out or {}).get("data", {}).get("signature", ""))
        if not encoded:
            raise key_error(self.ref, "signing: Vault's answer has no signature")
        try:
            return base64.b64decode(re.sub(r"^vault:v[0-9]+:", "", encoded), validate=True)
        except ValueError:
            raise key_error(self.ref, "signing: Vault's signature is not base64") from None


def _public_key(text: str, client: Any, mount: str, name: str) -> PublicKey:
    out = _call(text, "reading key", client.secrets.transit.read_key, name=name, mount_point=mount)
    data = (out or {}).get("data") or {}
    keys, latest = data.get("keys"), data.get("latest_version")
    entry = keys.get(str(latest)) if isinstance(keys, dict) else None
    if not isinstance(entry, dict) or "public_key" not in entry:
        if data.get("type") and not str(data.get("type")).startswith(("ecdsa", "rsa", "ed25519")):
            raise key_error(text, f"wrong key usage: a {data.get('type')} transit key cannot sign")
        raise key_error(text, "failed to read transit key keys: corrupted response")
    if entry.get("name") == "ed25519":
        raise key_error(text, "Ed25519 transit keys are not supported (cosign signs a SHA-256 digest with "
                              "pure Ed25519 there)")
    return load_pem_public_key(str(entry["public_key"]).encode(), text)


def load(text: str) -> VaultKey:
    name = parse(text)
    client, mount = _client(text)
    return VaultKey(text, client, mount, name, _public_key(text, client, mount, name))


def create(text: str, key_type: str = DEFAULT_KEY_TYPE) -> PublicKey:
    """``generate-key-pair --kms hashivault://KEY``: create the transit key (Vault keeps an existing one)."""
    name = parse(text)
    client, mount = _client(text)
    _call(text, "creating key", client.secrets.transit.create_key, name=name, key_type=key_type,
          mount_point=mount)
    return _public_key(text, client, mount, name)
