"""The `vividvr` command teaches its use."""

from __future__ import annotations

import subprocess
import sys

from vividvr_cli.main import main


def test_help_lists_the_commands_and_an_example(capsys):
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    assert "restore" in out and "examples:" in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: vividvr" in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "vividvr_cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("vividvr ")
