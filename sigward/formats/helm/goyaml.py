"""YAML as Helm's Go libraries read and write it: sigs.k8s.io/yaml over go-yaml v2.

Hand-written because no Python YAML library produces go-yaml v2's bytes: its key order (letters by code
point, digit runs numerically), its rule for when a string needs quotes (whatever v2 would read back as
something else, base-60 numbers and YAML 1.1 booleans included), Go's shortest float formatting, and
80-column folding. PyYAML does the emitting; this module decides every style it emits with. Reading
uses PyYAML's YAML 1.1 loader with timestamps left as strings, as go-yaml v2 reads into ``interface{}``."""

from __future__ import annotations

import calendar
import math
import re
import struct
import unicodedata
from functools import cmp_to_key
from typing import Any

import yaml

from sigward.formats.helm.common import ChartError

# -- Go behaviours Helm inherits -----------------------------------------------------------------------------

def _go_isspace(c: str) -> bool:
    if ord(c) <= 0xFF:
        return c in "\t\n\v\f\r \x85\xa0"
    return c.isspace()


def sanitize(s: str) -> str:
    """Helm's ``sanitizeString``: white space becomes ' ', other non-printable characters vanish."""
    return "".join(" " if _go_isspace(c) else c for c in s if _go_isspace(c) or c.isprintable())


def go_format_float(f: float, bits: int = 64) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, bits)``: shortest digits, exponent from 1e+06 or 1e-05."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    neg = f < 0
    f = abs(f)
    if bits == 32:
        f32 = struct.unpack("<f", struct.pack("<f", f))[0]
        for p in range(1, 10):
            s = f"{f32:.{p - 1}e}"
            if struct.unpack("<f", struct.pack("<f", float(s)))[0] == f32:
                break
    else:
        s = f"{f:.16e}"
        for p in range(1, 18):
            cand = f"{f:.{p - 1}e}"
            if float(cand) == f:
                s = cand
                break
    mant, exp_s = s.split("e")
    digits = mant.replace(".", "").rstrip("0") or "0"
    exp = int(exp_s)
    if exp < -4 or exp >= 6:  # Go: %e when the exponent is < -4 or >= 6 for the shortest form
        out = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        out += f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif exp >= 0:
        if len(digits) <= exp + 1:
            out = digits + "0" * (exp + 1 - len(digits))
        else:
            out = digits[: exp + 1] + "." + digits[exp + 1:]
    else:
        out = "0." + "0" * (-exp - 1) + digits
    return ("-" if neg else "") + out


# -- go-yaml v2 (what sigs.k8s.io/yaml marshals with) --------------------------------------------------------

_V2_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_V2_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_INT_RE = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_V2_MAP = frozenset([
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
    "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
])
GO_FLOAT_NAMES = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}
_V2_TIMESTAMP_RES = (
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?"
               r"(Z|[+-][0-9]{2}:[0-9]{2})$"),
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2} [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?$"),
    re.compile(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$"),
)


def _v2_timestamp(s: str) -> bool:
    if not any(r.match(s) for r in _V2_TIMESTAMP_RES):
        return False
    nums = [int(x) for x in re.findall(r"[0-9]+", s.split(".")[0].rstrip("Z"))[:6]]
    y, mo, d = nums[0], nums[1], nums[2]
    if not 1 <= mo <= 12 or not 1 <= d <= calendar.monthrange(y or 2000, mo)[1]:
        return False
    return len(nums) < 6 or (nums[3] < 24 and nums[4] < 60 and nums[5] < 60)


def _v2_is_string(s: str) -> bool:
    """Whether go-yaml v2 would read ``s`` back, unquoted, as a string (its ``resolve`` + base-60 rule)."""
    if s == "" or s in _V2_MAP:
        return False
    c = s[0]
    if c == ".":
        if re.match(r"^\.[0-9]+([eE][-+]?[0-9]+)?$", s):
            return False
    elif c in "+-0123456789":
        if _v2_timestamp(s):
            return False
        plain = s.replace("_", "")
        if _GO_INT_RE.match(plain) or re.match(r"^-0[bB][01]+$", plain):
            return False
        if _V2_FLOAT_RE.match(plain) and not math.isinf(float(plain)):
            return False
        if _V2_BASE60_RE.match(s):
            return False
    return True


def _is_letter(c: str) -> bool:
    return unicodedata.category(c).startswith("L")


def _is_digit(c: str) -> bool:
    return unicodedata.category(c) == "Nd"


def _v2_key_cmp(a: str, b: str) -> int:
    """go-yaml v2.4's ``keyList.Less`` for string keys (letters by code point, digit runs numerically)."""
    def less(ar: str, br: str) -> bool:
        for i in range(min(len(ar), len(br))):
            if ar[i] == br[i]:
                continue
            al, bl = _is_letter(ar[i]), _is_letter(br[i])
            if al and bl:
                return ar[i] < br[i]
            if al or bl:
                return bl
            an = bn = 0
            if ar[i] == "0" or br[i] == "0":
                j = i - 1
                while j >= 0 and _is_digit(ar[j]):
                    if ar[j] != "0":
                        an = bn = 1
                        break
                    j -= 1
            ai = i
            while ai < len(ar) and _is_digit(ar[ai]):
                an = an * 10 + ord(ar[ai]) - 48
                ai += 1
            bi = i
            while bi < len(br) and _is_digit(br[bi]):
                bn = bn * 10 + ord(br[bi]) - 48
                bi += 1
            if an != bn:
                return an < bn
            if ai != bi:
                return ai < bi
            return ar[i] < br[i]
        return len(ar) < len(br)

    if less(a, b):
        return -1
    return 1 if less(b, a) else 0


class _GoYamlDumper(yaml.SafeDumper):
    """Every plain scalar resolves to a string: the styles chosen in ``_node`` decide all quoting."""


_GoYamlDumper.yaml_implicit_resolvers = {}
_STR = "tag:yaml.org,2002:str"


def _node(value: Any) -> yaml.Node:
    if isinstance(value, dict):
        keys = sorted(value, key=cmp_to_key(_v2_key_cmp))
        return yaml.MappingNode("tag:yaml.org,2002:map", [(_node(k), _node(value[k])) for k in keys],
                                flow_style=False)
    if isinstance(value, list):
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [_node(v) for v in value], flow_style=False)
    if value is None:
        return yaml.ScalarNode(_STR, "null")
    if isinstance(value, bool):
        return yaml.ScalarNode(_STR, "true" if value else "false")
    if isinstance(value, int):
        return yaml.ScalarNode(_STR, str(value))
    if isinstance(value, float):
        s = go_format_float(value)
        return yaml.ScalarNode(_STR, GO_FLOAT_NAMES.get(s, s))
    s = str(value)
    if "\n" in s:
        style: str | None = "|"
    elif _v2_is_string(s):
        style = None
    else:
        style = '"'
    return yaml.ScalarNode(_STR, s, style=style)


def _json_roundtrip(value: Any) -> Any:
    """What go-yaml v2 sees after ``json.Marshal``: integral floats are integers."""
    if isinstance(value, dict):
        return {str(k): _json_roundtrip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_roundtrip(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def go_yaml_marshal(obj: Any) -> bytes:
    """``sigs.k8s.io/yaml.Marshal`` of a JSON-shaped value: go-yaml v2 block style, 80 columns."""
    text = yaml.serialize(_node(_json_roundtrip(obj)), Dumper=_GoYamlDumper, allow_unicode=True,
                          width=80, indent=2)
    return text.encode("utf-8")


# -- reading YAML the way sigs.k8s.io/yaml does --------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """YAML 1.1 as go-yaml v2 reads it into ``interface{}``: timestamps stay strings."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_error(where: str, e: Exception) -> ChartError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return ChartError(f"{where}: invalid YAML: {problem}{at}")


def load_yaml(data: bytes, where: str) -> Any:
    try:
        return yaml.load(data.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text")
    except (yaml.YAMLError, RecursionError) as e:
        raise _yaml_error(where, e)
    except ValueError as e:  # a scalar PyYAML cannot convert (an integer of thousands of digits)
        raise ChartError(f"{where}: invalid YAML: {str(e).split(';')[0]}")


def check_values_yaml(data: bytes, where: str) -> None:
    """Helm refuses a values.yaml whose documents are not mappings (or empty)."""
    try:
        docs = list(yaml.load_all(data.decode("utf-8"), Loader=_Loader))
    except UnicodeDecodeError:
        raise ChartError(f"{where}: not UTF-8 text")
    except (yaml.YAMLError, RecursionError) as e:
        raise _yaml_error(where, e)
    except ValueError as e:  # a scalar PyYAML cannot convert (an integer of thousands of digits)
        raise ChartError(f"{where}: invalid YAML: {str(e).split(';')[0]}")
    for i, doc in enumerate(docs):
        if doc is not None and not isinstance(doc, dict):
            raise ChartError(f"{where}: document {i + 1} must be a mapping of values, not {kind_of(doc)}")


def kind_of(v: Any) -> str:
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "null"
    return f"a {type(v).__name__} ({v!r})" if not isinstance(v, str) else f"a string ({v!r})"
