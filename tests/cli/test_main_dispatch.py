"""The lazy dispatch table of cli/main.py: it must agree with what the command modules register, and a
single command must import only its own module (start-up cost, docs/benchmarks.md)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from sigward.cli.flags import Parser
from sigward.cli.main import COMMAND_MODULES, COMMANDS, build_parser


def _registered(modname: str) -> list[str]:
    p = Parser(prog="x")
    sub = p.add_subparsers(dest="c", parser_class=Parser)
    importlib.import_module(modname).register(sub)
    return list(sub.choices)


def test_commands_table_matches_the_modules() -> None:
    actual = {name: mod for mod in COMMAND_MODULES for name in _registered(mod)}
    assert actual == COMMANDS, "update COMMANDS in sigward/cli/main.py to name each command's module"


def test_full_parser_lists_every_command_in_module_order() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == [n for mod in COMMAND_MODULES for n in _registered(mod)]


def _modules_after(argv: list[str]) -> tuple[int, list[str]]:
    code = (
        "import contextlib, io, json, sys\n"
        "from sigward.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        f"        rc = main({argv!r})\n"
        "    except SystemExit as e:\n"
        "        rc = e.code\n"
        "print(json.dumps([rc, sorted(m for m in sys.modules if m.startswith('sigward.cli.'))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rc, mods = json.loads(out.strip().splitlines()[-1])
    return rc, mods


def test_version_imports_no_other_command_module() -> None:
    rc, mods = _modules_after(["version"])
    assert rc == 0
    # globalflags: cosign's -t/-d/--output-file, taken out of argv before dispatch (not a command module).
    assert mods == ["sigward.cli.flags", "sigward.cli.globalflags", "sigward.cli.main", "sigward.cli.misc"]


def test_command_help_imports_only_that_command() -> None:
    rc, mods = _modules_after(["copy", "--help"])
    assert rc == 0
    assert "sigward.cli.copy" in mods
    others = {m for m in COMMAND_MODULES if m != "sigward.cli.copy"} & set(mods)
    assert not others


def test_unknown_command_still_lists_every_choice() -> None:
    r = subprocess.run([sys.executable, "-m", "sigward", "verfy"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "invalid choice: 'verfy'" in r.stderr
    for name in COMMANDS:
        assert f"'{name}'" in r.stderr


def _freeze_count_after(call: str) -> tuple[int, int]:
    code = (
        "import contextlib, gc, io, sys\n"
        "from sigward.cli.main import main\n"
        "sys.argv = ['sigward', 'version']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = {call}\n"
        "print(rc, gc.get_freeze_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rc, frozen = out.split()
    return int(rc), int(frozen)


def test_only_the_entry_point_skips_the_final_collection() -> None:
    """Run as the process's command, main() freezes the heap on its way out (shutdown then skips a last
    walk of every object); called with arguments, as a library user embeds it, it leaves gc alone."""
    rc, frozen = _freeze_count_after("main()")
    assert rc == 0 and frozen > 1000
    rc, frozen = _freeze_count_after("main(['version'])")
    assert rc == 0 and frozen == 0
