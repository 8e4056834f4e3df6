"""``awskms://[ENDPOINT]/KEY`` — AWS KMS through boto3 (extra ``sigward[aws]``).

Reference forms and their parsing are sigstore's (``pkg/signature/kms/aws``): a key id, a key ARN, an
alias name or an alias ARN, optionally after a host[:port] endpoint, which is always reached over
HTTPS (``https://ENDPOINT``) as cosign does. Credentials, region and CA bundle come from boto3's own
chain (``AWS_*`` variables, ``~/.aws``, instance roles; ``AWS_CA_BUNDLE``); an ARN supplies the region
when none is configured; ``AWS_TLS_INSECURE_SKIP_VERIFY=1`` is honoured as cosign honours it.

The hash and padding come from the key's first signing algorithm (``DescribeKey``), exactly as cosign:
ECC_NIST_P256/384/521 sign SHA-256/384/512 ECDSA; RSA keys list ``RSASSA_PSS_SHA_256`` first, so an
RSA KMS key signs RSA-PSS with SHA-256. ``Sign`` is called with ``MessageType=DIGEST``: the digest is
computed locally, the message never leaves the machine. Transient failures (throttling, 5xx, connection
resets) are retried by botocore's ``standard`` retry mode.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from sigward.keys.keytypes import PublicKey
from sigward.keys.remote.base import RemoteSigner, key_error, load_der_public_key, require

SCHEME = "awskms"
_UUID = r"m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}"
_ARN = r"arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\d{12}:"
_HOST = r"([^/]*)/"
_PATTERNS = (
    re.compile(r"^awskms://" + _HOST + "(" + _UUID + ")$"),
    re.compile(r"^awskms://" + _HOST + "(" + _ARN + "key/" + _UUID + ")$"),
    re.compile(r"^awskms://" + _HOST + "((alias/.*))$"),
    re.compile(r"^awskms://" + _HOST + "(" + _ARN + "(alias/.*))$"),
)
FORMAT_ERROR = ("kms specification should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] "
                "(endpoint optional)")
# CreateKey's KeySpec for `generate-key-pair --kms` (cosign's default algorithm for AWS).
DEFAULT_KEY_SPEC = "ECC_NIST_P256"
_ALG_HASH = {"256": "sha256", "384": "sha384", "512": "sha512"}


@dataclass(frozen=True)
class AwsRef:
    endpoint: str  # host[:port], "" for the SDK's default endpoint
    key_id: str  # what KMS is asked about: id, ARN, alias/NAME or alias ARN
    alias: str  # "alias/NAME" when the reference names an alias, else ""


def parse(text: str) -> AwsRef:
    for pattern in _PATTERNS:
        m = pattern.match(text)
        if m:
            groups = m.groups()
            return AwsRef(groups[0], groups[1], groups[2] if len(groups) == 3 else "")
    raise key_error(text, FORMAT_ERROR)


def _region_from_arn(key_id: str) -> str | None:
    m = re.match(r"^arn:[^:]+:kms:([a-z0-9-]+):", key_id)
    return m.group(1) if m else None


def _client(ref: AwsRef, text: str) -> Any:
    boto3 = require("boto3", "aws", SCHEME)
    from botocore.config import Config

    session = boto3.session.Session()
    # The Go SDK (cosign) reads AWS_REGION as well as AWS_DEFAULT_REGION; boto3 only the latter.
    region = os.environ.get("AWS_REGION") or session.region_name or _region_from_arn(ref.key_id)
    if not region:
        raise key_error(text, "no AWS region configured (set AWS_REGION, or use a key ARN)")
    # botocore's standard retry mode (throttling, 5xx, connection errors; exponential backoff with
    # jitter); AWS_MAX_ATTEMPTS / AWS_RETRY_MODE still override it, as for any AWS SDK.
    retries = {"mode": os.environ.get("AWS_RETRY_MODE") or "standard",
               "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)}
    config = Config(retries=retries, connect_timeout=10, read_timeout=30,  # type: ignore[arg-type]
                    user_agent_extra="sigward")
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if ref.endpoint:
        kwargs["endpoint_url"] = f"https://{ref.endpoint}"
    if os.environ.get("AWS_TLS_INSECURE_SKIP_VERIFY") == "1":
        import warnings

        kwargs["verify"] = False  # the user asked for it by name; no per-request warning on stderr
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    return session.client("kms", **kwargs)


def _call(text: str, what: str, fn: Any, **kwargs: Any) -> Any:
    """One KMS call; every botocore failure becomes one line naming the key and the cause."""
    from botocore import exceptions as be

    try:
        return fn(**kwargs)
    except be.ClientError as e:
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        detail = str(err.get("Message", "")).strip()
        cause = {
            "NotFoundException": "key not found",
            "AccessDeniedException": "access denied",
            "UnrecognizedClientException": "access denied (credentials not recognised)",
            "InvalidSignatureException": "access denied (request signature rejected; check the secret key)",
            "ExpiredTokenException": "access denied (credentials expired)",
            "DisabledException": "the key is disabled",
            "KMSInvalidStateException": "the key is not in a usable state",
            "InvalidKeyUsageException": "wrong key usage (a signing key needs KeyUsage SIGN_VERIFY)",
            "ThrottlingException": "throttled by AWS KMS (gave up after retries)",
            "LimitExceededException": "throttled by AWS KMS (gave up after retries)",
            "KMSInternalException": "AWS KMS internal error (gave up after retries)",
        }.get(code, code or "request failed")
        raise key_error(text, f"{what}: {cause}" + (f": {detail}" if detail else "")) from None
    except be.NoCredentialsError:
        raise key_error(text, f"{what}: no AWS credentials found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                              "AWS_PROFILE, ~/.aws or an instance role)") from None
    except be.SSLError as e:
        raise key_error(text, f"{what}: TLS error talking to AWS KMS ({_short(e)}); AWS_CA_BUNDLE names "
                              "a CA bundle") from None
    except (be.EndpointConnectionError, be.ConnectTimeoutError, be.ReadTimeoutError) as e:
        raise key_error(text, f"{what}: cannot reach AWS KMS ({_short(e)})") from None
    except be.BotoCoreError as e:
        raise key_error(text, f"{what}: {_short(e)}") from None


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


class AwsKmsKey(RemoteSigner):
    def __init__(self, text: str, client: Any, ref: AwsRef, public_key: PublicKey, algorithm: str):
        hash_name = _ALG_HASH.get(algorithm[-3:])
        if hash_name is None:
            raise key_error(text, f"unsupported signing algorithm {algorithm}")
        super().__init__(text, public_key, hash_name, pss=algorithm.startswith("RSASSA_PSS"))
        self._client = client
        self._ref = ref
        self.algorithm = algorithm

    def _sign_digest(self, digest: bytes) -> bytes:
        out = _call(self.ref, "signing", self._client.sign, KeyId=self._ref.key_id, Message=digest,
                    MessageType="DIGEST", SigningAlgorithm=self.algorithm)
        return bytes(out["Signature"])


def load(text: str) -> AwsKmsKey:
    ref = parse(text)
    client = _client(ref, text)
    meta = _call(text, "describing key", client.describe_key, KeyId=ref.key_id)["KeyMetadata"]
    if meta.get("KeyUsage") != "SIGN_VERIFY":
        raise key_error(text, f"wrong key usage {meta.get('KeyUsage')} (a signing key needs KeyUsage "
                              "SIGN_VERIFY)")
    algorithms = meta.get("SigningAlgorithms") or []
    if not algorithms:
        raise key_error(text, "the key lists no signing algorithms")
    der = _call(text, "getting public key", client.get_public_key, KeyId=ref.key_id)["PublicKey"]
    return AwsKmsKey(text, client, ref, load_der_public_key(bytes(der), text), algorithms[0])


def create(text: str, key_spec: str = DEFAULT_KEY_SPEC) -> PublicKey:
    """``generate-key-pair --kms``: the key under the alias, created if the alias does not exist yet."""
    from botocore import exceptions as be

    ref = parse(text)
    if not ref.alias:
        raise key_error(text, "must use alias key format (awskms://[ENDPOINT]/alias/NAME) to create a key")
    client = _client(ref, text)
    try:
        client.describe_key(KeyId=ref.key_id)
        return load(text).public_key
    except be.ClientError as e:
        if e.response.get("Error", {}).get("Code") != "NotFoundException":
            _call(text, "looking up key", client.describe_key, KeyId=ref.key_id)
    except be.BotoCoreError:
        _call(text, "looking up key", client.describe_key, KeyId=ref.key_id)
    created = _call(text, "creating key", client.create_key, KeySpec=key_spec, KeyUsage="SIGN_VERIFY",
                    Description="Created by Sigstore")
    _call(text, f"creating alias {ref.alias}", client.create_alias, AliasName=ref.alias,
          TargetKeyId=created["KeyMetadata"]["KeyId"])
    return load(text).public_key
