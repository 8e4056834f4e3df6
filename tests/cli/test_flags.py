"""Go-style boolean flags and cobra-like usage errors."""

from __future__ import annotations

import pytest

from sigward.cli.flags import Parser, add_go_bool, parse_annotations, parse_go_bool, rewrite_go_bools
from sigward.errors import UsageError


def _parser() -> Parser:
    p = Parser(prog="t")
    add_go_bool(p, "--tlog-upload", default=True)
    add_go_bool(p, "-f", "--force")
    p.add_argument("image")
    return p


@pytest.mark.parametrize(
    ("argv", "tlog", "force"),
    [
        (["img"], True, False),
        (["--tlog-upload=false", "img"], False, False),
        (["--tlog-upload=0", "img"], False, False),
        (["--tlog-upload=F", "img"], False, False),
        (["--tlog-upload=true", "img"], True, False),
        (["--tlog-upload=false", "--tlog-upload", "img"], True, False),
        (["-f", "img"], True, True),
        (["--force=1", "img"], True, True),
        (["-f=false", "img"], True, False),
        # A bare boolean never eats the next argument.
        (["--force", "img"], True, True),
    ],
)
def test_go_bools(argv: list[str], tlog: bool, force: bool) -> None:
    ns = _parser().parse_args(rewrite_go_bools(argv))
    assert (ns.tlog_upload, ns.force, ns.image) == (tlog, force, "img")


def test_invalid_bool_value() -> None:
    _parser()
    with pytest.raises(UsageError, match=r"strconv\.ParseBool"):
        rewrite_go_bools(["--tlog-upload=nope", "img"])
    with pytest.raises(UsageError):
        parse_go_bool("yes")


def test_after_double_dash_untouched() -> None:
    _parser()
    assert rewrite_go_bools(["--", "--force=false"]) == ["--", "--force=false"]


def test_usage_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["--bogus", "img"])
    assert e.value.code == 1
    assert capsys.readouterr().err.startswith("Error: ")


def test_no_abbreviations() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--tlog", "img"])


def test_annotations() -> None:
    assert parse_annotations(["a=b", "c=d=e,f=g"]) == {"a": "b", "c": "d=e", "f": "g"}
    with pytest.raises(UsageError, match="key=value"):
        parse_annotations(["novalue"])
