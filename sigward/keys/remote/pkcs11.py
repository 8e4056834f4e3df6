"""``pkcs11:`` — keys on a PKCS#11 token (HSM, YubiKey, SoftHSM) through python-pkcs11 (``sigward[pkcs11]``).

URI syntax is RFC 7512 as cosign reads it (``pkg/cosign/pkcs11key``): path attributes ``token``,
``slot-id``, ``object``, ``id`` separated by ``;``, query attributes ``module-path`` and ``pin-value``;
``COSIGN_PKCS11_MODULE_PATH`` and ``COSIGN_PKCS11_PIN`` fill in what the URI leaves out, and a PIN is
asked on the terminal only when the token needs a login and none was given. Keys are ECDSA (the token's
raw r||s is DER-encoded, as crypto11 does) or RSA PKCS#1 v1.5 (``CKM_RSA_PKCS`` over the DigestInfo).
The digest is computed here; the token only ever sees the digest.

Hash: the key's default, as for a key file of the same type (SHA-256 for P-256 and RSA — what cosign
uses — SHA-384 for P-384, SHA-512 for P-521). cosign signs SHA-256 with *every* token key, which makes
its P-384/P-521 bundle signatures fail its own bundle verification (that uses the curve's hash); sigward
keeps a token key interchangeable with the same key in a file instead (docs/keys.md).

Unlike cosign's ``pkcs11-tool list-keys-uris``, the URIs listed here never carry ``pin-value``: a PIN
printed to a terminal or a CI log is a PIN leaked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sigward.keys.keytypes import PublicKey
from sigward.keys.remote.base import RemoteSigner, key_error, load_der_public_key, require

SCHEME = "pkcs11"
_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:[]@!$'()*+,=&")
_QUERY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:[]@!$'()*+,=/?|")
# DER DigestInfo prefixes (RFC 8017 §9.2 note 1): what CKM_RSA_PKCS signs in front of the digest.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


@dataclass(frozen=True)
class Pkcs11Uri:
    module_path: str
    token: str
    slot_id: int | None
    label: str
    key_id: bytes
    pin: str


def _first(pairs: list[tuple[str, str]], name: str, *, raw: bool = False) -> str:
    value = next((v for k, v in pairs if k == name), "")
    return value if raw else value.encode("latin-1").decode("utf-8", "replace")


def parse(text: str) -> Pkcs11Uri:
    """cosign's ``Pkcs11UriConfig.Parse``: ``;`` and ``&`` both separate attributes, values are %-decoded."""
    if not text.startswith("pkcs11:"):
        raise key_error(text, "invalid uri: not a PKCS11 uri")
    opaque, _, query = text[len("pkcs11:"):].partition("?")
    try:
        # latin-1 keeps every %-decoded byte as one code point: ids are bytes, labels UTF-8 (``_utf8``).
        path = parse_qsl(opaque.replace(";", "&"), keep_blank_values=True, encoding="latin-1")
        params = parse_qsl(query.replace(";", "&"), keep_blank_values=True, encoding="latin-1")
    except ValueError as e:
        raise key_error(text, f"parse uri: {e}") from None
    token, slot_text = _first(path, "token"), _first(path, "slot-id")
    if not token and not slot_text:
        raise key_error(text, "invalid uri: one of token and slot-id must be set")
    slot_id = None
    if slot_text:
        try:
            slot_id = int(slot_text)
        except ValueError:
            raise key_error(text, f"invalid uri: slot-id '{slot_text}' is not a valid number") from None
    module_path = _first(params, "module-path") or os.environ.get("COSIGN_PKCS11_MODULE_PATH", "")
    if not module_path:
        raise key_error(text, "invalid uri: module-path or COSIGN_PKCS11_MODULE_PATH must be set to the "
                              "absolute path of the PKCS11 module")
    label, key_id = _first(path, "object"), _first(path, "id", raw=True)
    if not label and not key_id:
        raise key_error(text, "invalid uri: one of object and id must be set")
    # url.ParseQuery has already %-decoded the id; its bytes are the CKA_ID (latin-1 keeps them 1:1).
    return Pkcs11Uri(module_path, token, slot_id, label, key_id.encode("latin-1"),
                     _first(params, "pin-value"))


def _encode(value: str | bytes, allowed: frozenset[str]) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return "".join(chr(b) if chr(b) in allowed else f"%{b:02x}" for b in data)


def construct(module_path: str, slot_id: int | None, token: str, label: bytes, key_id: bytes) -> str:
    """cosign's ``Construct`` without ``pin-value`` (see the module docstring)."""
    uri = "pkcs11:"
    if token:
        uri += "token=" + _encode(token, _PATH_CHARS)
    if slot_id is not None:
        uri += f";slot-id={slot_id}"
    if key_id:
        uri += ";id=" + "".join(f"%{b:02x}" for b in key_id)
    if label:
        uri += ";object=" + _encode(label, _PATH_CHARS)
    return uri + "?module-path=" + _encode(module_path, _QUERY_CHARS)


def _errors() -> Any:
    return require("pkcs11", "pkcs11", SCHEME).exceptions


def _map(text: str, what: str, e: Exception) -> Exception:
    name = type(e).__name__
    cause = {
        "PinIncorrect": "PIN incorrect", "PinInvalid": "PIN invalid", "PinLenRange": "PIN invalid",
        "PinLocked": "PIN locked", "PinExpired": "PIN expired",
        "UserPinNotInitialized": "the token's user PIN is not initialised",
        "NoSuchKey": "no key pair found", "MultipleObjectsReturned": "more than one key matches",
        "NoSuchToken": "token not found", "MultipleTokensReturned": "more than one token matches",
        "SlotIDInvalid": "no such slot", "TokenNotPresent": "token not present",
        "MechanismInvalid": "the token does not support this key's signing mechanism",
        "KeyFunctionNotPermitted": "the key is not allowed to sign (wrong key usage)",
        "KeyTypeInconsistent": "wrong key type for this mechanism",
    }.get(name, f"{name} {e}".strip())
    return key_error(text, f"{what}: {cause}")


def _load_library(module_path: str, text: str) -> Any:
    pkcs11 = require("pkcs11", "pkcs11", SCHEME)
    if not os.path.isabs(module_path):
        raise key_error(text, "modulePath does not point to an absolute path")
    if not os.path.isfile(module_path):
        raise key_error(text, f"access modulePath: {module_path}: no such regular file")
    try:
        return pkcs11.lib(module_path)
    except Exception as e:  # the loader raises plain RuntimeError/OSError for a library that is not PKCS#11
        raise key_error(text, f"loading PKCS11 module {module_path}: {type(e).__name__}") from None


def _find_token(lib: Any, uri: Pkcs11Uri, text: str) -> Any:
    errors = _errors()
    try:
        slots = lib.get_slots(token_present=True)
    except errors.PKCS11Error as e:
        raise _map(text, "listing slots", e) from None
    for slot in slots:
        if uri.slot_id is not None and slot.slot_id != uri.slot_id:
            continue
        token = slot.get_token()
        if uri.slot_id is None and token.label != uri.token:
            continue
        return token
    where = f"slot {uri.slot_id}" if uri.slot_id is not None else f"token '{uri.token}'"
    raise key_error(text, f"could not find a slot for the {where}")


def _pin_for(token: Any, uri: Pkcs11Uri, text: str, ask: bool, prompt: Callable[[str], str] | None) -> str:
    pkcs11 = require("pkcs11", "pkcs11", SCHEME)
    pin = uri.pin or os.environ.get("COSIGN_PKCS11_PIN", "")
    if pin or not (token.flags & pkcs11.TokenFlag.LOGIN_REQUIRED):
        return pin
    if not ask:
        return ""
    if prompt is None:
        raise key_error(text, "the token needs a PIN: set COSIGN_PKCS11_PIN or pin-value")
    label = uri.label or uri.key_id.hex()
    return prompt(f"Enter PIN for key '{label}' in PKCS11 token '{token.label}': ")


def public_key_of(session: Any, private: Any, uri: Pkcs11Uri, text: str) -> PublicKey:
    """The key pair's public half: its public-key object, or the modulus of an RSA private key."""
    pkcs11 = require("pkcs11", "pkcs11", SCHEME)
    from pkcs11 import Attribute, KeyType, ObjectClass

    errors = pkcs11.exceptions
    try:
        pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=uri.label or None,
                              id=uri.key_id or None)
    except (errors.NoSuchKey, errors.MultipleObjectsReturned):
        pub = None
    key_type = private.key_type if private is not None else pub.key_type
    if key_type == KeyType.EC and pub is not None:
        from pkcs11.util.ec import encode_ec_public_key

        return load_der_public_key(encode_ec_public_key(pub), text)
    if key_type == KeyType.RSA:
        from cryptography.hazmat.primitives.asymmetric import rsa

        src = pub if pub is not None else private
        n = int.from_bytes(src[Attribute.MODULUS], "big")
        e = int.from_bytes(src[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == KeyType.EC:
        raise key_error(text, "no public key object for this EC key on the token")
    raise key_error(text, f"unsupported key type {key_type.name} (cosign supports ECDSA and RSA)")


class Pkcs11Key(RemoteSigner):
    def __init__(self, text: str, session: Any, private: Any, public_key: PublicKey):
        from sigward.keys.keytypes import default_hash

        super().__init__(text, public_key, default_hash(public_key))
        self._session = session
        self._private = private

    def _sign_digest(self, digest: bytes) -> bytes:
        from pkcs11 import Mechanism

        try:
            if self.kind == "ecdsa":
                from pkcs11.util.ec import encode_ecdsa_signature

                raw = self._private.sign(digest, mechanism=Mechanism.ECDSA)
                return bytes(encode_ecdsa_signature(raw))
            return bytes(self._private.sign(_DIGEST_INFO[self.default_hash] + digest,
                                            mechanism=Mechanism.RSA_PKCS))
        except _errors().PKCS11Error as e:
            raise _map(self.ref, "signing", e) from None

    def close(self) -> None:
        """Close the session; closing the last one logs the process out of the token (C_Logout)."""
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:
                pass

    def __del__(self) -> None:
        # A signer dropped without close() must not leave the process logged in: a later open with a
        # wrong PIN would otherwise ride on this login (PKCS#11 logins are per process, not per session).
        self.close()


def _open(text: str, *, signing: bool, prompt: Callable[[str], str] | None) -> tuple[Any, Any, Pkcs11Uri]:
    uri = parse(text)
    lib = _load_library(uri.module_path, text)
    token = _find_token(lib, uri, text)
    pin = _pin_for(token, uri, text, signing, prompt)
    errors = _errors()
    try:
        session = _open_session(token, pin)
    except errors.PKCS11Error as e:
        raise _map(text, "login", e) from None
    return session, token, uri


def _open_session(token: Any, pin: str) -> Any:
    """A session, logged in when a PIN is given; a login is per process, so a second one is not needed."""
    try:
        return token.open(user_pin=pin or None)
    except _errors().UserAlreadyLoggedIn:
        return token.open()


def load(text: str, prompt: Callable[[str], str] | None = None) -> Pkcs11Key:
    session, _token, uri = _open(text, signing=True, prompt=prompt)  # imports pkcs11 (or names the extra)
    from pkcs11 import ObjectClass

    errors = _errors()
    try:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=uri.label or None,
                                  id=uri.key_id or None)
        public_key = public_key_of(session, private, uri, text)
    except errors.PKCS11Error as e:
        session.close()
        raise _map(text, "finding key", e) from None
    return Pkcs11Key(text, session, private, public_key)


def load_public_key(text: str) -> PublicKey:
    """The public key only: no PIN asked (cosign's ``GetKeyWithURIConfig(config, false)``)."""
    session, _token, uri = _open(text, signing=False, prompt=None)
    from pkcs11 import ObjectClass

    errors = _errors()
    try:
        try:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=uri.label or None,
                                      id=uri.key_id or None)
        except (errors.NoSuchKey, errors.UserNotLoggedIn):
            private = None  # private objects are invisible without a login; the public one is enough
        if private is None:
            session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=uri.label or None,
                            id=uri.key_id or None)
        return public_key_of(session, private, uri, text)
    except errors.PKCS11Error as e:
        raise _map(text, "finding key", e) from None
    finally:
        session.close()


# --- pkcs11-tool --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    slot: int
    label: str
    manufacturer: str
    model: str
    serial: str


@dataclass(frozen=True)
class KeyInfo:
    label: bytes
    key_id: bytes
    uri: str


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace").rstrip() if isinstance(value, bytes) else str(value).rstrip()


def list_tokens(module_path: str) -> list[TokenInfo]:
    lib = _load_library(module_path, f"module {module_path}")
    errors = _errors()
    out = []
    try:
        for slot in lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except errors.PKCS11Error:
                continue
            out.append(TokenInfo(slot.slot_id, _text(token.label), _text(token.manufacturer_id),
                                 _text(token.model), _text(token.serial)))
    except errors.PKCS11Error as e:
        raise _map(f"module {module_path}", "listing tokens", e) from None
    return out


def list_keys(module_path: str, slot_id: int, pin: str,
              prompt: Callable[[str], str] | None = None) -> list[KeyInfo]:
    where = f"slot {slot_id} of module {module_path}"
    lib = _load_library(module_path, where)
    from pkcs11 import Attribute, ObjectClass

    errors = _errors()
    uri = Pkcs11Uri(module_path, "", slot_id, "", b"", pin)
    token = _find_token(lib, uri, where)
    pin = _pin_for(token, uri, where, True, prompt)
    out = []
    try:
        with _open_session(token, pin) as session:
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
                key_id = bytes(_attr(obj, Attribute.ID))
                label = _attr(obj, Attribute.LABEL)
                label_b = label.encode("utf-8") if isinstance(label, str) else bytes(label)
                if not key_id and not label_b:
                    continue
                out.append(KeyInfo(label_b, key_id,
                                   construct(module_path, slot_id, _text(token.label), label_b, key_id)))
    except errors.PKCS11Error as e:
        raise _map(where, "listing keys", e) from None
    return out


def _attr(obj: Any, attribute: Any) -> Any:
    try:
        value = obj[attribute]
    except Exception:
        return b""
    return value if value is not None else b""
