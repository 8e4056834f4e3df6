"""Checks of single values in a ClusterImagePolicy, as policy-controller v0.13.1 makes them: image globs
(``pkg/apis/glob``), identity regexps, KMS references and OCI repositories (``pkg/apis/policy/common``).

Each returns policy-controller's error (knative ``invalid value`` at the current field, so the caller
places it with ``via_field``) with the detail text policy-controller prints; where the check is Go's
(``filepath.Match``, RE2, ``net.SplitHostPort``, go-containerregistry), its refusals are reproduced and
worded as Go words them, so a glob or regexp policy-controller refuses is refused here too.
"""

from __future__ import annotations

import re

from sigward.cip.fielderror import FieldError, invalid

Errs = list[FieldError]
KMS_PREFIXES = ("awskms://", "azurekms://", "hashivault://", "gcpkms://")


_VALID_GLOB = re.compile(r"^[a-zA-Z0-9_:/*.@-]+$")


def _filepath_match_syntax_ok(pattern: str) -> bool:
    """Go ``filepath.Match(pattern, "")`` raises no ErrBadPattern (Go checks the whole pattern): no
    trailing ``\\``, every ``[…]`` class closed, non-empty, its ranges well formed."""
    def esc(i: int) -> int | None:  # Go getEsc: one (possibly escaped) class character; None: bad
        if i >= len(pattern) or pattern[i] in "-]":
            return None
        if pattern[i] == "\\":
            i += 1
            if i >= len(pattern):
                return None
        i += 1
        return i if i < len(pattern) else None

    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                return False
            i += 2
        elif c == "[":
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            ranges = 0
            while not (i < len(pattern) and pattern[i] == "]" and ranges > 0):
                j = esc(i)
                if j is None:
                    return False
                if pattern[j] == "-":
                    j = esc(j + 1)
                    if j is None:
                        return False
                i, ranges = j, ranges + 1
            i += 1
        else:
            i += 1
    return True


def validate_glob(g: str) -> Errs:
    """``ValidateGlob``: Go's ``filepath.Match`` syntax, then the glob alphabet of ``pkg/apis/glob``."""
    if not _filepath_match_syntax_ok(g):
        return [invalid(g, "", "glob is invalid: syntax error in pattern")]
    compiled = {"*/*": "index.docker.io/*/*", "*": "index.docker.io/library/*"}.get(g, g)
    if not _VALID_GLOB.match(compiled):
        return [invalid(g, "", f'glob is invalid: invalid glob "{compiled}"')]
    return []


# Perl/Python constructs RE2 (Go's regexp, which evaluates these at admission) refuses.
_NOT_RE2 = [  # (pattern, Go's wording with the offending text in backticks)
    (re.compile(r"\(\?(?:[=!>]|<[=!])"), "invalid or unsupported Perl syntax: `{}`"),
    (re.compile(r"(?<!\\)(?:\\\\)*(\\[1-9])"), "invalid escape sequence: `{}`"),
    (re.compile(r"(?<!\\)(?:\\\\)*([*+?}][+])"), "invalid nested repetition operator: `{}`"),
]


def validate_regex(regex: str) -> Errs:
    """``ValidateRegex``: the regexp must compile (Go RE2 semantics; Python's parser plus RE2's refusals)."""
    for rx, why in _NOT_RE2:
        m = rx.search(regex)
        if m:
            bad = m.group(m.lastindex or 0)[:3]
            return [invalid(regex, "", f"regex is invalid: error parsing regexp: {why.format(bad)}")]
    try:
        re.compile(regex)
    except re.error as e:
        why = str(e)
        if e.msg == "nothing to repeat" and e.pos is not None:  # Go words the commonest one so
            why = f"missing argument to repetition operator: `{regex[e.pos]}`"
        return [invalid(regex, "", f"regex is invalid: error parsing regexp: {why}")]
    return []


_AWS_UUID = r"m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}"
_AWS_ARN = r"arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\d{12}:"
_AWS_REFS = [re.compile(r"^awskms://([^/]*)/" + body + "$") for body in (
    f"({_AWS_UUID})", f"({_AWS_ARN}key/{_AWS_UUID})", "((alias/.*))", f"({_AWS_ARN}(alias/.*))")]
_AWS_FORMAT = "kms key should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)"


def validate_kms(kms: str) -> Errs:
    """``common.ValidateKMS``: a supported provider prefix; AWS references checked further (key or alias
    ARN only — a bare key id or alias needs region configuration policy-controller cannot have)."""
    if not kms.startswith(KMS_PREFIXES):
        providers = " ".join(KMS_PREFIXES)
        return [invalid(kms, "", "malformed KMS format, should be prefixed by any of the supported "
                                 f"providers: [{providers}]")]
    if kms.startswith("awskms://"):
        problem = _aws_kms_problem(kms)
        if problem:
            return [invalid(kms, "", problem)]
    return []


def _aws_kms_problem(kms: str) -> str | None:
    parts = kms.split("/")
    if len(parts) < 4:
        return ("malformed AWS KMS format 'awskms://$ENDPOINT/$KEYID', should be conformant with KMS "
                "standard documented here: https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id")
    if not any(rx.match(kms) for rx in _AWS_REFS):
        return _AWS_FORMAT
    endpoint = parts[2]
    if endpoint.startswith(("arn", "alias")):
        return _AWS_FORMAT
    if endpoint:
        problem = _split_host_port_problem(endpoint)
        if problem:
            return f"malformed endpoint: {problem}"
    key_id = parts[3]
    if not key_id.startswith("arn:"):
        return "failed to parse either key or alias arn: arn: invalid prefix"
    sections = key_id.split(":", 5)
    if len(sections) != 6:
        return "failed to parse either key or alias arn: arn: not enough sections"
    resource = sections[5]
    if resource not in ("key", "alias"):
        arn = (f"{{Partition:{sections[1]} Service:{sections[2]} Region:{sections[3]} "
               f"AccountID:{sections[4]} Resource:{resource}}}")
        return f"Got ARN: {arn} Resource: {resource}"
    return None


def _split_host_port_problem(hostport: str) -> str | None:
    """Go ``net.SplitHostPort``'s refusals, worded as Go words them."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return f"address {hostport}: missing ']' in address"
        rest = hostport[end + 1:]
        if not rest.startswith(":"):
            return f"address {hostport}: missing port in address"
        return None
    if ":" not in hostport:
        return f"address {hostport}: missing port in address"
    if hostport.count(":") > 1:
        return f"address {hostport}: too many colons in address"
    return None


_REPO_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-./")


def validate_oci(oci: str) -> str | None:
    """``common.ValidateOCI``: a registry, or registry/repository, under go-containerregistry's strict
    validation (the registry named explicitly). Returns the problem, or None."""
    from urllib.parse import urlsplit

    head, sep, repo = oci.partition("/")
    if sep and ("." in head or ":" in head):
        if not 2 <= len(repo) <= 255:
            return f"repository must be between 2 and 255 characters in length: {repo}"
        if not set(repo) <= _REPO_CHARS:
            return ("repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: "
                    f"{repo}")
        registry = head
    else:
        registry = oci
    try:
        host_ok = urlsplit("//" + registry).netloc == registry
    except ValueError:
        host_ok = False
    if not host_ok:
        return f"registries must be valid RFC 3986 URI authorities: {registry}"
    return None
